/** SOURCE and DESTINATION lists: IPv4 and IPv6 addresses and CIDRs (prefix or dotted mask), or ANY. Pure. */
import { canonicalIP, parseIPv4, parseIPv6 } from '../ip.js';

export interface Cidr {
  family: 4 | 6;
  addr: Uint8Array;
  bits: number;
}

function parseCidr(raw: string): Cidr | null {
  const slash = raw.indexOf('/');
  const a = slash < 0 ? raw : raw.slice(0, slash);
  const m = slash < 0 ? undefined : raw.slice(slash + 1);
  const v4 = parseIPv4(a);
  const addr = v4 ?? (a.includes('%') ? null : parseIPv6(a));
  if (addr === null) return null;
  const family = v4 !== null ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  let bits = max;
  if (m !== undefined) {
    const dotted = family === 4 ? parseIPv4(m) : null;
    if (dotted !== null) {
      // A dotted mask must be contiguous ones (255.255.255.0), as a prefix is.
      const n =
        (((dotted[0] ?? 0) << 24) |
          ((dotted[1] ?? 0) << 16) |
          ((dotted[2] ?? 0) << 8) |
          (dotted[3] ?? 0)) >>>
        0;
      const ones = 32 - Math.log2((~n >>> 0) + 1);
      if (!Number.isInteger(ones)) return null;
      bits = ones;
    } else if (/^\d{1,3}$/.test(m) && Number(m) <= max) bits = Number(m);
    else return null;
  }
  return { family, addr, bits };
}

/**
 * A SOURCE or DESTINATION value: comma-separated addresses and CIDRs of
 * either family, or ANY (anywhere in the list, as fwknopd reads it).
 */
export function parseCidrList(v: string): Cidr[] | 'any' | null {
  const out: Cidr[] = [];
  let any = false;
  for (const raw of v.split(',')) {
    const t = raw.trim();
    if (t.toUpperCase() === 'ANY') any = true;
    else {
      const c = parseCidr(t);
      if (c === null) return null;
      out.push(c);
    }
  }
  return any ? 'any' : out;
}

function inCidr(c: Cidr, b: Uint8Array): boolean {
  const full = c.bits >> 3;
  for (let i = 0; i < full; i++) if (b[i] !== c.addr[i]) return false;
  const rest = c.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((b[full] ?? 0) & mask) === ((c.addr[full] ?? 0) & mask);
}

/** True when `address` (IP text) is in the list. An IPv4-mapped IPv6 address counts as IPv4. */
export function addressIn(list: Cidr[] | 'any', address: string): boolean {
  if (list === 'any') return true;
  const ip = canonicalIP(address);
  if (ip === null) return false;
  let text = ip.text;
  if (ip.family === 6 && text.startsWith('::ffff:') && text.includes('.')) text = text.slice(7);
  const v4 = parseIPv4(text);
  const bytes = v4 ?? parseIPv6(text);
  if (bytes === null) return false;
  const family = v4 !== null ? 4 : 6;
  return list.some((c) => c.family === family && inCidr(c, bytes));
}
