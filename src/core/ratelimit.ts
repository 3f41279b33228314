/**
 * Per-door rate limit for per-knock log lines (Stage N, sequence timeout),
 * so a flood cannot fill the disk or drown syslog: a token bucket per door,
 * plus counts of what was suppressed for a periodic summary. OPEN, command,
 * grant and close lines never pass through here.
 *
 * A suppressed line costs a counter and one probe of a fixed-size table of
 * source hashes (no allocation): sources are counted by a 32-bit number
 * standing for them (the IPv4 address itself, or a hash), so the count is
 * exact up to hash collisions, which can only make it lower.
 */
import { textHash } from './knock/attempts.js';

/**
 * Slots of a door's source table (a power of two; at most 61% full with the
 * default cap), allocated at the door's first suppressed line: 64 KiB.
 */
const TABLE = 1 << 14;
const EMPTY = new Int32Array(0);

interface Bucket {
  tokens: number;
  last: number;
  suppressed: number;
  /** Source numbers + 1 (0 = empty), open addressing; EMPTY until needed. */
  seen: Int32Array;
  sources: number;
  /** The source table stopped growing at its cap; the count is a lower bound. */
  saturated: boolean;
}

export interface Suppressed {
  door: string;
  lines: number;
  sources: number;
  saturated: boolean;
}

export class LogLimiter {
  private readonly buckets = new Map<string, Bucket>();
  /** Lines suppressed since start (for metrics). */
  suppressedTotal = 0;
  private readonly sourceCap: number;
  private lastDoor = '';
  private lastBucket: Bucket | undefined;

  constructor(
    private readonly perSecond = 20,
    private readonly burst = 100,
    sourceCap = 10_000,
  ) {
    this.sourceCap = Math.min(sourceCap, (TABLE * 5) >> 3);
  }

  /**
   * Whether a per-knock line for `door` may be logged at `now` (ms). `src`
   * is only counted: a number standing for the source (LazyEvent.srcKey),
   * or its text, which is hashed. One door's callers must pass one kind.
   */
  allow(door: string, src: string | number, now: number): boolean {
    const b = this.refill(door, now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    this.suppress(b, src);
    return false;
  }

  /**
   * allow() without taking the token: false when the line is suppressed (and
   * then counted, exactly as allow() counts it); true when it may be logged,
   * and then the caller logs it through allow() at the same `now`, which
   * refills nothing more. Lets the flood's common line be dropped before
   * anything is built for it.
   */
  check(door: string, src: number, now: number): boolean {
    const b = this.refill(door, now);
    if (b.tokens >= 1) return true;
    this.suppress(b, src);
    return false;
  }

  private refill(door: string, now: number): Bucket {
    // A flood hits one door: its bucket is kept at hand.
    let b = door === this.lastDoor ? this.lastBucket : this.buckets.get(door);
    if (b === undefined) {
      b = {
        tokens: this.burst,
        last: now,
        suppressed: 0,
        seen: EMPTY,
        sources: 0,
        saturated: false,
      };
      this.buckets.set(door, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.last) / 1000) * this.perSecond);
    b.last = now;
    this.lastDoor = door;
    this.lastBucket = b;
    return b;
  }

  private suppress(b: Bucket, src: string | number): void {
    b.suppressed++;
    this.suppressedTotal++;
    if (!b.saturated) this.count(b, typeof src === 'number' ? src : textHash(src));
  }

  private count(b: Bucket, key: number): void {
    // Stored as key + 1 so that 0 marks an empty slot (the key -1 wraps to 0: it
    // is stored as 1 instead, a harmless merge with the key 0).
    const v = (key + 1) | 0 || 1;
    if (b.seen === EMPTY) b.seen = new Int32Array(TABLE);
    const seen = b.seen;
    for (let i = Math.imul(v, 0x9e3779b1) >>> 18; ; i = (i + 1) & (TABLE - 1)) {
      const x = seen[i] as number;
      if (x === v) return;
      if (x === 0) {
        if (b.sources >= this.sourceCap) {
          b.saturated = true;
          return;
        }
        seen[i] = v;
        b.sources++;
        return;
      }
    }
  }

  /** What was suppressed since the last call, per door; resets the counts. */
  drain(): Suppressed[] {
    const out: Suppressed[] = [];
    for (const [door, b] of this.buckets) {
      if (b.suppressed === 0) continue;
      out.push({ door, lines: b.suppressed, sources: b.sources, saturated: b.saturated });
      b.suppressed = 0;
      if (b.sources > 0) b.seen.fill(0);
      b.sources = 0;
      b.saturated = false;
    }
    return out;
  }
}
