/**
 * The write budget of shared attempts: a spoofed flood against a shared door
 * must not become a Redis write flood, so steps are shed here, before they
 * are queued. One token bucket (ATTEMPT_RATE steps a second, a burst of one
 * second) with three priorities, by how much of the bucket each may use:
 *
 * - CONTINUE: a knock of a source this daemon saw progress (stage >= 1 in
 *   Redis); may use the whole bucket.
 * - MAYBE: a later knock of a source not seen here (its first knock may have
 *   reached another server), or the first first knock of its /24 (IPv6 /48)
 *   in the current second; may not use the last RESERVE/2 tokens.
 * - NEW: any other first knock; may not use the last RESERVE tokens.
 *
 * So a first-knock flood takes at most ATTEMPT_RATE - RESERVE steps a second
 * and never the tokens a client in the middle of a sequence needs; a flood
 * from fewer prefixes than the budget also leaves each other prefix its first
 * knock. A flood spoofing a new prefix per packet competes with first knocks
 * of real clients (the local table still tracks them: knocks that all land on
 * one server open it as before).
 */
export const ATTEMPT_RATE = 2000;
const BURST = ATTEMPT_RATE;
const RESERVE = ATTEMPT_RATE / 4;
/** Prefixes remembered per second at most; beyond it a first knock counts as NEW. */
const MAX_PREFIXES = 16_384;

export const CONTINUE = 0;
export const MAYBE = 1;
export const NEW = 2;
export type Priority = typeof CONTINUE | typeof MAYBE | typeof NEW;

const FLOOR = [0, RESERVE / 2, RESERVE] as const;

export class FleetBudget {
  private tokens = BURST;
  private last: number;
  private window: number;
  private readonly prefixes = new Set<number | string>();

  constructor(now: number) {
    this.last = now;
    this.window = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(BURST, this.tokens + ((now - this.last) * ATTEMPT_RATE) / 1000);
      this.last = now;
    }
    if (now - this.window >= 1000) {
      this.prefixes.clear();
      this.window = now;
    }
  }

  /** Whether a step of `priority` could pass now (no token taken): lets a flood be shed before any string is built. */
  could(priority: Priority, now: number): boolean {
    this.refill(now);
    return this.tokens >= 1 + FLOOR[priority];
  }

  /** Takes a token for a step of `priority`; false when it must be shed. */
  take(priority: Priority, now: number): boolean {
    if (!this.could(priority, now)) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Takes a token for a first knock from `prefix`: MAYBE for the first of
   * its prefix this second (the prefix is then remembered), NEW otherwise.
   */
  takeFirst(prefix: number | string, now: number): boolean {
    this.refill(now);
    const fresh = !this.prefixes.has(prefix) && this.prefixes.size < MAX_PREFIXES;
    if (!this.take(fresh ? MAYBE : NEW, now)) return false;
    if (fresh) this.prefixes.add(prefix);
    return true;
  }
}
