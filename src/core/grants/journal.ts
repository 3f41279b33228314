/**
 * The crash-safe state journal: live grants and pending stop commands with
 * their due times. Parsing validates every field of every entry; a bad entry
 * is skipped and reported, so one damaged line never costs the others (each
 * pending stop is a close that would otherwise never run). Only a file that
 * is not a journal at all (not JSON, unknown version) is rejected whole.
 *
 * A pending stop records the door and the address, never the command text:
 * the command is rebuilt from the config when it runs, so whoever can write
 * the journal still cannot choose what runs as root. A pending command
 * cycle close (fwknopd's CMD_CYCLE_CLOSE) is kept the same way: the stanza's
 * id and the values of its variables, each re-validated as canonical on read.
 */
import { canonicalIP } from '../ip.js';
import type { Grant } from './grants.js';
import type { PortSpec } from '../port.js';
import { cycleVarsProblem, type CycleVars } from '../spa/cycle.js';

export interface PendingStop {
  id: number;
  /** The door's name; for a cycle close, the access.conf stanza's id. */
  door: string;
  /** Canonical text (canonicalIP) of the address; its family picks the stop command. */
  address: string;
  /** Epoch ms when it is due. */
  due: number;
  /** A CMD_CYCLE_CLOSE: its variables' values (the command comes from access.conf). */
  cycle?: CycleVars;
}

export interface JournalState {
  grants: Grant[];
  stops: PendingStop[];
  /** SPA replay cache: digest and the epoch second until which it matters. */
  replay?: [string, number][];
  /** Time-based doors' used steps: door name and step (a restart must not reopen them). */
  totp?: [string, number][];
}

/**
 * 2: pending stops carry no command. Version 1 is still read; its stops'
 * command text is ignored.
 */
export const JOURNAL_VERSION = 2;
const READABLE_VERSIONS: readonly unknown[] = [1, 2];

/** At most this many per-entry warnings are itemised; the rest are counted. */
export const MAX_JOURNAL_WARNINGS = 20;

