/**
 * The fleet's wire format on Redis: key and channel names, pub/sub messages
 * and stored grants. Decoding treats Redis as untrusted: every field is
 * checked for type and size here, and the grant keeper checks meaning (door
 * shared here, canonical address, expiry capped by the door's Open_Timeout).
 */
import { canonicalIP } from '../core/ip.js';
import { MAX_OPEN_TIMEOUT } from '../core/knock/door-config.js';
import { formatPorts, parsePortList, type PortSpec } from '../core/port.js';
import type { FleetOp } from './ports.js';

/** Changes in one message at most; a longer message is rejected whole. */
export const MAX_OPS = 256;
/** A message longer than this is rejected unread. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
const MAX_NAME = 128;

export const fleetKeys = (group: string) => ({
  channel: `knockd:${group}:ch`,
  grantPrefix: `knockd:${group}:g:`,
  grant: (address: string, door: string) => `knockd:${group}:g:${address}/${door}`,
  /** SCAN pattern for every grant of `address` (canonical addresses hold no glob characters). */
  grantsOf: (address: string) => `knockd:${group}:g:${address}/*`,
  /** A shared attempt: the stage reached (fleet-attempt-script.ts); TTL seq_timeout. */
  attempt: (source: string, door: string) => `knockd:${group}:a:${source}/${door}`,
  peerPrefix: `knockd:${group}:p:`,
  peer: (host: string, id: string) => `knockd:${group}:p:${host}/${id}`,
});

export interface FleetMessage {
  /** The sending daemon's instance id: a daemon ignores its own messages. */
  from: string;
  host: string;
  ops: FleetOp[];
}

type Wire =
  | { op: 'open'; door: string; address: string; ttlMs: number }
  | { op: 'revoke'; address: string; door?: string }
  | { op: 'close'; address: string; ports: string };

export function encodeMessage(m: FleetMessage): string {
  const ops: Wire[] = m.ops.map((o) =>
    o.op === 'close' ? { ...o, ports: formatPorts(o.ports) } : o,
  );
  return JSON.stringify({ v: 1, from: m.from, host: m.host, ops });
}

const isName = (v: unknown): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME;
const isAddress = (v: unknown): v is string => typeof v === 'string' && canonicalIP(v)?.text === v;
const isTtl = (v: unknown): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= MAX_OPEN_TIMEOUT * 1000;

/** One change, or null when any field is malformed. */
export function decodeOp(raw: unknown): FleetOp | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  if (!isAddress(r.address)) return null;
  if (r.op === 'open') {
    if (!isName(r.door) || !isTtl(r.ttlMs)) return null;
    return { op: 'open', door: r.door, address: r.address, ttlMs: r.ttlMs };
  }
  if (r.op === 'revoke') {
    if (r.door === undefined) return { op: 'revoke', address: r.address };
    return isName(r.door) ? { op: 'revoke', address: r.address, door: r.door } : null;
  }
  if (r.op === 'close' && typeof r.ports === 'string' && r.ports.length <= 1024) {
    const p = parsePortList(r.ports);
    return 'error' in p ? null : { op: 'close', address: r.address, ports: p.ports };
  }
  return null;
}

/** A message, or a reason it was rejected; malformed changes inside are dropped and counted. */
export function decodeMessage(
  text: string,
): { msg: FleetMessage; bad: number } | { error: string } {
  if (text.length > MAX_MESSAGE_BYTES) return { error: 'message too long' };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { error: 'not JSON' };
  }
  if (typeof raw !== 'object' || raw === null) return { error: 'not an object' };
  const r = raw as Record<string, unknown>;
  if (r.v !== 1 || !isName(r.from) || !isName(r.host) || !Array.isArray(r.ops))
    return { error: 'bad header' };
  if (r.ops.length > MAX_OPS) return { error: `more than ${MAX_OPS} changes` };
  const ops: FleetOp[] = [];
  for (const o of r.ops as unknown[]) {
    const d = decodeOp(o);
    if (d !== null) ops.push(d);
  }
  return { msg: { from: r.from, host: r.host, ops }, bad: r.ops.length - ops.length };
}

/**
 * A shared Close, stored: KEYS[1] is a grant, ARGV[1] the closed ports as
 * text. They are added to the grant's `closed` list, its TTL kept, so a
 * daemon that reads the grant later (start, reconnect) opens the door's
 * ports but these. A new open of the grant replaces the value (a new knock
 * opens everything again). Atomic, so it never writes over a newer open.
 */
export const CLOSE_LUA = `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, g = pcall(cjson.decode, v)
if not ok or type(g) ~= 'table' then return 0 end
local c = ARGV[1]
if type(g.closed) == 'string' and g.closed ~= '' then c = g.closed .. ',' .. c end
if #c > 1024 then return 0 end
g.closed = c
redis.call('SET', KEYS[1], cjson.encode(g), 'KEEPTTL')
return 1
`;

/** A stored grant's value (its remaining time is the key's TTL). */
export function encodeStored(door: string, address: string, host: string, from: string): string {
  return JSON.stringify({ v: 1, door, address, host, from });
}

export function decodeStored(
  text: string,
): { door: string; address: string; host: string; from: string; closed?: PortSpec[] } | null {
  if (text.length > 4096) return null;
  try {
    const r = JSON.parse(text) as Record<string, unknown>;
    if (r.v !== 1 || !isName(r.door) || !isAddress(r.address) || !isName(r.host) || !isName(r.from))
      return null;
    const g = { door: r.door, address: r.address, host: r.host, from: r.from };
    if (r.closed === undefined) return g;
    // A malformed list fails closed: the whole grant is ignored rather than opened in full.
    if (typeof r.closed !== 'string' || r.closed.length > 1024) return null;
    const p = parsePortList(r.closed);
    return 'error' in p ? null : { ...g, closed: p.ports };
  } catch {
    return null;
  }
}
