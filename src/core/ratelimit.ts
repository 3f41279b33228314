/**
 * Per-door rate limit for per-knock log lines (Stage N, sequence timeout),
 * so a flood cannot fill the disk or drown syslog: a token bucket per door,
 * plus counts of what was suppressed for a periodic summary. OPEN, command,
 * grant and close lines never pass through here.
 */
interface Bucket {
  tokens: number;
  last: number;
  suppressed: number;
  /** Distinct sources, as text or as a number standing for one (LazyEvent.srcKey). */
  sources: Set<string | number>;
  /** The source set stopped growing at its cap; the count is a lower bound. */
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

  constructor(
    private readonly perSecond = 20,
    private readonly burst = 100,
    private readonly sourceCap = 10_000,
  ) {}

  /**
   * Whether a per-knock line for `door` may be logged at `now` (ms). `src`
   * is only counted, so a caller may pass a number standing for the source
   * (one door's caller must always pass the same kind).
   */
  allow(door: string, src: string | number, now: number): boolean {
    let b = this.buckets.get(door);
    if (b === undefined) {
      b = { tokens: this.burst, last: now, suppressed: 0, sources: new Set(), saturated: false };
      this.buckets.set(door, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.last) / 1000) * this.perSecond);
    b.last = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    b.suppressed++;
    this.suppressedTotal++;
    if (b.sources.size < this.sourceCap) b.sources.add(src);
    else if (!b.sources.has(src)) b.saturated = true;
    return false;
  }

  /** What was suppressed since the last call, per door; resets the counts. */
  drain(): Suppressed[] {
    const out: Suppressed[] = [];
    for (const [door, b] of this.buckets) {
      if (b.suppressed === 0) continue;
      out.push({ door, lines: b.suppressed, sources: b.sources.size, saturated: b.saturated });
      b.suppressed = 0;
      b.sources.clear();
      b.saturated = false;
    }
    return out;
  }
}
