/**
 * The daemon: wires capture -> decoder -> state machine -> effects (log
 * lines, commands, one-time sequence updates). Every effect runs outside the
 * packet path: commands are spawned asynchronously and never block capture.
 */
import fs from 'node:fs';
import dns from 'node:dns';
import {
  expandCommand,
  startCommandFor,
  stopCommandFor,
  formatSequence,
  type Config,
  type Door,
} from '../core/config.js';
import { decode, linktypeSupported, LINKTYPE, newPacket, Skip } from '../core/decode.js';
import { buildFilter } from '../core/filter.js';
import { KnockMachine, type KnockEvent } from '../core/machine.js';
import { formatEvent, MSG } from '../core/logfmt.js';
import { formatProblem, KnockError } from '../core/errors.js';
import { forEachRecord, type CaptureSource } from '../adapters/capture.js';
import type { Logger } from '../adapters/logger.js';
import type { CommandRunner } from '../adapters/runner.js';
import { loadConfig, readOneTime, type LoadedConfig } from './config-loader.js';

export interface DaemonSettings {
  configPath: string;
  iface: string;
  ipv4Only: boolean;
  lookup: boolean;
  debug: boolean;
}

export interface DaemonDeps {
  logger: Logger;
  runner: CommandRunner;
  openCapture: (iface: string) => CaptureSource;
  addresses: (iface: string, ipv4Only: boolean) => string[];
  now: () => number;
  /** Called after a reload with the new [options] so the CLI can re-point the log. */
  onOptions?: (cfg: Config) => void;
}

interface PendingStop {
  timer: NodeJS.Timeout;
  run: () => Promise<void>;
}

export class Daemon {
  private loaded: LoadedConfig;
  private readonly machine: KnockMachine;
  private capture: CaptureSource | null = null;
  private addrs: string[] = [];
  private readonly pkt = newPacket();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly pendingStops = new Set<PendingStop>();
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
    this.machine = new KnockMachine(loaded.config.doors);
  }

  get config(): Config {
    return this.loaded.config;
  }

  attemptCount(): number {
    return this.machine.attemptCount();
  }

  /** Opens capture and starts the timers. Throws KnockError when capture cannot start. */
  start(): void {
    this.openCapture(true);
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
    if (this.settings.debug) {
      const d = new Date(ts);
      const p = (n: number) => String(n).padStart(2, '0');
      this.deps.logger.debug(
        `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(
          d.getSeconds(),
        )}: ${pkt.proto}: ${pkt.src}:${pkt.sport} -> ${pkt.dst}:${pkt.dport} ${caplen} bytes`,
      );
    }
    this.machine.onPacket(pkt, ts, this.emit);
  }

  private tick(): void {
    this.machine.tick(this.deps.now(), this.emit);
  }

  private readonly emit = (e: KnockEvent): void => {
    const { logger } = this.deps;
    if (this.settings.lookup && e.kind === 'stage' && e.stage === 1) this.lookup(e.src);
    const { text, debug } = formatEvent(
      e,
      this.settings.lookup ? this.hosts.get(e.src) : undefined,
    );
    if (debug) logger.debug(text);
    else logger.log(text);
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
    const start = startCommandFor(door, family);
    if (start === undefined || start === '') return;
    const stop = stopCommandFor(door, family);
    const runStop =
      stop === undefined || stop === ''
        ? null
        : async () => {
            this.deps.logger.log(MSG.cmdTimeout(src, door.name));
            await this.runCommand(door, expandCommand(stop, src));
          };
    void this.track(
      (async () => {
        await this.runCommand(door, expandCommand(start, src));
        if (runStop === null) return;
        // The close is scheduled by the daemon itself, not by a sleeping child.
        const pending: PendingStop = {
          run: runStop,
          timer: setTimeout(() => {
            this.pendingStops.delete(pending);
            void this.track(runStop());
          }, door.cmdTimeout * 1000),
        };
        if (this.stopping) {
          clearTimeout(pending.timer);
          await runStop();
        } else {
          this.pendingStops.add(pending);
        }
      })(),
    );
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
    return p;
  }

  private async runCommand(door: Door, cmd: string): Promise<void> {
    const { logger } = this.deps;
    logger.log(MSG.running(door.name, cmd));
    const r = await this.deps.runner.run(cmd);
    if (r.timedOut) logger.log(`${door.name}: command timed out and was killed: ${cmd}`);
    else if (r.code === null)
      logger.log(`${door.name}: command killed by signal ${r.signal ?? '?'}`);
    else if (r.code !== 0) logger.log(MSG.nonZero(door.name, r.code));
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
    const r = loadConfig(this.settings.configPath);
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
    this.loaded = r.loaded;
    this.machine.setDoors(r.loaded.config.doors);
    this.machine.setLocalAddresses(new Set(this.addrs));
    this.deps.onOptions?.(r.loaded.config);
    this.applyFilter();
    return true;
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
    const stops = [...this.pendingStops];
    this.pendingStops.clear();
    for (const s of stops) {
      clearTimeout(s.timer);
      void this.track(s.run());
    }
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    this.deps.logger.log(MSG.shutdown());
  }
}
