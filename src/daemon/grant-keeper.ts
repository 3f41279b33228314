/**
 * Grants at run time: the grant table, the firewall kept in step with it,
 * and expiry. Changes take the backend's fast path when it has one; while a
 * full sync is in flight, or when the fast path declines, changes coalesce
 * into one more full sync, so the firewall always ends equal to the table.
 *
 * The firewall comes before the journal: a crash before the journal write
 * leaves a rule that still expires by itself (nft timeout, xt_time) and that
 * the next start reconciles away.
 *
 * The fleet (issue #14): opens of shared doors (Share = yes), admin revokes
 * and shared Close doors are published to the group; the group's changes
 * come back through `applyRemote`, which validates them like local ones and
 * takes the same table/firewall path. Remote changes are never re-published,
 * so nothing echoes. What a remote open may open is decided here, from this
 * host's own door: its Open ports, only if it exists here with Share = yes,
 * for no longer than its Open_Timeout.
 */
import type { Door } from '../core/config.js';
import { GrantTable, grantKey as gkey, type Grant } from '../core/grants/grants.js';
import { MSG } from '../core/logfmt.js';
import { LogLimiter } from '../core/ratelimit.js';
import { canonicalIP } from '../core/ip.js';
import { formatPorts, samePort, type PortSpec } from '../core/port.js';
import {
  NO_FLEET,
  type Clock,
  type Firewall,
  type Fleet,
  type FleetOp,
  type GrantChange,
  type Logger,
} from './ports.js';

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
  /** Remote changes: applied, and rejected (unknown or unshared door, bad address, no backend). */
  readonly fleetCounters = { applied: 0, rejected: 0 };
  /** Grants last opened by another daemon of the group: (door, address) -> its Fleet_Host. */
  private readonly origins = new Map<string, string>();

  constructor(
    private readonly firewall: Firewall,
    private readonly logger: Logger,
    private readonly now: Clock,
    /** Called after every change of the table (the journal is written soon after). */
    private readonly onChange: () => void,
    readonly fleet: Fleet = NO_FLEET,
    /** The door of that name in the running configuration. */
    private readonly doorOf: (name: string) => Door | undefined = () => undefined,
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

  /** Joins the group: remote changes start to arrive. */
  startFleet(): void {
    this.fleet.start({ onRemote: (op, host) => this.applyRemote(op, host) });
  }

  /** Who opened the grant of (door, address): a Fleet_Host name, or undefined for this daemon. */
  originOf(door: string, address: string): string | undefined {
    return this.origins.get(gkey(door, address));
  }

  /**
   * Opens (or refreshes) `ports` for `address` for `seconds`; the address
   * must be canonical. `share`: the door has Share = yes (publish it). Null
   * when the table is full (MAX_GRANTS): a refresh always passes, a new
   * grant beyond it is counted and dropped, so a replayed sequence from
   * spoofed sources cannot grow the table, the journal and the firewall
   * without bound.
   */
  open(
    door: string,
    address: string,
    ports: readonly PortSpec[],
    seconds: number,
    share: boolean | undefined = false,
  ): Grant | null {
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
    if (share) this.fleet.publish({ op: 'open', door, address, ttlMs: seconds * 1000 });
    this.put(g);
    return g;
  }

  /** Stores `g`, applies and logs it; `host`: the fleet host it came from. */
  private put(g: Grant, host?: string): void {
    const how = this.table.upsert(g);
    const k = gkey(g.door, g.address);
    if (host === undefined) this.origins.delete(k);
    else if (how === 'new') this.origins.set(k, host);
    this.counters.opened++;
    // The stored grant: a refresh with other ports holds them all (GrantTable.upsert).
    const refresh = how === 'refreshed';
    this.apply({ open: this.table.get(g.door, g.address) ?? g, refresh });
    if (this.lines.allow(g.door, g.address, this.now()))
      this.logger.log(
        MSG.grantOpen(g.address, g.door, formatPorts(g.ports), new Date(g.expires), refresh) +
          (host === undefined ? '' : ` (from fleet host ${host})`),
      );
    this.onChange();
  }

  /** knockctl grant: the door's Open ports for its Open_Timeout. Throws a message for the client. */
  adminGrant(door: Door | undefined, name: string, address: string): object {
    if (door === undefined) throw new Error(`no door named '${name}'`);
    if (door.open === undefined) throw new Error(`door '${name}' has no Open ports to grant`);
    if (!this.enabled) throw new Error('no Firewall backend configured');
    const g = this.open(door.name, address, door.open.ports, door.openTimeout, door.share);
    if (g === null) throw new Error('the grant table is full');
    return { granted: formatPorts(door.open.ports), seconds: door.openTimeout };
  }

  /** Removes `ports` from every grant of `address` (a Close door; `share`: publish it). */
  closePorts(
    address: string,
    ports: readonly PortSpec[],
    why: string,
    share: boolean | undefined = false,
  ): number {
    const changed = this.table.revokePorts(address, ports);
    if (share) {
      this.fleet.publish({ op: 'close', address, ports: [...ports] });
      // A grant closed whole is deleted from the group's store too.
      for (const g of changed)
        if (this.doorOf(g.door)?.share === true && this.table.get(g.door, address) === undefined)
          this.fleet.publish({ op: 'revoke', address, door: g.door });
    }
    return this.closed(changed, why);
  }

  /** Removes the grants of `address` (for one door, or all); `share`: group-wide (knockctl revoke). */
  revoke(address: string, door: string | undefined, why: string, share = false): number {
    if (share)
      this.fleet.publish({ op: 'revoke', address, ...(door === undefined ? {} : { door }) });
    return this.closed(this.table.revoke(address, door), why);
  }

  /** A change from another daemon of the group, validated as a local one; returns whether it applied. */
  applyRemote(op: FleetOp, host: string): boolean {
    const shared = (name: string) => this.doorOf(name)?.share === true;
    const ip = canonicalIP(op.address);
    if (ip === null || ip.text !== op.address) return this.reject();
    const why = `by fleet host ${host}`;
    if (op.op === 'revoke') {
      // One grant per (door, address): the shared ones of this address, or of its door.
      const hit = (g: Grant) =>
        g.address === op.address && (op.door === undefined || op.door === g.door) && shared(g.door);
      let n = 0;
      for (const g of this.table.all().filter(hit))
        n += this.closed(this.table.revoke(op.address, g.door), `revoked ${why}`);
      this.fleetCounters.applied++;
      return n > 0;
    }
    if (op.op === 'close') {
      const changed = this.table.revokePorts(op.address, op.ports, shared);
      this.fleetCounters.applied++;
      return this.closed(changed, `closed ${why}`) > 0;
    }
    const door = this.doorOf(op.door);
    if (door?.share !== true || door.open === undefined || !this.enabled) return this.reject();
    // A stored grant a shared Close took ports from opens only what is left of
    // them, and this host's grant loses them too (a Close it missed).
    if (op.closed !== undefined) {
      const gone = this.table.revokePorts(op.address, op.closed, (d) => d === door.name);
      this.closed(gone, `closed by fleet host ${host}`);
    }
    const ports = door.open.ports.filter((p) => !op.closed?.some((q) => samePort(p, q)));
    if (ports.length === 0) return false;
    // Never longer than this host's own door would open it for.
    const expires = this.now() + Math.min(op.ttlMs, door.openTimeout * 1000);
    const old = this.table.get(door.name, op.address);
    if (old === undefined && this.table.size >= MAX_GRANTS) {
      this.counters.dropped++;
      return false;
    }
    this.fleetCounters.applied++;
    // Nothing new (a resync, or our own grant coming back): no firewall change, no log line.
    if (
      old !== undefined &&
      old.expires >= expires &&
      ports.every((p) => old.ports.some((q) => samePort(p, q)))
    )
      return false;
    this.put({ door: door.name, address: op.address, family: ip.family, ports, expires }, host);
    return true;
  }

  private reject(): false {
    this.fleetCounters.rejected++;
    return false;
  }

  tick(): void {
    this.counters.expired += this.closed(this.table.expire(this.now()), 'expired');
  }

  private closed(gone: Grant[], why: string): number {
    if (gone.length === 0) return 0;
    for (const g of gone) {
      if (this.table.get(g.door, g.address) === undefined)
        this.origins.delete(gkey(g.door, g.address));
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
    await this.fleet.close();
  }
}
