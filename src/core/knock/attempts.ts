/**
 * The attempt table behind the knock machine: every attempt lives in a slot
 * of one typed array (9 words, and its start time in a parallel float64
 * array), found through an
 * open-addressing hash index keyed by (door, address), and threaded on one
 * of its door's two lists by slot number. Nothing here allocates per packet:
 * slots are recycled through a free list, and the arrays only grow
 * (doubling) when more attempts are live than ever before.
 *
 * Invariants:
 * - A key is (door, kind, k0..k3): kind 4 or 6 with the address words (IPv4
 *   in k0, the rest 0), or kind 0 for an address known only as text (then k0
 *   is a hash of the text and the text itself is compared).
 * - The index (attempt-index.ts) is at most half full, and the per-door
 *   counts beside it (NEAR) never count fewer attempts than are live.
 * - The hash is seeded, so a flood of chosen source addresses cannot aim at
 *   one run of the index without knowing the seed. The seed changes where
 *   attempts sit in the index, never what the machine does.
 * - List `2*door` holds the door's stage-1 attempts in creation order; list
 *   `2*door+1` holds its later ones. A slot is on exactly one list while live.
 */
import { formatWords } from '../ip.js';
import { addressHash, doorHash } from './hash.js';
import { nearAdd, nearIndex, nearRemove, NEAR, NONE, place, unplace } from './attempt-index.js';

export { textHash } from './hash.js';
export { NONE } from './attempt-index.js';

/**
 * Slot layout, in int32 words from W*slot. META packs the key kind (bits
 * 0-7: 0, 4 or 6; FREE when the slot is not live), the address family (bits
 * 8-15) and the stage (bits 16-31; a sequence has far fewer knocks).
 */
const META = 0;
const DOOR = 1;
const K0 = 2; // K0..K0+3: key words
const PREV = 6;
const NEXT = 7;
/** The key's hash at its door, kept so an eviction finds the index entry without rehashing. */
const HASH = 8;
const W = 9;
const FREE = 255;
const STAGE_1 = 1 << 16;

export class AttemptTable {
  private s: Int32Array;
  /** Start time (ms) of each slot's attempt. */
  private starts: Float64Array;
  /** The address text of a slot: given (kind 0) or formatted once asked for; '' otherwise. */
  readonly texts: string[] = [];
  /** Head and tail slot of each list: [2*list] and [2*list+1]. */
  private readonly lists: Int32Array;
  /** Live attempts per door: a door with none needs no lookup. */
  readonly perDoor: Int32Array;
  /**
   * Entry e is (hash, slot) at [2e, 2e+1]; slot NONE = empty. The hash sits
   * next to the slot so probing and shifting never touch the slots.
   */
  private index: Int32Array;
  /** The doors' counts by hash (attempt-index.ts, NEAR). */
  private readonly near: Uint8Array;
  private mask: number;
  private capacity: number;
  /** Slots below `top` have been used; freed ones are chained through NEXT. */
  private top = 0;
  private free = NONE;
  count = 0;
  /**
   * The probe: the key of the packet being handled, set once per packet by
   * setProbe and used by hash, find, insert and rekey (kind 0: text only).
   */
  pKind = 0;
  p0 = 0;
  p1 = 0;
  p2 = 0;
  p3 = 0;
  pText = '';
  /** The seeded hash of the probe's address; a door's hash mixes the door in (doorHash). */
  private pHash = 0;

  constructor(
    doors: number,
    private readonly seed: number,
    capacity = 256,
  ) {
    this.lists = new Int32Array(4 * Math.max(1, doors)).fill(NONE);
    this.perDoor = new Int32Array(Math.max(1, doors));
    this.near = new Uint8Array(NEAR * Math.max(1, doors));
    this.capacity = capacity;
    this.s = new Int32Array(capacity * W);
    this.starts = new Float64Array(capacity);
    this.index = new Int32Array(4 * capacity).fill(NONE);
    this.mask = 2 * capacity - 1;
  }

  kind(a: number): number {
    return (this.s[W * a + META] as number) & 0xff;
  }
  family(a: number): 4 | 6 {
    return (((this.s[W * a + META] as number) >>> 8) & 0xff) as 4 | 6;
  }
  key(a: number, j: number): number {
    return this.s[W * a + K0 + j] as number;
  }
  stage(a: number): number {
    return (this.s[W * a + META] as number) >>> 16;
  }
  start(a: number): number {
    return this.starts[a] as number;
  }
  next(a: number): number {
    return this.s[W * a + NEXT] as number;
  }
  /** The text of a slot's address, formatted at most once. */
  textOf(a: number): string {
    let s = this.texts[a] as string;
    if (s === '') {
      s = formatWords(this.kind(a), this.key(a, 0), this.key(a, 1), this.key(a, 2), this.key(a, 3));
      this.texts[a] = s;
    }
    return s;
  }

  head(list: number): number {
    return this.lists[2 * list] as number;
  }

  setProbe(kind: number, k0: number, k1: number, k2: number, k3: number, text: string): void {
    this.pKind = kind;
    this.p0 = k0;
    this.p1 = k1;
    this.p2 = k2;
    this.p3 = k3;
    this.pText = text;
    this.pHash = addressHash(this.seed, kind, k0, k1, k2, k3);
  }

  /** The hash of the probe at `door`; pass it to find, insert and rekey. */
  hash(door: number): number {
    return doorHash(this.pHash, door);
  }

