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
import { getopt } from './getopt.js';
import { VERSION } from './version.js';
import crypto from 'node:crypto';
import { encodeSpa, HMAC_B64_LEN, type HmacAlg } from '../core/spa/spa.js';
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
  knock --spa [--key-base64 K --hmac-key-base64 H | --spa-profile FILE]
        [--hmac-digest-type sha256] [--allow-ip IP] [--spa-port 62201] <host> tcp/22 [udp/53 ...]
  knock --key-gen         print a new KEY_BASE64 and HMAC_KEY_BASE64 (for access.conf and a profile)
  A profile file holds KEY_BASE64, HMAC_KEY_BASE64 and optionally HMAC_DIGEST_TYPE lines.
  The allow IP defaults to the address this host uses to reach <host>.
`;

const SPECS = [
  { short: 'u', long: 'udp', arg: false },
  { short: 'd', long: 'delay', arg: true },
  { short: '4', long: 'ipv4', arg: false },
  { short: '6', long: 'ipv6', arg: false },
  { short: 'v', long: 'verbose', arg: false },
  { short: 'V', long: 'version', arg: false },
  { short: 'h', long: 'help', arg: false },
  { short: '\0', long: 'spa', arg: false },
  { short: '\0', long: 'key-gen', arg: false },
  { short: '\0', long: 'key-base64', arg: true },
  { short: '\0', long: 'hmac-key-base64', arg: true },
  { short: '\0', long: 'hmac-digest-type', arg: true },
  { short: '\0', long: 'allow-ip', arg: true },
  { short: '\0', long: 'spa-port', arg: true },
  { short: '\0', long: 'spa-profile', arg: true },
];

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

async function spaMain(o: Map<string, string | true>, operands: string[]): Promise<number> {
  const profile = new Map<string, string>();
  const pf = o.get('spa-profile');
  if (typeof pf === 'string') {
    for (const line of fs.readFileSync(pf, 'utf8').split('\n')) {
      const m = /^\s*([A-Z0-9_]+)\s+(\S+)\s*$/.exec(line);
      if (m !== null) profile.set(m[1] as string, m[2] as string);
    }
  }
  const opt = (flag: string, key: string) => {
    const v = o.get(flag);
    return typeof v === 'string' ? v : profile.get(key);
  };
  const key = opt('key-base64', 'KEY_BASE64');
  const hkey = opt('hmac-key-base64', 'HMAC_KEY_BASE64');
  const alg = (opt('hmac-digest-type', 'HMAC_DIGEST_TYPE') ?? 'sha256')
    .toLowerCase()
    .replace('_', '-') as HmacAlg;
  if (key === undefined || hkey === undefined) {
    process.stderr.write(
      'error: --spa needs --key-base64 and --hmac-key-base64 (or --spa-profile)\n',
    );
    return 1;
  }
  if (!(alg in HMAC_B64_LEN)) {
    process.stderr.write(`error: unknown HMAC digest type '${alg}'\n`);
    return 1;
  }
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
    {
      encKey: new Uint8Array(Buffer.from(key, 'base64')),
      hmacKey: new Uint8Array(Buffer.from(hkey, 'base64')),
      hmacAlg: alg,
    },
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
    parsed = getopt(argv, SPECS);
  } catch (e) {
    process.stderr.write(`knock: ${(e as Error).message}\n${USAGE}`);
    return 1;
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
