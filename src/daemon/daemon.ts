/**
 * The daemon: wires capture -> decoder -> state machine -> effects (log
 * lines, commands, one-time sequence updates). Every effect runs outside the
 * packet path: commands are spawned asynchronously and never block capture.
 */
import fs from 'node:fs';
import dgram from 'node:dgram';
import dns from 'node:dns';
import {
  expandCommand,
  startCommandFor,
  stopCommandFor,
  formatSequence,
  type Config,
  type Door,
} from '../core/config.js';
import { decode, linktypeSupported, LINKTYPE, newPacket, Skip } from '../core/knock/decode.js';
import { buildFilter } from '../core/knock/filter.js';
import { KnockMachine, type KnockEvent } from '../core/knock/machine.js';
import { formatEvent, MSG } from '../core/logfmt.js';
import { LogLimiter } from '../core/ratelimit.js';
import { formatProblem, KnockError } from '../core/errors.js';
import { GrantTable, type Grant } from '../core/grants/grants.js';
import { formatPorts, unionPorts, type PortSpec } from '../core/port.js';
import { localStamp } from '../core/time.js';
import type { PendingStop as JournalStop } from '../core/grants/journal.js';
import type { ControlRequest } from '../core/control.js';
import { evaluateSpa, ReplayCache } from '../core/spa/policy.js';
import type { SpaCrypto } from '../core/spa/spa.js';
import type { Firewall } from '../adapters/firewall.js';
import type { StateStore } from '../adapters/state.js';
import { forEachRecord, type CaptureSource } from '../adapters/capture.js';
import type { Logger } from '../adapters/logger.js';
import type { CommandRunner } from '../adapters/runner.js';
import { loadConfig, readOneTime, type LoadedConfig, type SpaOverrides } from './config-loader.js';

export interface DaemonSettings {
  configPath: string;
  iface: string;
  ipv4Only: boolean;
  lookup: boolean;
  debug: boolean;
  /** --spa-access / --spa-port, kept across reloads. */
  spaOverrides?: SpaOverrides;
}

export interface DaemonDeps {
  logger: Logger;
  runner: CommandRunner;
  openCapture: (iface: string) => CaptureSource;
  addresses: (iface: string, ipv4Only: boolean) => string[];
  now: () => number;
  /** Native firewall backend, when [options] Firewall is set. */
  firewall?: Firewall | null;
  /** Journal of grants and pending stop commands (StateDir). */
  state?: StateStore | null;
  /** Crypto primitives for SPA (node:crypto in production). */
  spaCrypto?: SpaCrypto;
  /** Called after a reload with the new [options] so the CLI can re-point the log. */
  onOptions?: (cfg: Config) => void;
}

interface PendingStop {
  entry: JournalStop;
  timer: NodeJS.Timeout | null;
}

/** Union of the ports named in every door's Open: what the nftables guard protects. */
export function guardedPorts(cfg: Config): PortSpec[] {
  return unionPorts(cfg.doors.map((d) => d.open?.ports ?? []));
}

export class Daemon {
  private loaded: LoadedConfig;
  private readonly machine: KnockMachine;
  private capture: CaptureSource | null = null;
  private addrs: string[] = [];
  private readonly pkt = newPacket();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly pendingStops = new Map<number, PendingStop>();
  private nextStopId = 1;
  private readonly grants = new GrantTable();
  private syncing = false;
  private syncDirty = false;
  private persistWarned = false;
  private readonly limiter = new LogLimiter();
  private readonly replay = new ReplayCache();
  private lastSummary = 0;
  private readonly running = new Set<Promise<unknown>>();
  private readonly hosts = new Map<string, string>();
  private reopenTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  readonly counters = { packets: 0, skipped: 0, batches: 0 };

  constructor(
    loaded: LoadedConfig,
    private readonly settings: DaemonSettings,
    private readonly deps: DaemonDeps,
  ) {
    this.loaded = loaded;
    this.machine = new KnockMachine(loaded.config.doors, loaded.config.options.maxAttempts);
    this.machine.debugEvents = settings.debug;
  }

  get config(): Config {
    return this.loaded.config;
  }

  attemptCount(): number {
    return this.machine.attemptCount();
  }

