/**
 * The knock state machine. No I/O and no clock: packets and the time come in
 * as arguments, events go out through `emit`.
 *
 * An attempt is one source's progress through one door's sequence:
 *
 *   (none) --first knock--> stage 1 --next knock--> ... --last knock--> OPEN (removed)
 *      ^                       |  duplicate of the knock just matched: ignored
 *      |                       |  TCP flags not matching the door: ignored
 *      +--- wrong port / seq_timeout since the first knock: removed -----+
 *
 * Invariants:
 * - Attempts are keyed by (door, source), so concurrent knockers never
 *   disturb each other, and doors sharing a prefix progress in parallel.
 * - Work per packet is O(number of doors): one lookup per door in the
 *   attempt table (attempts.ts). Addresses are compared as 32-bit words and
 *   formatted only when an event's `src` is read: no strings, no objects
 *   per attempt.
 * - At most `cap` attempts exist. When a new attempt would exceed it, the
 *   oldest stage-1 attempt is evicted; if every attempt is further along,
 *   the new one is not tracked. A spoofed first-knock flood therefore only
 *   ever competes with other first knocks, never with a client that is
 *   mid-sequence.
 * - Each door keeps stage-1 attempts (`fresh`) apart from later ones
 *   (`advanced`). `fresh` is in creation order and creation times never
 *   decrease, so eviction takes its first entry and expiry sweeps stop at
 *   the first live one.
 */
import type { Door, Knock } from '../config.js';
import type { Packet } from './decode.js';
import { AttemptTable, NONE, textHash } from './attempts.js';
import { listAttempts, oldestFreshDoor } from './attempt-list.js';
import { LocalAddresses } from './local.js';
import { doorState, type DoorState } from './door-state.js';
import {
  LazyEvent,
  slotEvent,
  sourceKey,
  matches,
  randomSeed,
  sameDst,
  type Attempt,
  type Emit,
  type KnockEvent,
} from './events.js';

export type { Attempt, Emit, KnockEvent } from './events.js';

export const DEFAULT_MAX_ATTEMPTS = 100_000;

export class KnockMachine {
  private doors: DoorState[] = [];
  private table: AttemptTable;
  private readonly local = new LocalAddresses();
  /**
   * Whether to emit the debug-only events (reset, flags, duplicate, evicted).
   * The daemon turns them off unless -D: a flood would allocate one per packet.
   */
  debugEvents = true;
  /** First knocks that lost their place (or never got one) because the table was full. */
  evictions = 0;
  /** The family of the packet being handled (its key is the table's probe). */
  private family: 4 | 6 = 4;
  /**
   * The flood's fast path (the daemon's event log): offered each first knock
   * of the packet's source with a number standing for the source
   * (sourceKey). True means fully handled, and no event object is made;
   * false, the event is emitted as usual.
   */
  quietFirstKnock: ((door: Door, src: number) => boolean) | null = null;

  constructor(
    doors: readonly Door[],
    private cap: number = DEFAULT_MAX_ATTEMPTS,
    private readonly seed: number = randomSeed(),
  ) {
    this.table = new AttemptTable(doors.length, seed);
    this.setDoors(doors);
  }

  setCap(cap: number): void {
    this.cap = Math.max(1, cap);
  }

  /** Replace all doors (reload). Like knockd, in-progress attempts are dropped. */
  setDoors(doors: readonly Door[]): void {
    this.doors = doors.map(doorState);
    this.table = new AttemptTable(doors.length, this.seed);
  }

  private clearDoor(i: number): void {
    const t = this.table;
    for (const list of [2 * i, 2 * i + 1])
      for (let a = t.head(list); a !== NONE; a = t.head(list)) t.remove(a);
  }

  /** An event about the packet's source. */
  private event(kind: KnockEvent['kind'], d: DoorState, i: number, stage: number): KnockEvent {
    return new LazyEvent(
      kind,
      d.door,
      i,
      stage,
      this.family,
      this.table.pText,
      this.table.p0,
      this.table.p1,
      this.table.p2,
      this.table.p3,
    ) as unknown as KnockEvent;
  }

  private sourceKey(): number {
    const t = this.table;
    return sourceKey(this.family, t.pText, t.p0, t.p1, t.p2, t.p3);
  }

  /**
   * Starts an attempt for the packet's source at door `i` in the place of the
   * oldest stage-1 attempt of any door (which is evicted); false when there
   * is none.
   */
  private replaceOldestFresh(
    emit: Emit,
    i: number,
    h: number,
    family: number,
    now: number,
  ): boolean {
    const t = this.table;
    const v = oldestFreshDoor(t, this.doors.length);
    if (v < 0) return false;
    const oldest = t.head(2 * v);
    this.evictions++;
    const e = this.debugEvents ? slotEvent(t, 'evicted', this.doors[v]!.door, v, oldest) : null;
    t.rekey(oldest, h, i, family, now);
    if (e !== null) emit(e);
    return true;
  }

  /**
   * Addresses that count as "us" for doors without a Target. An empty set
   * means "whatever the capture filter let through".
   */
  setLocalAddresses(addrs: ReadonlySet<string>): void {
    this.local.set(addrs);
  }

