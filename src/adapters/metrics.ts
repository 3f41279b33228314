/**
 * /metrics in the Prometheus text format, with prom-client. Every value is
 * read from the daemon's own counters when Prometheus scrapes (collect
 * callbacks), so serving metrics adds nothing to the packet path. Loaded
 * only when [options] Metrics is set.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import client from 'prom-client';
import type { MetricsSnapshot } from '../core/status.js';
import { VERSION } from '../cli/version.js';

type Labels = Record<string, string | number>;
type Sample = [Labels, number];

export class MetricsServer {
  private readonly registry = new client.Registry();
  private server: http.Server | null = null;
  private snap: MetricsSnapshot | null = null;

  /**
   * `token`: a scrape must carry `Authorization: Bearer TOKEN`. Without one,
   * every local user can read the knock counts, which tell how far a knock
   * got and so give away a sequence port by port.
   */
  constructor(
    private readonly snapshot: () => MetricsSnapshot,
    private readonly token?: string,
  ) {
    const r = this.registry;
    const current = () => this.current();
    /** A metric whose samples come from the snapshot taken for this scrape. */
    const def = (
      kind: 'counter' | 'gauge',
      name: string,
      help: string,
      labelNames: string[],
      samples: (s: MetricsSnapshot) => Sample[],
    ) => {
      const opts = {
        name,
        help,
        labelNames,
        registers: [r],
        collect(this: client.Gauge | client.Counter) {
          const s = current();
          this.reset();
          for (const [labels, v] of samples(s)) {
            if (kind === 'gauge') (this as client.Gauge).set(labels, v);
            else (this as client.Counter).inc(labels, v);
          }
        },
      };
      if (kind === 'gauge') new client.Gauge(opts);
      else new client.Counter(opts);
    };
    const one = (v: number): Sample[] => [[{}, v]];
    def(
      'counter',
      'knockd_knocks_total',
      'Knocks matched, by door and stage.',
      ['door', 'stage'],
      (s) => s.knocks.map((k) => [{ door: k.door, stage: k.stage }, k.count]),
    );
    def('counter', 'knockd_opens_total', 'Completed sequences, by door.', ['door'], (s) =>
      s.opens.map((o) => [{ door: o.door }, o.count]),
    );
    def('gauge', 'knockd_attempts', 'Attempts in progress.', [], (s) => one(s.attempts));
    def(
      'counter',
      'knockd_attempt_evictions_total',
      'First knocks dropped because the attempt table was full.',
      [],
      (s) => one(s.evictions),
    );
    def('gauge', 'knockd_grants', 'Live grants, by firewall backend.', ['backend'], (s) => [
      [{ backend: s.grants.backend }, s.grants.live],
    ]);
    def('counter', 'knockd_grants_opened_total', 'Grants opened or refreshed.', [], (s) =>
      one(s.grants.opened),
    );
    def('counter', 'knockd_grant_expiries_total', 'Grants that expired.', [], (s) =>
      one(s.grants.expired),
    );
    def(
      'counter',
      'knockd_commands_total',
      'Commands, by outcome: run, failed, killed, dropped.',
      ['outcome'],
      (s) =>
        (['run', 'failed', 'killed', 'dropped'] as const).map((o) => [
          { outcome: o },
          s.commands[o],
        ]),
    );
    def(
      'counter',
      'knockd_capture_packets_total',
      'Captured packets: received by the filter, dropped by the kernel or the interface, decoded, skipped.',
      ['state'],
      (s) =>
        (['received', 'dropped', 'ifdropped', 'decoded', 'skipped'] as const).map((k) => [
          { state: k },
          s.capture[k],
        ]),
    );
    def('counter', 'knockd_spa_accepted_total', 'SPA packets accepted.', [], (s) =>
      one(s.spa.accepted),
    );
    def(
      'counter',
      'knockd_spa_rejected_total',
      'SPA packets rejected, by reason.',
      ['reason'],
      (s) => s.spa.rejected.map((x) => [{ reason: x.reason }, x.count]),
    );
    def(
      'counter',
      'knockd_log_lines_suppressed_total',
      'Log lines dropped by the rate limits.',
      [],
      (s) => one(s.logSuppressed),
    );
    def('gauge', 'knockd_fleet_connected', '1 when Redis is reachable (Fleet set).', [], (s) =>
      s.fleet === undefined ? [] : one(s.fleet.connected ? 1 : 0),
    );
    def('gauge', 'knockd_fleet_peers', 'Other daemons of the group seen live.', [], (s) =>
      s.fleet === undefined ? [] : one(s.fleet.peers),
    );
    def('gauge', 'knockd_fleet_queued', 'Changes waiting for Redis.', [], (s) =>
      s.fleet === undefined ? [] : one(s.fleet.queued),
    );
    def(
      'counter',
      'knockd_fleet_changes_total',
      'Fleet changes: published, received, rejected (malformed), dropped (queue full), applied, refused (not allowed here).',
      ['outcome'],
      (s) => {
        const f = s.fleet;
        if (f === undefined) return [];
        return (
          ['published', 'received', 'rejected', 'dropped', 'applied', 'refused'] as const
        ).map((o) => [{ outcome: o }, f[o]]);
      },
    );
    def(
      'counter',
      'knockd_fleet_attempts_total',
      'Shared attempt steps: sent to Redis, shed by the write budget, failed, and sequences completed here (opened).',
      ['outcome'],
      (s) => {
        const a = s.fleet?.attempts;
        if (a === undefined) return [];
        return (['sent', 'shed', 'failed', 'opened'] as const).map((o) => [{ outcome: o }, a[o]]);
      },
    );
    new client.Gauge({
      name: 'knockd_build_info',
      help: 'Build information; the value is always 1.',
      labelNames: ['version', 'node'],
      registers: [r],
    }).set({ version: VERSION, node: process.version }, 1);
  }

  /** One snapshot per scrape, shared by every metric's collect. */
  private current(): MetricsSnapshot {
    this.snap ??= this.snapshot();
    return this.snap;
  }

  /** Serves on host:port only; resolves once listening. */
  listen(host: string, port: number): Promise<void> {
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404).end('not found\n');
        return;
      }
      if (this.token !== undefined && !bearerIs(req.headers.authorization, this.token)) {
        res.writeHead(401, { 'WWW-Authenticate': 'Bearer' }).end('unauthorized\n');
        return;
      }
      this.snap = null;
      this.registry.metrics().then(
        (text) => {
          this.snap = null;
          res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(text);
        },
        (e: Error) => res.writeHead(500).end(`${e.message}\n`),
      );
    });
    // A scrape is one short request: idle or dribbling connections are cut
    // fast, so a handful of them cannot lock Prometheus out for long.
    server.headersTimeout = 2000;
    server.requestTimeout = 3000;
    server.keepAliveTimeout = 1000;
    server.maxConnections = 256;
    server.setTimeout(3000, (sock) => sock.destroy());
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.removeListener('error', reject);
        server.on('error', () => {});
        this.server = server;
        resolve();
      });
    });
  }

  close(): void {
    this.server?.close();
    this.server = null;
  }
}

/** Compares digests, so the time taken says nothing about the token. */
function bearerIs(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
  if (m === null) return false;
  const digest = (t: string) => crypto.createHash('sha256').update(t).digest();
  return crypto.timingSafeEqual(digest(m[1] as string), digest(token));
}

/** The token of Metrics_Token_File: private to the daemon's user, at least 16 characters. */
export function readMetricsToken(file: string): string {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Error('not a regular file');
    if ((st.mode & 0o077) !== 0)
      throw new Error(`mode ${(st.mode & 0o777).toString(8)} lets others read it; chmod 600`);
    const token = fs.readFileSync(fd, 'utf8').trim();
    if (!/^\S{16,}$/.test(token))
      throw new Error('it must hold one token of 16 or more characters');
    return token;
  } catch (e) {
    throw new Error(`Metrics_Token_File '${file}': ${(e as Error).message}`);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
