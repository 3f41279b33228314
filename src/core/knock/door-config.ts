/**
 * A door section's directives: knockd 0.8's (Sequence, Seq_Timeout,
 * Command, TCPFlags, ...) and ours (Open, Close, Open_Timeout). Pure.
 */
import type { Door, Knock, TcpFlags } from '../config.js';
import { canonicalIP } from '../ip.js';
import { parsePortList, type Proto } from '../port.js';
import { applyTotpDirective } from './totp-door.js';

export const TCP_FLAG_BITS = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20 };
export type TcpFlagName = keyof typeof TCP_FLAG_BITS;

export const DOOR_KEYS = new Set([
  'SEQUENCE',
  'ONE_TIME_SEQUENCES',
  'SEQ_TIMEOUT',
  'TIMEOUT',
  'START_COMMAND',
  'COMMAND',
  'START_COMMAND_6',
  'COMMAND_6',
  'STOP_COMMAND',
  'STOP_COMMAND_6',
  'CMD_TIMEOUT',
  'TCPFLAGS',
  'TARGET',
  'OPEN',
  'OPEN_TIMEOUT',
  'CLOSE',
  'SEQUENCE_SECRET',
  'SEQUENCE_LENGTH',
  'SEQUENCE_STEP',
  'SEQUENCE_PORTS',
  'SEQUENCE_ALGORITHM',
]);

export const DEFAULT_SEQ_TIMEOUT = 25;
export const DEFAULT_CMD_TIMEOUT = 10;
export const DEFAULT_OPEN_TIMEOUT = 30;
export const SEQ_MAX = 32;
/**
 * setTimeout's longest delay, in whole seconds: a longer Seq_Timeout,
 * Cmd_Timeout or CommandKillTimeout would fire at once.
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
/** A grant is a session, not standing access: at most a day (a static rule serves longer). */
export const MAX_OPEN_TIMEOUT = 86_400;

/** Parse one `Sequence` value. Returns the knocks or a message quoting the bad element. */
export function parseSequence(value: string): { knocks: Knock[] } | { error: string } {
  if (value.trim() === '') return { error: 'empty knock sequence' };
  const knocks: Knock[] = [];
  for (const raw of value.split(',')) {
    const el = raw.trim();
    const parts = el.split(':');
    if (parts.length > 2) return { error: `bad knock '${el}': expected port[:tcp|udp]` };
    const portText = (parts[0] ?? '').trim();
    if (!/^\d{1,5}$/.test(portText)) return { error: `bad port '${portText}' in '${el}'` };
    const port = Number(portText);
    if (port < 1 || port > 65535) return { error: `port ${portText} out of range 1-65535` };
    let proto: Proto = 'tcp';
    if (parts.length === 2) {
      const p = (parts[1] ?? '').trim().toLowerCase();
      if (p !== 'tcp' && p !== 'udp') {
        return { error: `unknown protocol '${(parts[1] ?? '').trim()}' in knock sequence` };
      }
      proto = p;
    }
    knocks.push({ port, proto });
  }
  if (knocks.length > SEQ_MAX) {
    return { error: `too many ports in knock sequence (${knocks.length}, at most ${SEQ_MAX})` };
  }
  return { knocks };
}

export function parseSeconds(
  key: string,
  value: string,
  min: number,
  max: number,
): number | string {
  if (!/^\d+$/.test(value)) return `${key} must be a whole number of seconds, got '${value}'`;
  const n = Number(value);
  if (n < min) return `${key} must be at least ${min}, got '${value}'`;
  if (n > max) return `${key} must be at most ${max}, got '${value}'`;
  return n;
}

function applyTcpFlags(flags: TcpFlags, value: string): string | null {
  for (const raw of value.split(',')) {
    const el = raw.trim();
    const negate = el.startsWith('!');
    const name = (negate ? el.slice(1) : el).trim().toLowerCase();
    if (!Object.hasOwn(TCP_FLAG_BITS, name)) {
      return `unrecognized tcp flag '${el}' (expected fin, syn, rst, psh, ack, urg, optionally with !)`;
    }
    const bit = TCP_FLAG_BITS[name as TcpFlagName];
    // The last mention of a flag wins, as in knockd.
    if (negate) {
      flags.set &= ~bit;
      flags.clear |= bit;
    } else {
      flags.clear &= ~bit;
      flags.set |= bit;
    }
  }
  return null;
}

export function newDoor(name: string, line: number): Door {
  return {
    name,
    line,
    sequence: [],
    seqTimeout: DEFAULT_SEQ_TIMEOUT,
    cmdTimeout: DEFAULT_CMD_TIMEOUT,
    openTimeout: DEFAULT_OPEN_TIMEOUT,
    tcpFlags: { set: 0, clear: 0 },
  };
}

/**
 * Applies one directive to a door. Returns 'unknown' for a key that is not a
 * door directive and 'bad-sequence' when Sequence was reported bad; other
 * problems go to `problem`.
 */
