/**
 * The crash-safe state journal: live grants and pending stop commands with
 * their due times. Parsing validates every field, so a corrupt or tampered
 * file is rejected as a whole with a reason, never half-loaded.
 */
import { canonicalIP } from '../ip.js';
import type { Grant } from './grants.js';
import type { PortSpec } from '../port.js';

export interface PendingStop {
  id: number;
  door: string;
  address: string;
  /** Epoch ms when it is due. */
  due: number;
}

export interface JournalState {
  grants: Grant[];
  stops: PendingStop[];
  /** SPA replay cache: digest and the epoch second until which it matters. */
  replay?: [string, number][];
}

export const JOURNAL_VERSION = 1;

export function serializeJournal(s: JournalState): string {
  return `${JSON.stringify({ version: JOURNAL_VERSION, grants: s.grants, stops: s.stops, replay: s.replay ?? [] })}\n`;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function address(v: unknown): { text: string; family: 4 | 6 } | null {
  if (typeof v !== 'string') return null;
  const ip = canonicalIP(v);
  return ip !== null && ip.text === v ? ip : null;
}

function ports(v: unknown): PortSpec[] | null {
  if (!Array.isArray(v) || v.length === 0) return null;
  const out: PortSpec[] = [];
  for (const p of v) {
    if (!isObj(p) || (p.proto !== 'tcp' && p.proto !== 'udp')) return null;
    if (typeof p.port !== 'number' || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535)
      return null;
    out.push({ proto: p.proto, port: p.port });
  }
  return out;
}

export function parseJournal(text: string): { state: JournalState } | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { error: `not JSON: ${(e as Error).message}` };
  }
  if (!isObj(raw)) return { error: 'not an object' };
  if (raw.version !== JOURNAL_VERSION)
    return { error: `unknown version ${JSON.stringify(raw.version)}` };
  if (!Array.isArray(raw.grants) || !Array.isArray(raw.stops))
    return { error: 'grants or stops missing' };
  const grants: Grant[] = [];
  for (const [i, g] of raw.grants.entries()) {
    const ip = isObj(g) ? address(g.address) : null;
    const ps = isObj(g) ? ports(g.ports) : null;
    if (
      !isObj(g) ||
      ip === null ||
      ps === null ||
      typeof g.door !== 'string' ||
      !isTime(g.expires) ||
      g.family !== ip.family
    ) {
      return { error: `grant ${i} is malformed` };
    }
    grants.push({
      door: g.door,
      address: ip.text,
      family: ip.family,
      ports: ps,
      expires: g.expires,
    });
  }
  const stops: PendingStop[] = [];
  for (const [i, s] of raw.stops.entries()) {
    if (
      !isObj(s) ||
      typeof s.id !== 'number' ||
      typeof s.door !== 'string' ||
      address(s.address) === null ||
      !isTime(s.due)
    ) {
      return { error: `stop ${i} is malformed` };
    }
    stops.push({
      id: s.id,
      door: s.door,
      address: s.address as string,
      // A `command` field (journals before 0.2) is ignored: the stop command
      // is rebuilt from the config, never taken from disk.
      due: s.due,
    });
  }
  const replay: [string, number][] = [];
  if (raw.replay !== undefined) {
    if (!Array.isArray(raw.replay)) return { error: 'replay is malformed' };
    for (const e of raw.replay) {
      if (
        !Array.isArray(e) ||
        typeof e[0] !== 'string' ||
        !/^[A-Za-z0-9+/]{43}$/.test(e[0]) ||
        !isTime(e[1])
      ) {
        return { error: 'replay entry is malformed' };
      }
      replay.push([e[0], e[1]]);
    }
  }
  return { state: { grants, stops, replay } };
}
