/**
 * The orchestrator. It wires capture -> decoder -> knock machine -> effects,
 * where each effect has its own module: grants (grant-keeper), commands,
 * SPA (spa-service), one-time sequences, log lines (event-log) and the
 * journal (journal-writer). Every effect is queued off the packet path: a
 * packet costs a decode, a state-machine step and, rarely, a queued change.
 */
import type { Door } from '../core/config.js';
import { restartWarnings } from '../core/config-options.js';
import { formatProblem } from '../core/errors.js';
import type { ControlRequest } from '../core/control.js';
import { KnockMachine, type KnockEvent } from '../core/knock/machine.js';
import type { Packet } from '../core/knock/decode.js';
import { MSG } from '../core/logfmt.js';
import { guardedPorts } from '../core/grants/grants.js';
import { localStamp } from '../core/time.js';
import { statusView, type MetricsSnapshot } from '../core/status.js';
import { knockFilter, metricsSnapshot, statusInput } from './views.js';
import { grantsReply, withAttemptMetrics, withFleet } from './fleet-views.js';
import { FleetAttempts } from './fleet-attempts.js';
import { CaptureLoop } from './capture-loop.js';
import { CommandScheduler, DEFAULT_MAX_COMMANDS } from './commands.js';
import { EventLog } from './event-log.js';
import { GrantKeeper } from './grant-keeper.js';
import { JournalWriter } from './journal-writer.js';
import { OneTimeSequences } from './one-time.js';
import { SpaService } from './spa-service.js';
import { TotpDoors } from './totp-doors.js';
import * as P from './ports.js';
import type { DaemonDeps, DaemonSettings } from './settings.js';

export type { DaemonDeps, DaemonSettings } from './settings.js';

/** Bytes kept per captured packet for knocks: Ethernet + VLAN tags + IPv6 with extension headers + TCP. */
export const KNOCK_SNAPLEN = 256;
const SUMMARY_MS = 10_000;

export class Daemon {
  private loaded: P.LoadedConfig;
  readonly machine: KnockMachine;
  readonly events: EventLog;
  private readonly journal: JournalWriter;
  readonly grants: GrantKeeper;
  readonly commands: CommandScheduler;
  readonly spa: SpaService;
  private readonly oneTime: OneTimeSequences;
  readonly capture: CaptureLoop;
  /** Knocks of Share = yes doors, stepped in the group's attempt table too. */
  readonly shared: FleetAttempts;
  private readonly timers: NodeJS.Timeout[] = [];
  private lastSummary = 0;
  private stopping = false;
  private readonly totp: TotpDoors;
  private reloads: Promise<boolean> = Promise.resolve(true);
  private readonly doorNamed = (name: string): Door | undefined =>
    this.loaded.config.doors.find((d) => d.name === name);

  constructor(
    loaded: P.LoadedConfig,
    private readonly settings: DaemonSettings,
    private readonly deps: DaemonDeps,
  ) {
    const { logger, now } = deps;
    const opts = loaded.config.options;
    this.loaded = loaded;
    const dirty = () => this.journal.markDirty();
    this.totp = new TotpDoors(deps.spaCrypto.hmac.bind(deps.spaCrypto), now, dirty);
    this.machine = new KnockMachine(this.totp.build(loaded.config.doors), opts.maxAttempts);
    this.machine.debugEvents = settings.debug;
    // A flood's first knocks are counted and dropped with no event object.
    this.machine.quietFirstKnock = (door, src) => this.events.quietFirstKnock(door, src);
    this.events = new EventLog(logger, now, deps.resolver, settings.lookup);
    this.journal = new JournalWriter(deps.state, () => this.snapshot(), logger);
    this.grants = new GrantKeeper(deps.firewall, logger, now, dirty, deps.fleet, this.doorNamed);
    this.commands = new CommandScheduler(
      deps.runner,
      logger,
      now,
      this.doorNamed,
      () => (dirty(), this.journal.flush()),
      opts.maxCommands ?? DEFAULT_MAX_COMMANDS,
    );
    this.spa = new SpaService(
      deps.datagrams,
      deps.spaCrypto,
      this.grants,
      logger,
      this.events.knockLimiter,
      now,
      dirty,
      (stanza, vars) => this.commands.onCycle(stanza, vars),
      deps.spaGpg,
    );
    if (P.isArgvRunner(deps.runner))
      this.commands.useCycles(deps.runner, (id) =>
        this.loaded.spa?.stanzas.find((s) => s.id === id),
      );
    this.shared = new FleetAttempts(
      deps.fleet?.attempts,
      this.machine,
      logger,
      now,
      (door, i, src, family) => this.emit({ kind: 'open', door, doorIndex: i, src, family }),
    );
    this.shared.setDoors(loaded.config.doors);
    this.oneTime = new OneTimeSequences(deps.oneTime, this.machine, logger, () =>
      this.capture.applyFilter(),
    );
    this.oneTime.reset(loaded.oneTime);
    this.capture = new CaptureLoop(settings, deps.capture, logger, {
      filter: (addrs, ethernet) =>
        knockFilter(
          this.totp.doors,
          this.machine,
          this.spa.capturePort,
          addrs,
          this.settings.ipv4Only,
          ethernet,
        ),
      onAddresses: (addrs) => {
        this.machine.setLocalAddresses(new Set(addrs));
        this.spa.setLocalAddresses(addrs);
        this.shared.setLocalAddresses(addrs);
      },
      onPacket: (pkt, buf, off, caplen, ts) => this.onPacket(pkt, buf, off, caplen, ts),
    });
  }

