/**
 * knock: the client. With host and ports on the command line it is knock
 * 0.8 (same syntax, flags and output); with one name it knocks as the
 * profile of that name says (~/.config/knock/hosts), by sequence, TOTP
 * sequence or SPA packet; --wait confirms the port opened, re-knocking if
 * not; --proxy is an ssh ProxyCommand. Needs no native code and no
 * privileges: nothing here may import the capture adapter.
 */
import fs from 'node:fs';
import crypto from 'node:crypto';
import { parseKnockArgs } from './args.js';
import { VERSION } from './version.js';
import { EXIT_CODES, KnockError } from '../core/errors.js';
import { DEFAULT_SPA_PORT, parsePortSpec, type PortSpec } from '../core/port.js';
import {
  secondsLeft,
  sequenceFor,
  stepIndex,
  TOTP_DEFAULTS,
  type TotpParams,
} from '../core/knock/totp.js';
import { resolveSpaKeys } from '../client/spa-keys.js';
import { findProfile } from '../client/profile.js';
import { parseHit } from '../client/hits.js';
import { sendSequence } from '../client/send.js';
import { knockUntilOpen, WAIT_DEFAULTS } from '../client/confirm.js';
import { splice } from '../client/splice.js';
import { newTotpSecret, nodeTotpHmac, readTotpSecret } from '../client/totp.js';

const USAGE = `usage: knock [options] <host> <port[:proto]> [port[:proto]] ...
options:
  -u, --udp            make all ports hits use UDP (default is TCP)
  -d, --delay <t>      wait <t> milliseconds between port hits
  -4, --ipv4           Force usage of IPv4
  -6, --ipv6           Force usage of IPv6
  -v, --verbose        be verbose
  -V, --version        display version
  -h, --help           this help

example:  knock myserver.example.com 123:tcp 456:udp 789:tcp

Profiles (~/.config/knock/hosts, or $XDG_CONFIG_HOME/knock/hosts):
  knock [options] NAME              knock as profile NAME says (sequence, TOTP or SPA)
  -F, --hosts-file <file>           use another profile file
  --wait tcp/<port>                 then connect; knock again if the port stays shut
  --tries <n>, --wait-time <s>      for --wait (default 3 tries, 20 s in all)
  --repeat <n>                      send each knock n times (only for knockd-ts servers)
  --proxy <host> <port> [ports...]  ssh ProxyCommand: knock, wait, then relay stdin/stdout
                                    e.g. ssh -o ProxyCommand='knock --proxy %n %p' NAME
  --totp <secretfile> <host>        knock the current TOTP sequence (base32 secret)
  --totp-show NAME                  print the current TOTP sequence of a profile
  --totp-gen                        print a new base32 TOTP secret

Single Packet Authorization (fwknop-compatible):
  knock --spa [--key-file F --hmac-key-file F | --spa-profile FILE]
        [--hmac-digest-type sha256] [--allow-ip IP] [--spa-port 62201] <host> tcp/22 [udp/53 ...]
  knock --key-gen         print a new KEY_BASE64 and HMAC_KEY_BASE64 (for access.conf and a profile)
  A key file holds one base64 key; a profile file holds KEY_BASE64, HMAC_KEY_BASE64 and
  optionally HMAC_DIGEST_TYPE lines. Both must be private to you (mode 600), as ssh keys.
  --key-base64 K / --hmac-key-base64 H work too, but other users can read them in ps.
`;

import {
  confirmPort,
  filePath,
  intOpt,
  loadProfiles,
  parseDelay,
  planFromProfile,
  str,
  totpParams,
  type Opts,
  type Plan,
} from '../client/plan.js';
import { resolveHost, sendSpa } from '../client/spa-send.js';

