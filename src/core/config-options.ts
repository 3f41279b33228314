/** The [options] section's directives: knockd 0.8's and ours. Pure. */
import type { Options } from './config.js';
import { canonicalIP } from './ip.js';
import { MAX_TIMER_SECONDS, parseSeconds } from './knock/door-config.js';
import { isPort } from './port.js';

export const OPTION_KEYS = new Set([
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
  'NFTAPPLY',
  'METRICS',
  'METRICS_PUBLIC',
  'METRICS_TOKEN_FILE',
  'FLEET',
  'FLEET_NAME',
  'FLEET_PASSWORD_FILE',
  'FLEET_HOST',
  'FLEET_CA',
]);

/** A group name: it becomes part of Redis key and channel names. */
export function isFleetName(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(name);
}

/** `redis://[user[:password]@]host[:port][/db]` or `rediss://` (TLS); null when it is not one. */
export function parseFleetUrl(
  url: string,
): { tls: boolean; host: string; port: number; db: number } | null {
  const m =
    /^(rediss?):\/\/(?:[^@/\s]*@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(?:\/(\d{1,2}))?\/?$/.exec(
      url,
    );
  if (m === null) return null;
  const port = m[3] === undefined ? 6379 : Number(m[3]);
  if (!isPort(port)) return null;
  return { tls: m[1] === 'rediss', host: m[2] as string, port, db: Number(m[4] ?? 0) };
}

/** The URL with any password replaced, for log lines and status. */
export function redactFleetUrl(url: string): string {
  // Up to the last '@': a password may hold '@' (the URL parser takes the last one), and a
  // URL the config refuses (bad scheme, '/' in the password) is quoted in its error too.
  const at = url.lastIndexOf('@');
  if (at === -1) return url;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/*/.exec(url)?.[0] ?? '';
  const from = scheme.length <= at ? scheme.length : 0;
  const auth = url.slice(from, at);
  const user = auth.includes(':') ? `${auth.slice(0, auth.indexOf(':'))}:` : '';
  return `${url.slice(0, from)}${user}***${url.slice(at)}`;
}

/** A Linux interface name (at most 15 bytes), from the characters nft and ip accept unquoted. */
export function isInterfaceName(name: string): boolean {
  return /^[A-Za-z0-9_.@-]{1,15}$/.test(name);
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

/** Applies one [options] directive (known key, non-empty value); problems go to `problem`. */
export function applyOption(
  options: Options,
  key: string,
  value: string,
  lineNo: number,
  problem: (line: number, message: string) => void,
  lines: { guard: number },
): void {
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
  } else if (key === 'METRICS_TOKEN_FILE') {
    if (value.startsWith('/')) options.metricsTokenFile = value;
    else problem(lineNo, `Metrics_Token_File needs an absolute path, got '${value}'`);
  } else if (key === 'METRICS_PUBLIC') {
    const v = value.toLowerCase();
    if (v === 'yes' || v === 'no') options.metricsPublic = v === 'yes';
    else problem(lineNo, `Metrics_Public must be yes or no, got '${value}'`);
  } else if (key === 'FIREWALL') {
    const v = value.toLowerCase();
    if (v === 'iptables' || v === 'nftables') options.firewall = v;
    else problem(lineNo, `Firewall must be iptables or nftables, got '${value}'`);
  } else if (key === 'NFTAPPLY') {
    const v = value.toLowerCase();
    if (v === 'library' || v === 'process') options.nftApply = { mode: v, line: lineNo };
    else problem(lineNo, `NftApply must be library or process, got '${value}'`);
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
      lines.guard = lineNo;
    }
  } else if (key === 'FLEET') {
    if (parseFleetUrl(value) === null)
      problem(
        lineNo,
        `Fleet must be redis://host:port/db or rediss://..., got '${redactFleetUrl(value)}'`,
      );
    else options.fleet = { name: 'default', ...options.fleet, url: value, line: lineNo };
  } else if (
    key === 'FLEET_NAME' ||
    key === 'FLEET_PASSWORD_FILE' ||
    key === 'FLEET_HOST' ||
    key === 'FLEET_CA'
  ) {
    const f = options.fleet ?? { url: '', line: 0, name: 'default' };
    if (key === 'FLEET_NAME') {
      if (isFleetName(value)) f.name = value;
      else problem(lineNo, `Fleet_Name must be 1-64 of A-Z a-z 0-9 _ . -, got '${value}'`);
    } else if (key === 'FLEET_HOST') {
      if (isFleetName(value)) f.host = value;
      else problem(lineNo, `Fleet_Host must be 1-64 of A-Z a-z 0-9 _ . -, got '${value}'`);
    } else if (!value.startsWith('/'))
      problem(
        lineNo,
        `${key === 'FLEET_CA' ? 'Fleet_CA' : 'Fleet_Password_File'} needs an absolute path, got '${value}'`,
      );
    else if (key === 'FLEET_CA') f.ca = { path: value, line: lineNo };
    else f.passwordFile = value;
    options.fleet = f;
  } else if (key === 'INCLUDE') {
    if (!value.startsWith('/')) problem(lineNo, `Include needs an absolute path, got '${value}'`);
    else if (/[*?[]/.test(value.slice(0, value.lastIndexOf('/'))))
      problem(lineNo, `Include: only the file name may have wildcards, got '${value}'`);
    else (options.include ??= []).push({ pattern: value, line: lineNo });
  } else if (!isInterfaceName(value))
    problem(lineNo, `Interface: '${value}' is not an interface name`);
  else options.interface = value;
}

/** Lines for a reload that changes what only a restart can change; the running values stay. */
export function restartWarnings(old: Options, next: Options, iface: string): string[] {
  const out: string[] = [];
  if (next.interface !== undefined && next.interface !== iface)
    out.push(`Interface changes need a restart; still listening on ${iface}`);
  if ((next.firewall ?? 'none') !== (old.firewall ?? 'none'))
    out.push('Firewall changes need a restart; keeping the running backend');
  if (next.nftApply?.mode !== old.nftApply?.mode)
    out.push('NftApply changes need a restart; keeping the running path');
  if (String(next.guardInterfaces) !== String(old.guardInterfaces))
    out.push('Guard_Interfaces changes need a restart; keeping the running guard');
  if (JSON.stringify(next.fleet) !== JSON.stringify(old.fleet))
    out.push('Fleet changes need a restart; keeping the running connection');
  return out;
}