  /**
   * Restores the journal, brings the firewall to it, opens capture and the
   * SPA receiver, and starts the timers. Throws KnockError when any cannot start.
   */
  async start(): Promise<void> {
    const { logger } = this.deps;
    const { state, warnings } = this.deps.state.load();
    for (const w of warnings) logger.log(`warning: ${w}`);
    await this.grants.restore(state.grants, guardedPorts(this.loaded.config.doors));
    this.spa.restore(state.replay ?? []);
    this.totp.restore(state.totp ?? [], this.machine);
    this.commands.restore(state.stops);
    if (state.grants.length + state.stops.length > 0)
      logger.log(
        `restored ${this.grants.table.size} live grant(s) and ${state.stops.length} pending stop command(s) from the journal`,
      );
    this.journal.markDirty();
    this.grants.startFleet();
    await this.spa.configure(this.loaded.spa);
    this.capture.start(this.spa.snaplen(KNOCK_SNAPLEN));
    this.totp.arm(this.machine, () => this.capture.applyFilter());
    logger.log(MSG.startup(this.settings.iface));
    this.timers.push(setInterval(() => this.tick(), 1000));
    this.timers.push(setInterval(() => this.capture.refreshAddresses(), 2000));
  }

  private onPacket(pkt: Packet, buf: Buffer, off: number, caplen: number, ts: number): void {
    if (pkt.proto === 'udp' && pkt.dport === this.spa.capturePort) {
      this.spa.onPacket(buf.subarray(pkt.payloadOffset, off + caplen), pkt.src, pkt.dst);
      return;
    }
    if (this.settings.debug)
      this.deps.logger.debug(
        `${localStamp(new Date(ts), true)}: ${pkt.proto}: ${pkt.src}:${pkt.sport} -> ${pkt.dst}:${pkt.dport} ${caplen} bytes`,
      );
    this.machine.onPacket(pkt, ts, this.emit);
    this.shared.onPacket(pkt);
  }

  private readonly emit = (e: KnockEvent): void => {
    this.events.log(e);
    if (e.kind !== 'open') return;
    this.shared.noteLocalOpen(e.doorIndex);
    const { door, src } = e;
    if (door.oneTimeSequences !== undefined) this.oneTime.used(door, e.doorIndex);
    if (this.totp.burn(e.doorIndex, this.machine)) this.capture.applyFilter();
    if (door.close !== undefined)
      this.grants.closePorts(src, door.close.ports, 'closed by knock', door.share);
    if (door.open !== undefined)
      this.grants.open(door.name, src, door.open.ports, door.openTimeout, door.share);
    this.commands.onOpen(door, src, e.family);
  };

