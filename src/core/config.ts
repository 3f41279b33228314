/**
 * knockd.conf parser. Pure: text in, config or every problem out, each with
 * file:line and the bad value. It accepts every file knockd 0.8 accepts
 * (Debian's stock file included) and rejects what knockd silently turns into
 * nonsense: port 0, negative or non-numeric ports, unknown tcpflags, stray
 * text after a protocol, non-numeric timeouts.
 */
import { canonicalIP } from './ip.js';
import type { ConfigProblem } from './errors.js';
import { isPort, parsePortList, type PortSpec, type Proto } from './port.js';

export type { Proto } from './port.js';

export interface Knock {
  readonly port: number;
  readonly proto: Proto;
}

export const TCP_FLAG_BITS = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20 };
export type TcpFlagName = keyof typeof TCP_FLAG_BITS;

/** A TCP knock counts when (flags & (set|clear)) === set. Both 0: any flags. */
export interface TcpFlags {
  set: number;
  clear: number;
}

export interface Door {
  name: string;
  /** Line of the section header, for messages about the door as a whole. */
  line: number;
  sequence: Knock[];
  oneTimeSequences?: { path: string; line: number };
  seqTimeout: number;
  cmdTimeout: number;
  /** undefined: not given. '' disables (as knockd: an empty command runs nothing). */
  startCommand?: string;
  startCommand6?: string;
  stopCommand?: string;
  stopCommand6?: string;
  tcpFlags: TcpFlags;
  /** Canonical address text; the door matches packets sent to it instead of to us. */
  target?: string;
  /** Native grant: ports opened to the knocking source for openTimeout seconds. */
  open?: { ports: PortSpec[]; line: number };
  openTimeout: number;
  /** Native revoke: these ports are closed again for the knocking source. */
  close?: { ports: PortSpec[]; line: number };
}

export type FirewallKind = 'iptables' | 'nftables';

export interface Options {
  useSyslog: boolean;
  logFile?: string;
  pidFile?: string;
  interface?: string;
  /** Include = glob: more door files, read in name order (the loader expands them). */
  include?: { pattern: string; line: number }[];
  firewall?: FirewallKind;
  stateDir?: string;
  controlSocket?: string;
  /** Cap on tracked attempts (bounded memory under spoofed floods). */
  maxAttempts?: number;
  /** fwknop access.conf for Single Packet Authorization, and its UDP port. */
  spaAccess?: { path: string; line: number };
  spaPort?: number;
  /** Where SPA packets are read: the capture path (default) or a plain UDP socket. */
  spaReceive?: 'capture' | 'socket';
  /** Where /metrics is served (Prometheus text format); off when absent. */
  metrics?: { host: string; port: number; line: number };
  /** Allows Metrics on a non-loopback address. */
  metricsPublic?: boolean;
  /** Commands (start and stop) running at once per door; starts beyond it are dropped. */
  maxCommands?: number;
  /** Kill a command still running after this many seconds. */
  commandKillTimeout?: number;
  /** Where the nftables guard drops (default: the capture interface); never loopback. */
  guardInterfaces?: string[];
}

export interface Config {
  options: Options;
  doors: Door[];
}

export type ParseResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] };

export const DEFAULT_SEQ_TIMEOUT = 25;
export const DEFAULT_CMD_TIMEOUT = 10;
export const DEFAULT_OPEN_TIMEOUT = 30;
export const DEFAULT_STATE_DIR = '/var/lib/knockd';
export const DEFAULT_CONTROL_SOCKET = '/run/knockd.sock';
export const SEQ_MAX = 32;
/**
 * The longest timer Node keeps: setTimeout takes at most 2^31-1 ms (24.8
 * days) and runs a longer one at once, so a larger Cmd_Timeout would run the
 * Stop_Command right after the start. Every seconds directive is bounded by it.
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
/**
 * Open_Timeout at most one day: a knock opens a door for a session, not for
 * weeks (that is a static rule in the firewall's own config). It also keeps
 * grant expiries far from the kernel's and tools' limits (nft, xt_time).
 */
export const MAX_OPEN_TIMEOUT = 86_400;

const DOOR_KEYS = new Set([
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
]);
const OPTION_KEYS = new Set([
  'LOGFILE',
  'PIDFILE',
  'INTERFACE',
  'INCLUDE',
  'FIREWALL',
  'STATEDIR',
  'CONTROLSOCKET',
  'MAXATTEMPTS',
  'MAXCOMMANDS',
  'SPA_ACCESS',
  'SPA_PORT',
  'SPA_RECEIVE',
  'COMMANDKILLTIMEOUT',
  'GUARD_INTERFACES',
  'METRICS',
  'METRICS_PUBLIC',
]);

