/** In-memory twins of the daemon's ports (src/daemon/ports.ts), for tests without I/O. */
import type { Config, OneTimeLine } from '../../src/core/config.js';
import type { Grant } from '../../src/core/grants/grants.js';
import type { JournalState } from '../../src/core/grants/journal.js';
import type { PortSpec } from '../../src/core/port.js';
import type * as P from '../../src/daemon/ports.js';
import { FleetQueue, MAX_QUEUE } from '../../src/daemon/fleet-queue.js';

export class MemoryLogger implements P.Logger {
  readonly lines: string[] = [];
  readonly debugLines: string[] = [];
  configured = 0;
  log(msg: string): void {
    this.lines.push(msg);
  }
  verbose(): void {}
  debug(msg: string): void {
    this.debugLines.push(msg);
  }
  error(msg: string): void {
    this.lines.push(msg);
  }
  configure(_cfg: Config): void {
    this.configured++;
  }
  close(): void {}
}

export class RecordingRunner implements P.CommandRunner {
  readonly commands: string[] = [];
  /** Commands still running: resolve them with `finish`. Empty unless `hold` is set. */
  readonly held: ((r: P.RunResult) => void)[] = [];
  hold = false;
  constructor(private readonly code = 0) {}
  run(command: string): Promise<P.RunResult> {
    this.commands.push(command);
    if (this.hold) return new Promise((resolve) => this.held.push(resolve));
    return Promise.resolve({ code: this.code, signal: null, timedOut: false });
  }
  finishAll(): void {
    for (const r of this.held.splice(0)) r({ code: 0, signal: null, timedOut: false });
  }
}

/** Records every synced state; the fast path is off unless `fast` is set. */
export class MemoryFirewall implements P.Firewall {
  readonly kind = 'memory';
  synced: Grant[][] = [];
  updates: P.GrantChange[] = [];
  guarded: PortSpec[] = [];
  fast = false;
  onError: (message: string) => void = () => {};
  async init(): Promise<void> {}
  setGuarded(ports: readonly PortSpec[]): void {
    this.guarded = [...ports];
  }
  async sync(grants: readonly Grant[]): Promise<void> {
    this.synced.push(grants.map((g) => ({ ...g })));
  }
  update(change: P.GrantChange): boolean {
    if (this.fast) this.updates.push(change);
    return this.fast;
  }
  close(): void {}
}

export class MemoryStateStore implements P.StateStore {
  saved: JournalState = { grants: [], stops: [] };
  saves = 0;
  load(): { state: JournalState; warnings: string[] } {
    return { state: structuredClone(this.saved), warnings: [] };
  }
  save(state: JournalState): void {
    this.saved = structuredClone(state);
    this.saves++;
  }
}

/** A capture that delivers what the test feeds it. */
export class FakeCapture implements P.CaptureSource, P.CaptureOpener {
  readonly linktype = 1;
  filters: string[] = [];
  snaplens: number[] = [];
  opened = 0;
  closed = 0;
  private onFrame: P.FrameHandler | null = null;
  constructor(private readonly addrs: string[] = []) {}
  open(_iface: string, snaplen: number): P.CaptureSource {
    this.opened++;
    this.snaplens.push(snaplen);
    return this;
  }
  addresses(): string[] {
    return this.addrs;
  }
  setFilter(expr: string): void {
    this.filters.push(expr);
  }
  start(onFrame: P.FrameHandler): void {
    this.onFrame = onFrame;
  }
  stats(): P.CaptureStats {
    return { received: 0, dropped: 0, ifdropped: 0 };
  }
  close(): void {
    this.closed++;
    this.onFrame = null;
  }
  /** Delivers one frame at `ts` (ms); false when capture is not running. */
  feed(frame: Uint8Array, ts: number): boolean {
    if (this.onFrame === null) return false;
    const b = Buffer.from(frame);
    this.onFrame(b, 0, b.length, ts);
    return true;
  }
}

/** UDP "sockets" keyed by port; a port in `taken` refuses to bind. */
export class FakeDatagrams implements P.DatagramBinder {
  readonly bound = new Map<number, (msg: Buffer, src: string) => void>();
  readonly taken = new Set<number>();
  bind(port: number, onMessage: (msg: Buffer, src: string) => void): Promise<P.DatagramReceiver> {
    if (this.taken.has(port) || this.bound.has(port))
      return Promise.reject(new Error(`port ${port} is in use`));
    this.bound.set(port, onMessage);
    return Promise.resolve({ close: () => this.bound.delete(port) });
  }
  send(port: number, msg: Uint8Array, src: string): boolean {
    const h = this.bound.get(port);
    h?.(Buffer.from(msg), src);
    return h !== undefined;
  }
}

