/**
 * Changes waiting for Redis: bounded and coalescing, so a flood of knocks
 * (spoofed sources completing a sequence) costs at most MAX_QUEUE entries
 * and one batched write at a time, never a write per packet.
 *
 * Invariants:
 * - One entry per (kind, address, door): a refresh replaces the waiting
 *   open and moves it to the end, so the queue stays in the order of the
 *   latest change per key and a revoke after an open is applied after it.
 * - An open remembers its deadline: what is taken carries the time it has
 *   left, and an open whose time ran out while Redis was away is dropped,
 *   never resurrected.
 * - When full, a new key is dropped and counted; refreshes of waiting keys still apply.
 */
import { formatPorts } from '../core/port.js';
import type { FleetOp } from './ports.js';

export const MAX_QUEUE = 4096;

interface Entry {
  op: FleetOp;
  /** Epoch ms when an open runs out. */
  deadline: number;
}

function keyOf(op: FleetOp): string {
  if (op.op === 'open') return `o\u0000${op.address}\u0000${op.door}`;
  if (op.op === 'revoke') return `r\u0000${op.address}\u0000${op.door ?? ''}`;
  return `c\u0000${op.address}\u0000${formatPorts(op.ports)}`;
}

export class FleetQueue {
  private readonly entries = new Map<string, Entry>();
  dropped = 0;

  constructor(private readonly cap = MAX_QUEUE) {}

  get size(): number {
    return this.entries.size;
  }

  /** Queues `op` seen at `now`; false when the queue is full and it was dropped. */
  push(op: FleetOp, now: number): boolean {
    const k = keyOf(op);
    const had = this.entries.delete(k);
    if (!had && this.entries.size >= this.cap) {
      this.dropped++;
      return false;
    }
    this.entries.set(k, { op, deadline: op.op === 'open' ? now + op.ttlMs : Infinity });
    return true;
  }

  /** Takes up to `max` changes, oldest first; opens carry the time they have left. */
  take(max: number, now: number): FleetOp[] {
    const out: FleetOp[] = [];
    for (const [k, e] of this.entries) {
      if (out.length >= max) break;
      this.entries.delete(k);
      if (e.op.op !== 'open') out.push(e.op);
      else if (e.deadline > now) out.push({ ...e.op, ttlMs: e.deadline - now });
    }
    return out;
  }
}
