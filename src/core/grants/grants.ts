/**
 * Grants: which source may reach which ports, until when. Pure: the table
 * changes only through its methods, and time is an argument.
 *
 * Invariants:
 * - One grant per (door, address): a repeated knock refreshes its expiry and
 *   never adds a second entry, so the firewall never gets a duplicate rule.
 * - A grant lists every port it has opened. A new open for the same (door,
 *   address) with other ports (an SPA request for tcp/80 after one for tcp/22,
 *   or a door whose Open changed on reload) adds them: the grant's ports are
 *   the union and all of them take the new expiry, as a refresh does. So a
 *   revoke or an expiry closes every port the grant opened, never only the
 *   last request's.
 * - A grant always has at least one port; removing its last port removes it.
 */
import type { Door } from '../config.js';
import { samePort, unionPorts, type PortSpec } from '../port.js';

/** Union of the ports named in every door's Open: what the nftables guard protects. */
export function guardedPorts(doors: readonly Door[]): PortSpec[] {
  return unionPorts(doors.map((d) => d.open?.ports ?? []));
}

export interface Grant {
  door: string;
  address: string;
  family: 4 | 6;
  ports: PortSpec[];
  /** Epoch ms after which the grant no longer matches. */
  expires: number;
}

/** The table's key of (door, address). */
export const grantKey = (door: string, address: string) => `${door}\u0000${address}`;

export class GrantTable {
  private readonly grants = new Map<string, Grant>();

  get size(): number {
    return this.grants.size;
  }

  all(): Grant[] {
    return [...this.grants.values()].map((g) => ({ ...g, ports: [...g.ports] }));
  }

  /** The grant of (door, address), as stored (a copy), if any. */
  get(door: string, address: string): Grant | undefined {
    const g = this.grants.get(grantKey(door, address));
    return g === undefined ? undefined : { ...g, ports: [...g.ports] };
  }

  /**
   * Adds, or refreshes with the union of the old and new ports and the new
   * expiry; returns whether it was new. Callers apply `get(door, address)`
   * to the firewall, not `g`: it holds every port to refresh.
   */
  upsert(g: Grant): 'new' | 'refreshed' {
    const k = grantKey(g.door, g.address);
    const old = this.grants.get(k);
    this.grants.set(k, { ...g, ports: unionPorts([old?.ports ?? [], g.ports]) });
    return old === undefined ? 'new' : 'refreshed';
  }

  /**
   * Removes the given ports from every grant of `address` (of the doors `door`
   * accepts); returns what each changed grant lost. A grant left with no port goes.
   */
  revokePorts(
    address: string,
    ports: readonly PortSpec[],
    door: (name: string) => boolean = () => true,
  ): Grant[] {
    const changed: Grant[] = [];
    for (const [k, g] of this.grants) {
      if (g.address !== address || !door(g.door)) continue;
      const left = g.ports.filter((p) => !ports.some((q) => samePort(p, q)));
      if (left.length === g.ports.length) continue;
      changed.push({ ...g, ports: g.ports.filter((p) => !left.includes(p)) });
      if (left.length === 0) this.grants.delete(k);
      else g.ports = left;
    }
    return changed;
  }

  /** Removes the grants of `address` (for one door, or all); returns them. */
  revoke(address: string, door?: string): Grant[] {
    const out: Grant[] = [];
    for (const [k, g] of this.grants) {
      if (g.address === address && (door === undefined || g.door === door)) {
        out.push(g);
        this.grants.delete(k);
      }
    }
    return out;
  }

  /** Removes and returns the grants whose expiry is at or before `now`. */
  expire(now: number): Grant[] {
    const out: Grant[] = [];
    for (const [k, g] of this.grants) {
      if (g.expires <= now) {
        out.push(g);
        this.grants.delete(k);
      }
    }
    return out;
  }
}
