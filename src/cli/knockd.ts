/**
 * knockd command line: knockd 0.8's flags and meanings, plus --check.
 * The live daemon (serve.ts) and the replay (replay.ts) are loaded only on
 * their paths: -h, -V and --check load neither, nor the native addon.
 */
import path from 'node:path';
import { parseKnockdArgs } from './args.js';
import { EXIT_CODES, formatProblem } from '../core/errors.js';
import { loadConfig } from '../adapters/config-file.js';
import { VERSION } from './version.js';
import { CHILD_ENV, fail } from './daemonize.js';

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
  const r = await loadConfig(configPath, spaOverrides);
  if (!r.ok) return die('E_CONFIG', r.problems.map(formatProblem).join('\n'));
  const loaded = r.loaded;
  const cfg = loaded.config;
  if (o.has('check')) {
    for (const w of loaded.spa?.warnings ?? [])
      process.stderr.write(`warning: ${formatProblem(w)}\n`);
    // The start would import the verifier; a missing one fails here, not there.
    if (loaded.spa !== undefined) {
      const { importVerifier } = await import('../daemon/spa-verifier.js');
      await importVerifier().catch((e: unknown) => die('E_SPA', `knockd: ${(e as Error).message}`));
    }
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

  const { serve } = await import('./serve.js');
  await serve({ argv, o, configPath, spaOverrides, loaded, isChild, report, die, earlyHup });
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`knockd: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(70);
});
