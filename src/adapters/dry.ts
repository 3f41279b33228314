/**
 * The "dry" effects of `knockd -r FILE` without --apply: they record what the
 * daemon asked for and touch nothing (no process, no firewall, no journal,
 * no socket, no one-time file written), so a capture can be replayed against
 * a production config safely.
 */
import type { Grant } from '../core/grants/grants.js';
import type { JournalState } from '../core/grants/journal.js';
import type * as P from '../daemon/ports.js';
import { oneTimeFiles } from './config-file.js';

export class DryRunner implements P.CommandRunner {
  readonly commands: string[] = [];
  constructor(private readonly note: (command: string) => void = () => {}) {}
  run(command: string): Promise<P.RunResult> {
    this.commands.push(command);
    this.note(command);
    return Promise.resolve({ code: 0, signal: null, timedOut: false });
  }
}

/** Counts the grant changes a backend would have made; every change "succeeds". */
export class DryFirewall implements P.Firewall {
  readonly kind = 'memory';
  opened = 0;
  closed = 0;
  onError: (message: string) => void = () => {};
  init(): Promise<void> {
    return Promise.resolve();
  }
  setGuarded(): void {}
  sync(_grants: readonly Grant[]): Promise<void> {
    return Promise.resolve();
  }
  update(change: P.GrantChange): boolean {
    if (change.open !== undefined) this.opened++;
    if (change.close !== undefined) this.closed++;
    return true;
  }
  close(): void {}
}

/** Starts empty and keeps nothing: the real journal is neither read nor written. */
export class DryStateStore implements P.StateStore {
  load(): { state: JournalState; warnings: string[] } {
    return { state: { grants: [], stops: [] }, warnings: [] };
  }
  save(): void {}
}

/** SPA_Receive = socket binds nothing: in a replay SPA packets come from the file. */
export const dryDatagrams: P.DatagramBinder = {
  bind: () => Promise.resolve({ close: () => {} }),
};

/** One-time sequences are read from their files but never marked used. */
export const dryOneTime: P.OneTimeStore = {
  read: (path) => oneTimeFiles.read(path),
  markUsed: () => {},
};
