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
 * - Work per packet is O(number of doors): at most two Map lookups per door.
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

export interface Attempt {
  src: string;
  family: 4 | 6;
  /** Number of knocks matched so far (1-based stage of the last one). */
  stage: number;
  /** Time of the first knock, in ms. */
  start: number;
}

export type KnockEvent =
  | { kind: 'stage'; door: Door; src: string; stage: number }
  | { kind: 'open'; door: Door; doorIndex: number; src: string; family: 4 | 6 }
  | { kind: 'timeout'; door: Door; src: string; stage: number }
  /** Debug only: a wrong knock ended an attempt (knockd logs nothing). */
  | { kind: 'reset'; door: Door; src: string; stage: number }
  /** Debug only: a TCP knock whose flags do not match the door. */
  | { kind: 'flags'; door: Door; src: string }
  /** Debug only: a retransmission of the knock just matched. */
  | { kind: 'duplicate'; door: Door; src: string; stage: number }
  /** Debug only: the attempt table was full; `src` lost its stage-1 attempt (or never got one). */
  | { kind: 'evicted'; door: Door; src: string };

export type Emit = (e: KnockEvent) => void;

/** An attempt, threaded on one of its door's two lists. */
interface Slot extends Attempt {
  door: number;
  owner: Source;
  prev: Slot | null;
  next: Slot | null;
}

/** Everything tracked for one source address: its attempt per door. */
interface Source {
  src: string;
  slots: (Slot | null)[];
  live: number;
}

/** A doubly linked list of slots: O(1) push, unlink and oldest. */
class SlotList {
  head: Slot | null = null;
  private tail: Slot | null = null;

  push(s: Slot): void {
    s.prev = this.tail;
    s.next = null;
    if (this.tail === null) this.head = s;
    else this.tail.next = s;
    this.tail = s;
  }

  unlink(s: Slot): void {
    if (s.prev === null) this.head = s.next;
    else s.prev.next = s.next;
    if (s.next === null) this.tail = s.prev;
    else s.next.prev = s.prev;
    s.prev = null;
    s.next = null;
  }

  clear(): void {
    this.head = null;
    this.tail = null;
  }

  *values(): Generator<Slot> {
    for (let s = this.head; s !== null; s = s.next) yield s;
  }
}

interface DoorState {
  door: Door;
  sequence: Knock[];
  enabled: boolean;
  /** Stage-1 attempts in creation order (oldest first). */
  fresh: SlotList;
  /** Attempts at stage 2 or later. */
  advanced: SlotList;
}

export const DEFAULT_MAX_ATTEMPTS = 100_000;

function matches(k: Knock | undefined, pkt: Packet): boolean {
  return k !== undefined && k.port === pkt.dport && k.proto === pkt.proto;
}

export class KnockMachine {
  private doors: DoorState[] = [];
  /** One entry per source with at least one attempt: one lookup per packet, whatever the doors. */
  private sources = new Map<string, Source>();
  private local: ReadonlySet<string> = new Set();
  private count = 0;
  /**
   * Whether to emit the debug-only events (reset, flags, duplicate, evicted).
   * The daemon turns them off unless -D: a flood would allocate one per packet.
   */
  debugEvents = true;
  /** First knocks that lost their place (or never got one) because the table was full. */
  evictions = 0;
  /** The last source entry that emptied, kept for reuse (no allocation on the flood path). */
  private spare: Source | null = null;

  constructor(
    doors: readonly Door[],
    private cap: number = DEFAULT_MAX_ATTEMPTS,
  ) {
    this.setDoors(doors);
  }

  setCap(cap: number): void {
    this.cap = Math.max(1, cap);
  }

  /** Replace all doors (reload). Like knockd, in-progress attempts are dropped. */
  setDoors(doors: readonly Door[]): void {
    this.doors = doors.map((door) => ({
      door,
      sequence: door.sequence,
      enabled: door.sequence.length > 0,
      fresh: new SlotList(),
      advanced: new SlotList(),
    }));
    this.sources = new Map();
    this.spare = null;
    this.count = 0;
  }

  private clearDoor(i: number): void {
    const d = this.doors[i];
    if (d === undefined) return;
    for (const list of [d.fresh, d.advanced]) {
      for (let a = list.head; a !== null;) {
        const next = a.next;
        this.detach(a);
        a = next;
      }
      list.clear();
    }
  }

  /** Drops a slot from its source entry (and the entry when it was the last). */
  private detach(a: Slot): void {
    const o = a.owner;
    if (o.slots[a.door] !== a) return;
    o.slots[a.door] = null;
    o.live--;
    this.count--;
    if (o.live === 0) {
      // Invariant: a source is in the map exactly while it has a live slot.
      this.sources.delete(o.src);
      this.spare = o;
    }
  }

  private remove(d: DoorState, a: Slot): void {
    if (a.owner.slots[a.door] !== a) return;
    (a.stage === 1 ? d.fresh : d.advanced).unlink(a);
    this.detach(a);
  }

  /**
   * Frees a place by evicting the oldest stage-1 attempt of any door and
   * returns its object for reuse (no allocation on the flood path); null
   * when there is none.
   */
  private evictOldestFresh(emit: Emit): Slot | null {
    let victim: DoorState | undefined;
    let oldest: Slot | null = null;
    for (const d of this.doors) {
      const first = d.fresh.head;
      if (first !== null && (oldest === null || first.start < oldest.start)) {
        oldest = first;
        victim = d;
      }
    }
    if (victim === undefined || oldest === null) return null;
    this.remove(victim, oldest);
    this.evictions++;
    if (this.debugEvents) emit({ kind: 'evicted', door: victim.door, src: oldest.src });
    return oldest;
  }

