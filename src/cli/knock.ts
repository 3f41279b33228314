/**
 * knock: the client, with knock 0.8's syntax and flags. A TCP knock is one
 * SYN (non-blocking connect, then close); a UDP knock is one datagram with
 * a single NUL byte. Needs no native code and no privileges.
 */
import dns from 'node:dns/promises';
import net from 'node:net';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseKnockArgs, type KnockOpt } from './args.js';
import { VERSION } from './version.js';
import crypto from 'node:crypto';
import { encodeSpa } from '../core/spa/spa.js';
import { EXIT_CODES, KnockError } from '../core/errors.js';
import { resolveSpaKeys } from '../client/spa-keys.js';
import { DEFAULT_SPA_PORT, parsePortSpec, type PortSpec, type Proto } from '../core/port.js';
import { nodeSpaCrypto } from '../adapters/spa-crypto.js';

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

Single Packet Authorization (fwknop-compatible):
  knock --spa [--key-file F --hmac-key-file F | --spa-profile FILE]
        [--hmac-digest-type sha256] [--allow-ip IP] [--spa-port 62201] <host> tcp/22 [udp/53 ...]
  knock --key-gen         print a new KEY_BASE64 and HMAC_KEY_BASE64 (for access.conf and a profile)
  A key file holds one base64 key; a profile file holds KEY_BASE64, HMAC_KEY_BASE64 and
  optionally HMAC_DIGEST_TYPE lines. Both must be private to you (mode 600), as ssh keys.
  --key-base64 K / --hmac-key-base64 H work too, but other users can read them in ps.
  The allow IP defaults to the address this host uses to reach <host>.
