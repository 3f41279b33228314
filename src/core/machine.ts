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
 * - Work per packet is O(number of doors): one Map lookup per door.
 * - Each door's Map holds attempts in creation order, and creation times
 *   never decrease, so expiry sweeps stop at the first live attempt.
 */
import type { Door, Knock } from './config.js';
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
  | { kind: 'duplicate'; door: Door; src: string; stage: number };

export type Emit = (e: KnockEvent) => void;

interface DoorState {
  door: Door;
  sequence: Knock[];
  enabled: boolean;
  attempts: Map<string, Attempt>;
}

function matches(k: Knock | undefined, pkt: Packet): boolean {
  return k !== undefined && k.port === pkt.dport && k.proto === pkt.proto;
}

export class KnockMachine {
  private doors: DoorState[] = [];
  private local: ReadonlySet<string> = new Set();

  constructor(doors: readonly Door[]) {
    this.setDoors(doors);
  }

  /** Replace all doors (reload). Like knockd, in-progress attempts are dropped. */
  setDoors(doors: readonly Door[]): void {
    this.doors = doors.map((door) => ({
      door,
      sequence: door.sequence,
      enabled: door.sequence.length > 0,
      attempts: new Map(),
    }));
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
    d.attempts.clear();
  }

  disableDoor(doorIndex: number): void {
    const d = this.doors[doorIndex];
    if (d === undefined) return;
    d.enabled = false;
    d.attempts.clear();
  }

  sequenceOf(doorIndex: number): readonly Knock[] {
    return this.doors[doorIndex]?.sequence ?? [];
  }

  isEnabled(doorIndex: number): boolean {
    return this.doors[doorIndex]?.enabled ?? false;
  }

  attemptCount(): number {
    let n = 0;
    for (const d of this.doors) n += d.attempts.size;
    return n;
  }

  attempts(): { door: string; attempt: Attempt }[] {
    const out: { door: string; attempt: Attempt }[] = [];
    for (const d of this.doors)
      for (const a of d.attempts.values()) out.push({ door: d.door.name, attempt: a });
    return out;
  }

  /** Feed one decoded packet captured at `now` (ms). */
  onPacket(pkt: Packet, now: number, emit: Emit): void {
    for (let i = 0; i < this.doors.length; i++) {
      const d = this.doors[i] as DoorState;
      if (!d.enabled) continue;
      const door = d.door;
      if (door.target !== undefined) {
        if (pkt.dst !== door.target) continue;
      } else if (this.local.size > 0 && !this.local.has(pkt.dst)) {
        continue;
      }
      let a = d.attempts.get(pkt.src);
      if (a !== undefined && now - a.start > door.seqTimeout * 1000) {
        d.attempts.delete(pkt.src);
        emit({ kind: 'timeout', door, src: pkt.src, stage: a.stage });
        a = undefined;
      }
      if (pkt.proto === 'tcp') {
        const f = door.tcpFlags;
        if ((pkt.flags & (f.set | f.clear)) !== f.set) {
          // Wrong flags neither advance nor reset (knockd's rule).
          if (a !== undefined) emit({ kind: 'flags', door, src: pkt.src });
          continue;
        }
      }
      const seq = d.sequence;
      if (a !== undefined) {
        if (matches(seq[a.stage], pkt)) {
          a.stage++;
          emit({ kind: 'stage', door, src: pkt.src, stage: a.stage });
          if (a.stage >= seq.length) {
            d.attempts.delete(pkt.src);
            emit({ kind: 'open', door, doorIndex: i, src: pkt.src, family: a.family });
          }
          continue;
        }
        if (matches(seq[a.stage - 1], pkt)) {
          // A retransmitted SYN or a client retry: knockd resets here, which
          // breaks `nc -z` and telnet. The attempt keeps its place.
          emit({ kind: 'duplicate', door, src: pkt.src, stage: a.stage });
          continue;
        }
        d.attempts.delete(pkt.src);
        emit({ kind: 'reset', door, src: pkt.src, stage: a.stage });
      }
      // No attempt (or one just reset): the first knock starts one.
      if (!matches(seq[0], pkt)) continue;
      emit({ kind: 'stage', door, src: pkt.src, stage: 1 });
      if (seq.length === 1) {
        emit({ kind: 'open', door, doorIndex: i, src: pkt.src, family: pkt.family });
        continue;
      }
      d.attempts.set(pkt.src, { src: pkt.src, family: pkt.family, stage: 1, start: now });
    }
  }

  /** Expire attempts older than their door's seq_timeout, logging each as knockd does. */
  tick(now: number, emit: Emit): void {
    for (const d of this.doors) {
      const limit = d.door.seqTimeout * 1000;
      for (const a of d.attempts.values()) {
        if (now - a.start <= limit) break;
        d.attempts.delete(a.src);
        emit({ kind: 'timeout', door: d.door, src: a.src, stage: a.stage });
      }
    }
  }
}
