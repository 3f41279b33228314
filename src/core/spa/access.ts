/**
 * fwknop's access.conf, for SPA: `NAME value` lines, each SOURCE line
 * starting a stanza. Pure: text in, stanzas or problems (file:line) out.
 * Stricter than fwknopd: HMAC is required unless a stanza says
 * `ALLOW_NO_HMAC Y`, and features we do not implement are errors, not
 * silently ignored.
 */
import type { ConfigProblem } from '../errors.js';
import { parseIPv4 } from '../ip.js';
import { parsePortList, type PortSpec } from '../port.js';
import { b64decode, type AesMode, type HmacAlg } from './spa.js';

export interface Cidr {
  net: number;
  mask: number;
}

export interface Stanza {
  line: number;
  sources: Cidr[] | 'any';
  openPorts?: PortSpec[];
  restrictPorts: PortSpec[];
  encKey?: Uint8Array;
  hmacKey?: Uint8Array;
  hmacAlg: HmacAlg;
  mode: AesMode;
  fwAccessTimeout: number;
  maxFwTimeout: number;
  requireSourceAddress: boolean;
  requireUsername?: string;
  /** Epoch seconds after which the stanza no longer applies. */
  accessExpire?: number;
  allowNoHmac: boolean;
}

/**
 * The longest grant access.conf may ask for (FW_ACCESS_TIMEOUT,
 * MAX_FW_TIMEOUT; a client timeout is capped by MAX_FW_TIMEOUT). A day is
 * far above fwknop's defaults (30 and 300 s) and keeps every expiry a small
 * offset from now, far from the 2038 limit of iptables --datestop.
 */
export const MAX_GRANT_SECONDS = 86_400;

const UNSUPPORTED =
  /^(ENABLE_CMD_EXEC|ENABLE_CMD_SUDO_EXEC|CMD_|GPG_|FORCE_|DISABLE_DNAT|FORWARD_ALL|DESTINATION)/;
const enc = (s: string) => new TextEncoder().encode(s);
const same = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