/** A Linux interface name (at most 15 bytes), from the characters nft and ip accept unquoted. */
export function isInterfaceName(name: string): boolean {
  return /^[A-Za-z0-9_.@-]{1,15}$/.test(name);
}

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

function parseSeconds(key: string, value: string, min: number, max: number): number | string {
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

function newDoor(name: string, line: number): Door {
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

/** Command-line values that override [options] SPA_Access and SPA_Port. */
export interface SpaOverrides {
  spaAccess?: string;
  spaPort?: number;
}

/** `ADDRESS:PORT` or `[IPv6]:PORT`, the address canonical. */
export function parseListen(value: string): { host: string; port: number } | string {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$|^([0-9.]+):(\d{1,5})$/.exec(value);
  const ip = m === null ? null : canonicalIP((m[1] ?? m[3]) as string);
  const port = m === null ? 0 : Number(m[2] ?? m[4]);
  if (ip === null || !isPort(port))
    return `expected ADDRESS:PORT (e.g. 127.0.0.1:9560 or [::1]:9560), got '${value}'`;
  return { host: ip.text, port };
}

/** Loopback: 127.0.0.0/8 and ::1. */
export function isLoopback(host: string): boolean {
  return host === '::1' || /^127\./.test(host);
}

/**
 * @param inherited for a file named by Include: the main file's [options],
 *   which the included file may not change (it holds doors only).
 */
export function parseConfig(
  text: string,
  file: string,
  overrides: SpaOverrides = {},
  inherited?: Options,
): ParseResult {
  const problems: ConfigProblem[] = [];
  const options: Options = inherited === undefined ? { useSyslog: false } : { ...inherited };
  const doors: Door[] = [];
  let section: 'none' | 'options' | Door = 'none';
  // Doors whose Sequence line had an error: already reported, not "empty" too.
  const badSequence = new Set<Door>();
  let guardLine = 0;
  const problem = (line: number, message: string) => problems.push({ file, line, message });

  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;

    if (line.startsWith('[') && line.endsWith(']')) {
      // Section names are case-sensitive and not trimmed, as in knockd.
      const name = line.slice(1, -1);
      if (name === '') {
        problem(lineNo, 'bad section name');
        section = 'none';
      } else if (name === 'options' && inherited !== undefined) {
        problem(lineNo, '[options] belongs in the main config file, not in an included one');
        section = 'none';
      } else if (name === 'options') {
        section = 'options';
      } else {
        const door = newDoor(name, lineNo);
        doors.push(door);
        section = door;
      }
      continue;
    }

    if (line.toUpperCase() === 'USESYSLOG') {
      // knockd accepts the valueless UseSyslog in any section.
      options.useSyslog = true;
      continue;
    }

    const eq = line.indexOf('=');
    if (eq < 0) {
      problem(lineNo, `syntax error: '${line}' is not 'key = value'`);
      continue;
    }
    const key = line.slice(0, eq).trim().toUpperCase();
    const value = line.slice(eq + 1).trim();
    if (key === '') {
      problem(lineNo, `syntax error: missing key in '${line}'`);
      continue;
    }
    if (section === 'none') {
      problem(lineNo, `all directives must belong to a section: '${line}'`);
      continue;
    }
    if (key === 'USESYSLOG') {
      problem(lineNo, `UseSyslog takes no value: '${line}'`);
      continue;
    }

    if (section === 'options') {
      if (!OPTION_KEYS.has(key)) {
        const hint = DOOR_KEYS.has(key) ? ' (it belongs in a door section)' : '';
        problem(lineNo, `unknown directive '${line.slice(0, eq).trim()}' in [options]${hint}`);
        continue;
      }
      if (value === '') {
        problem(lineNo, `${line.slice(0, eq).trim()} needs a value`);
        continue;
      }
      if (key === 'LOGFILE') options.logFile = value;
      else if (key === 'PIDFILE') options.pidFile = value;
      else if (key === 'STATEDIR') options.stateDir = value;
      else if (key === 'CONTROLSOCKET') options.controlSocket = value;
      else if (key === 'SPA_ACCESS') options.spaAccess = { path: value, line: lineNo };
      else if (key === 'SPA_RECEIVE') {
        const v = value.toLowerCase();
        if (v === 'capture' || v === 'socket') options.spaReceive = v;
        else problem(lineNo, `SPA_Receive must be capture or socket, got '${value}'`);
      } else if (key === 'SPA_PORT') {
        if (/^\d{1,5}$/.test(value) && Number(value) >= 1 && Number(value) <= 65535)
          options.spaPort = Number(value);
        else problem(lineNo, `SPA_Port must be a port 1-65535, got '${value}'`);
      } else if (key === 'MAXATTEMPTS' || key === 'MAXCOMMANDS') {
        const name = key === 'MAXATTEMPTS' ? 'MaxAttempts' : 'MaxCommands';
        const n = parseSeconds(name, value, 1, 999_999_999);
        if (typeof n === 'string')
          problem(lineNo, n.replace('a whole number of seconds', 'a whole number'));
        else if (key === 'MAXATTEMPTS') options.maxAttempts = n;
        else options.maxCommands = n;
      } else if (key === 'COMMANDKILLTIMEOUT') {
        const n = parseSeconds('CommandKillTimeout', value, 0, MAX_TIMER_SECONDS);
        if (typeof n === 'string') problem(lineNo, n);
        else options.commandKillTimeout = n;
      } else if (key === 'METRICS') {
        const m = parseListen(value);
        if (typeof m === 'string') problem(lineNo, `Metrics: ${m}`);
        else options.metrics = { ...m, line: lineNo };
      } else if (key === 'METRICS_PUBLIC') {
        const v = value.toLowerCase();
        if (v === 'yes' || v === 'no') options.metricsPublic = v === 'yes';
        else problem(lineNo, `Metrics_Public must be yes or no, got '${value}'`);
      } else if (key === 'FIREWALL') {
        const v = value.toLowerCase();
        if (v === 'iptables' || v === 'nftables') options.firewall = v;
        else problem(lineNo, `Firewall must be iptables or nftables, got '${value}'`);
      } else if (key === 'GUARD_INTERFACES') {
        const names = value.split(',').map((n) => n.trim());
        const bad = names.find((n) => !isInterfaceName(n));
        if (bad !== undefined)
          problem(lineNo, `Guard_Interfaces: '${bad}' is not an interface name in '${value}'`);
        else if (names.includes('lo'))
          problem(
            lineNo,
            `Guard_Interfaces: loopback is never guarded (it would lock out local logins), got '${value}'`,
          );
        else {
          options.guardInterfaces = [...new Set(names)];
          guardLine = lineNo;
        }
      } else if (key === 'INCLUDE') {
        if (!value.startsWith('/'))
          problem(lineNo, `Include needs an absolute path, got '${value}'`);
        else if (/[*?[]/.test(value.slice(0, value.lastIndexOf('/'))))
          problem(lineNo, `Include: only the file name may have wildcards, got '${value}'`);
        else (options.include ??= []).push({ pattern: value, line: lineNo });
      } else options.interface = value;
      continue;
    }

    const door = section;
    switch (key) {
      case 'SEQUENCE': {
        const r = parseSequence(value);
        if ('error' in r) {
          problem(lineNo, `door '${door.name}': ${r.error}`);
          badSequence.add(door);
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
      default: {
        const hint = OPTION_KEYS.has(key) ? ' (it belongs in [options])' : '';
        problem(
          lineNo,
          `unknown directive '${line.slice(0, eq).trim()}' in door '${door.name}'${hint}`,
        );
      }
    }
  }

  for (const door of doors) {
    if (
      door.sequence.length === 0 &&
      door.oneTimeSequences === undefined &&
      !badSequence.has(door)
    ) {
      problem(door.line, `door '${door.name}' has an empty knock sequence`);
    }
  }
  if (overrides.spaAccess !== undefined) options.spaAccess = { path: overrides.spaAccess, line: 0 };
  if (overrides.spaPort !== undefined) options.spaPort = overrides.spaPort;
  if (options.firewall === undefined && options.spaAccess !== undefined) {
    problem(
      options.spaAccess.line,
      `${options.spaAccess.line === 0 ? '--spa-access' : 'SPA_Access'} needs 'Firewall = iptables' or 'nftables' in [options]`,
    );
  }
  if (options.guardInterfaces !== undefined && options.firewall !== 'nftables') {
    // The iptables backend only adds ACCEPT rules before the admin's own DROP: it guards nothing.
    problem(guardLine, `Guard_Interfaces needs 'Firewall = nftables' in [options]`);
  }
  if (
    options.metrics !== undefined &&
    !isLoopback(options.metrics.host) &&
    options.metricsPublic !== true
  )
    problem(
      options.metrics.line,
      `Metrics on ${options.metrics.host} is not loopback: add 'Metrics_Public = yes' to serve it there`,
    );
  if (options.firewall === undefined) {
    for (const door of doors) {
      for (const d of [door.open, door.close]) {
        if (d !== undefined) {
          problem(
            d.line,
            `door '${door.name}': Open and Close need 'Firewall = iptables' or 'nftables' in [options]`,
          );
        }
      }
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: { options, doors } };
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