export function serializeJournal(s: JournalState): string {
  // Fields are listed, not spread: nothing but these ever reaches the file.
  const grants = s.grants.map((g) => ({
    door: g.door,
    address: g.address,
    family: g.family,
    ports: g.ports.map((p) => ({ proto: p.proto, port: p.port })),
    expires: g.expires,
  }));
  const stops = s.stops.map((p) => ({
    id: p.id,
    door: p.door,
    address: p.address,
    due: p.due,
    ...(p.cycle === undefined
      ? {}
      : {
          cycle: {
            ip: p.cycle.ip,
            pktSrc: p.cycle.pktSrc,
            dst: p.cycle.dst,
            port: p.cycle.port,
            proto: p.cycle.proto,
            seconds: p.cycle.seconds,
            timestamp: p.cycle.timestamp,
          },
        }),
  }));
  const totp = (s.totp ?? []).map(([door, step]) => [door, step]);
  return `${JSON.stringify({ version: JOURNAL_VERSION, grants, stops, replay: s.replay ?? [], totp })}\n`;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** A short quote of a bad value for a warning (journal text is untrusted and may be huge). */
function quote(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 60)}...` : s;
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

/** Why a grant entry is unusable, or the grant. */
function grantEntry(g: unknown): Grant | string {
  if (!isObj(g)) return 'not an object';
  if (typeof g.door !== 'string' || g.door === '') return `bad door ${quote(g.door)}`;
  const ip = typeof g.address === 'string' ? canonicalIP(g.address) : null;
  if (ip === null) return `bad address ${quote(g.address)}`;
  if (g.family !== ip.family)
    return `family ${quote(g.family)} does not match address ${quote(g.address)}`;
  const ps = ports(g.ports);
  if (ps === null) return `bad ports ${quote(g.ports)}`;
  if (!isTime(g.expires)) return `bad expiry ${quote(g.expires)}`;
  return { door: g.door, address: ip.text, family: ip.family, ports: ps, expires: g.expires };
}

/** Why a pending stop entry is unusable, or the stop. */
function stopEntry(s: unknown): PendingStop | string {
  if (!isObj(s)) return 'not an object';
  if (typeof s.id !== 'number' || !Number.isSafeInteger(s.id) || s.id < 1)
    return `bad id ${quote(s.id)}`;
  if (typeof s.door !== 'string' || s.door === '') return `bad door ${quote(s.door)}`;
  const ip = typeof s.address === 'string' ? canonicalIP(s.address) : null;
  if (ip === null) return `bad address ${quote(s.address)}`;
  if (!isTime(s.due)) return `bad due time ${quote(s.due)}`;
  // A version 1 'command' field is deliberately not read.
  if (s.cycle === undefined) return { id: s.id, door: s.door, address: ip.text, due: s.due };
  const c = s.cycle;
  if (!isObj(c)) return `bad cycle ${quote(c)}`;
  const vars = {
    ip: c.ip,
    pktSrc: c.pktSrc,
    dst: c.dst,
    port: c.port,
    proto: c.proto,
    seconds: c.seconds,
    timestamp: c.timestamp,
  } as CycleVars;
  if (typeof c.dst !== 'string') return `bad cycle ${quote(c)}`;
  // Only canonical values pass: whoever can write the journal still cannot
  // put text of their choosing on a command line.
  const why = cycleVarsProblem(vars);
  if (why !== null || vars.ip !== ip.text) return `bad cycle ${quote(c)}: ${why ?? 'ip'}`;
  return { id: s.id, door: s.door, address: ip.text, due: s.due, cycle: vars };
}

export type ParsedJournal = { state: JournalState; warnings: string[] } | { error: string };

export function parseJournal(text: string): ParsedJournal {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { error: `not JSON: ${(e as Error).message}` };
  }
  if (!isObj(raw)) return { error: 'not an object' };
  if (!READABLE_VERSIONS.includes(raw.version))
    return { error: `unknown version ${quote(raw.version)}` };

  const warnings: string[] = [];
  let skipped = 0;
  const warn = (msg: string) => {
    skipped++;
    if (warnings.length < MAX_JOURNAL_WARNINGS) warnings.push(msg);
  };
  const list = (key: 'grants' | 'stops' | 'replay' | 'totp'): unknown[] => {
    const v = raw[key];
    if (Array.isArray(v)) return v;
    // replay is optional in version 1, totp in journals from before time-based doors.
    if (v !== undefined || (key !== 'replay' && key !== 'totp'))
      warn(`${key} is not a list; ignored`);
    return [];
  };

  const grants: Grant[] = [];
  for (const [i, g] of list('grants').entries()) {
    const r = grantEntry(g);
    if (typeof r === 'string') warn(`grant ${i} skipped: ${r}`);
    else grants.push(r);
  }

  const stops: PendingStop[] = [];
  const ids = new Set<number>();
  for (const [i, s] of list('stops').entries()) {
    const r = stopEntry(s);
    if (typeof r === 'string') warn(`stop ${i} skipped: ${r}`);
    else if (ids.has(r.id)) warn(`stop ${i} skipped: duplicate id ${r.id}`);
    else {
      ids.add(r.id);
      stops.push(r);
    }
  }

  const replay: [string, number][] = [];
  for (const [i, e] of list('replay').entries()) {
    if (
      !Array.isArray(e) ||
      typeof e[0] !== 'string' ||
      !/^[A-Za-z0-9+/]{43}$/.test(e[0]) ||
      !isTime(e[1])
    ) {
      warn(`replay entry ${i} skipped: ${quote(e)}`);
      continue;
    }
    replay.push([e[0], e[1]]);
  }

  const totp: [string, number][] = [];
  for (const [i, e] of list('totp').entries()) {
    if (
      !Array.isArray(e) ||
      e.length !== 2 ||
      typeof e[0] !== 'string' ||
      e[0] === '' ||
      !Number.isSafeInteger(e[1]) ||
      (e[1] as number) < 0
    ) {
      warn(`totp entry ${i} skipped: ${quote(e)}`);
      continue;
    }
    totp.push([e[0], e[1] as number]);
  }

  if (skipped > warnings.length)
    warnings.push(`${skipped - warnings.length} more bad journal entries skipped`);
  return { state: { grants, stops, replay, totp }, warnings };
}