  /** A one-time sequence was used: the door moves to the next one. */
  setSequence(doorIndex: number, sequence: Knock[]): void {
    const d = this.doors[doorIndex];
    if (d === undefined) return;
    d.sequence = sequence;
    d.enabled = sequence.length > 0;
    // Progress against the used sequence means nothing for the new one.
    this.clearDoor(doorIndex);
  }

  disableDoor(doorIndex: number): void {
    const d = this.doors[doorIndex];
    if (d === undefined) return;
    d.enabled = false;
    this.clearDoor(doorIndex);
  }

  sequenceOf(doorIndex: number): readonly Knock[] {
    return this.doors[doorIndex]?.sequence ?? [];
  }

  isEnabled(doorIndex: number): boolean {
    return this.doors[doorIndex]?.enabled ?? false;
  }

  attemptCount(): number {
    return this.table.count;
  }

  get maxAttempts(): number {
    return this.cap;
  }

  attempts(): { door: string; attempt: Attempt }[] {
    const names = this.doors.map((d) => d.door.name);
    return listAttempts(this.table, names);
  }

  /** Feed one decoded packet captured at `now` (ms). */
  onPacket(pkt: Packet, now: number, emit: Emit): void {
    this.family = pkt.family;
    const t = this.table;
    if (!pkt.words) t.setProbe(0, textHash(pkt.src), 0, 0, 0, pkt.src);
    else if (pkt.family === 4) t.setProbe(4, pkt.s0, 0, 0, 0, '');
    else t.setProbe(6, pkt.s0, pkt.s1, pkt.s2, pkt.s3, '');
    let local = -1; // -1 not yet asked, 0 no, 1 yes
    for (let i = 0; i < this.doors.length; i++) {
      const d = this.doors[i] as DoorState;
      if (!d.enabled) continue;
      const door = d.door;
      if (door.target !== undefined) {
        if (pkt.words ? !sameDst(d.tKind, d.t, pkt) : pkt.dst !== door.target) continue;
      } else {
        if (local === -1) local = this.local.has(pkt) ? 1 : 0;
        if (local === 0) continue;
      }
      // A door with no attempts needs neither hash nor lookup.
      let h = 0;
      let hashed = false;
      let a = NONE;
      if (t.perDoor[i] !== 0) {
        hashed = true;
        h = t.hash(i);
        a = t.find(h, i);
      }
      if (a !== NONE && now - t.start(a) > door.seqTimeout * 1000) {
        const e = slotEvent(t, 'timeout', d.door, i, a);
        t.remove(a);
        emit(e);
        a = NONE;
      }
      if (pkt.proto === 'tcp') {
        if ((pkt.flags & d.flagMask) !== d.flagSet) {
          // Wrong flags neither advance nor reset (knockd's rule).
          if (a !== NONE && this.debugEvents) emit(this.event('flags', d, i, 0));
          continue;
        }
      }
      const seq = d.sequence;
      if (a !== NONE) {
        const stage = t.stage(a);
        if (matches(seq[stage], pkt)) {
          t.advance(a);
          emit(this.event('stage', d, i, stage + 1));
          if (stage + 1 >= seq.length) {
            t.remove(a);
            // The attempt's key is the packet's source: its family is the packet's.
            emit(this.event('open', d, i, 0));
          }
          continue;
        }
        if (matches(seq[stage - 1], pkt)) {
          // A retransmitted SYN or a client retry: knockd resets here, which
          // breaks `nc -z` and telnet. The attempt keeps its place.
          if (this.debugEvents) emit(this.event('duplicate', d, i, stage));
          continue;
        }
        t.remove(a);
        if (this.debugEvents) emit(this.event('reset', d, i, stage));
      }
      // No attempt (or one just reset): the first knock starts one.
      if (!matches(seq[0], pkt)) continue;
      const quiet = this.quietFirstKnock;
      if (quiet === null || !quiet(door, this.sourceKey())) emit(this.event('stage', d, i, 1));
      if (seq.length === 1) {
        emit(this.event('open', d, i, 0));
        continue;
      }
      if (!hashed) h = t.hash(i);
      if (t.count < this.cap) t.insert(h, i, pkt.family, now);
      else if (!this.replaceOldestFresh(emit, i, h, pkt.family, now)) {
        // Everyone tracked is further along than this newcomer.
        this.evictions++;
        if (this.debugEvents) emit(this.event('evicted', d, i, 0));
      }
    }
  }

  /** Expire attempts older than their door's seq_timeout, logging each as knockd does. */
  tick(now: number, emit: Emit): void {
    const t = this.table;
    this.doors.forEach((d, i) => {
      const limit = d.door.seqTimeout * 1000;
      for (let a = t.head(2 * i); a !== NONE && now - t.start(a) > limit; a = t.head(2 * i)) {
        const e = slotEvent(t, 'timeout', d.door, i, a);
        t.remove(a);
        emit(e);
      }
      // Advanced attempts are few (each needs a second correct knock) and not
      // in start order, so they are scanned in full.
      for (let a = t.head(2 * i + 1); a !== NONE;) {
        const next = t.next(a);
        if (now - t.start(a) > limit) {
          const e = slotEvent(t, 'timeout', d.door, i, a);
          t.remove(a);
          emit(e);
        }
        a = next;
      }
    });
  }
}
