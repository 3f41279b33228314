/**
 * knockd's log line bodies and the log-file timestamp, byte for byte, so
 * existing log watchers (fail2ban filters, scripts) keep working. The event
 * to text mapping is exhaustive: a new event kind without a message fails to
 * compile.
 */
import type { KnockEvent } from './knock/machine.js';
import { localClock, localStamp } from './time.js';

/** `[YYYY-MM-DD HH:MM] msg`, in the local time of `d`. */
export function logFileLine(d: Date, msg: string): string {
  return `[${localStamp(d, false)}] ${msg}\n`;
}

/** `SRC` or `SRC (HOST)` when -l resolved a name. */
export function who(src: string, host: string | undefined): string {
  return host === undefined ? src : `${src} (${host})`;
}

type Formatters = {
  [K in KnockEvent['kind']]: (
    e: Extract<KnockEvent, { kind: K }>,
    host: string | undefined,
  ) => { text: string; debug: boolean };
};

const FORMATTERS: Formatters = {
  stage: (e, h) => ({ text: `${who(e.src, h)}: ${e.door.name}: Stage ${e.stage}`, debug: false }),
  open: (e, h) => ({ text: `${who(e.src, h)}: ${e.door.name}: OPEN SESAME`, debug: false }),
  timeout: (e, h) => ({
    text: `${who(e.src, h)}: ${e.door.name}: sequence timeout (stage ${e.stage})`,
    debug: false,
  }),
  reset: (e) => ({ text: `removing failed knock attempt (${e.src})`, debug: true }),
  flags: () => ({ text: 'packet is not SYN, ignoring...', debug: true }),
  evicted: (e) => ({
    text: `attempt table full: dropped a first knock from ${e.src} (${e.door.name})`,
    debug: true,
  }),
  duplicate: (e) => ({
    text: `${e.src}: ${e.door.name}: duplicate of stage ${e.stage}, ignoring`,
    debug: true,
  }),
};

export function formatEvent(e: KnockEvent, host?: string): { text: string; debug: boolean } {
  const f = FORMATTERS[e.kind] as (
    ev: KnockEvent,
    h: string | undefined,
  ) => { text: string; debug: boolean };
  return f(e, host);
}

export const MSG = {
  grantOpen: (src: string, door: string, ports: string, until: Date, refreshed: boolean) =>
    `${src}: ${door}: open ${ports} until ${localClock(until)}${refreshed ? ' (refreshed)' : ''}`,
  grantClose: (src: string, door: string, ports: string, why: string) =>
    `${src}: ${door}: close ${ports} (${why})`,
  startup: (iface: string) => `starting up, listening on ${iface}`,
  shutdown: () => 'shutting down',
  running: (door: string, cmd: string) => `${door}: running command: ${cmd}`,
  nonZero: (door: string, code: number) =>
    `${door}: command returned non-zero status code (${code})`,
  cmdTimeout: (src: string, door: string) => `${src}: ${door}: command timeout`,
  rereading: (path: string) => `re-reading config file: ${path}`,
  noMoreOneTime: (door: string) =>
    `no more sequences left in the one time sequences file for door ${door} --> disabling the door`,
  oneTimeError: (door: string) =>
    `error while disabling used one time sequence for door ${door} --> disabling the door`,
};
