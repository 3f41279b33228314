/** 32-bit hashes for the attempt table and the log limiters. Pure. */

/** murmur3's finalizer: every input bit moves every output bit. */
export function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * The seeded hash of an attempt key's address (kind 4 or 6 with its words,
 * or 0 with k0 a hash of the text): once per packet, whatever the doors.
 */
export function addressHash(
  seed: number,
  kind: number,
  k0: number,
  k1: number,
  k2: number,
  k3: number,
): number {
  let h = fmix(seed ^ kind ^ k0);
  if (kind === 6) h = fmix(fmix(fmix(h ^ k1) ^ k2) ^ k3);
  return h;
}

/**
 * An address's hash at a door: the door moves it by a fixed odd multiple of
 * the golden ratio, so one address's entries at different doors differ.
 */
export function doorHash(h: number, door: number): number {
  return (h + Math.imul(door, 0x9e3779b1)) | 0;
}

/** FNV-1a over the UTF-16 units: only for addresses given as text (tests, tools). */
export function textHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}
