/**
 * knockd's commands: the start command on a successful knock and the stop
 * command Cmd_Timeout seconds later. Bounded whatever the sender does:
 *
 * - At most `maxCommands` commands run at once per door; a start beyond that
 *   is dropped and counted (a flooded door cannot starve another door, whose
 *   count is its own). Stop commands are never dropped: they wait for a slot.
 * - One start per (door, source) per COOLDOWN_MS: a replayed sequence cannot
 *   fork a shell per packet.
 * - A pending stop is in the journal before its start command runs, and is
 *   kept as (door, address, due): its text is rebuilt from the config when it
 *   runs, never read back from disk.
 * - Nothing here rejects: a runner failure is a logged exit status.
 *
 * fwknopd's command cycles (CMD_CYCLE_OPEN/CLOSE) share all of this, with
 * the SPA stanza as the door: the same per-door cap and per-source cooldown,
 * and a pending close journaled as (stanza id, validated variables, due)
 * whose argv is rebuilt from the current access.conf when it runs.
 */
import { expandCommand, startCommandFor, stopCommandFor, type Door } from '../core/config.js';
import { canonicalIP } from '../core/ip.js';
import { MSG } from '../core/logfmt.js';
import type { PendingStop } from '../core/grants/journal.js';
import type { Stanza } from '../core/spa/access.js';
import { cycleArgv, cycleVarsProblem, type CycleVars } from '../core/spa/cycle.js';
import type { ArgvRunner, Clock, CommandRunner, Logger } from './ports.js';
import { CommandSlots } from './slots.js';
import { runLogged } from './command-run.js';

export { COOLDOWN_MS, MAX_PENDING_STOPS } from './slots.js';

export const DEFAULT_MAX_COMMANDS = 16;
/** setTimeout's longest delay; longer waits are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The slot and cooldown key of a stanza: its own namespace, apart from door names. */
const cycleDoor = (stanzaId: string) => `SPA ${stanzaId}`;
/** The slot key a pending stop counts against: its door's, or its stanza's. */
const slotOf = (e: PendingStop) => (e.cycle === undefined ? e.door : cycleDoor(e.door));

interface Armed {
  entry: PendingStop;
  timer: NodeJS.Timeout | null;
  /** Its command is running: it stays in the journal until that ends. */
  started: boolean;
}

export class CommandScheduler {
  private readonly stops = new Map<number, Armed>();
  private nextId = 1;
  private readonly slots: CommandSlots;
  private readonly running = new Set<Promise<void>>();
  private stopping = false;
  private readonly ran = { run: 0, failed: 0, killed: 0 };

  /** Commands run, failed, killed, and starts dropped, since start. */
  get counters(): { run: number; failed: number; killed: number; dropped: number } {
    return { ...this.ran, dropped: this.slots.dropped };
  }

  constructor(
    private readonly runner: CommandRunner,
    private readonly logger: Logger,
    private readonly now: Clock,
    /** The current doors, looked up by name when a stop comes due. */
    private readonly doorNamed: (name: string) => Door | undefined,
    /** Durability: marks the journal dirty and resolves once it is written. */
    private readonly persist: () => Promise<void>,
    maxCommands = DEFAULT_MAX_COMMANDS,
  ) {
    this.slots = new CommandSlots(maxCommands);
  }

  setMaxCommands(n: number): void {
    this.slots.setMax(n);
  }

  private argvRunner: ArgvRunner | null = null;
  private stanzaNamed: (id: string) => Stanza | undefined = () => undefined;

  /** Enables command cycles: how argv runs, and the current stanzas by id. */
  useCycles(runner: ArgvRunner, stanzaNamed: (id: string) => Stanza | undefined): void {
    this.argvRunner = runner;
    this.stanzaNamed = stanzaNamed;
  }

  /**
   * An accepted SPA packet for a stanza with CMD_CYCLE_OPEN: the open now,
   * the close (unless NONE) `vars.seconds` later. Returns false when the
   * open was dropped (cap, cooldown, no argv runner, bad values).
   */
  onCycle(stanza: Stanza, vars: CycleVars): boolean {
    const cycle = stanza.cycle;
    const door = cycleDoor(stanza.id);
    const problem = cycleVarsProblem(vars);
    if (cycle === undefined || this.argvRunner === null || problem !== null) {
      this.logger.log(`${vars.ip}: ${door}: command cycle not run: ${problem ?? 'not enabled'}`);
      return false;
    }
    const now = this.now();
    if (!this.slots.admit(door, vars.ip, now)) return false;
    const pending =
      cycle.close === undefined
        ? null
        : this.addPending(door, {
            id: this.nextId++,
            door: stanza.id,
            address: vars.ip,
            due: now + vars.seconds * 1000,
            cycle: { ...vars },
          });
    const argv = cycleArgv(cycle.open, vars);
    this.begin(door, pending, () => this.execArgv(door, 'CMD_CYCLE_OPEN', argv));
    return true;
  }

