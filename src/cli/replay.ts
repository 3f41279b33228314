/**
 * `knockd -r FILE` (tcpdump's spelling; also --replay): the daemon run against
 * a capture file instead of the wire. Every packet goes through the same
 * decoder, knock machine, event log and effects as live, with the packet
 * timestamps as the clock, so log lines carry the time of the capture.
 * Without --apply the effects are dry (src/adapters/dry.ts): no command
 * runs and no firewall, journal or one-time file is touched. With --apply
 * they are real, and at the end pending stop commands run and grants close,
 * as on SIGTERM. Ends with a summary: packets, knocks, opens per door,
 * packets per second.
 */
import { performance } from 'node:perf_hooks';
import { PcapFileSource } from '../adapters/pcap-file.js';
import { configFile, oneTimeFiles } from '../adapters/config-file.js';
import {
  DryFirewall,
  DryRunner,
  DryStateStore,
  dryDatagrams,
  dryOneTime,
} from '../adapters/dry.js';
import { nativeSpaCrypto } from '../adapters/spa-crypto-native.js';
import { DEFAULT_STATE_DIR, type Config } from '../core/config.js';
import type { Resolver } from '../daemon/ports.js';
import { localStamp } from '../core/time.js';
import { Daemon } from '../daemon/daemon.js';
import {
  NO_FIREWALL,
  type CaptureOpener,
  type CaptureSource,
  type LoadedConfig,
  type Logger,
} from '../daemon/ports.js';

export interface ReplayOptions {
  file: string;
  configPath: string;
  loaded: LoadedConfig;
  spaOverrides: { spaAccess?: string; spaPort?: number };
  apply: boolean;
  debug: boolean;
  lookup: boolean;
  ipv4Only: boolean;
  /** -i or [options] Interface: only for an nftables guard under --apply. */
  iface: string | undefined;
  out: (line: string) => void;
}

/** Log lines on stdout, stamped with the capture time of the packet being handled. */
class ReplayLogger implements Logger {
  constructor(
    private readonly clock: () => number,
    private readonly out: (line: string) => void,
    private readonly debugOn: boolean,
  ) {}
  log(msg: string): void {
    this.out(`[${localStamp(new Date(this.clock()), true)}] ${msg}`);
  }
  verbose(): void {}
  debug(msg: string): void {
    if (this.debugOn) this.log(msg);
  }
  error(msg: string): void {
    this.log(msg);
  }
  configure(_cfg: Config): void {}
  close(): void {}
}