async function spaMain(o: Opts, operands: string[]): Promise<number> {
  const keys = resolveSpaKeys({
    keyBase64: str(o, 'key-base64'),
    hmacKeyBase64: str(o, 'hmac-key-base64'),
    keyFile: str(o, 'key-file'),
    hmacKeyFile: str(o, 'hmac-key-file'),
    profile: str(o, 'spa-profile'),
    digestType: str(o, 'hmac-digest-type'),
  });
  for (const w of keys.warnings) process.stderr.write(`knock: ${w}\n`);
  const [host, ...specs] = operands;
  const access: PortSpec[] = [];
  for (const s of specs) {
    const p = parsePortSpec(s);
    if ('error' in p) throw new KnockError('E_USAGE', p.error);
    access.push(p);
  }
  if (host === undefined || access.length === 0) {
    process.stdout.write(USAGE);
    return 1;
  }
  const addr = await resolveHost(host, o.has('ipv6') ? 6 : 4);
  const port = Number(str(o, 'spa-port') ?? DEFAULT_SPA_PORT);
  const say = (l: string) => {
    if (o.has('verbose')) process.stdout.write(`${l}\n`);
  };
  await sendSpa(addr.address, addr.family, keys, access, str(o, 'allow-ip'), port, say);
  return 0;
}

