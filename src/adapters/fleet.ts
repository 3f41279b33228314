/**
 * The Fleet port on Redis (ioredis): loaded only when [options] Fleet is set.
 *
 * - Grants live as keys `knockd:<group>:g:<address>/<door>` whose TTL is the
 *   time the grant has left, so a daemon that starts (or reconnects) late
 *   reads the live ones; changes go out on the channel `knockd:<group>:ch`,
 *   so the others apply them at once. Both are written in one pipeline per
 *   batch (see FleetQueue for the bounds).
 * - Redis is never a single point of failure: while it is away the daemon
 *   works locally, changes wait in the bounded queue, ioredis retries with
 *   backoff, and each state change is logged once.
 * - What arrives is decoded as untrusted (fleet-wire.ts) and validated by the
 *   grant keeper; a message from this daemon (same instance id) is ignored.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { redactFleetUrl } from '../core/config-options.js';
import { decodeMessage, fleetKeys, MAX_OPS } from '../daemon/fleet-wire.js';
import { FleetQueue } from '../daemon/fleet-queue.js';
import { RedisAttempts } from './fleet-attempts.js';
import { GrantStore } from './fleet-store.js';
import type {
  Clock,
  Fleet,
  FleetAttemptStore,
  FleetGrant,
  FleetHandlers,
  FleetOp,
  FleetStatus,
  Logger,
} from '../daemon/ports.js';

export interface RedisFleetSettings {
  url: string;
  group: string;
  /** This daemon's name in the group (Fleet_Host, default the host name). */
  host: string;
  username?: string;
  password?: string;
  /** Fleet_CA: trusted instead of the system's CAs for rediss://. */
  ca?: string;
  logger: Logger;
  now: Clock;
}

const HEARTBEAT_MS = 5000;
const PEER_TTL_MS = 15_000;
/** Reconnect backoff: 100 ms doubling to 5 s. */
const retryStrategy = (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000);

export class RedisFleet implements Fleet {
  readonly enabled = true;
  private readonly id = randomBytes(8).toString('hex');
  private readonly keys;
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly queue = new FleetQueue();
  private handlers: FleetHandlers | null = null;
  private connected = false;
  /** The last state logged: one line per change, not per retry. */
  private logged: 'none' | 'up' | 'down' = 'none';
  private flushing = false;
  private flushArmed = false;
  private closing = false;
  /** Logged once: Redis refused the Close script (an ACL without eval). */
  private closeRefused = false;
  private lastSync: number | null = null;
  private peers: string[] = [];
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly counters = { published: 0, received: 0, rejected: 0, dropped: 0 };
  readonly attempts: FleetAttemptStore;
  private readonly store: GrantStore;

  constructor(private readonly s: RedisFleetSettings) {
    this.keys = fleetKeys(s.group);
    const opts: RedisOptions = {
      lazyConnect: true,
      connectTimeout: 2000,
      retryStrategy,
      maxRetriesPerRequest: 1,
      // The ready check runs INFO, which the README's least-privilege ACL (-@dangerous) denies.
      enableReadyCheck: false,
      ...(s.username === undefined ? {} : { username: s.username }),
      ...(s.password === undefined ? {} : { password: s.password }),
      // Only for rediss:// (config.ts checks): the URL turns TLS on, this names whom to trust.
      ...(s.ca === undefined ? {} : { tls: { ca: s.ca } }),
    };
    // Commands fail at once while Redis is away (the queue keeps them), never pile up in ioredis.
    this.cmd = new Redis(s.url, { ...opts, enableOfflineQueue: false });
    this.sub = new Redis(s.url, opts);
    this.attempts = new RedisAttempts(this.cmd, this.keys.attempt, () => this.connected);
    this.store = new GrantStore(this.cmd, this.keys, s.host, this.id, this.counters, (m) => {
      if (this.closeRefused) return;
      this.closeRefused = true;
      s.logger.log(
        `fleet: Redis did not store a shared Close (${m}); daemons that read the grant later open all its ports`,
      );
    });
  }

