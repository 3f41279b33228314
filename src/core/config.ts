/**
 * knockd.conf parser. Pure: text in, config or every problem out, each with
 * file:line and the bad value. It accepts every file knockd 0.8 accepts
 * (Debian's stock file included) and rejects what knockd silently turns into
 * nonsense: port 0, negative or non-numeric ports, unknown tcpflags, stray
 * text after a protocol, non-numeric timeouts.
 */
import type { ConfigProblem } from './errors.js';
import type { PortSpec, Proto } from './port.js';
import type { TotpParams } from './knock/totp.js';
import { applyOption, isLoopback, OPTION_KEYS } from './config-options.js';
import { applyDoorDirective, DOOR_KEYS, newDoor } from './knock/door-config.js';
import { checkTotpDoor } from './knock/totp-door.js';

export type { Proto } from './port.js';
export {
  DEFAULT_CMD_TIMEOUT,
  DEFAULT_OPEN_TIMEOUT,
  DEFAULT_SEQ_TIMEOUT,
  MAX_OPEN_TIMEOUT,
  MAX_TIMER_SECONDS,
  SEQ_MAX,
  TCP_FLAG_BITS,
  expandCommand,
  formatSequence,
  parseOneTimeFile,
  parseSequence,
  startCommandFor,
  stopCommandFor,
  type OneTimeLine,
  type TcpFlagName,
} from './knock/door-config.js';
export { isInterfaceName, isLoopback, parseListen } from './config-options.js';

export interface Knock {
  readonly port: number;
  readonly proto: Proto;
}

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
  /** A time-based sequence (Sequence_Secret): derived from the secret and the time step. */
  totp?: { secret: Uint8Array; params: TotpParams; line: number; badSecret?: boolean };
  /** Share = yes: this door's grants go to the fleet, and the fleet's grants of it apply here. */
  share?: boolean;
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
  /** A file holding the bearer token every scrape must carry. */
  metricsTokenFile?: string;
  /** Commands (start and stop) running at once per door; starts beyond it are dropped. */
  maxCommands?: number;
  /** Kill a command still running after this many seconds. */
  commandKillTimeout?: number;
  /** Where the nftables guard drops (default: the capture interface); never loopback. */
  guardInterfaces?: string[];
  /** NftApply: nftables changes in this process (libnftables) or by an `nft -i` process. */
  nftApply?: { mode: 'library' | 'process'; line: number };
  /** Fleet = redis[s]://host:port/db: shared grants (src/adapters/fleet.ts). */
  fleet?: FleetOptions;
}

export interface FleetOptions {
  /** The URL as written; a password in it is never logged. */
  url: string;
  line: number;
  /** Fleet_Name: the group; daemons of one group share grants. */
  name: string;
  /** Fleet_Password_File: the Redis password (or `user password`), read at start. */
  passwordFile?: string;
  /** Fleet_Host: how this daemon names itself to the group (default: the host name). */
  host?: string;
  /** Fleet_CA: PEM file of the CA(s) that sign Redis's TLS certificate (rediss:// only). */
  ca?: { path: string; line: number };
}

export interface Config {
  options: Options;
  doors: Door[];
}

export type ParseResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] };

export const DEFAULT_STATE_DIR = '/var/lib/knockd';
export const DEFAULT_CONTROL_SOCKET = '/run/knockd.sock';

/** Command-line values that override [options] SPA_Access and SPA_Port. */
export interface SpaOverrides {
  spaAccess?: string;
  spaPort?: number;
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
  const at: { guard: number } = { guard: 0 };
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
      // Only the first word: the rest may be a secret (a Sequence_Secret or a
      // sequence without its '=') on its way to the log.
      const word = line.split(/\s/, 1)[0] ?? '';
      const shown = word.length < line.length ? `${word} ...` : line;
      problem(lineNo, `syntax error: '${shown}' is not 'key = value'`);
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
      applyOption(options, key, value, lineNo, problem, at);
      continue;
    }

    const err = applyDoorDirective(section, key, value, lineNo, problem);
    if (err === 'bad-sequence') badSequence.add(section);
    else if (err === 'unknown') {
      const hint = OPTION_KEYS.has(key) ? ' (it belongs in [options])' : '';
      problem(
        lineNo,
        `unknown directive '${line.slice(0, eq).trim()}' in door '${section.name}'${hint}`,
      );
    }
  }

  for (const door of doors) {
    const totp = checkTotpDoor(door);
    if (totp !== null) problem(door.totp?.line ?? door.line, totp);
    if (
      door.sequence.length === 0 &&
      door.oneTimeSequences === undefined &&
      door.totp === undefined &&
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
    problem(at.guard, `Guard_Interfaces needs 'Firewall = nftables' in [options]`);
  }
  if (options.nftApply !== undefined && options.firewall !== 'nftables')
    problem(options.nftApply.line, `NftApply needs 'Firewall = nftables' in [options]`);
  if (
    options.metrics !== undefined &&
    !isLoopback(options.metrics.host) &&
    options.metricsPublic !== true
  )
    problem(
      options.metrics.line,
      `Metrics on ${options.metrics.host} is not loopback: add 'Metrics_Public = yes' to serve it there`,
    );
  if (options.fleet !== undefined && options.fleet.url === '') {
    problem(
      1,
      `Fleet_Name, Fleet_Password_File, Fleet_Host and Fleet_CA need 'Fleet = redis://...' in [options]`,
    );
    delete options.fleet;
  }
  if (options.fleet?.ca !== undefined && !options.fleet.url.startsWith('rediss://'))
    problem(options.fleet.ca.line, `Fleet_CA needs a TLS URL (Fleet = rediss://...)`);
  if (options.fleet !== undefined && options.firewall === undefined)
    problem(options.fleet.line, `Fleet needs 'Firewall = iptables' or 'nftables' in [options]`);
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