  /**
   * Restores the journal, brings the firewall to it, opens capture and starts
   * the timers. Throws KnockError when the firewall or capture cannot start.
   */
  async start(): Promise<void> {
    const now = this.deps.now();
    const { logger } = this.deps;
    if (this.deps.state != null) {
      const { state, warning } = this.deps.state.load();
      if (warning !== undefined) logger.log(`warning: ${warning}`);
      for (const g of state.grants) if (g.expires > now) this.grants.upsert(g);
      for (const [d, until] of state.replay ?? []) this.replay.add(d, until);
      this.replay.prune(Math.floor(now / 1000));
      for (const s of state.stops) {
        this.nextStopId = Math.max(this.nextStopId, s.id + 1);
        this.pendingStops.set(s.id, { entry: s, timer: null });
      }
      if (state.grants.length + state.stops.length > 0) {
        logger.log(
          `restored ${this.grants.size} live grant(s) and ${state.stops.length} pending stop command(s) from the journal`,
        );
      }
    }
    const fw = this.deps.firewall;
    if (fw != null) {
      fw.onError = (msg) => {
        logger.error(`error: firewall: ${msg}; resynchronising`);
        this.requestSync();
      };
      fw.setGuarded(guardedPorts(this.loaded.config));
      await fw.init();
      // Reconcile: whatever sits in our chain/table that the journal does not know goes.
      await fw.sync(this.grants.all(), now);
    }
    this.persist();
    // Re-arm the stop commands; overdue ones run at once.
    for (const p of this.pendingStops.values()) this.armStop(p);
    this.openCapture(true);
    this.openSpaSocket();
    this.deps.logger.log(MSG.startup(this.settings.iface));
    this.timers.push(setInterval(() => this.tick(), 1000));
    // Addresses are re-read so DHCP/PPP changes need no restart (knockd reads them once).
    this.timers.push(setInterval(() => this.refreshAddresses(), 2000));
  }

  private openCapture(first: boolean): void {
    const { logger } = this.deps;
    const cap = this.deps.openCapture(this.settings.iface);
    if (!linktypeSupported(cap.linktype)) {
      cap.close();
      throw new KnockError('E_CAPTURE', `error: unsupported link-layer type: ${cap.linktype}`);
    }
    if (first) logger.debug(`link type ${cap.linktype} detected`);
    this.capture = cap;
    this.addrs = this.deps.addresses(this.settings.iface, this.settings.ipv4Only);
    for (const a of this.addrs) logger.debug(`local IP: ${a}`);
    this.machine.setLocalAddresses(new Set(this.addrs));
    this.applyFilter();
    cap.start(
      (batch, count) => this.onBatch(batch, count),
      (msg) => this.onCaptureError(msg),
    );
  }

