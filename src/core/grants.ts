/**
 * Grants: which source may reach which ports, until when. Pure: the table
 * changes only through its methods, and time is an argument.
 *
 * Invariants:
 * - One grant per (door, address): a repeated knock refreshes its expiry and
 *   never adds a second entry, so the firewall never gets a duplicate rule.
 * - A grant always has at least one port; removing its last port removes it.
 */
import type { Proto } from './config.js';

export interface PortSpec {
  readonly proto: Proto;
  readonly port: number;
}

export interface Grant {
  door: string;
  address: string;
  family: 4 | 6;
  ports: PortSpec[];
  /** Epoch ms after which the grant no longer matches. */
  expires: number;
}

export function formatPorts(ports: readonly PortSpec[]): string {
  return ports.map((p) => `${p.proto}/${p.port}`).join(',');
}

/** Parses `tcp/22[,udp/60001,...]`; returns the ports or a message quoting the bad element. */
export function parsePortSpecs(value: string): { ports: PortSpec[] } | { error: string } {
  if (value.trim() === '') return { error: 'empty port list' };
  const ports: PortSpec[] = [];
  for (const raw of value.split(',')) {
    const el = raw.trim();
    const m = /^(tcp|udp)\/(\d{1,5})$/i.exec(el);
    if (m === null) return { error: `bad port '${el}': expected tcp/PORT or udp/PORT` };
    const port = Number(m[2]);
    if (port < 1 || port > 65535) return { error: `port ${m[2]} out of range 1-65535` };
    const proto = (m[1] as string).toLowerCase() as Proto;
    if (!ports.some((p) => p.proto === proto && p.port === port)) ports.push({ proto, port });
  }
  return { ports };
}

const key = (door: string, address: string) => `${door}\u0000${address}`;

export class GrantTable {
  private readonly grants = new Map<string, Grant>();

  get size(): number {
    return this.grants.size;
  }

  all(): Grant[] {
    return [...this.grants.values()].map((g) => ({ ...g, ports: [...g.ports] }));
  }

  /** Adds or refreshes; returns whether it was new. */
  upsert(g: Grant): 'new' | 'refreshed' {
    const k = key(g.door, g.address);
    const had = this.grants.has(k);
    this.grants.set(k, { ...g, ports: [...g.ports] });
    return had ? 'refreshed' : 'new';
  }

  /** Removes the given ports from every grant of `address`; returns the grants that changed. */
  revokePorts(address: string, ports: readonly PortSpec[]): Grant[] {
    const changed: Grant[] = [];
    for (const [k, g] of this.grants) {
      if (g.address !== address) continue;
      const left = g.ports.filter(
        (p) => !ports.some((q) => q.proto === p.proto && q.port === p.port),
      );
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
