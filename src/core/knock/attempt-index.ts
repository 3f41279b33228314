/**
 * The attempt table's hash index: entry e is (hash, slot) at [2e, 2e+1],
 * slot NONE = empty; linear probing, and deletion by backward shift (no
 * tombstones), so a lookup touches a short run however many attempts came
 * and went. `mask` is the entry count minus one (a power of two).
 */
export const NONE = -1;

/** Adds slot `a` with hash `h` (the table keeps the load at most 1/2, so a free entry exists). */
export function place(index: Int32Array, mask: number, h: number, a: number): void {
  let i = h & mask;
  while (index[2 * i + 1] !== NONE) i = (i + 1) & mask;
  index[2 * i] = h;
  index[2 * i + 1] = a;
}

/** Removes slot `a`, whose hash is `h` (it must be in the index). */
export function unplace(index: Int32Array, mask: number, h: number, a: number): void {
  let i = h & mask;
  while (index[2 * i + 1] !== a) i = (i + 1) & mask;
  // An entry after the hole moves into it unless its home position lies
  // cyclically in (hole, entry].
  for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
    const b = index[2 * j + 1] as number;
    if (b === NONE) break;
    const hb = index[2 * j] as number;
    const home = hb & mask;
    const stays = i <= j ? i < home && home <= j : i < home || home <= j;
    if (!stays) {
      index[2 * i] = hb;
      index[2 * i + 1] = b;
      i = j;
    }
  }
  index[2 * i + 1] = NONE;
}

/**
 * Beside the index, per door, NEAR saturating counts of the door's live
 * attempts by the top bits of their hash. A count of 0 proves the door has no
 * attempt with such a hash, so a lookup at a door with few attempts (the
 * other doors under a flood of one) mostly ends there, without a trip into
 * the index. A count that reaches 255 stays there: it may then miss
 * decrements, so it can only count too many, and a lookup just probes.
 */
export const NEAR = 4096;
const NEAR_SHIFT = 20; // 32 - log2(NEAR)

export function nearIndex(door: number, h: number): number {
  return door * NEAR + (h >>> NEAR_SHIFT);
}

export function nearAdd(near: Uint8Array, door: number, h: number): void {
  const i = nearIndex(door, h);
  const c = near[i] as number;
  if (c !== 255) near[i] = c + 1;
}

export function nearRemove(near: Uint8Array, door: number, h: number): void {
  const i = nearIndex(door, h);
  const c = near[i] as number;
  if (c !== 255) near[i] = c - 1;
}