  start(handlers: FleetHandlers): void {
    this.handlers = handlers;
    this.cmd.on('ready', () => this.up());
    this.cmd.on('close', () => this.down('connection closed'));
    this.cmd.on('error', (e: Error) => this.down(e.message));
    this.sub.on('error', () => {}); // reported through cmd; the subscriber retries by itself
    // After the subscriber reconnects, changes it missed are read from the keys.
    this.sub.on('ready', () => void this.sync());
    this.sub.on('message', (_ch: string, text: string) => this.onMessage(text));
    this.cmd.connect().catch(() => {});
    this.sub.connect().catch(() => {});
    void this.sub.subscribe(this.keys.channel).catch(() => {});
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private up(): void {
    this.connected = true;
    if (this.logged !== 'up')
      this.s.logger.log(
        `fleet: connected to ${redactFleetUrl(this.s.url)} as ${this.s.host} (group ${this.s.group})`,
      );
    this.logged = 'up';
    this.armFlush();
    void this.beat();
    void this.sync();
  }

  private down(why: string): void {
    this.connected = false;
    if (this.closing || this.logged === 'down') return;
    this.logged = 'down';
    this.s.logger.log(
      `fleet: Redis at ${redactFleetUrl(this.s.url)} unreachable (${why}); grants and attempts stay local, retrying`,
    );
  }

  publish(op: FleetOp): void {
    if (!this.queue.push(op, this.s.now())) this.counters.dropped++;
    this.armFlush();
  }

  private armFlush(): void {
    if (this.flushArmed || !this.connected) return;
    this.flushArmed = true;
    setImmediate(() => {
      this.flushArmed = false;
      void this.flush();
    });
  }

  /** Writes the queue in batches of MAX_OPS, one batch in flight; a failed batch goes back. */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.connected && this.queue.size > 0) {
        const ops = this.queue.take(MAX_OPS, this.s.now());
        if (ops.length === 0) break;
        try {
          await this.store.write(ops);
          this.counters.published += ops.length;
        } catch {
          const now = this.s.now();
          for (const o of ops) if (!this.queue.push(o, now)) this.counters.dropped++;
          break;
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private onMessage(text: string): void {
    const d = decodeMessage(text);
    if ('error' in d) {
      this.counters.rejected++;
      return;
    }
    if (d.msg.from === this.id) return;
    this.counters.rejected += d.bad;
    for (const op of d.msg.ops) {
      this.counters.received++;
      this.handlers?.onRemote(op, d.msg.host);
    }
  }

  /** Reads the group's live grants and applies them (start, reconnect). */
  private async sync(): Promise<void> {
    if (!this.connected) return;
    try {
      for (const g of await this.grants(true)) {
        this.counters.received++;
        this.handlers?.onRemote(
          {
            op: 'open',
            door: g.door,
            address: g.address,
            ttlMs: g.ttlMs,
            ...(g.closed === undefined ? {} : { closed: g.closed }),
          },
          g.host,
        );
      }
      this.lastSync = this.s.now();
    } catch {
      // The connection went away meanwhile: the next 'ready' syncs again.
    }
  }

  grants(othersOnly = false): Promise<FleetGrant[]> {
    if (!this.connected) return Promise.reject(new Error('fleet: Redis is unreachable'));
    return this.store.grants(othersOnly);
  }

  /** Announces this daemon and reads who else is live. */
  private async beat(): Promise<void> {
    if (!this.connected) return;
    try {
      await this.cmd.set(this.keys.peer(this.s.host, this.id), '1', 'PX', PEER_TTL_MS);
      const mine = this.keys.peer(this.s.host, this.id);
      this.peers = (await this.store.scan(`${this.keys.peerPrefix}*`))
        .filter((k) => k !== mine)
        .map((k) => k.slice(this.keys.peerPrefix.length, k.lastIndexOf('/')))
        .sort();
    } catch {
      // Logged by the connection's own events.
    }
  }

  status(): FleetStatus {
    return {
      enabled: true,
      group: this.s.group,
      url: redactFleetUrl(this.s.url),
      connected: this.connected,
      peers: this.peers,
      lastSync: this.lastSync,
      queued: this.queue.size,
      counters: { ...this.counters },
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    // Changes still waiting get one short chance; grants stay in Redis until their TTL.
    const done = (async () => {
      if (this.connected) {
        await this.flush();
        await this.cmd.del(this.keys.peer(this.s.host, this.id)).catch(() => 0);
      }
    })();
    await Promise.race([done, new Promise((r) => setTimeout(r, 1000).unref())]);
    this.cmd.disconnect();
    this.sub.disconnect();
  }
}

export { openFleet } from './fleet-open.js';
