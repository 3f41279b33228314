/**
 * The SPA replay cache, apart from the verifier: the daemon restores and
 * journals it whether or not SPA is configured, and loads the verifier
 * (policy.ts) only when it is. Pure.
 */

/** How far a packet's timestamp may be from now, in seconds (fwknopd's default). */
export const MAX_SPA_AGE = 120;

/**
 * Digests of authentic packets, each kept only as long as a packet with that
 * timestamp could still pass the age check: older ones are rejected anyway.
 *
 * Bounded whatever a key holder sends: at most REPLAY_CAP digests, of which
 * at most FUTURE_CAP for packets dated beyond the window ahead (those stay
 * until their time has come and gone, so they are the ones that could pile
 * up). When full, an authentic packet is refused rather than left unburned:
 * the cache fails closed.
 */
export const REPLAY_CAP = 16_384;
export const FUTURE_CAP = 1_024;

export class ReplayCache {
  private readonly seen = new Map<string, number>();
  private readonly future = new Set<string>();

  constructor(private readonly window = MAX_SPA_AGE) {}

  has(digest: string): boolean {
    return this.seen.has(digest);
  }

  /**
   * Remembers a digest until `until` (epoch seconds); `future` marks a packet
   * dated beyond the window ahead. False when the cache is full.
   */
  add(digest: string, until: number, future = false): boolean {
    if (this.seen.has(digest)) return true;
    if (this.seen.size >= REPLAY_CAP || (future && this.future.size >= FUTURE_CAP)) return false;
    this.seen.set(digest, until);
    if (future) this.future.add(digest);
    return true;
  }

  prune(now: number): void {
    for (const [d, until] of this.seen) {
      if (until >= now) continue;
      this.seen.delete(d);
      this.future.delete(d);
    }
  }

  entries(): [string, number][] {
    return [...this.seen];
  }

  get size(): number {
    return this.seen.size;
  }

  get windowSeconds(): number {
    return this.window;
  }
}