  /** A successful knock: start command now, stop command later (if the door has them). */
  onOpen(door: Door, src: string, family: 4 | 6): void {
    const start = startCommandFor(door, family);
    if (start === undefined || start === '') return;
    const now = this.now();
    if (!this.slots.admit(door.name, src, now)) return;
    const stop = stopCommandFor(door, family);
    const pending =
      stop === undefined || stop === ''
        ? null
        : this.addPending(door.name, {
            id: this.nextId++,
            door: door.name,
            address: src,
            due: now + door.cmdTimeout * 1000,
          });
    this.begin(door.name, pending, () => this.exec(door.name, expandCommand(start, src)));
  }

  /** An admitted start (slot held): its stop is on disk before it runs (a crash cannot lose it), armed after. */
  private begin(door: string, pending: PendingStop | null, run: () => Promise<void>): void {
    this.track(
      (async () => {
        try {
          if (pending !== null) await this.persist();
          await run();
        } finally {
          this.slots.release(door);
        }
        if (pending !== null) this.arm(pending);
      })(),
    );
  }

  /** Runs `run` holding one of the door's command slots. */
  private async inSlot(door: string, run: () => Promise<void>): Promise<void> {
    await this.slots.acquire(door);
    try {
      await run();
    } finally {
      this.slots.release(door);
    }
  }

  private addPending(door: string, entry: PendingStop): PendingStop {
    this.stops.set(entry.id, { entry, timer: null, started: false });
    this.slots.pendingAdded(door);
    return entry;
  }

  /** The entry leaves the journal only once its command has run (or is known gone). */
  private removePending(a: Armed): void {
    if (!this.stops.delete(a.entry.id)) return;
    this.slots.pendingRemoved(slotOf(a.entry));
  }

  /** Journal restore: stops that were pending when the daemon last stopped. */
  restore(entries: readonly PendingStop[]): void {
    for (const e of entries) {
      this.nextId = Math.max(this.nextId, e.id + 1);
      this.addPending(slotOf(e), e);
      this.arm(e);
    }
  }

  pending(): PendingStop[] {
    return [...this.stops.values()].map((a) => a.entry);
  }

  /** Per-door counts of starts dropped since the last call (cap, cooldown or pending stops). */
  drainDropped(): { door: string; dropped: number }[] {
    return this.slots.drainDropped(this.now());
  }

  /** Schedules a stop at its due time: at once when overdue or shutting down. */
  private arm(e: PendingStop): void {
    const a = this.stops.get(e.id);
    if (a === undefined || a.timer !== null) return;
    const delay = e.due - this.now();
    if (this.stopping || delay <= 0) {
      this.track(this.runStop(a));
      return;
    }
    a.timer = setTimeout(
      () => {
        a.timer = null;
        this.arm(e);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
  }

  private async runStop(a: Armed): Promise<void> {
    const e = a.entry;
    if (a.started || !this.stops.has(e.id)) return;
    a.started = true;
    if (a.timer !== null) clearTimeout(a.timer);
    try {
      await (e.cycle !== undefined ? this.runCycleClose(e, e.cycle) : this.runStopCommand(e));
    } finally {
      this.removePending(a);
    }
    await this.persist();
  }

  private async runStopCommand(e: PendingStop): Promise<void> {
    const ip = canonicalIP(e.address);
    const door = this.doorNamed(e.door);
    const stop = door === undefined || ip === null ? undefined : stopCommandFor(door, ip.family);
    if (ip === null || stop === undefined || stop === '') {
      this.logger.log(
        `${e.address}: ${e.door}: pending stop command dropped: the door or its stop command is gone`,
      );
      return;
    }
    await this.inSlot(e.door, () => {
      this.logger.log(MSG.cmdTimeout(ip.text, e.door));
      return this.exec(e.door, expandCommand(stop, ip.text));
    });
  }

  /** A due CMD_CYCLE_CLOSE: argv rebuilt from the stanza as configured now. */
  private async runCycleClose(e: PendingStop, vars: CycleVars): Promise<void> {
    const door = cycleDoor(e.door);
    const close = this.stanzaNamed(e.door)?.cycle?.close;
    if (close === undefined || this.argvRunner === null) {
      this.logger.log(
        `${e.address}: ${door}: pending CMD_CYCLE_CLOSE dropped: the stanza or its close command is gone`,
      );
      return;
    }
    await this.inSlot(door, () => {
      this.logger.log(`${e.address}: ${door}: timer expired`);
      return this.execArgv(door, 'CMD_CYCLE_CLOSE', cycleArgv(close, vars));
    });
  }

  private async execArgv(door: string, what: string, argv: string[]): Promise<void> {
    const runner = this.argvRunner;
    if (runner === null) return;
    // JSON quoting shows argument boundaries exactly.
    await runLogged(this.logger, this.ran, door, `${what} ${JSON.stringify(argv)}`, () =>
      runner.runArgv(argv),
    );
  }

  private exec(door: string, cmd: string): Promise<void> {
    return runLogged(this.logger, this.ran, door, cmd, () => this.runner.run(cmd));
  }

  private track(p: Promise<void>): void {
    const q = p.catch((e: unknown) => this.logger.error(`error: command: ${(e as Error).message}`));
    this.running.add(q);
    void q.finally(() => this.running.delete(q));
  }

  /** Shutdown: pending stops run now, so stopping never leaves a door open; waits for all. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const a of [...this.stops.values()]) {
      if (a.timer !== null) clearTimeout(a.timer);
      a.timer = null;
      this.arm(a.entry);
    }
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