/** Runs the replay; resolves to the exit status. */
export async function runReplay(o: ReplayOptions): Promise<number> {
  const file = new PcapFileSource(o.file);
  // The clock starts at the first packet, so start-up lines carry its time.
  let clock = file.firstTimestamp() ?? 0;
  // The daemon's once-a-second work (sequence timeouts, grant expiry, log
  // summaries) runs on packet time, as it would have run live.
  let nextTick = clock + 1000;
  let daemon: Daemon | null = null;
  let seconds = 0;
  let frames = 0;
  let fed: (error?: unknown) => void = () => {};
  // Rejects when the file turns out corrupt part-way: the run stops with its error.
  const done = new Promise<void>(
    (resolve, reject) => (fed = (error) => (error === undefined ? resolve() : reject(error))),
  );
  const source: CaptureSource = {
    linktype: file.linktype,
    setFilter: () => {},
    // Fed on the next turn, as live capture would, once start-up is done and logged.
    start(onFrame) {
      setImmediate(() => {
        const t0 = performance.now();
        try {
          file.start((buf, off, caplen, ts) => {
            if (ts >= nextTick && daemon !== null) {
              // Once for the last second boundary passed: a gap in the capture
              // costs one tick, not one per second of the gap.
              clock = ts - (ts % 1000);
              daemon.tick();
              nextTick = clock + 1000;
            }
            clock = ts;
            frames++;
            onFrame(buf, off, caplen, ts);
          });
        } catch (e) {
          fed(e);
          return;
        }
        seconds = (performance.now() - t0) / 1000;
        fed();
      });
    },
    stats: () => null,
    close: () => {},
  };
  const capture: CaptureOpener = { open: () => source, addresses: () => [] };
  const cfg = o.loaded.config;
  const logger = new ReplayLogger(() => clock, o.out, o.debug);
  const dryRunner = new DryRunner((cmd) => logger.log(`dry run: not running: ${cmd}`));
  const dryFirewall = new DryFirewall();
  // The real adapters are loaded only for --apply (and the resolver for -l):
  // a dry run starts without them.
  const real = o.apply ? await realEffects(cfg, o.iface) : null;
  const firewall =
    real?.firewall ?? (cfg.options.firewall === undefined ? NO_FIREWALL : dryFirewall);
  daemon = new Daemon(
    o.loaded,
    {
      configPath: o.configPath,
      iface: o.file,
      ipv4Only: o.ipv4Only,
      lookup: o.lookup,
      debug: o.debug,
    },
    {
      logger,
      runner: real?.runner ?? dryRunner,
      capture,
      firewall,
      state: real?.state ?? new DryStateStore(),
      datagrams: real?.datagrams ?? dryDatagrams,
      resolver: o.lookup ? (await import('../adapters/net.js')).dnsResolver : NO_NAMES,
      oneTime: o.apply ? oneTimeFiles : dryOneTime,
      config: configFile(o.configPath, o.spaOverrides),
      spaCrypto: nativeSpaCrypto,
      now: () => clock,
    },
  );
  await daemon.start();
  try {
    await done;
  } catch (e) {
    // As at the end of a good run: with --apply, pending stops run and grants close.
    await daemon.shutdown();
    throw e;
  }
  const m = daemon.metrics();
  await daemon.shutdown();

  const knocks = new Map<string, number>();
  for (const k of m.knocks) knocks.set(k.door, (knocks.get(k.door) ?? 0) + k.count);
  const byDoor = (xs: Map<string, number>) =>
    cfg.doors.map((d) => `${d.name} ${xs.get(d.name) ?? 0}`).join(', ') || '(no doors)';
  const opens = new Map(m.opens.map((x) => [x.door, x.count]));
  const pps = seconds > 0 ? Math.round(frames / seconds) : frames;
  o.out(
    `replay: ${frames} packets (${m.capture.decoded} decoded, ${m.capture.skipped} skipped) in ${seconds.toFixed(3)} s: ${pps} packets/s`,
  );
  o.out(`replay: knocks by door: ${byDoor(knocks)}`);
  o.out(`replay: opens by door: ${byDoor(opens)}`);
  if (o.apply) o.out('replay: --apply: commands and firewall changes were made');
  else
    o.out(
      `replay: dry run: ${dryRunner.commands.length} command(s) and ${dryFirewall.opened + dryFirewall.closed} firewall change(s) not made (use --apply)`,
    );
  return 0;
}

/** Without -l no name is ever asked for. */
const NO_NAMES: Resolver = { reverse: () => Promise.resolve(null) };

/** The effects of --apply: the configured firewall, the shell, the journal and SPA's socket. */
async function realEffects(cfg: Config, iface: string | undefined) {
  const [{ configuredFirewall }, { ShellRunner }, { FileStateStore }, { udpBinder }] =
    await Promise.all([
      import('../adapters/firewall.js'),
      import('../adapters/runner.js'),
      import('../adapters/state.js'),
      import('../adapters/net.js'),
    ]);
  const o = cfg.options;
  return {
    firewall: configuredFirewall(o, iface ?? 'eth0'),
    runner: new ShellRunner((o.commandKillTimeout ?? 60) * 1000),
    state: new FileStateStore(o.stateDir ?? DEFAULT_STATE_DIR),
    datagrams: udpBinder,
  };
}

/**
 * Lines to stdout in 64 KiB writes, not one write(2) each: a replay can log
 * a lot. A write that fills a pipe completes later, so flush() resolves once
 * the last one is out (await it before exiting).
 */
export function chunkedStdout(): { line: (s: string) => void; flush: () => Promise<void> } {
  let pending: string[] = [];
  let size = 0;
  const flush = () =>
    new Promise<void>((resolve) => {
      const chunk = pending.join('');
      pending = [];
      size = 0;
      if (chunk === '') resolve();
      else process.stdout.write(chunk, () => resolve());
    });
  const line = (s: string) => {
    pending.push(`${s}\n`);
    size += s.length + 1;
    if (size >= 65536) void flush();
  };
  return { line, flush };
}
