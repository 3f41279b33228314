/**
 * Time-based doors (Sequence_Secret). Each such door is two doors in the
 * knock machine, slot A and slot B: the slot of step s is A for even s, B
 * for odd s, so the current step's sequence and the previous one are live
 * at once and a knock that straddles a boundary still completes. At each
 * boundary only the slot of the step two back is given the new step; the
 * other keeps its attempts in progress.
 *
 * A slot that opened is disabled until it gets a new step: a sequence opens
 * once, and an observer who replays it (from any source) gets nothing. The
 * used steps go to the journal, so a restart does not bring them back, and
 * no slot is ever given a step below one it held (the clock stepped back),
 * neither at a boundary nor at a reload.
 *
 * Machine doors are the config doors in order (slot A of a TOTP door at the
 * door's own index), then one slot B per TOTP door, so every index below the
 * number of config doors still means the same door.
 */
import type { Door } from '../core/config.js';
import type { KnockMachine } from '../core/knock/machine.js';
import { sequenceFor, stepIndex, type TotpHmac } from '../core/knock/totp.js';
import type { Clock } from './ports.js';

/** Used steps kept at most; live ones are two per door. */
export const MAX_BURNED = 4096;

interface TotpDoor {
  door: Door;
  /** Machine indices of slot A (even steps) and slot B (odd steps). */
  slots: [number, number];
  /** The step each slot holds. */
  held: [number, number];
}

export class TotpDoors {
  private list: TotpDoor[] = [];
  private machineDoors: Door[] = [];
  /** `door\0step` of every sequence that opened, while its step can still be live. Survives reloads. */
  private readonly burned = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly hmac: TotpHmac,
    private readonly now: Clock,
    /** A sequence was used up: the journal must be written. */
    private readonly onBurn: () => void = () => {},
  ) {}

  /** The knock machine's doors for these config doors, sequences as of now. */
  build(doors: readonly Door[]): Door[] {
    const before = this.list;
    this.list = [];
    const out = doors.map((d) => ({ ...d }));
    doors.forEach((door, i) => {
      if (door.totp === undefined) return;
      const stepSeconds = door.totp.params.stepSeconds;
      // Never below what the door held before the reload: its used steps may be pruned.
      const old = before.find(
        (t) => t.door.name === door.name && t.door.totp?.params.stepSeconds === stepSeconds,
      );
      const s = Math.max(stepIndex(this.now(), stepSeconds), ...(old?.held ?? []));
      const t: TotpDoor = { door, slots: [i, out.length], held: [-1, -1] };
      out.push({ ...door });
      for (const step of [s, s - 1]) {
        const k = (step & 1) as 0 | 1;
        t.held[k] = step;
        (out[t.slots[k]] as Door).sequence = this.sequence(door, step);
      }
      this.list.push(t);
    });
    this.machineDoors = out;
    return out;
  }

  get doors(): readonly Door[] {
    return this.machineDoors;
  }

  private sequence(door: Door, step: number) {
    const t = door.totp;
    return t === undefined ? door.sequence : sequenceFor(t.secret, step, t.params, this.hmac);
  }

  /**
   * Moves every slot whose step has gone by to the new step; true when a
   * sequence changed. A slot never moves back (the clock stepped back): an
   * old step could be one that already opened.
   */
  rotate(machine: KnockMachine): boolean {
    let changed = false;
    for (const t of this.list) {
      const step = stepIndex(this.now(), t.door.totp?.params.stepSeconds ?? 30);
      for (const s of [step, step - 1]) {
        const k = (s & 1) as 0 | 1;
        if (t.held[k] >= s) continue;
        t.held[k] = s;
        const seq = this.sequence(t.door, s);
        (this.machineDoors[t.slots[k]] as Door).sequence = seq;
        machine.setSequence(t.slots[k], seq); // a new step, a new sequence: enabled again
        changed = true;
      }
    }
    // A step below both a door's slots can never be held again (slots never
    // move back, reloads included). A door that is gone may come back at a
    // reload, so its steps stay, within MAX_BURNED, oldest dropped first.
    for (const key of this.burned) {
      const [name, s] = key.split('\u0000');
      const t = this.list.find((x) => x.door.name === name);
      if (t !== undefined && Number(s) < Math.min(...t.held)) this.burned.delete(key);
    }
    for (const key of this.burned) if (this.burned.size > MAX_BURNED) this.burned.delete(key);
    this.applyBurned(machine);
    return changed;
  }

  /** A door opened: if it is a TOTP slot, that sequence is used up for the rest of its life. */
  burn(machineIndex: number, machine: KnockMachine): boolean {
    const t = this.list.find((x) => x.slots.includes(machineIndex));
    if (t === undefined) return false;
    const k = t.slots.indexOf(machineIndex) as 0 | 1;
    this.burned.add(`${t.door.name}\u0000${t.held[k]}`);
    machine.disableDoor(machineIndex);
    this.onBurn();
    return true;
  }

  /** The used steps, for the journal: door name and step. */
  entries(): [string, number][] {
    return [...this.burned].map((key) => {
      const [name, step] = key.split('\u0000') as [string, string];
      return [name, Number(step)];
    });
  }

  /** Used steps from the journal, kept shut from now on (a restart). */
  restore(entries: readonly [string, number][], machine: KnockMachine): void {
    for (const [name, step] of entries.slice(-MAX_BURNED)) this.burned.add(`${name}\u0000${step}`);
    this.applyBurned(machine);
  }

  /** Keeps used sequences shut across setDoors (a reload) and rotations. */
  applyBurned(machine: KnockMachine): void {
    for (const t of this.list)
      for (const k of [0, 1] as const)
        if (this.burned.has(`${t.door.name}\u0000${t.held[k]}`)) machine.disableDoor(t.slots[k]);
  }

  /** Rotates at each step boundary from now on; `onChange` runs when a sequence moved (the filter follows). */
  arm(machine: KnockMachine, onChange: () => void): void {
    this.stop();
    const ms = this.msToNextStep();
    if (ms === null) return;
    this.timer = setTimeout(() => {
      if (this.rotate(machine)) onChange();
      this.arm(machine, onChange);
    }, ms + 5);
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Milliseconds until the next step boundary of any TOTP door (null: none). */
  msToNextStep(): number | null {
    let best: number | null = null;
    const now = this.now();
    for (const t of this.list) {
      const stepMs = (t.door.totp?.params.stepSeconds ?? 30) * 1000;
      const left = stepMs - (now % stepMs);
      if (best === null || left < best) best = left;
    }
    return best;
  }
}
