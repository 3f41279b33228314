/**
 * fwknopd's command cycles (CMD_CYCLE_OPEN / CMD_CYCLE_CLOSE): variable
 * substitution and the argv split, as server/cmd_cycle.c and
 * common/fko_util.c strtoargv() do them. Pure.
 *
 * Invariant: every substituted value is canonical text we produced (an IP
 * from canonicalIP, a decimal number), never packet text, so no value can
 * carry whitespace or shell syntax.
 */
import { canonicalIP } from '../ip.js';
import type { Proto } from '../port.js';

export interface CycleVars {
  /** The allow IP from the packet ($IP, $SRC): canonical. */
  ip: string;
  /** The packet's source address ($PKT_SRC): canonical. */
  pktSrc: string;
  /** The packet's destination ($DST): canonical, or '' when not known. */
  dst: string;
  /** The first requested port and its protocol ($PORT, $PROTO as 6 or 17), as fwknopd. */
  port: number;
  proto: Proto;
  /** The client timeout, or CMD_CYCLE_TIMER when the client sent none ($CLIENT_TIMEOUT). */
  seconds: number;
  /** The packet's timestamp: $TIMEOUT is timestamp + seconds. */
  timestamp: number;
}

/** Shells whose `-c` takes the rest of the line as one script. */
const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'ksh', 'zsh']);

/** fwknopd's names, in its matching order: each is a prefix match ($PROTOTEST is $PROTO + TEST). */
const NAMES = [
  'IP',
  'SRC',
  'PKT_SRC',
  'DST',
  'PORT',
  'PROTO',
  'TIMEOUT',
  'CLIENT_TIMEOUT',
] as const;

/** Checks that vars hold only canonical values; null when they do, else why not. */
export function cycleVarsProblem(v: CycleVars): string | null {
  // Journal text reaches here too: check the types before the values.
  if (typeof v.ip !== 'string' || typeof v.pktSrc !== 'string' || typeof v.dst !== 'string')
    return 'an address is not text';
  for (const [k, a] of [
    ['ip', v.ip],
    ['pktSrc', v.pktSrc],
  ] as const)
    if (canonicalIP(a)?.text !== a) return `${k} '${a}' is not a canonical IP`;
  if (v.dst !== '' && canonicalIP(v.dst)?.text !== v.dst) return `dst '${v.dst}' is not canonical`;
  if (!Number.isInteger(v.port) || v.port < 1 || v.port > 65535) return `bad port ${v.port}`;
  if (v.proto !== 'tcp' && v.proto !== 'udp') return `bad proto`;
  for (const n of [v.seconds, v.timestamp])
    if (!Number.isSafeInteger(n) || n < 0) return `bad number ${n}`;
  return null;
}

/** The command text with fwknopd's `$NAME` variables replaced. An unknown `$X` loses its `$`, as there. */
export function substituteCycle(template: string, v: CycleVars): string {
  const value: Record<(typeof NAMES)[number], string> = {
    IP: v.ip,
    SRC: v.ip,
    PKT_SRC: v.pktSrc,
    DST: v.dst,
    PORT: String(v.port),
    PROTO: v.proto === 'tcp' ? '6' : '17',
    TIMEOUT: String(v.timestamp + v.seconds),
    CLIENT_TIMEOUT: String(v.seconds),
  };
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const ch = template[i] ?? '';
    if (ch !== '$') {
      out += ch;
      continue;
    }
    const rest = template.slice(i + 1);
    const name = NAMES.find((n) => rest.startsWith(n));
    if (name !== undefined) {
      out += value[name];
      i += name.length;
    }
  }
  return out;
}

/**
 * The argv to execute: fwknopd splits on whitespace with no quoting and
 * runs execvp(). One extension: when the line starts with a shell and `-c`
 * (`/bin/sh -c 'nft add element ...'`), the rest of the line is the script,
 * one argument, with one pair of enclosing quotes removed; fwknopd would
 * pass the shell only the next word, which is never what the line means.
 */
export function cycleArgv(template: string, v: CycleVars): string[] {
  const text = substituteCycle(template, v).trim();
  const argv = text.split(/\s+/).filter((a) => a !== '');
  const base = (argv[0] ?? '').split('/').pop() ?? '';
  if (SHELLS.has(base) && argv[1] === '-c' && argv.length > 2) {
    const m = /^\S+\s+-c\s+([\s\S]*)$/.exec(text);
    let script = (m?.[1] ?? '').trim();
    const q = script[0];
    if ((q === "'" || q === '"') && script.length >= 2 && script.endsWith(q))
      script = script.slice(1, -1);
    return [argv[0] ?? '', '-c', script];
  }
  return argv;
}