function ipToInt(b: Uint8Array): number {
  return (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
}

export function parseCidrList(v: string): Cidr[] | 'any' | null {
  if (v.trim().toUpperCase() === 'ANY') return 'any';
  const out: Cidr[] = [];
  for (const raw of v.split(',')) {
    const [a, m] = raw.trim().split('/');
    const ip = parseIPv4(a ?? '');
    if (ip === null) return null;
    let mask = 0xffffffff;
    if (m !== undefined) {
      const dotted = parseIPv4(m);
      if (dotted !== null) mask = ipToInt(dotted);
      else if (/^\d{1,2}$/.test(m) && Number(m) <= 32)
        mask = Number(m) === 0 ? 0 : (0xffffffff << (32 - Number(m))) >>> 0;
      else return null;
    }
    out.push({ net: (ipToInt(ip) & mask) >>> 0, mask });
  }
  return out;
}

export function sourceMatches(s: Stanza, address: string): boolean {
  if (s.sources === 'any') return true;
  const ip = parseIPv4(address);
  if (ip === null) return false;
  const n = ipToInt(ip);
  return s.sources.some((c) => (n & c.mask) >>> 0 === c.net);
}

function ports(v: string): PortSpec[] | null {
  const r = parsePortList(v);
  return 'error' in r ? null : r.ports;
}

export function parseAccessConf(
  text: string,
  file: string,
): { stanzas: Stanza[] } | { problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const stanzas: Stanza[] = [];
  let cur: Stanza | null = null;
  const bad = (line: number, message: string) => problems.push({ file, line, message });
  text.split('\n').forEach((rawLine, i) => {
    const line = i + 1;
    const l = rawLine.trim();
    if (l === '' || l.startsWith('#') || l.startsWith(';')) return;
    const m = /^([A-Za-z0-9_%]+):?\s+(.*?)\s*(;.*)?$/.exec(l);
    if (m === null) return bad(line, `syntax error: '${l}' is not 'NAME value'`);
    const name = (m[1] as string).toUpperCase();
    const value = (m[2] as string).trim();
    if (name === 'SOURCE') {
      const src = parseCidrList(value);
      if (src === null) bad(line, `SOURCE: bad address list '${value}'`);
      cur = {
        line,
        sources: src ?? [],
        restrictPorts: [],
        hmacAlg: 'sha256',
        mode: 'cbc',
        fwAccessTimeout: 30,
        maxFwTimeout: 300,
        requireSourceAddress: false,
        allowNoHmac: false,
      };
      stanzas.push(cur);
      return;
    }
    if (cur === null) return bad(line, `${name} before the first SOURCE line`);
    const s: Stanza = cur;
    const yes = /^y(es)?$/i.test(value);
    const secs = (fallback: number) => {
      if (!/^\d{1,9}$/.test(value)) {
        bad(line, `${name} must be whole seconds, got '${value}'`);
        return fallback;
      }
      const n = Number(value);
      if (n < 1 || n > MAX_GRANT_SECONDS) {
        bad(line, `${name} must be 1..${MAX_GRANT_SECONDS} seconds, got '${value}'`);
        return fallback;
      }
      return n;
    };
    switch (name) {
      case 'OPEN_PORTS':
      case 'RESTRICT_PORTS': {
        const p = ports(value);
        if (p === null) bad(line, `${name}: bad port list '${value}'`);
        else if (name === 'OPEN_PORTS') s.openPorts = p;
        else s.restrictPorts = p;
        break;
      }
      case 'KEY':
      case 'HMAC_KEY':
        if (value === '__CHANGEME__') bad(line, `${name} is still __CHANGEME__`);
        if (name === 'KEY') s.encKey = enc(value);
        else s.hmacKey = enc(value);
        break;
      case 'KEY_BASE64':
      case 'HMAC_KEY_BASE64': {
        const b = b64decode(value);
        if (b === null || b.length === 0) bad(line, `${name} is not base64`);
        else if (name === 'KEY_BASE64') s.encKey = b;
        else s.hmacKey = b;
        break;
      }
      case 'HMAC_DIGEST_TYPE': {
        const v = value.toLowerCase().replace('_', '-');
        if (!['md5', 'sha1', 'sha256', 'sha384', 'sha512', 'sha3-256', 'sha3-512'].includes(v)) {
          bad(line, `unknown HMAC_DIGEST_TYPE '${value}'`);
        } else s.hmacAlg = v as HmacAlg;
        break;
      }
      case 'ENCRYPTION_MODE': {
        const v = value.toLowerCase();
        if (!['cbc', 'ecb', 'cfb', 'ofb', 'ctr', 'legacy'].includes(v))
          bad(line, `ENCRYPTION_MODE '${value}' is not supported`);
        else s.mode = v as AesMode;
        break;
      }
      case 'FW_ACCESS_TIMEOUT':
        s.fwAccessTimeout = secs(s.fwAccessTimeout);
        break;
      case 'MAX_FW_TIMEOUT':
        s.maxFwTimeout = secs(s.maxFwTimeout);
        break;
      case 'REQUIRE_SOURCE_ADDRESS':
      case 'REQUIRE_SOURCE':
        s.requireSourceAddress = yes;
        break;
      case 'REQUIRE_USERNAME':
        s.requireUsername = value;
        break;
      case 'ACCESS_EXPIRE': {
        const d = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(value);
        if (d === null) bad(line, `ACCESS_EXPIRE must be MM/DD/YYYY, got '${value}'`);
        else s.accessExpire = Date.UTC(Number(d[3]), Number(d[1]) - 1, Number(d[2])) / 1000;
        break;
      }
      case 'ACCESS_EXPIRE_EPOCH':
        // An epoch, not a duration: any date a Number holds exactly will do.
        if (/^\d{1,12}$/.test(value)) s.accessExpire = Number(value);
        else bad(line, `ACCESS_EXPIRE_EPOCH must be epoch seconds, got '${value}'`);
        break;
      case 'ALLOW_NO_HMAC':
        s.allowNoHmac = yes;
        break;
      default:
        if (UNSUPPORTED.test(name)) bad(line, `${name} is not supported by knockd-ts`);
        else bad(line, `unknown variable '${name}'`);
    }
  });
  for (const s of stanzas) {
    if (s.encKey === undefined)
      problems.push({ file, line: s.line, message: 'stanza has no KEY or KEY_BASE64' });
    else if (s.encKey.length > 32)
      problems.push({ file, line: s.line, message: 'KEY is longer than 32 bytes' });
    if (s.hmacKey === undefined && !s.allowNoHmac) {
      problems.push({
        file,
        line: s.line,
        message: 'stanza has no HMAC_KEY (required; ALLOW_NO_HMAC Y opts out)',
      });
    }
    if (s.hmacKey !== undefined && s.encKey !== undefined && same(s.hmacKey, s.encKey)) {
      problems.push({ file, line: s.line, message: 'KEY and HMAC_KEY must differ' });
    }
  }
  return problems.length > 0 ? { problems } : { stanzas };
}