export function applyDoorDirective(
  door: Door,
  key: string,
  value: string,
  lineNo: number,
  problem: (line: number, message: string) => void,
): 'unknown' | 'bad-sequence' | null {
  switch (key) {
    case 'SEQUENCE': {
      const r = parseSequence(value);
      if ('error' in r) {
        problem(lineNo, `door '${door.name}': ${r.error}`);
        return 'bad-sequence';
      } else {
        door.sequence = r.knocks;
      }
      break;
    }
    case 'ONE_TIME_SEQUENCES':
      if (value === '') problem(lineNo, `door '${door.name}': One_Time_Sequences needs a path`);
      else door.oneTimeSequences = { path: value, line: lineNo };
      break;
    case 'SEQ_TIMEOUT':
    case 'TIMEOUT': {
      const n = parseSeconds('seq_timeout', value, 1, MAX_TIMER_SECONDS);
      if (typeof n === 'string') problem(lineNo, `door '${door.name}': ${n}`);
      else door.seqTimeout = n;
      break;
    }
    case 'CMD_TIMEOUT': {
      const n = parseSeconds('cmd_timeout', value, 0, MAX_TIMER_SECONDS);
      if (typeof n === 'string') problem(lineNo, `door '${door.name}': ${n}`);
      else door.cmdTimeout = n;
      break;
    }
    case 'START_COMMAND':
    case 'COMMAND':
      door.startCommand = value;
      break;
    case 'START_COMMAND_6':
    case 'COMMAND_6':
      door.startCommand6 = value;
      break;
    case 'STOP_COMMAND':
      door.stopCommand = value;
      break;
    case 'STOP_COMMAND_6':
      door.stopCommand6 = value;
      break;
    case 'TCPFLAGS': {
      const err = applyTcpFlags(door.tcpFlags, value);
      if (err !== null) problem(lineNo, `door '${door.name}': ${err}`);
      break;
    }
    case 'TARGET': {
      const ip = canonicalIP(value);
      if (ip === null)
        problem(lineNo, `door '${door.name}': target '${value}' is not an IP address`);
      else door.target = ip.text;
      break;
    }
    case 'OPEN':
    case 'CLOSE': {
      const r = parsePortList(value);
      if ('error' in r) problem(lineNo, `door '${door.name}': ${r.error}`);
      else if (key === 'OPEN') door.open = { ports: r.ports, line: lineNo };
      else door.close = { ports: r.ports, line: lineNo };
      break;
    }
    case 'OPEN_TIMEOUT': {
      const n = parseSeconds('open_timeout', value, 1, MAX_OPEN_TIMEOUT);
      if (typeof n === 'string') problem(lineNo, `door '${door.name}': ${n}`);
      else door.openTimeout = n;
      break;
    }
    case 'SEQUENCE_SECRET':
    case 'SEQUENCE_LENGTH':
    case 'SEQUENCE_STEP':
    case 'SEQUENCE_PORTS':
    case 'SEQUENCE_ALGORITHM': {
      const err = applyTotpDirective(door, key, value, lineNo);
      if (err !== null) problem(lineNo, `door '${door.name}': ${err}`);
      break;
    }
    default:
      return 'unknown';
  }
  return null;
}

/** The start command for a knock of the given family (knockd's *_6 fallback). */
export function startCommandFor(door: Door, family: 4 | 6): string | undefined {
  if (family === 6 && door.startCommand6 !== undefined) return door.startCommand6;
  return door.startCommand;
}

export function stopCommandFor(door: Door, family: 4 | 6): string | undefined {
  if (family === 6 && door.stopCommand6 !== undefined) return door.stopCommand6;
  return door.stopCommand;
}

/** Replace every %IP% with the address text; the address comes from our decoder. */
export function expandCommand(template: string, address: string): string {
  return template.split('%IP%').join(address);
}

/**
 * One-time sequences file: one sequence per line; blank lines, lines starting
 * with '#' after trimming, and (as in knockd) unparsable lines are skipped.
 * `offset` is the byte offset of the line's first byte, which knockd
 * overwrites with '#' once the sequence is used.
 */
export interface OneTimeLine {
  line: number;
  offset: number;
  knocks: Knock[];
}

export function parseOneTimeFile(bytes: Uint8Array): {
  usable: OneTimeLine[];
  skipped: { line: number; error: string }[];
} {
  const usable: OneTimeLine[] = [];
  const skipped: { line: number; error: string }[] = [];
  let start = 0;
  let lineNo = 0;
  const decoder = new TextDecoder();
  while (start <= bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    lineNo++;
    const text = decoder.decode(bytes.subarray(start, end)).trim();
    if (text !== '' && !text.startsWith('#')) {
      const r = parseSequence(text);
      if ('knocks' in r) usable.push({ line: lineNo, offset: start, knocks: r.knocks });
      else skipped.push({ line: lineNo, error: r.error });
    }
    if (end === bytes.length) break;
    start = end + 1;
  }
  return { usable, skipped };
}

export function formatSequence(knocks: readonly Knock[]): string {
  return knocks.map((k) => `${k.port}:${k.proto}`).join(',');
}