  /**
   * Addresses that count as "us" for doors without a Target. An empty set
   * means "whatever the capture filter let through".
   */
  setLocalAddresses(addrs: ReadonlySet<string>): void {
    this.local = addrs;
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
    return this.count;
  }

  get maxAttempts(): number {
    return this.cap;
  }

  attempts(): { door: string; attempt: Attempt }[] {
    const out: { door: string; attempt: Attempt }[] = [];
    for (const d of this.doors) {
      for (const a of d.fresh.values()) out.push({ door: d.door.name, attempt: a });
      for (const a of d.advanced.values()) out.push({ door: d.door.name, attempt: a });
    }
    return out;
  }

  /** Feed one decoded packet captured at `now` (ms). */
  onPacket(pkt: Packet, now: number, emit: Emit): void {
    let source = this.sources.get(pkt.src);
    for (let i = 0; i < this.doors.length; i++) {
      const d = this.doors[i] as DoorState;
      if (!d.enabled) continue;
      const door = d.door;
      if (door.target !== undefined) {
        if (pkt.dst !== door.target) continue;
      } else if (this.local.size > 0 && !this.local.has(pkt.dst)) {
        continue;
      }
      let a = source?.slots[i] ?? null;
      if (a !== null && now - a.start > door.seqTimeout * 1000) {
        this.remove(d, a);
        emit({ kind: 'timeout', door, src: pkt.src, stage: a.stage });
        a = null;
      }
      if (pkt.proto === 'tcp') {
        const f = door.tcpFlags;
        if ((pkt.flags & (f.set | f.clear)) !== f.set) {
          // Wrong flags neither advance nor reset (knockd's rule).
          if (a !== null && this.debugEvents) emit({ kind: 'flags', door, src: pkt.src });
          continue;
        }
      }
      const seq = d.sequence;
      if (a !== null) {
        if (matches(seq[a.stage], pkt)) {
          if (a.stage === 1) {
            d.fresh.unlink(a);
            d.advanced.push(a);
          }
          a.stage++;
          emit({ kind: 'stage', door, src: pkt.src, stage: a.stage });
          if (a.stage >= seq.length) {
            this.remove(d, a);
            emit({ kind: 'open', door, doorIndex: i, src: pkt.src, family: a.family });
          }
          continue;
        }
        if (matches(seq[a.stage - 1], pkt)) {
          // A retransmitted SYN or a client retry: knockd resets here, which
          // breaks `nc -z` and telnet. The attempt keeps its place.
          if (this.debugEvents) emit({ kind: 'duplicate', door, src: pkt.src, stage: a.stage });
          continue;
        }
        this.remove(d, a);
        if (this.debugEvents) emit({ kind: 'reset', door, src: pkt.src, stage: a.stage });
      }
      // No attempt (or one just reset): the first knock starts one.
      if (!matches(seq[0], pkt)) continue;
      emit({ kind: 'stage', door, src: pkt.src, stage: 1 });
      if (seq.length === 1) {
        emit({ kind: 'open', door, doorIndex: i, src: pkt.src, family: pkt.family });
        continue;
      }
      let slot: Slot | null = null;
      if (this.count >= this.cap) {
        slot = this.evictOldestFresh(emit);
        if (slot === null) {
          // Everyone tracked is further along than this newcomer.
          this.evictions++;
          if (this.debugEvents) emit({ kind: 'evicted', door, src: pkt.src });
          continue;
        }
      }
      source = this.track(pkt, now, i, d, slot, source);
    }
  }

  /** Starts a stage-1 attempt for door `i`, reusing an evicted slot when there is one. */
  private track(
    pkt: Packet,
    now: number,
    i: number,
    d: DoorState,
    reuse: Slot | null,
    known: Source | undefined,
  ): Source {
    // `known` was looked up for this packet; it left the map if its last slot went meanwhile.
    let owner = known;
    if (owner === undefined || owner.live === 0) {
      if (owner === undefined) {
        owner = this.spare ?? {
          src: pkt.src,
          slots: new Array<Slot | null>(this.doors.length).fill(null),
          live: 0,
        };
        owner.src = pkt.src;
      }
      if (this.spare === owner) this.spare = null;
      this.sources.set(pkt.src, owner);
    }
    let slot: Slot;
    if (reuse === null) {
      slot = {
        src: pkt.src,
        family: pkt.family,
        stage: 1,
        start: now,
        door: i,
        owner,
        prev: null,
        next: null,
      };
    } else {
      slot = reuse;
      slot.src = pkt.src;
      slot.family = pkt.family;
      slot.stage = 1;
      slot.start = now;
      slot.door = i;
      slot.owner = owner;
    }
    owner.slots[i] = slot;
    owner.live++;
    this.count++;
    d.fresh.push(slot);
    return owner;
  }

  /** Expire attempts older than their door's seq_timeout, logging each as knockd does. */
  tick(now: number, emit: Emit): void {
    for (const d of this.doors) {
      const limit = d.door.seqTimeout * 1000;
      for (let a = d.fresh.head; a !== null && now - a.start > limit; a = d.fresh.head) {
        this.remove(d, a);
        emit({ kind: 'timeout', door: d.door, src: a.src, stage: a.stage });
      }
      // Advanced attempts are few (each needs a second correct knock) and not
      // in start order, so they are scanned in full.
      for (let a = d.advanced.head; a !== null;) {
        const next = a.next;
        if (now - a.start > limit) {
          this.remove(d, a);
          emit({ kind: 'timeout', door: d.door, src: a.src, stage: a.stage });
        }
        a = next;
      }
    }
  }
}
