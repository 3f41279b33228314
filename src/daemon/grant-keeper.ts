/**
 * Grants at run time: the grant table, the firewall kept in step with it,
 * and expiry. Changes take the backend's fast path when it has one; while a
 * full sync is in flight, or when the fast path declines, changes coalesce
 * into one more full sync, so the firewall always ends equal to the table.
 *
 * The firewall comes before the journal: a crash before the journal write
 * leaves a rule that still expires by itself (nft timeout, xt_time) and that
 * the next start reconciles away.
 */
import { GrantTable, type Grant } from '../core/grants/grants.js';
import { MSG } from '../core/logfmt.js';
import { LogLimiter } from '../core/ratelimit.js';
import { canonicalIP } from '../core/ip.js';
import { formatPorts, type PortSpec } from '../core/port.js';
import type { Clock, Firewall, GrantChange, Logger } from './ports.js';

/** Live grants at most (each is a journal entry and a firewall element). */
export const MAX_GRANTS = 65_536;

export class GrantKeeper {
  readonly table = new GrantTable();
  private syncing = false;
  private syncDirty = false;
  private inflight: Promise<void> | null = null;
  /** Counts for status and metrics. */
  readonly counters = { opened: 0, expired: 0, closed: 0, dropped: 0 };
  /** Grant lines per door: a flood of opens or refreshes is summarised, not written line by line. */
  readonly lines = new LogLimiter(5, 50);

  constructor(
    private readonly firewall: Firewall,
    private readonly logger: Logger,
    private readonly now: Clock,
    /** Called after every change of the table (the journal is written soon after). */
    private readonly onChange: () => void,
  ) {
    firewall.onError = (msg) => {
      logger.error(`error: firewall: ${msg}; resynchronising`);
      this.requestSync();
    };
  }

  get enabled(): boolean {
    return this.firewall.kind !== 'none';
  }

  get kind(): string {
    return this.firewall.kind;
  }

  /** Start-up: restore live grants from the journal and make the firewall match exactly. */
  async restore(grants: readonly Grant[], guarded: readonly PortSpec[]): Promise<void> {
    const now = this.now();
    for (const g of grants) if (g.expires > now) this.table.upsert(g);
    this.firewall.setGuarded(guarded);
    await this.firewall.init();
    // Reconcile: whatever sits in our chain/table that the journal does not know goes.
    await this.firewall.sync(this.table.all(), now);
  }

  /** A reload: the guarded ports may have changed. */
  reconfigure(guarded: readonly PortSpec[]): void {
    this.firewall.setGuarded(guarded);
    this.requestSync();
  }

  /** Opens (or refreshes) `ports` for `address` for `seconds`. The address must be canonical. */
  /**
   * Opens (or refreshes) `ports` for `address`. Null when the table is full
   * (MAX_GRANTS): a refresh always passes, a new grant beyond it is counted
   * and dropped, so a replayed sequence from spoofed sources cannot grow the
   * table, the journal and the firewall without bound.
   */
  open(door: string, address: string, ports: readonly PortSpec[], seconds: number): Grant | null {
    const ip = canonicalIP(address);
    if (ip === null || ip.text !== address)
      throw new Error(`not a canonical address: '${address}'`);
    if (this.table.size >= MAX_GRANTS && this.table.get(door, address) === undefined) {
      this.counters.dropped++;
      return null;
    }
    const g: Grant = {
      door,
      address,
      family: ip.family,
      ports: [...ports],
      expires: this.now() + seconds * 1000,
    };
    const how = this.table.upsert(g);
    this.counters.opened++;
    // The stored grant: a refresh with other ports holds them all (GrantTable.upsert).
    this.apply({ open: this.table.get(door, address) ?? g, refresh: how === 'refreshed' });
    if (this.lines.allow(door, address, this.now()))
      this.logger.log(
        MSG.grantOpen(address, door, formatPorts(ports), new Date(g.expires), how === 'refreshed'),
      );
    this.onChange();
    return g;
  }

  /** Removes `ports` from every grant of `address` (a Close door). */
  closePorts(address: string, ports: readonly PortSpec[], why: string): number {
    return this.closed(this.table.revokePorts(address, ports), why);
  }

  /** Removes the grants of `address` (for one door, or all). */
  revoke(address: string, door: string | undefined, why: string): number {
    return this.closed(this.table.revoke(address, door), why);
  }

  tick(): void {
    this.counters.expired += this.closed(this.table.expire(this.now()), 'expired');
  }

  private closed(gone: Grant[], why: string): number {
    if (gone.length === 0) return 0;
    for (const g of gone) {
      this.logger.log(MSG.grantClose(g.address, g.door, formatPorts(g.ports), why));
      this.apply({ close: g });
    }
    this.counters.closed += gone.length;
    this.onChange();
    return gone.length;
  }

  private apply(change: GrantChange): void {
    // While a full sync is in flight, its table replace could undo a fast
    // change; queue another full sync instead.
    if (!this.syncing && this.firewall.update(change, this.now())) return;
    this.requestSync();
  }

  /** Brings the firewall to the table; changes that arrive meanwhile coalesce into one more sync. */
  requestSync(): void {
    if (!this.enabled) return;
    this.syncDirty = true;
    if (!this.syncing) this.inflight = this.runSync();
  }

  private async runSync(): Promise<void> {
    this.syncing = true;
    try {
      while (this.syncDirty) {
        this.syncDirty = false;
        try {
          await this.firewall.sync(this.table.all(), this.now());
        } catch (e) {
          this.logger.error(`error: firewall: ${(e as Error).message}`);
        }
      }
    } finally {
      this.syncing = false;
      this.inflight = null;
    }
  }

  /** Shutdown: waits for a sync in flight, then lets the backend go. Grants stay (they expire by themselves). */
  async close(): Promise<void> {
    while (this.inflight !== null) await this.inflight;
    this.firewall.close();
  }
}