  private onCaptureError(msg: string): void {
    if (this.stopping) return;
    this.deps.logger.log(`capture error on ${this.settings.iface}: ${msg}; retrying`);
    this.capture?.close();
    this.capture = null;
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    if (this.reopenTimer !== null || this.stopping) return;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = null;
      try {
        this.openCapture(false);
        this.deps.logger.log(`capture resumed on ${this.settings.iface}`);
      } catch (e) {
        this.deps.logger.debug(`capture still unavailable: ${(e as Error).message}`);
        this.scheduleReopen();
      }
    }, 1000);
  }

  private currentFilter(): string {
    const doors = this.loaded.config.doors
      .map((d, i) => ({ d, i }))
      .filter(({ i }) => this.machine.isEnabled(i))
      .map(({ d, i }) => ({
        sequence: this.machine.sequenceOf(i),
        tcpFlags: d.tcpFlags,
        ...(d.target === undefined ? {} : { target: d.target }),
      }));
    const ethernet = (this.capture?.linktype ?? LINKTYPE.ETHERNET) === LINKTYPE.ETHERNET;
    const spa = this.loaded.spa;
    if (spa !== undefined && !spa.socket)
      doors.push({ sequence: [{ port: spa.port, proto: 'udp' }], tcpFlags: { set: 0, clear: 0 } });
    return buildFilter(doors, this.addrs, this.settings.ipv4Only, ethernet);
  }

  private applyFilter(): void {
    const expr = this.currentFilter();
    this.deps.logger.debug(`adding pcap expression: ${expr}`);
    try {
      this.capture?.setFilter(expr);
    } catch (e) {
      // The core re-checks every packet, so running unfiltered is safe, only slower.
      this.deps.logger.error(
        `warning: cannot set capture filter (${(e as Error).message}); capturing unfiltered`,
      );
    }
  }

  private refreshAddresses(): void {
    if (this.capture === null) return;
    const now = this.deps.addresses(this.settings.iface, this.settings.ipv4Only);
    if (now.join(',') === this.addrs.join(',')) return;
    this.deps.logger.log(
      `addresses of ${this.settings.iface} changed: ${now.join(' ') || '(none)'}`,
    );
    this.addrs = now;
    this.machine.setLocalAddresses(new Set(now));
    this.applyFilter();
  }

  /** Feeds a batch in the capture addon's format; also used by replay and tests. */
  onBatch(batch: Buffer, count: number): void {
    this.counters.batches++;
    const lt = this.capture?.linktype ?? 1;
    forEachRecord(batch, count, (ts, off, caplen) => this.onFrame(lt, batch, off, caplen, ts));
  }

  onFrame(linktype: number, buf: Buffer, off: number, caplen: number, ts: number): void {
    const pkt = this.pkt;
    const r = decode(linktype, buf, off, caplen, pkt);
    if (r !== Skip.OK || (this.settings.ipv4Only && pkt.family === 6)) {
      this.counters.skipped++;
      return;
    }
    this.counters.packets++;
    const spa = this.loaded.spa;
    if (spa !== undefined && !spa.socket && pkt.proto === 'udp' && pkt.dport === spa.port) {
      this.onSpa(buf.subarray(pkt.payloadOffset, off + caplen), pkt.src);
      return;
    }
    if (this.settings.debug) {
      this.deps.logger.debug(
        `${localStamp(new Date(ts), true)}: ${pkt.proto}: ${pkt.src}:${pkt.sport} -> ${pkt.dst}:${pkt.dport} ${caplen} bytes`,
      );
    }
    this.machine.onPacket(pkt, ts, this.emit);
  }

  private spaSocket: dgram.Socket | null = null;

  /**
   * SPA_Receive = socket: a plain UDP socket (IPv4 and IPv6) instead of the
   * capture path, like fwknopd's UDP server mode. It only sees packets the
   * firewall lets through to the port.
   */
  private openSpaSocket(): void {
    const spa = this.loaded.spa;
    if (spa === undefined || !spa.socket) return;
    const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    s.on('message', (msg, rinfo) => {
      const src = rinfo.address.startsWith('::ffff:') ? rinfo.address.slice(7) : rinfo.address;
      this.onSpa(msg, src);
    });
    s.on('error', (e) => this.deps.logger.error(`error: SPA socket: ${e.message}`));
    s.bind(spa.port);
    this.spaSocket = s;
  }

  /** One SPA packet: verify, check policy, grant; every rejection is logged with its reason. */
  private onSpa(payload: Buffer, src: string): void {
    const spa = this.loaded.spa;
    const c = this.deps.spaCrypto;
    if (spa === undefined || c === undefined) return;
    const now = this.deps.now();
    const text = payload.toString('latin1').replace(/\s+$/, '');
    // Over IPv6 a packet may ask for an IPv4 address, or (allow IP 0.0.0.0)
    // for its own IPv6 source; SOURCE lists are IPv4, so that needs SOURCE ANY.
    const burned = this.replay.size;
    const d = evaluateSpa(text, src, spa.stanzas, this.replay, Math.floor(now / 1000), c);
    if (!d.ok) {
      if (this.limiter.allow('SPA', src, now))
        this.deps.logger.log(`${src}: SPA: rejected (${d.reason})`);
      // Only an authentic packet changes the journal (its digest is burned);
      // garbage sent to the SPA port must not cost an fsync each.
      if (this.replay.size !== burned) this.persist();
      return;
    }
    this.deps.logger.log(
      `${src}: SPA: accepted for ${d.address} (user ${d.user}, access.conf line ${spa.stanzas[d.stanza]?.line ?? '?'})`,
    );
    this.openGrant('SPA', d.address, d.ports, d.seconds);
  }

  private tick(): void {
    const now = this.deps.now();
    this.machine.tick(now, this.emit);
    this.replay.prune(Math.floor(now / 1000));
    if (now - this.lastSummary >= 10_000) {
      this.lastSummary = now;
      for (const s of this.limiter.drain()) {
        this.deps.logger.log(
          `${s.door}: ${s.lines} stage lines from ${s.saturated ? 'at least ' : ''}${s.sources} sources suppressed`,
        );
      }
    }
    this.closeGrants(this.grants.expire(now), 'expired');
  }

  /** Writes the journal; a failure is logged once and never stops knocks. */
  private persist(): void {
    if (this.deps.state == null) return;
    try {
      this.deps.state.save({
        grants: this.grants.all(),
        stops: [...this.pendingStops.values()].map((p) => p.entry),
        replay: this.replay.entries(),
      });
      this.persistWarned = false;
    } catch (e) {
      if (!this.persistWarned)
        this.deps.logger.error(`warning: cannot write the journal: ${(e as Error).message}`);
      this.persistWarned = true;
    }
  }

  /** Brings the firewall to the grant table; changes that arrive meanwhile are coalesced into one more sync. */
  private requestSync(): void {
    if (this.deps.firewall == null) return;
    this.syncDirty = true;
    if (!this.syncing) void this.track(this.runSync());
  }

  private async runSync(): Promise<void> {
    const fw = this.deps.firewall;
    if (fw == null) return;
    this.syncing = true;
    try {
      while (this.syncDirty) {
        this.syncDirty = false;
        try {
          await fw.sync(this.grants.all(), this.deps.now());
        } catch (e) {
          this.deps.logger.error(`error: firewall: ${(e as Error).message}`);
        }
      }
    } finally {
      this.syncing = false;
    }
  }

  /**
   * One grant change. The firewall comes first: a crash before the journal
   * write leaves a rule that still expires by itself (nft timeout, xt_time)
   * and that the next start reconciles away.
   */
  private applyChange(change: { open?: Grant; close?: Grant; refresh?: boolean }): void {
    const fw = this.deps.firewall;
    if (fw == null) return;
    // While a full sync is in flight, its table replace could undo a fast
    // change; queue another full sync instead.
    if (!this.syncing && fw.update?.(change, this.deps.now()) === true) return;
    this.requestSync();
  }

  private openGrant(door: string, address: string, ports: PortSpec[], seconds: number): void {
    const now = this.deps.now();
    const family = address.includes(':') ? 6 : 4;
    const g: Grant = { door, address, family, ports, expires: now + seconds * 1000 };
    const how = this.grants.upsert(g);
    // The stored grant: a refresh with other ports holds them all (GrantTable.upsert).
    this.applyChange({ open: this.grants.get(door, address) ?? g, refresh: how === 'refreshed' });
    this.deps.logger.log(
      MSG.grantOpen(address, door, formatPorts(ports), new Date(g.expires), how === 'refreshed'),
    );
    this.persist();
  }

  private closeGrants(gone: Grant[], why: string): void {
    for (const g of gone)
      this.deps.logger.log(MSG.grantClose(g.address, g.door, formatPorts(g.ports), why));
    if (gone.length === 0) return;
    for (const g of gone) this.applyChange({ close: g });
    this.persist();
  }

  private readonly emit = (e: KnockEvent): void => {
    const { logger } = this.deps;
    if (this.settings.lookup && e.kind === 'stage' && e.stage === 1) this.lookup(e.src);
    // Per-knock lines are rate limited per door, and the limit is checked
    // before any formatting: under a flood almost all of them are dropped.
    // OPEN and everything after it are never limited.
    const perKnock = e.kind === 'stage' || e.kind === 'timeout';
    if (!perKnock || this.limiter.allow(e.door.name, e.src, this.deps.now())) {
      const { text, debug } = formatEvent(
        e,
        this.settings.lookup ? this.hosts.get(e.src) : undefined,
      );
      if (debug) logger.debug(text);
      else logger.log(text);
    }
    if (e.kind === 'open') this.onOpen(e.door, e.doorIndex, e.src, e.family);
  };

  /** -l: reverse DNS without blocking capture; the name is used once it arrives. */
  private lookup(src: string): void {
    if (this.hosts.has(src)) return;
    if (this.hosts.size >= 4096) this.hosts.clear();
    dns.reverse(src, (err, names) => {
      if (err === null && names[0] !== undefined) this.hosts.set(src, names[0]);
    });
  }

  private onOpen(door: Door, doorIndex: number, src: string, family: 4 | 6): void {
    if (door.oneTimeSequences !== undefined) this.useOneTime(door, doorIndex);
    if (door.close !== undefined)
      this.closeGrants(this.grants.revokePorts(src, door.close.ports), 'closed by knock');
    if (door.open !== undefined) this.openGrant(door.name, src, door.open.ports, door.openTimeout);
    const start = startCommandFor(door, family);
    if (start === undefined || start === '') return;
    const stop = stopCommandFor(door, family);
    let pending: PendingStop | null = null;
    if (stop !== undefined && stop !== '') {
      // Journaled before the start command runs: a crash right after it
      // cannot lose the close.
      pending = {
        entry: {
          id: this.nextStopId++,
          door: door.name,
          address: src,
          command: expandCommand(stop, src),
          due: this.deps.now() + door.cmdTimeout * 1000,
        },
        timer: null,
      };
      this.pendingStops.set(pending.entry.id, pending);
      this.persist();
    }
    void this.track(
      (async () => {
        await this.runCommand(door.name, expandCommand(start, src));
        if (pending !== null) this.armStop(pending);
      })(),
    );
  }

  /** Schedules a pending stop command at its due time (at once when overdue or stopping). */
  private armStop(p: PendingStop): void {
    if (p.timer !== null || !this.pendingStops.has(p.entry.id)) return;
    const delay = Math.max(0, p.entry.due - this.deps.now());
    if (this.stopping || delay === 0) {
      void this.track(this.runStop(p));
      return;
    }
    p.timer = setTimeout(() => void this.track(this.runStop(p)), delay);
  }

  private async runStop(p: PendingStop): Promise<void> {
    if (!this.pendingStops.delete(p.entry.id)) return;
    if (p.timer !== null) clearTimeout(p.timer);
    this.deps.logger.log(MSG.cmdTimeout(p.entry.address, p.entry.door));
    await this.runCommand(p.entry.door, p.entry.command);
    this.persist();
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
    return p;
  }

  private async runCommand(door: string, cmd: string): Promise<void> {
    const { logger } = this.deps;
    logger.log(MSG.running(door, cmd));
    const r = await this.deps.runner.run(cmd);
    if (r.timedOut) logger.log(`${door}: command timed out and was killed: ${cmd}`);
    else if (r.code === null) logger.log(`${door}: command killed by signal ${r.signal ?? '?'}`);
    else if (r.code !== 0) logger.log(MSG.nonZero(door, r.code));
  }

  /** Marks the used line with '#' (as knockd does) and moves to the next sequence. */
  private useOneTime(door: Door, doorIndex: number): void {
    const { logger } = this.deps;
    const ot = door.oneTimeSequences;
    const current = this.loaded.oneTime.get(doorIndex);
    if (ot === undefined || current === undefined) return;
    try {
      const fd = fs.openSync(ot.path, 'r+');
      try {
        fs.writeSync(fd, '#', current.offset);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      logger.log(MSG.oneTimeError(door.name));
      logger.debug(`one_time_sequences ${ot.path}: ${(e as Error).message}`);
      this.disable(doorIndex);
      return;
    }
    const res = readOneTime(ot.path);
    const next = 'usable' in res ? res.usable[0] : undefined;
    if (next === undefined) {
      // knockd crashes here (double free); we disable the door and carry on.
      logger.log(MSG.noMoreOneTime(door.name));
      this.disable(doorIndex);
      return;
    }
    this.loaded.oneTime.set(doorIndex, next);
    this.machine.setSequence(doorIndex, next.knocks);
    logger.debug(`door '${door.name}': next one-time sequence ${formatSequence(next.knocks)}`);
    this.applyFilter();
  }

  private disable(doorIndex: number): void {
    this.loaded.oneTime.delete(doorIndex);
    this.machine.disableDoor(doorIndex);
    this.applyFilter();
  }

  /** SIGHUP: a bad config is logged and the running one stays (knockd exits). */
  reload(): boolean {
    const { logger } = this.deps;
    logger.log(MSG.rereading(this.settings.configPath));
    const r = loadConfig(this.settings.configPath, this.settings.spaOverrides);
    if (!r.ok) {
      for (const p of r.problems) logger.error(formatProblem(p));
      logger.log(
        `config reload failed with ${r.problems.length} error(s); keeping the running configuration`,
      );
      return false;
    }
    const newIface = r.loaded.config.options.interface;
    if (newIface !== undefined && newIface !== this.settings.iface) {
      logger.log(`Interface changes need a restart; still listening on ${this.settings.iface}`);
    }
    this.machine.setDoors(r.loaded.config.doors);
    if (r.loaded.config.options.maxAttempts !== undefined)
      this.machine.setCap(r.loaded.config.options.maxAttempts);
    this.machine.setLocalAddresses(new Set(this.addrs));
    if (
      (r.loaded.config.options.firewall ?? null) !== (this.loaded.config.options.firewall ?? null)
    ) {
      logger.log('Firewall changes need a restart; keeping the running backend');
    }
    this.loaded = r.loaded;
    this.deps.firewall?.setGuarded(guardedPorts(r.loaded.config));
    this.requestSync();
    this.deps.onOptions?.(r.loaded.config);
    this.applyFilter();
    return true;
  }

  /** Answers a validated control request (knockctl). */
  async control(req: ControlRequest): Promise<object> {
    const now = this.deps.now();
    const grantView = () =>
      this.grants.all().map((g) => ({
        door: g.door,
        address: g.address,
        ports: formatPorts(g.ports),
        expires: new Date(g.expires).toISOString(),
        secondsLeft: Math.max(0, Math.ceil((g.expires - now) / 1000)),
      }));
    switch (req.cmd) {
      case 'status':
        return {
          interface: this.settings.iface,
          firewall: this.deps.firewall?.kind ?? 'none',
          doors: this.loaded.config.doors.map((d, i) => ({
            name: d.name,
            sequence: formatSequence(this.machine.sequenceOf(i)),
            enabled: this.machine.isEnabled(i),
            ...(d.open === undefined
              ? {}
              : { open: formatPorts(d.open.ports), openTimeout: d.openTimeout }),
          })),
          attemptCount: this.machine.attemptCount(),
          maxAttempts: this.machine.maxAttempts,
          attempts: this.machine
            .attempts()
            .slice(0, 100)
            .map(({ door, attempt }) => ({
              door,
              address: attempt.src,
              stage: attempt.stage,
              ageSeconds: Math.max(0, Math.floor((now - attempt.start) / 1000)),
            })),
          grants: grantView(),
          pendingStops: [...this.pendingStops.values()].map((p) => ({
            door: p.entry.door,
            address: p.entry.address,
            secondsLeft: Math.max(0, Math.ceil((p.entry.due - now) / 1000)),
          })),
          capture: {
            ...(this.stats() ?? { received: 0, dropped: 0, ifdropped: 0 }),
            ...this.counters,
          },
        };
      case 'grants':
        return { grants: grantView() };
      case 'revoke': {
        const gone = this.grants.revoke(req.address, req.door);
        this.closeGrants(gone, 'revoked by admin');
        return { revoked: gone.length };
      }
      case 'grant': {
        const door = this.loaded.config.doors.find((d) => d.name === req.door);
        if (door === undefined) throw new Error(`no door named '${req.door}'`);
        if (door.open === undefined)
          throw new Error(`door '${req.door}' has no Open ports to grant`);
        if (this.deps.firewall == null) throw new Error('no Firewall backend configured');
        this.openGrant(door.name, req.address, door.open.ports, door.openTimeout);
        return { granted: formatPorts(door.open.ports), seconds: door.openTimeout };
      }
    }
  }

  stats(): ReturnType<CaptureSource['stats']> {
    return this.capture?.stats() ?? null;
  }

  /**
   * SIGTERM/SIGINT: pending Stop_Commands run now, so shutting down never
   * leaves a door open (knockd leaves them to orphaned children).
   */
  async shutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.spaSocket?.close();
    this.spaSocket = null;
    if (this.reopenTimer !== null) clearTimeout(this.reopenTimer);
    const st = this.capture?.stats();
    if (st != null) {
      this.deps.logger.verbose(
        `capture: ${st.received} received, ${st.dropped} dropped by the kernel, ${st.ifdropped} by the interface; ` +
          `${this.counters.packets} decoded, ${this.counters.skipped} skipped`,
      );
    }
    this.capture?.close();
    this.capture = null;
    for (const p of [...this.pendingStops.values()]) {
      if (p.timer !== null) clearTimeout(p.timer);
      p.timer = null;
      this.armStop(p);
    }
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    this.deps.firewall?.close?.();
    this.persist();
    this.deps.logger.log(MSG.shutdown());
  }
}
