/**
 * A small seeded PRNG (splitmix32). Every fuzz input is generated from its
 * own generator seeded by (campaign seed, target, index), so any single input
 * can be rebuilt from those three numbers, and shards of one campaign cover
 * exactly the inputs a single run would.
 */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seed | 0;
  }

  static for(seed: number, target: number, index: number): Rng {
    let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ (target + 0x632be5ab), 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 13) ^ index, 0x27d4eb2f);
    h ^= Math.imul(Math.floor(index / 0x100000000) + 1, 0x165667b1);
    return new Rng(h ^ (h >>> 16));
  }

  u32(): number {
    this.s = (this.s + 0x9e3779b9) | 0;
    let z = this.s;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  }

  /** Uniform in [0, n). */
  below(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }

  /** Uniform in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() < p * 0x100000000;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.below(xs.length)] as T;
  }

  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}
