/**
 * knockd command line: knockd 0.8's flags and meanings, plus --check.
 * Only the capture path loads the native addon, so -h, -V and --check work
 * without it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseKnockdArgs } from './args.js';
import { EXIT_CODES, formatProblem, KnockError } from '../core/errors.js';
import { KnockdLogger, stderrIsJournal } from '../adapters/logger.js';
import { ShellRunner } from '../adapters/runner.js';
import { liveCapture, loadNative } from '../adapters/capture.js';
import { nativeSpaCrypto, spaCryptoSource } from '../adapters/spa-crypto-native.js';
import { GpgProcess } from '../adapters/spa-gpg.js';
import { configFile, loadConfig, oneTimeFiles } from '../adapters/config-file.js';
import { dnsResolver, udpBinder } from '../adapters/net.js';
import { defaultRouteInterface, interfaceExists } from '../adapters/netif.js';
import { systemdNotifier } from '../adapters/notify.js';
import { NO_FIREWALL, NO_FLEET } from '../daemon/ports.js';
import { DEFAULT_CONTROL_SOCKET, DEFAULT_STATE_DIR } from '../core/config.js';
import { IptablesFirewall, NftablesFirewall } from '../adapters/firewall.js';
import { FileStateStore } from '../adapters/state.js';
import { ControlServer } from '../adapters/control.js';
import { Daemon } from '../daemon/daemon.js';
import { VERSION } from './version.js';
import { CHILD_ENV, daemonize, fail } from './daemonize.js';

const USAGE = `usage: knockd [options]
options:
  -i, --interface <int>  network interface to listen on (default "eth0")
  -d, --daemon           run as a daemon
  -c, --config <file>    use an alternate config file
  -D, --debug            output debug messages
  -l, --lookup           lookup DNS names (may be a security risk)
  -p, --pidfile          use an alternate pidfile
  -g, --logfile          use an alternate logfile
  -v, --verbose          be verbose
  -4, --only-ip-v4       do not track ipv6
  -V, --version          display version
  -h, --help             this help
      --check            check the config file and exit (0: valid)
      --spa-access <f>   fwknop access.conf for SPA (overrides SPA_Access)
      --spa-port <n>     UDP port for SPA packets (overrides SPA_Port, default 62201)
  -r, --replay <file>    run the config against a pcap file and print a summary;
                         runs no command and touches no firewall unless --apply
      --apply            with -r: run the commands and firewall changes for real
`;

export async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseKnockdArgs(argv);
  } catch (e) {
    process.stderr.write(`knockd: ${(e as Error).message}\n${USAGE}`);
    process.exit(EXIT_CODES.E_USAGE);
  }
  const o = parsed.opts;
  if (o.has('help')) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (o.has('version')) {
    process.stdout.write(`knockd ${VERSION} (knockd-ts; compatible with knockd 0.8)\n`);
    process.exit(0);
  }
  if (parsed.operands.length > 0)
    fail('E_USAGE', `knockd: unexpected argument '${parsed.operands[0]}'\n${USAGE}`);

  const isChild = process.env[CHILD_ENV] === '1';
  // Until the real handler is in place (after start-up), a HUP (say, from a
  // logrotate run) must not kill us: Node's default for SIGHUP is to exit.
  const earlyHup = () => {};
  process.on('SIGHUP', earlyHup);
  const report = (m: { ok: boolean; error?: string; code?: number }) => {
    if (isChild && process.send !== undefined) process.send(m);
  };
  const die = (code: keyof typeof EXIT_CODES, msg: string): never => {
    report({ ok: false, error: msg, code: EXIT_CODES[code] });
    fail(code, msg);
  };

  // Paths are made absolute before -d moves us to /.
  const abs = (p: string) => path.resolve(p);
  const configPath = abs((o.get('config') as string | undefined) ?? '/etc/knockd.conf');
  const sp = o.get('spa-port');
  if (
    sp !== undefined &&
    (typeof sp !== 'string' || !/^\d{1,5}$/.test(sp) || Number(sp) < 1 || Number(sp) > 65535)
  ) {
    return fail('E_USAGE', `knockd: --spa-port must be a port 1-65535`);
  }
  const spaOverrides = {
    ...(typeof o.get('spa-access') === 'string'
      ? { spaAccess: abs(o.get('spa-access') as string) }
      : {}),
    ...(typeof sp === 'string' ? { spaPort: Number(sp) } : {}),
  };
  const r = loadConfig(configPath, spaOverrides);
  if (!r.ok) return die('E_CONFIG', r.problems.map(formatProblem).join('\n'));
  const loaded = r.loaded;
  const cfg = loaded.config;
  if (o.has('check')) {
    for (const w of loaded.spa?.warnings ?? [])
      process.stderr.write(`warning: ${formatProblem(w)}\n`);
    process.stdout.write(`${configPath}: configuration OK (${cfg.doors.length} doors)\n`);
    process.exit(0);
  }
  const replayFile = o.get('replay');
  if (typeof replayFile === 'string') {
    const { runReplay, chunkedStdout } = await import('./replay.js');
    const iface = (o.get('interface') as string | undefined) ?? cfg.options.interface;
    const stdout = chunkedStdout();
    const code = await runReplay({
      file: abs(replayFile),
      configPath,
      loaded,
      spaOverrides,
      apply: o.has('apply'),
      debug: o.has('debug'),
      lookup: o.has('lookup'),
      ipv4Only: o.has('only-ip-v4'),
      iface,
      out: stdout.line,
    }).catch(async (e: unknown) => {
      await stdout.flush();
      return fail('E_IO', `knockd: ${(e as Error).message}`);
    });
    await stdout.flush();
    process.exit(code);
  }
  if (o.has('apply')) fail('E_USAGE', `knockd: --apply needs -r FILE\n${USAGE}`);

  if (o.has('daemon') && !isChild) {
    const args = [...argv];
    // The child must find the same config even though its cwd is /.
    args.push('--config', configPath);
    const g = o.get('logfile');
    if (typeof g === 'string') args.push('--logfile', abs(g));
    const p = o.get('pidfile');
    if (typeof p === 'string') args.push('--pidfile', abs(p));
    const sa = o.get('spa-access');
    if (typeof sa === 'string') args.push('--spa-access', abs(sa));
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
  const firewall =
    cfg.options.firewall === 'iptables'
      ? new IptablesFirewall()
      : cfg.options.firewall === 'nftables'
        ? new NftablesFirewall({
            guardInterfaces: cfg.options.guardInterfaces ?? [iface],
            apply: cfg.options.nftApply?.mode,
            debug: (m) => logger.debug(m),
          })
        : NO_FIREWALL;
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
      state: new FileStateStore(abs(cfg.options.stateDir ?? DEFAULT_STATE_DIR)),
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
    abs(cfg.options.controlSocket ?? DEFAULT_CONTROL_SOCKET),
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
    const { MetricsServer } = await import('../adapters/metrics.js');
    const server = new MetricsServer(() => daemon.metrics());
    try {
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

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`knockd: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(70);
});
