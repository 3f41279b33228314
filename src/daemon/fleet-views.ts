/** What knockctl shows of the fleet: grants with their origin, the group's grants from Redis. */
import { grantView, type MetricsSnapshot } from '../core/status.js';
import type { FleetAttempts } from './fleet-attempts.js';
import type { GrantKeeper } from './grant-keeper.js';
import type { Fleet } from './ports.js';

/** `knockctl grants`: this host's grants; those opened by another daemon name its Fleet_Host. */
export function grantsWithOrigin(keeper: GrantKeeper, now: number): object[] {
  const all = keeper.table.all();
  return grantView(all, now).map((v, i) => {
    const g = all[i];
    const origin = g === undefined ? undefined : keeper.originOf(g.door, g.address);
    return origin === undefined ? v : { ...v, origin };
  });
}

/** `knockctl status` with the fleet's state (connected, peers seen, last sync, counters, shared attempts). */
export function withFleet(status: object, keeper: GrantKeeper, shared?: FleetAttempts): object {
  const fleet = keeper.fleet.status();
  if (!fleet.enabled || shared === undefined) return { ...status, fleet };
  return {
    ...status,
    fleet: { ...fleet, attempts: { ...shared.counters, queued: shared.queued } },
  };
}

/** The metrics snapshot with the shared attempts' counters (when the fleet is on). */
export function withAttemptMetrics(m: MetricsSnapshot, shared: FleetAttempts): MetricsSnapshot {
  if (m.fleet === undefined) return m;
  return { ...m, fleet: { ...m.fleet, attempts: { ...shared.counters } } };
}

/** `knockctl grants`, or with --fleet the group's grants (from Redis: a promise). */
export function grantsReply(
  fleet: boolean,
  keeper: GrantKeeper,
  now: number,
): object | Promise<object> {
  return fleet ? fleetGrantsView(keeper.fleet) : { grants: grantsWithOrigin(keeper, now) };
}

/** `knockctl grants --fleet`: the group's live grants as Redis holds them. */
export async function fleetGrantsView(fleet: Fleet): Promise<object> {
  if (!fleet.enabled) throw new Error('no Fleet configured');
  const grants = await fleet.grants();
  grants.sort((a, b) => a.address.localeCompare(b.address) || a.door.localeCompare(b.door));
  return {
    grants: grants.map((g) => ({
      door: g.door,
      address: g.address,
      origin: g.host,
      secondsLeft: Math.ceil(g.ttlMs / 1000),
    })),
  };
}
