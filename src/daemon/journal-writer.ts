/**
 * Coalesced journal writes, off the packet path. A change only marks the
 * journal dirty; the write (a whole-file replace with fsync) happens later
 * in its own macrotask, once for every change made meanwhile, and at most
 * once per MIN_INTERVAL_MS. A flood of opens therefore costs a bounded
 * number of fsyncs per second, not one (or two) per packet.
 *
 * Whoever needs durability before acting (a stop command must be on disk
 * before its start command runs) awaits flush().
 */
import type { JournalState } from '../core/grants/journal.js';
import type { Logger, StateStore } from './ports.js';

const MIN_INTERVAL_MS = 50;

export class JournalWriter {
  private scheduled: NodeJS.Timeout | null = null;
  private dirty = false;
  private lastWrite = -Infinity;
  private waiters: (() => void)[] = [];
  private warned = false;
  /** Number of writes done (for tests and metrics). */
  writes = 0;

  constructor(
    private readonly store: StateStore,
    private readonly snapshot: () => JournalState,
    private readonly logger: Logger,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Something changed; the journal is written soon. */
  markDirty(): void {
    this.dirty = true;
    if (this.scheduled !== null) return;
    const wait = Math.max(0, this.lastWrite + MIN_INTERVAL_MS - this.clock());
    this.scheduled = setTimeout(() => this.write(), wait);
  }

  /** Resolves once every change marked before the call is on disk (or failed to be). */
  flush(): Promise<void> {
    if (!this.dirty) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Writes now if anything is pending (shutdown). */
  writeNow(): void {
    if (this.scheduled !== null) clearTimeout(this.scheduled);
    if (this.dirty) this.write();
  }

  private write(): void {
    this.scheduled = null;
    this.dirty = false;
    this.lastWrite = this.clock();
    const waiters = this.waiters;
    this.waiters = [];
    try {
      this.store.save(this.snapshot());
      this.writes++;
      this.warned = false;
    } catch (e) {
      // Never stops knocks; logged once until a write succeeds again.
      if (!this.warned)
        this.logger.error(`warning: cannot write the journal: ${(e as Error).message}`);
      this.warned = true;
    }
    for (const w of waiters) w();
  }
}