  /** The live slot of the probe at `door`, or NONE. */
  find(h: number, door: number): number {
    const index = this.index;
    const mask = this.mask;
    const s = this.s;
    const kind = this.pKind;
    if (this.near[nearIndex(door, h)] === 0) return NONE;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const a = index[2 * i + 1] as number;
      if (a === NONE) return NONE;
      const o = W * a;
      if (
        index[2 * i] === h &&
        s[o + DOOR] === door &&
        ((s[o + META] as number) & 0xff) === kind &&
        s[o + K0] === this.p0 &&
        s[o + K0 + 1] === this.p1 &&
        s[o + K0 + 2] === this.p2 &&
        s[o + K0 + 3] === this.p3 &&
        (kind !== 0 || this.texts[a] === this.pText)
      )
        return a;
    }
  }

  /** Adds the probe as a stage-1 attempt of `door` (it must not be live there), at the tail of the door's fresh list. */
  insert(h: number, door: number, family: number, now: number): number {
    let a = this.free;
    if (a !== NONE) this.free = this.s[W * a + NEXT] as number;
    else {
      if (this.top === this.capacity) this.grow();
      a = this.top++;
    }
    this.fill(a, h, door, family, now);
    this.count++;
    return a;
  }

  /** Removes a live slot from its list and the index, and frees it. */
  remove(a: number): void {
    const s = this.s;
    const o = W * a;
    const d = s[o + DOOR] as number;
    const meta = s[o + META] as number;
    this.unlink(meta >>> 16 === 1 ? 2 * d : 2 * d + 1, a);
    const h = this.slotHash(a);
    unplace(this.index, this.mask, h, a);
    nearRemove(this.near, d, h);
    this.perDoor[d] = (this.perDoor[d] as number) - 1;
    s[o + META] = FREE;
    this.texts[a] = '';
    s[o + NEXT] = this.free;
    this.free = a;
    this.count--;
  }

  /**
   * Gives a live stage-1 slot a new key (a flood's eviction and insertion in
   * one step, with no trip through the free list): the slot leaves its list
   * and the index, and comes back as a fresh attempt of `door` at the tail.
   */
  rekey(a: number, h: number, door: number, family: number, now: number): void {
    const s = this.s;
    const o = W * a;
    const d = s[o + DOOR] as number;
    this.unlink(2 * d, a);
    const old = this.slotHash(a);
    unplace(this.index, this.mask, old, a);
    nearRemove(this.near, d, old);
    this.perDoor[d] = (this.perDoor[d] as number) - 1;
    this.fill(a, h, door, family, now);
  }

  /** Makes slot `a` a fresh attempt of `door`: key, start, index entry, tail of the door's fresh list. */
  private fill(a: number, h: number, door: number, family: number, now: number): void {
    const s = this.s;
    const o = W * a;
    s[o + META] = this.pKind | (family << 8) | STAGE_1;
    s[o + K0] = this.p0;
    s[o + K0 + 1] = this.p1;
    s[o + K0 + 2] = this.p2;
    s[o + K0 + 3] = this.p3;
    s[o + DOOR] = door;
    s[o + HASH] = h;
    this.starts[a] = now;
    this.texts[a] = this.pText;
    place(this.index, this.mask, h, a);
    nearAdd(this.near, door, h);
    this.push(2 * door, a);
    this.perDoor[door] = (this.perDoor[door] as number) + 1;
  }

  /** A match: the stage goes up, and a stage-1 attempt moves to the door's other list. */
  advance(a: number): void {
    const o = W * a;
    const d = this.s[o + DOOR] as number;
    const meta = this.s[o + META] as number;
    if (meta >>> 16 === 1) {
      this.unlink(2 * d, a);
      this.push(2 * d + 1, a);
    }
    this.s[o + META] = meta + STAGE_1;
  }

  private push(list: number, a: number): void {
    const s = this.s;
    const tail = this.lists[2 * list + 1] as number;
    s[W * a + PREV] = tail;
    s[W * a + NEXT] = NONE;
    if (tail === NONE) this.lists[2 * list] = a;
    else s[W * tail + NEXT] = a;
    this.lists[2 * list + 1] = a;
  }

  private unlink(list: number, a: number): void {
    const s = this.s;
    const p = s[W * a + PREV] as number;
    const n = s[W * a + NEXT] as number;
    if (p === NONE) this.lists[2 * list] = n;
    else s[W * p + NEXT] = n;
    if (n === NONE) this.lists[2 * list + 1] = p;
    else s[W * n + PREV] = p;
  }

  /** The hash of a live slot's key, as stored by fill. */
  private slotHash(a: number): number {
    return this.s[W * a + HASH] as number;
  }

  /** Doubles the slots and rebuilds the index (amortised O(1) per insert). */
  private grow(): void {
    this.capacity *= 2;
    const s = new Int32Array(this.capacity * W);
    s.set(this.s);
    this.s = s;
    const starts = new Float64Array(this.capacity);
    starts.set(this.starts);
    this.starts = starts;
    this.index = new Int32Array(4 * this.capacity).fill(NONE);
    this.mask = 2 * this.capacity - 1;
    for (let a = 0; a < this.top; a++)
      if ((s[W * a + META] as number) !== FREE) place(this.index, this.mask, this.slotHash(a), a);
  }
}