export class FakeResolver implements P.Resolver {
  readonly asked: string[] = [];
  private readonly pending: ((n: string | null) => void)[] = [];
  reverse(address: string): Promise<string | null> {
    this.asked.push(address);
    return new Promise((resolve) => this.pending.push(resolve));
  }
  answerAll(name: string | null): void {
    for (const r of this.pending.splice(0)) r(name);
  }
}

export class MemoryOneTime implements P.OneTimeStore {
  constructor(public lines: OneTimeLine[] = []) {}
  marked: number[] = [];
  markUsed(_path: string, offset: number): void {
    this.marked.push(offset);
    this.lines = this.lines.filter((l) => l.offset !== offset);
  }
  read(): { usable: OneTimeLine[] } {
    return { usable: this.lines };
  }
}

/**
 * An in-memory Redis for fleet twins: the group's grants with deadlines and
 * the members that hear each other. `down()` cuts every member off; `up()`
 * reconnects them (each flushes its queue, then reads the live grants).
 */
export class FleetHub {
  readonly grants = new Map<
    string,
    { door: string; address: string; host: string; deadline: number; closed?: PortSpec[] }
  >();
  readonly members: MemoryFleet[] = [];
  reachable = true;
  writes = 0;
  constructor(readonly now: () => number) {}
  down(): void {
    this.reachable = false;
  }
  up(): void {
    this.reachable = true;
    for (const m of this.members) m.reconnect();
  }
}

/** The Fleet port over a FleetHub, with the adapter's bounded queue. */
export class MemoryFleet implements P.Fleet {
  readonly enabled = true;
  readonly published: P.FleetOp[] = [];
  private handlers: P.FleetHandlers | null = null;
  private readonly queue = new FleetQueue();
  private lastSync: number | null = null;
  constructor(
    private readonly hub: FleetHub,
    readonly host: string,
  ) {}
  start(h: P.FleetHandlers): void {
    this.handlers = h;
    this.hub.members.push(this);
    if (this.hub.reachable) this.sync();
  }
  publish(op: P.FleetOp): void {
    this.published.push(op);
    this.queue.push(op, this.hub.now());
    if (this.hub.reachable) this.flush();
  }
  reconnect(): void {
    this.flush();
    this.sync();
  }
  private flush(): void {
    const now = this.hub.now();
    const ops = this.queue.take(MAX_QUEUE, now);
    if (ops.length === 0) return;
    this.hub.writes++;
    for (const o of ops) {
      if (o.op === 'open')
        this.hub.grants.set(`${o.address}/${o.door}`, {
          door: o.door,
          address: o.address,
          host: this.host,
          deadline: now + o.ttlMs,
        });
      else if (o.op === 'revoke') {
        for (const [k, g] of this.hub.grants)
          if (g.address === o.address && (o.door === undefined || o.door === g.door))
            this.hub.grants.delete(k);
      } else {
        // A shared Close is kept with the stored grants of the address (the adapter's CLOSE_LUA).
        for (const g of this.hub.grants.values())
          if (g.address === o.address) g.closed = [...(g.closed ?? []), ...o.ports];
      }
    }
    for (const m of this.hub.members)
      if (m !== this) for (const o of ops) m.handlers?.onRemote(o, this.host);
  }
  private sync(): void {
    const now = this.hub.now();
    for (const g of this.hub.grants.values())
      if (g.deadline > now && g.host !== this.host)
        this.handlers?.onRemote(
          {
            op: 'open',
            door: g.door,
            address: g.address,
            ttlMs: g.deadline - now,
            ...(g.closed === undefined ? {} : { closed: g.closed }),
          },
          g.host,
        );
    this.lastSync = now;
  }
  get queued(): number {
    return this.queue.size;
  }
  get dropped(): number {
    return this.queue.dropped;
  }
  async grants(): Promise<P.FleetGrant[]> {
    if (!this.hub.reachable) throw new Error('fleet: Redis is unreachable');
    const now = this.hub.now();
    return [...this.hub.grants.values()]
      .filter((g) => g.deadline > now)
      .map((g) => ({ door: g.door, address: g.address, host: g.host, ttlMs: g.deadline - now }));
  }
  status(): P.FleetStatus {
    return {
      enabled: true,
      group: 'test',
      url: 'redis://hub',
      connected: this.hub.reachable,
      peers: this.hub.members.filter((m) => m !== this).map((m) => m.host),
      lastSync: this.lastSync,
      queued: this.queue.size,
      counters: {
        published: this.published.length,
        received: 0,
        rejected: 0,
        dropped: this.queue.dropped,
      },
    };
  }
  async close(): Promise<void> {}
}