  /** The once-a-second work; `knockd -r` calls it on packet time. */
  tick(): void {
    const now = this.deps.now();
    this.machine.tick(now, this.emit);
    this.spa.tick();
    this.grants.tick();
    this.shared.tick();
    if (now - this.lastSummary < SUMMARY_MS) return;
    this.lastSummary = now;
    for (const line of this.events.summaries(this.grants.lines)) this.deps.logger.log(line);
    for (const d of this.commands.drainDropped())
      this.deps.logger.log(
        `${d.door}: ${d.dropped} command(s) dropped (MaxCommands or the per-source cooldown)`,
      );
  }

  private snapshot() {
    return {
      grants: this.grants.table.all(),
      stops: this.commands.pending(),
      replay: this.spa.replay.entries(),
      totp: this.totp.entries(),
    };
  }

  /** SIGHUP: a bad config is logged and the running one stays (knockd exits).
   *  Reloads run one at a time, in order; none runs once shutdown began. */
  reload(): Promise<boolean> {
    const run = () => (this.stopping ? false : this.reloadNow());
    this.reloads = this.reloads.then(run, run).catch((e: unknown) => {
      this.deps.logger.error(`error: reload failed: ${(e as Error).message}`);
      return false;
    });
    return this.reloads;
  }

  private async reloadNow(): Promise<boolean> {
    const { logger } = this.deps;
    logger.log(MSG.rereading(this.settings.configPath));
    const r = await this.deps.config.load();
    if (!r.ok) {
      for (const p of r.problems) logger.error(formatProblem(p));
      logger.log(
        `config reload failed with ${r.problems.length} error(s); keeping the running configuration`,
      );
      return false;
    }
    const next = r.loaded;
    const opts = next.config.options;
    for (const l of restartWarnings(this.loaded.config.options, opts, this.settings.iface))
      logger.log(l);
    try {
      await this.spa.configure(next.spa);
    } catch (e) {
      logger.error(`error: ${(e as Error).message}; keeping the running SPA receiver`);
    }
    if (this.stopping) return false;
    const spent = this.oneTime.reread(next.config.doors, next.oneTime);
    this.loaded = next;
    this.machine.setDoors(this.totp.build(next.config.doors));
    this.shared.setDoors(next.config.doors);
    this.totp.applyBurned(this.machine);
    this.totp.arm(this.machine, () => this.capture.applyFilter());
    if (opts.maxAttempts !== undefined) this.machine.setCap(opts.maxAttempts);
    this.machine.setLocalAddresses(new Set(this.capture.addresses));
    this.commands.setMaxCommands(opts.maxCommands ?? DEFAULT_MAX_COMMANDS);
    this.oneTime.reset(next.oneTime, spent);
    this.grants.reconfigure(guardedPorts(next.config.doors));
    logger.configure(next.config);
    this.capture.reconfigure(this.spa.snaplen(KNOCK_SNAPLEN));
    return true;
  }

  /** Answers a validated control request (knockctl). Throws with a message for the client. */
  control(req: ControlRequest): object | Promise<object> {
    const now = this.deps.now();
    switch (req.cmd) {
      case 'status':
        return withFleet(
          statusView(statusInput(now, this.settings.iface, this.loaded.config.doors, this)),
          this.grants,
          this.shared,
        );
      case 'grants':
        return grantsReply(req.fleet === true, this.grants, now);
      case 'revoke':
        return { revoked: this.grants.revoke(req.address, req.door, 'revoked by admin', true) };
      case 'grant':
        return this.grants.adminGrant(this.doorNamed(req.door), req.door, req.address);
    }
  }

  /** One line for systemd's STATUS=. */
  summary(): string {
    const doors = this.loaded.config.doors.length;
    return `listening on ${this.settings.iface}: ${doors} door(s), ${this.grants.table.size} grant(s), ${this.machine.attemptCount()} attempt(s)`;
  }

  metrics(): MetricsSnapshot {
    return withAttemptMetrics(metricsSnapshot(this), this.shared);
  }

  /**
   * SIGTERM/SIGINT: pending Stop_Commands run now, so shutting down never
   * leaves a door open (knockd leaves them to orphaned children).
   */
  async shutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.totp.stop();
    this.spa.close();
    this.capture.stop();
    await this.commands.shutdown();
    await this.grants.close();
    this.journal.writeNow();
    this.deps.logger.log(MSG.shutdown());
  }
}
