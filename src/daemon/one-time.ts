/**
 * One_Time_Sequences: after a door opens, its line in the file is marked
 * used with '#' (as knockd does) and the next unused line becomes the door's
 * sequence. No line left, or a file we cannot write: the door is disabled
 * (knockd crashes on the former).
 */
import { formatSequence, type Door, type OneTimeLine } from '../core/config.js';
import { MSG } from '../core/logfmt.js';
import type { KnockMachine } from '../core/knock/machine.js';
import type { Logger, OneTimeStore } from './ports.js';

/** A one-time door whose file has no usable line left. */
interface Spent {
  index: number;
  name: string;
}

export class OneTimeSequences {
  private lines = new Map<number, OneTimeLine>();

  constructor(
    private readonly store: OneTimeStore,
    private readonly machine: KnockMachine,
    private readonly logger: Logger,
    /** The doors' sequences changed: the capture filter must follow. */
    private readonly onChange: () => void,
  ) {}

  /**
   * A reload reads the doors' files before it awaits (the rest of the config,
   * SPA); a door that opens meanwhile burns its line, which the reload would
   * then put back. Called after the reload's last await and before its doors
   * are set: each door takes its file's first usable line as it is now.
   * Returns the doors with none left (reset disables them).
   */
  reread(doors: readonly Door[], lines: Map<number, OneTimeLine>): Spent[] {
    const spent: Spent[] = [];
    doors.forEach((door, index) => {
      const ot = door.oneTimeSequences;
      if (ot === undefined) return;
      const first = this.firstUsable(ot.path);
      if (first === undefined) {
        lines.delete(index);
        spent.push({ index, name: door.name });
        return;
      }
      lines.set(index, first);
      door.sequence = first.knocks;
    });
    return spent;
  }

  /** The lines in use after a (re)load, by door index; `spent` doors have none left. */
  reset(lines: Map<number, OneTimeLine>, spent: readonly Spent[] = []): void {
    this.lines = new Map(lines);
    for (const d of spent) this.spend(d.name, d.index);
  }

  /** A door opened: burn its line and move on. */
  used(door: Door, doorIndex: number): void {
    const ot = door.oneTimeSequences;
    const current = this.lines.get(doorIndex);
    if (ot === undefined || current === undefined) return;
    try {
      this.store.markUsed(ot.path, current.offset);
    } catch (e) {
      this.logger.log(MSG.oneTimeError(door.name));
      this.logger.debug(`one_time_sequences ${ot.path}: ${(e as Error).message}`);
      this.disable(doorIndex);
      return;
    }
    const next = this.firstUsable(ot.path);
    if (next === undefined) return this.spend(door.name, doorIndex);
    this.lines.set(doorIndex, next);
    this.machine.setSequence(doorIndex, next.knocks);
    this.logger.debug(`door '${door.name}': next one-time sequence ${formatSequence(next.knocks)}`);
    this.onChange();
  }

  private firstUsable(path: string): OneTimeLine | undefined {
    const res = this.store.read(path);
    return 'usable' in res ? res.usable[0] : undefined;
  }

  /** No line left: the door is disabled (knockd crashes here). */
  private spend(name: string, doorIndex: number): void {
    this.logger.log(MSG.noMoreOneTime(name));
    this.disable(doorIndex);
  }

  private disable(doorIndex: number): void {
    this.lines.delete(doorIndex);
    this.machine.disableDoor(doorIndex);
    this.onChange();
  }
}
