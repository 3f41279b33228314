/**
 * The live daemon behind `knockd` (everything after the options and the
 * config are checked): detaching for -d, logging, the firewall, capture,
 * the control socket and metrics, and the signals. Loaded by knockd.ts only
 * on this path, so -h, -V, --check and -r load none of it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KnockError, type EXIT_CODES } from '../core/errors.js';
import { KnockdLogger, stderrIsJournal } from '../adapters/logger.js';
import { ShellRunner } from '../adapters/runner.js';
import { liveCapture, loadNative } from '../adapters/capture.js';
import { nativeSpaCrypto, spaCryptoSource } from '../adapters/spa-crypto-native.js';
import { GpgProcess } from '../adapters/spa-gpg.js';
import { configFile, oneTimeFiles, type SpaOverrides } from '../adapters/config-file.js';
import { dnsResolver, udpBinder } from '../adapters/net.js';
import { defaultRouteInterface, interfaceExists } from '../adapters/netif.js';
import { systemdNotifier } from '../adapters/notify.js';
import { NO_FLEET, type LoadedConfig } from '../daemon/ports.js';
import { DEFAULT_CONTROL_SOCKET, DEFAULT_STATE_DIR } from '../core/config.js';
import { configuredFirewall } from '../adapters/firewall.js';
import { FileStateStore } from '../adapters/state.js';
import { ControlServer } from '../adapters/control.js';
import { Daemon } from '../daemon/daemon.js';
import type { KnockdOpt, Parsed } from './args.js';
import { daemonize } from './daemonize.js';

export interface ServeOptions {
  argv: string[];
  o: Parsed<KnockdOpt>['opts'];
  /** Absolute, as are the paths in spaOverrides. */
  configPath: string;
  spaOverrides: SpaOverrides;
  loaded: LoadedConfig;
  /** This process is the detached child of -d. */
  isChild: boolean;
  /** Tells the waiting parent of -d how start-up went. */
  report: (m: { ok: boolean; error?: string; code?: number }) => void;
  die: (code: keyof typeof EXIT_CODES, msg: string) => never;
  /** The placeholder SIGHUP handler, replaced once the daemon runs. */
  earlyHup: () => void;
}

