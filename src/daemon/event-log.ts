/**
 * Knock events to log lines, knockd's wording byte for byte, under a per-door
 * rate limit checked before any formatting: under a flood almost every line
 * is dropped for the price of a counter. Per-knock lines (stage, timeout)
 * and OPEN lines have separate budgets, so a flood of first knocks never
 * hides an OPEN, and a flood of replayed complete sequences is limited too.
 *
 * -l (reverse DNS) runs only for lines that will be printed, with a bounded
 * number of lookups in flight and a bounded cache of answers, negative ones
 * included: a spoofed flood cannot start a lookup per packet.
 */
import { formatEvent } from '../core/logfmt.js';
import { LogLimiter } from '../core/ratelimit.js';
import { LazyEvent } from '../core/knock/events.js';
import { textHash } from '../core/knock/attempts.js';
import type { KnockEvent } from '../core/knock/machine.js';
import type { Door } from '../core/config.js';
import type { Clock, Logger, Resolver } from './ports.js';

const DNS_INFLIGHT = 8;
const DNS_CACHE = 4096;

export class EventLog {
  /** Stage and timeout lines. */
  readonly knockLimiter = new LogLimiter();
  /** OPEN lines: fewer, but a replayed sequence from spoofed sources must not fill the disk either. */
  readonly openLimiter = new LogLimiter(5, 50);
  private readonly names = new Map<string, string | null>();
  /** Knocks matched per door and stage (index stage-1), and opens per door, since start. */
  readonly knocks = new Map<string, number[]>();
  readonly opens = new Map<string, number>();
  private inflight = 0;
  private lastDoor = '';
  private lastCounts: number[] | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly now: Clock,
    private readonly resolver: Resolver,
    /** -l: names in log lines. */
    private readonly lookupNames: boolean,
  ) {}

  /**
   * The flood's common event with no event object: a first knock of the
   * packet's source (`src`, its LazyEvent.srcKey) at `door`. True when that
   * is all there is to do: counted, and its line suppressed. False when the
   * line would be printed: nothing is counted, and the event must come
   * through log() (the same outcome as log() alone).
   */
  quietFirstKnock(door: Door, src: number): boolean {
    if (this.knockLimiter.check(door.name, src, this.now())) return false;
    this.count(door.name, 1);
    return true;
  }

  private count(door: string, stage: number): void {
    // A flood hits one door: its counts are kept at hand.
    let a = door === this.lastDoor ? this.lastCounts : this.knocks.get(door);
    if (a === undefined) this.knocks.set(door, (a = []));
    a[stage - 1] = (a[stage - 1] ?? 0) + 1;
    this.lastDoor = door;
    this.lastCounts = a;
  }

  /** Logs an event; returns whether its line was printed (not rate limited). */
  log(e: KnockEvent): boolean {
    if (e.kind === 'stage') this.count(e.door.name, e.stage);
    else if (e.kind === 'open') this.opens.set(e.door.name, (this.opens.get(e.door.name) ?? 0) + 1);
    const limiter =
      e.kind === 'open'
        ? this.openLimiter
        : e.kind === 'stage' || e.kind === 'timeout'
          ? this.knockLimiter
          : null;
    if (limiter !== null && !limiter.allow(e.door.name, sourceKey(e), this.now())) return false;
    if (this.lookupNames && e.kind === 'stage' && e.stage === 1) this.lookup(e.src);
    const name = this.names.get(e.src);
    const { text, debug } = formatEvent(e, name ?? undefined);
    if (debug) this.logger.debug(text);
    else this.logger.log(text);
    return true;
  }

  /** The name is used once it arrives (knockd blocks capture on it; we never do). */
  private lookup(src: string): void {
    if (this.names.has(src) || this.inflight >= DNS_INFLIGHT) return;
    this.inflight++;
    void this.resolver.reverse(src).then((name) => {
      this.inflight--;
      if (this.names.size >= DNS_CACHE) this.names.delete(this.names.keys().next().value as string);
      this.names.set(src, name);
    });
  }

  /** Summary lines for what the limiters dropped since the last call. */
  summaries(grantLines?: LogLimiter): string[] {
    const out: string[] = [];
    const from = (s: { sources: number; saturated: boolean }) =>
      `${s.saturated ? 'at least ' : ''}${s.sources} sources`;
    for (const s of this.knockLimiter.drain())
      out.push(`${s.door}: ${s.lines} stage lines from ${from(s)} suppressed`);
    for (const s of this.openLimiter.drain())
      out.push(`${s.door}: ${s.lines} OPEN lines from ${from(s)} suppressed`);
    for (const s of grantLines?.drain() ?? [])
      out.push(`${s.door}: ${s.lines} open/refresh lines from ${from(s)} suppressed`);
    return out;
  }
}

/**
 * The source as the limiters count it: a number, without formatting the
 * address of an event nobody will print. Every event of the machine is a
 * LazyEvent; others (tests) are hashed the same way from their text.
 */
function sourceKey(e: KnockEvent): number {
  return e instanceof LazyEvent ? e.srcKey : textHash(e.src);
}
