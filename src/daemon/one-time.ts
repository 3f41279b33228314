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
  reread(doors: readonly Door[], lines: Map<number, OneTimeLine>): number[] {
    const spent: number[] = [];
    doors.forEach((door, i) => {
      const ot = door.oneTimeSequences;
      if (ot === undefined) return;
      const res = this.store.read(ot.path);
      const first = 'usable' in res ? res.usable[0] : undefined;
      if (first === undefined) {
        lines.delete(i);
        spent.push(i);
        return;
      }
      lines.set(i, first);
      door.sequence = first.knocks;
    });
    return spent;
  }

  /** The lines in use after a (re)load, by door index; `spent` doors have none left. */
  reset(
    lines: Map<number, OneTimeLine>,
    spent: readonly number[] = [],
    doors: readonly Door[] = [],
  ): void {
    this.lines = new Map(lines);
    for (const i of spent) {
      this.logger.log(MSG.noMoreOneTime(doors[i]?.name ?? String(i)));
      this.disable(i);
    }
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
    const res = this.store.read(ot.path);
    const next = 'usable' in res ? res.usable[0] : undefined;
    if (next === undefined) {
      this.logger.log(MSG.noMoreOneTime(door.name));
      this.disable(doorIndex);
      return;
    }
    this.lines.set(doorIndex, next);
    this.machine.setSequence(doorIndex, next.knocks);
    this.logger.debug(`door '${door.name}': next one-time sequence ${formatSequence(next.knocks)}`);
    this.onChange();
  }

  private disable(doorIndex: number): void {
    this.lines.delete(doorIndex);
    this.machine.disableDoor(doorIndex);
    this.onChange();
  }
}