/** Runs the daemon until SIGTERM or SIGINT (then exits the process). */
export async function serve(s: ServeOptions): Promise<void> {
  const { argv, o, configPath, spaOverrides, loaded, isChild, report, die, earlyHup } = s;
  const cfg = loaded.config;
  if (o.has('daemon') && !isChild) {
    const args = [...argv];
    // The child must find the same config even though its cwd is /.
    args.push('--config', configPath);
    const g = o.get('logfile');
    if (typeof g === 'string') args.push('--logfile', path.resolve(g));
    const p = o.get('pidfile');
    if (typeof p === 'string') args.push('--pidfile', path.resolve(p));
    const sa = o.get('spa-access');
    if (typeof sa === 'string') args.push('--spa-access', path.resolve(sa));
    await daemonize(args);
  }

  // knockd's default is eth0; where there is none (a VPS with ens3), the
  // interface of the default route is the one the world knocks on.
  let iface = (o.get('interface') as string | undefined) ?? cfg.options.interface;
  let ifaceNote: string | null = null;
  if (iface === undefined) {
    const route = interfaceExists('eth0') ? null : defaultRouteInterface();
    iface = route ?? 'eth0';
    if (route !== null)
      ifaceNote = `no eth0: listening on ${route}, the interface of the default route`;
  }
  const verbose = o.has('verbose');
  const debug = o.has('debug');
  const logger = new KnockdLogger({
    cliLogFile: o.get('logfile') as string | undefined,
    journal: stderrIsJournal(),
    openSyslog: () => {
      const nat = loadNative();
      nat.openlog('knockd');
      return (m) => nat.syslog(m);
    },
    verbose,
    debug,
    now: () => new Date(),
  });
  try {
    logger.configure(cfg);
  } catch (e) {
    die('E_CAPTURE', (e as Error).message);
  }

  if (ifaceNote !== null) logger.log(ifaceNote);
  const notifier = systemdNotifier();
  const firewall = configuredFirewall(cfg.options, iface, (m) => logger.debug(m));
  let fleet = NO_FLEET;
  if (cfg.options.fleet !== undefined) {
    // Loaded only when configured: ioredis stays out of memory otherwise.
    const { openFleet } = await import('../adapters/fleet.js');
    try {
      fleet = openFleet(cfg.options.fleet, logger, () => Date.now());
    } catch (e) {
      die('E_CONFIG', (e as Error).message);
    }
  }
  const daemon = new Daemon(
    loaded,
    { configPath, iface, ipv4Only: o.has('only-ip-v4'), lookup: o.has('lookup'), debug },
    {
      logger,
      runner: new ShellRunner((cfg.options.commandKillTimeout ?? 60) * 1000),
      capture: liveCapture,
      firewall,
      state: new FileStateStore(path.resolve(cfg.options.stateDir ?? DEFAULT_STATE_DIR)),
      datagrams: udpBinder,
      resolver: dnsResolver,
      oneTime: oneTimeFiles,
      config: configFile(configPath, spaOverrides),
      spaCrypto: nativeSpaCrypto,
      spaGpg: new GpgProcess(),
      now: () => Date.now(),
      fleet,
    },
  );

  logger.verbose(`listening on ${iface}...`);
  if (loaded.spa !== undefined) logger.debug(spaCryptoSource());
  try {
    await daemon.start();
  } catch (e) {
    if (e instanceof KnockError) die(e.code, e.message);
    throw e;
  }
  const control = new ControlServer(
    path.resolve(cfg.options.controlSocket ?? DEFAULT_CONTROL_SOCKET),
    (req) => Promise.resolve(daemon.control(req)),
  );
  try {
    await control.listen();
  } catch (e) {
    // knockctl is a convenience: the daemon's job goes on without it.
    logger.error(`warning: no control socket: ${(e as Error).message}`);
  }
  let metrics: { close(): void } | null = null;
  const m = cfg.options.metrics;
  if (m !== undefined) {
    // Loaded only when configured: prom-client stays out of memory otherwise.
    const { MetricsServer, readMetricsToken } = await import('../adapters/metrics.js');
    const tf = cfg.options.metricsTokenFile;
    try {
      // Never served open because its token file could not be read.
      const server = new MetricsServer(() => daemon.metrics(), tf && readMetricsToken(tf));
      if (tf === undefined)
        logger.error(
          'warning: Metrics without Metrics_Token_File: every local user can read them, and the knock counts give away how far a knock got',
        );
      await server.listen(m.host, m.port);
      metrics = server;
      logger.verbose(
        `metrics on http://${m.host.includes(':') ? `[${m.host}]` : m.host}:${m.port}/metrics`,
      );
    } catch (e) {
      logger.error(`warning: no metrics: ${(e as Error).message}`);
    }
  }

  const pidFile =
    cfg.options.pidFile ?? (o.get('pidfile') as string | undefined) ?? '/var/run/knockd.pid';
  if (o.has('daemon')) {
    try {
      fs.writeFileSync(pidFile, `${process.pid}\n`);
    } catch (e) {
      logger.log(`could not create pid file ${pidFile}: ${(e as Error).message}`);
    }
  }
  notifier.ready(daemon.summary());
  report({ ok: true });
  if (isChild && process.disconnect !== undefined) process.disconnect();

  process.removeListener('SIGHUP', earlyHup);
  process.on('SIGHUP', () => {
    notifier.reloading();
    void daemon.reload().then(() => notifier.ready(daemon.summary()));
  });
  let exiting = false;
  const stop = () => {
    if (exiting) return;
    exiting = true;
    notifier.stopping();
    logger.verbose('waiting for child processes...');
    control.close();
    metrics?.close();
    void daemon.shutdown().then(() => {
      logger.verbose('closing...');
      if (o.has('daemon')) {
        try {
          fs.unlinkSync(pidFile);
        } catch {
          // already gone
        }
      }
      logger.close();
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