async function run(o: Opts, plan: Plan, keepSocket: boolean, say: (l: string) => void) {
  const tries = intOpt(o, 'tries', 1, 100) ?? plan.tries;
  const totalMs = (intOpt(o, 'wait-time', 1, 3600) ?? plan.totalMs / 1000) * 1000;
  const addr = await resolveHost(plan.host, plan.family);
  if (plan.confirm === undefined) {
    await plan.knock(addr.address, addr.family);
    return 0;
  }
  let rounds = 0;
  const sock = await knockUntilOpen(
    () => {
      rounds++;
      return plan.knock(addr.address, addr.family);
    },
    addr.address,
    plan.confirm.port,
    { ...WAIT_DEFAULTS, tries, totalMs, say },
  );
  if (sock === null) {
    process.stderr.write(
      `knock: ${plan.host} port ${plan.confirm.port} did not open after ${rounds} knock round(s)\n`,
    );
    return 1;
  }
  if (!keepSocket) {
    sock.destroy();
    return 0;
  }
  sock.setNoDelay(true);
  // fd 1 as a stream this module owns, so ending it closes the pipe and ssh
  // sees the server's EOF even while it still writes to us.
  const out = fs.createWriteStream('', { fd: 1 });
  await splice(process.stdin, out, sock);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseKnockArgs(argv);
  } catch (e) {
    process.stderr.write(`knock: ${(e as Error).message}\n${USAGE}`);
    return EXIT_CODES.E_USAGE;
  }
  const o = parsed.opts;
  const ops = parsed.operands;
  if (o.has('version')) {
    process.stdout.write(`knock ${VERSION} (knockd-ts; compatible with knock 0.8)\n`);
    return 0;
  }
  if (o.has('key-gen')) {
    process.stdout.write(
      `KEY_BASE64 ${crypto.randomBytes(32).toString('base64')}\nHMAC_KEY_BASE64 ${crypto.randomBytes(64).toString('base64')}\n`,
    );
    return 0;
  }
  if (o.has('totp-gen')) {
    process.stdout.write(`${newTotpSecret()}\n`);
    return 0;
  }
  if (o.has('help')) {
    process.stdout.write(USAGE);
    return 1;
  }
  // With --proxy, stdout is the ssh stream: every message goes to stderr.
  const proxy = o.has('proxy');
  const say = (l: string) => {
    if (o.has('verbose')) (proxy ? process.stderr : process.stdout).write(`${l}\n`);
  };
  try {
    if (o.has('spa')) return await spaMain(o, ops);
    const delay = parseDelay(o);
    const family = o.has('ipv4') ? 4 : o.has('ipv6') ? 6 : 0;
    const wait = str(o, 'wait');
    let plan: Plan;
    let host: string | undefined;
    let ports: string[];
    if (proxy) {
      if (ops.length < 2) throw new KnockError('E_USAGE', '--proxy needs <host> <port>');
      host = ops[0] as string;
      ports = ops.slice(2);
      if (wait !== undefined)
        throw new KnockError('E_USAGE', '--proxy confirms its own port; drop --wait');
    } else {
      [host, ...ports] = ops;
    }
    const totpFile = str(o, 'totp');
    if (o.has('totp-show')) {
      if (host === undefined && totpFile === undefined)
        throw new KnockError('E_USAGE', '--totp-show needs a profile name');
      let secret: Uint8Array;
      let params: TotpParams;
      if (totpFile !== undefined) {
        secret = readTotpSecret(totpFile);
        params = { ...TOTP_DEFAULTS, proto: o.has('udp') ? 'udp' : 'tcp' };
      } else {
        const { file, path: pp } = loadProfiles(o);
        const p = file === null ? undefined : findProfile(file, host as string);
        if (p?.totp === undefined) throw new KnockError('E_USAGE', `no TOTP profile '${host}'`);
        secret = readTotpSecret(filePath(p.totp.secretFile, pp));
        params = totpParams(p);
      }
      const now = Date.now();
      const seq = sequenceFor(secret, stepIndex(now, params.stepSeconds), params, nodeTotpHmac);
      process.stdout.write(
        `${seq.map((s) => `${s.port}:${s.proto}`).join(' ')}  (${Math.ceil(secondsLeft(now, params.stepSeconds))} s left)\n`,
      );
      return 0;
    }
    if (host === undefined) {
      process.stdout.write(USAGE);
      return 1;
    }
    if (totpFile !== undefined) {
      // Explicit TOTP: the default parameters, -u for UDP.
      const secret = readTotpSecret(totpFile);
      const params: TotpParams = { ...TOTP_DEFAULTS, proto: o.has('udp') ? 'udp' : 'tcp' };
      const repeat = intOpt(o, 'repeat', 1, 5) ?? 1;
      plan = {
        host,
        family,
        knock: (a, f) =>
          sendSequence(
            a,
            f,
            sequenceFor(secret, stepIndex(Date.now(), params.stepSeconds), params, nodeTotpHmac),
            {
              delayMs: delay,
              repeat,
              say,
            },
          ),
        confirm: undefined,
        ...WAIT_DEFAULTS,
      };
    } else if (ports.length > 0) {
      // knock 0.8: everything from the command line.
      const hits: PortSpec[] = [];
      for (const p of ports) {
        const h = parseHit(p, o.has('udp'));
        if (typeof h === 'string') throw new KnockError('E_USAGE', h);
        hits.push(h);
      }
      const repeat = intOpt(o, 'repeat', 1, 5) ?? 1;
      plan = {
        host,
        family,
        knock: (a, f) => sendSequence(a, f, hits, { delayMs: delay, repeat, say }),
        confirm: undefined,
        ...WAIT_DEFAULTS,
      };
    } else {
      const { file, path: pp } = loadProfiles(o);
      const p = file === null ? undefined : findProfile(file, host);
      if (p === undefined) {
        if (proxy)
          throw new KnockError('E_USAGE', `no profile for '${host}' in ${pp} and no ports given`);
        process.stdout.write(USAGE);
        return 1;
      }
      plan = planFromProfile(o, p, pp, say);
    }
    if (proxy) plan.confirm = confirmPort(ops[1] as string);
    else if (wait !== undefined) plan.confirm = confirmPort(wait);
    return await run(o, plan, proxy, say);
  } catch (e) {
    if (!(e instanceof KnockError)) throw e;
    // knock 0.8 prints "error: ..." and exits 1 for bad ports, delays and names.
    const legacy = e.code === 'E_USAGE' || e.code === 'E_RESOLVE';
    process.stderr.write(
      legacy && e.code === 'E_RESOLVE'
        ? `${e.message}\n`
        : `${legacy ? 'error' : 'knock'}: ${e.message}\n`,
    );
    return legacy ? 1 : EXIT_CODES[e.code];
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`knock: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