`;

/** The local address this host uses to reach `address` (no packet is sent). */
function localAddressFor(address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('error', reject);
    s.connect(9, address, () => {
      const a = s.address().address;
      s.close();
      resolve(a);
    });
  });
}

async function spaMain(o: Map<KnockOpt, string | true>, operands: string[]): Promise<number> {
  const str = (k: KnockOpt) => {
    const v = o.get(k);
    return typeof v === 'string' ? v : undefined;
  };
  let keys;
  try {
    keys = resolveSpaKeys({
      keyBase64: str('key-base64'),
      hmacKeyBase64: str('hmac-key-base64'),
      keyFile: str('key-file'),
      hmacKeyFile: str('hmac-key-file'),
      profile: str('spa-profile'),
      digestType: str('hmac-digest-type'),
    });
  } catch (e) {
    process.stderr.write(`knock: ${(e as Error).message}\n`);
    return e instanceof KnockError ? EXIT_CODES[e.code] : 1;
  }
  for (const w of keys.warnings) process.stderr.write(`knock: ${w}\n`);
  const [host, ...specs] = operands;
  const access: PortSpec[] = [];
  for (const s of specs) {
    const p = parsePortSpec(s);
    if ('error' in p) {
      process.stderr.write(`error: ${p.error}\n`);
      return 1;
    }
    access.push(p);
  }
  if (host === undefined || access.length === 0) {
    process.stdout.write(USAGE);
    return 1;
  }
  let addr: string;
  try {
    addr = (await dns.lookup(host, { family: 4 })).address;
  } catch (e) {
    process.stderr.write(
      `Cannot resolve hostname '${host}': ${(e as NodeJS.ErrnoException).code ?? ''}\n`,
    );
    return 1;
  }
  const allowIp = (o.get('allow-ip') as string | undefined) ?? (await localAddressFor(addr));
  const port = Number((o.get('spa-port') as string | undefined) ?? DEFAULT_SPA_PORT);
  const user = process.env.USER ?? process.env.LOGNAME ?? 'knock';
  const pkt = encodeSpa(
    {
      user: /^[A-Za-z0-9._-]{1,63}$/.test(user) ? user : 'knock',
      timestamp: Math.floor(Date.now() / 1000),
      allowIp,
      access,
    },
    { encKey: keys.encKey, hmacKey: keys.hmacKey, hmacAlg: keys.hmacAlg },
    nodeSpaCrypto,
  );
  if (o.has('verbose'))
    process.stdout.write(`sending SPA packet to ${addr}:${port} for ${allowIp}\n`);
  await sendUdp(addr, 4, port, Buffer.from(pkt, 'latin1'));
  return 0;
}

export type Hit = PortSpec;

/** Service names (as getaddrinfo would take them) from /etc/services. */
function serviceName(name: string, proto: string): number | null {
  let text = '';
  try {
    text = fs.readFileSync('/etc/services', 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const fields = line.replace(/#.*/, '').trim().split(/\s+/);
    const [svc, portProto, ...aliases] = fields;
    if (svc === undefined || portProto === undefined) continue;
    const [port, pr] = portProto.split('/');
    if (pr !== proto) continue;
    if (svc === name || aliases.includes(name)) return Number(port);
  }
  return null;
}

/**
 * knock's per-port rule: only the exact lowercase ":udp" means UDP; any
 * other suffix means TCP. -u makes every hit UDP.
 */
export function parseHit(arg: string, allUdp: boolean): Hit | string {
  const colon = arg.indexOf(':');
  const portText = colon < 0 ? arg : arg.slice(0, colon);
  const proto: Proto = allUdp || (colon >= 0 && arg.slice(colon + 1) === 'udp') ? 'udp' : 'tcp';
  let port: number | null = null;
  if (/^\d{1,5}$/.test(portText)) port = Number(portText);
  else if (portText !== '') port = serviceName(portText, proto);
  if (port === null || port < 1 || port > 65535) return `invalid port: '${portText}'`;
  return { port, proto };
}

function tcpKnock(address: string, port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = new net.Socket();
    s.on('error', () => {});
    s.connect({ host: address, port });
    // Node issues connect(2) on the next tick for an IP literal; once it has,
    // the SYN is on the wire and closing sends nothing more.
    setImmediate(() => {
      s.destroy();
      resolve();
    });
  });
}

/** One datagram; errors are ignored, as knock ignores them. */
function sendUdp(address: string, family: number, port: number, payload: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    s.on('error', () => {
      s.close();
      resolve();
    });
    s.send(payload, port, address, () => {
      s.close();
      resolve();
    });
  });
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
  if (o.has('spa')) return spaMain(o, parsed.operands);
  if (o.has('help') || parsed.operands.length < 2) {
    process.stdout.write(USAGE);
    return 1;
  }
  let delay = 0;
  if (o.has('delay')) {
    const d = o.get('delay') as string;
    if (!/^-?\d+$/.test(d)) {
      process.stderr.write(`error: invalid delay '${d}'\n`);
      return 1;
    }
    delay = Number(d);
    if (delay < 0) {
      process.stderr.write('error: delay cannot be negative\n');
      return 1;
    }
  }
  const family = o.has('ipv4') ? 4 : o.has('ipv6') ? 6 : 0;
  const [host, ...ports] = parsed.operands as [string, ...string[]];
  const hits: Hit[] = [];
  for (const p of ports) {
    const h = parseHit(p, o.has('udp'));
    if (typeof h === 'string') {
      process.stderr.write(`error: ${h}\n`);
      return 1;
    }
    hits.push(h);
  }
  let addr: { address: string; family: number };
  try {
    addr = await dns.lookup(host, { family });
  } catch (e) {
    process.stderr.write(
      `Cannot resolve hostname '${host}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`,
    );
    return 1;
  }
  for (const h of hits) {
    if (o.has('verbose')) {
      process.stdout.write(`hitting ${h.proto} ${addr.address}:${h.port}\n`);
    }
    if (h.proto === 'tcp') await tcpKnock(addr.address, h.port);
    else await sendUdp(addr.address, addr.family, h.port, Buffer.alloc(1));
    if (delay > 0) await sleep(delay);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`knock: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
