/**
 * What `knockctl status` and `knockctl grants` show: a pure view of the
 * daemon's state at `now`. The daemon gathers the inputs; this only shapes
 * them, so the reply format is tested without a daemon.
 */
import { formatSequence, type Door, type Knock } from './config.js';
import type { Grant } from './grants/grants.js';
import { formatPorts } from './port.js';

export interface StatusInput {
  now: number;
  iface: string;
  firewall: string;
  doors: readonly { door: Door; sequence: readonly Knock[]; enabled: boolean }[];
  attemptCount: number;
  maxAttempts: number;
  attempts: readonly { door: string; src: string; stage: number; start: number }[];
  grants: readonly Grant[];
  pendingStops: readonly { door: string; address: string; due: number }[];
  capture: Record<string, number>;
}

/** Attempts listed at most (the count is always exact). */
export const STATUS_ATTEMPTS = 100;

const secondsLeft = (due: number, now: number) => Math.max(0, Math.ceil((due - now) / 1000));

export function grantView(grants: readonly Grant[], now: number): object[] {
  return grants.map((g) => ({
    door: g.door,
    address: g.address,
    ports: formatPorts(g.ports),
    expires: new Date(g.expires).toISOString(),
    secondsLeft: secondsLeft(g.expires, now),
  }));
}

export function statusView(s: StatusInput): object {
  return {
    interface: s.iface,
    firewall: s.firewall,
    doors: s.doors.map(({ door, sequence, enabled }) => ({
      name: door.name,
      sequence: formatSequence(sequence),
      enabled,
      ...(door.open === undefined
        ? {}
        : { open: formatPorts(door.open.ports), openTimeout: door.openTimeout }),
    })),
    attemptCount: s.attemptCount,
    maxAttempts: s.maxAttempts,
    attempts: s.attempts.slice(0, STATUS_ATTEMPTS).map((a) => ({
      door: a.door,
      address: a.src,
      stage: a.stage,
      ageSeconds: Math.max(0, Math.floor((s.now - a.start) / 1000)),
    })),
    grants: grantView(s.grants, s.now),
    pendingStops: s.pendingStops.map((p) => ({
      door: p.door,
      address: p.address,
      secondsLeft: secondsLeft(p.due, s.now),
    })),
    capture: s.capture,
  };
}

/** Counters since start and gauges now, for /metrics; read at scrape time, never on the packet path. */
export interface MetricsSnapshot {
  knocks: { door: string; stage: number; count: number }[];
  opens: { door: string; count: number }[];
  attempts: number;
  evictions: number;
  grants: { backend: string; live: number; opened: number; expired: number; closed: number };
  commands: { run: number; failed: number; killed: number; dropped: number };
  capture: {
    received: number;
    dropped: number;
    ifdropped: number;
    decoded: number;
    skipped: number;
  };
  spa: { accepted: number; rejected: { reason: string; count: number }[] };
  logSuppressed: number;
  /** Shared grants; absent when [options] Fleet is not set. */
  fleet?: {
    connected: boolean;
    peers: number;
    queued: number;
    /** Changes written to Redis, read from it, rejected as malformed, dropped (queue full). */
    published: number;
    received: number;
    rejected: number;
    dropped: number;
    /** Remote changes this host applied, and refused (unshared or unknown door, bad address). */
    applied: number;
    refused: number;
    /** Shared attempt steps: written, shed by the budget, failed, sequences completed here. */
    attempts?: { sent: number; shed: number; failed: number; opened: number };
  };
}
