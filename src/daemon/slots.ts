/**
 * Per-door command slots: how many commands a door runs at once, how many
 * stops it has pending, the starts it dropped, and the per-(door, source)
 * cooldown. A door's counts are its own, so a flooded door never takes
 * another door's slots. Starts that find no slot are dropped; stops wait.
 */
export const COOLDOWN_MS = 1000;
/** Pending stops per door at most; a start that would leave one more is dropped. */
export const MAX_PENDING_STOPS = 4096;
/** Cooldown entries kept at most; beyond this the oldest go first (they are the ones expiring). */
const COOLDOWN_CAP = 65_536;

interface DoorSlots {
  running: number;
  /** Pending stops (and cycle closes) of this door. */
  pending: number;
  waiting: (() => void)[];
  dropped: number;
}

export class CommandSlots {
  private readonly doors = new Map<string, DoorSlots>();
  /** `door\0address` -> epoch ms of the last start, in insertion (= time) order. */
  private readonly cooldown = new Map<string, number>();
  dropped = 0;

  constructor(private max: number) {}

  private of(door: string): DoorSlots {
    let s = this.doors.get(door);
    if (s === undefined) {
      s = { running: 0, pending: 0, waiting: [], dropped: 0 };
      this.doors.set(door, s);
    }
    return s;
  }

  /** A higher cap frees slots for stops already waiting. */
  setMax(n: number): void {
    this.max = n;
    for (const s of this.doors.values()) {
      while (s.running < n && s.waiting.length > 0) {
        s.running++;
        s.waiting.shift()?.();
      }
    }
  }

  /**
   * Whether a start may run now: not within the cooldown of the same (door,
   * source), a free slot, and room for one more pending stop (each start can
   * leave one for up to Cmd_Timeout, so they are bounded too). Takes the slot.
   */
  admit(door: string, src: string, now: number): boolean {
    const key = `${door}\u0000${src}`;
    const last = this.cooldown.get(key);
    const s = this.of(door);
    if (
      (last !== undefined && now - last < COOLDOWN_MS) ||
      s.running >= this.max ||
      s.pending >= MAX_PENDING_STOPS
    ) {
      s.dropped++;
      this.dropped++;
      return false;
    }
    this.cooldown.delete(key);
    this.cooldown.set(key, now);
    if (this.cooldown.size > COOLDOWN_CAP) this.prune(now, true);
    s.running++;
    return true;
  }

  /** Waits for a slot (stop commands only: they queue, starts are dropped). */
  acquire(door: string): Promise<void> {
    const s = this.of(door);
    if (s.running < this.max) {
      s.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => s.waiting.push(resolve));
  }

  release(door: string): void {
    const s = this.of(door);
    const next = s.waiting.shift();
    if (next !== undefined)
      next(); // the slot passes straight to the waiter
    else s.running--;
  }

  pendingAdded(door: string): void {
    this.of(door).pending++;
  }

  pendingRemoved(door: string): void {
    const s = this.of(door);
    s.pending = Math.max(0, s.pending - 1);
  }

  /** Per-door counts of starts dropped since the last call; also ages the cooldown out. */
  drainDropped(now: number): { door: string; dropped: number }[] {
    const out: { door: string; dropped: number }[] = [];
    for (const [door, s] of this.doors) {
      if (s.dropped > 0) out.push({ door, dropped: s.dropped });
      s.dropped = 0;
    }
    this.prune(now, false);
    return out;
  }

  private prune(now: number, overCap: boolean): void {
    for (const [k, t] of this.cooldown) {
      if (now - t < COOLDOWN_MS && !(overCap && this.cooldown.size > COOLDOWN_CAP)) break;
      this.cooldown.delete(k);
    }
  }
}
