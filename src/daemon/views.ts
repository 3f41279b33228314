/** What the daemon shows: its state for knockctl status, its counters for /metrics. */
import type { KnockMachine } from '../core/knock/machine.js';
import { buildFilter, type FilterDoor } from '../core/knock/filter.js';
import type { Door } from '../core/config.js';
import type { MetricsSnapshot, StatusInput } from '../core/status.js';
import type { CaptureLoop } from './capture-loop.js';
import type { CommandScheduler } from './commands.js';
import type { EventLog } from './event-log.js';
import type { GrantKeeper } from './grant-keeper.js';
import type { SpaService } from './spa-service.js';

/** The daemon's parts that its views read. */
export interface DaemonParts {
  events: EventLog;
  machine: KnockMachine;
  grants: GrantKeeper;
  commands: CommandScheduler;
  capture: CaptureLoop;
  spa: SpaService;
}

export function statusInput(
  now: number,
  iface: string,
  doors: readonly Door[],
  { machine, grants, commands, capture }: DaemonParts,
): StatusInput {
  return {
    now,
    iface,
    firewall: grants.kind,
    doors: doors.map((door, i) => ({
      door,
      sequence: machine.sequenceOf(i),
      enabled: machine.isEnabled(i),
    })),
    attemptCount: machine.attemptCount(),
    maxAttempts: machine.maxAttempts,
    attempts: machine.attempts().map(({ door, attempt }) => ({ door, ...attempt })),
    grants: grants.table.all(),
    pendingStops: commands.pending(),
    capture: {
      ...(capture.stats() ?? { received: 0, dropped: 0, ifdropped: 0 }),
      ...capture.counters,
    },
  };
}

/** Counters since start and gauges now, gathered for /metrics at scrape time. */
export function metricsSnapshot({
  events,
  machine,
  grants,
  commands,
  capture,
  spa,
}: DaemonParts): MetricsSnapshot {
  const cap = capture.stats() ?? { received: 0, dropped: 0, ifdropped: 0 };
  const f = grants.fleet.status();
  const fleet = f.enabled
    ? {
        fleet: {
          connected: f.connected,
          peers: f.peers.length,
          queued: f.queued,
          ...f.counters,
          applied: grants.fleetCounters.applied,
          refused: grants.fleetCounters.rejected,
        },
      }
    : {};
  return {
    knocks: [...events.knocks].flatMap(([door, a]) =>
      a.map((count, i) => ({ door, stage: i + 1, count: count ?? 0 })),
    ),
    opens: [...events.opens].map(([door, count]) => ({ door, count })),
    attempts: machine.attemptCount(),
    evictions: machine.evictions,
    grants: { backend: grants.kind, live: grants.table.size, ...grants.counters },
    commands: { ...commands.counters },
    capture: {
      ...cap,
      decoded: capture.counters.packets,
      skipped: capture.counters.skipped,
    },
    spa: {
      accepted: spa.counters.accepted,
      rejected: [...spa.counters.rejected].map(([reason, count]) => ({ reason, count })),
    },
    logSuppressed: events.knockLimiter.suppressedTotal + events.openLimiter.suppressedTotal,
    ...fleet,
  };
}

/** The kernel filter: every enabled machine door's sequence, plus the SPA port on the capture path. */
export function knockFilter(
  doors: readonly Door[],
  machine: KnockMachine,
  spaPort: number | undefined,
  addrs: string[],
  ipv4Only: boolean,
  ethernet: boolean,
): string {
  const out: FilterDoor[] = [];
  doors.forEach((d, i) => {
    if (!machine.isEnabled(i)) return;
    const target = d.target === undefined ? {} : { target: d.target };
    out.push({ sequence: machine.sequenceOf(i), tcpFlags: d.tcpFlags, ...target });
  });
  if (spaPort !== undefined)
    out.push({ sequence: [{ port: spaPort, proto: 'udp' }], tcpFlags: { set: 0, clear: 0 } });
  return buildFilter(out, addrs, ipv4Only, ethernet);
}
