/**
 * Command lines as getopt_long reads them for knockd 0.8 and knock 0.8,
 * on top of node:util parseArgs: bundled short flags (-vD), attached or
 * separate values (-ieth0, -i eth0, --interface=eth0, --interface eth0),
 * unique prefixes of long names (--inter), "--" ending options, and options
 * after operands. One pure parse function per CLI, so tests need no process.
 */
import { parseArgs } from 'node:util';
import { KnockError } from '../core/errors.js';

interface OptDef {
  readonly type: 'boolean' | 'string';
  readonly short?: string;
}
type OptDefs = Readonly<Record<string, OptDef>>;

export interface Parsed<K extends string> {
  /** Keyed by the long name; true for flags, the value otherwise; the last one given wins. */
  opts: Map<K, string | true>;
  operands: string[];
}

/**
 * Parses `argv` against `defs`; throws KnockError E_USAGE, worded as getopt
 * words it, for an unknown option, a missing value or a value given to a flag.
 */
function parse<D extends OptDefs>(argv: readonly string[], defs: D): Parsed<keyof D & string> {
  type K = keyof D & string;
  const names = Object.keys(defs) as K[];
  // getopt_long takes any unique prefix of a long name: each one is given
  // to parseArgs as an option of its own and mapped back to the full name.
  // An exact name always wins over a longer name it is a prefix of.
  const full = new Map<string, K>();
  const options: Record<string, { type: 'boolean' | 'string'; short?: string }> = {};
  for (const n of names) {
    for (let len = 1; len <= n.length; len++) {
      const p = n.slice(0, len);
      const owners = names.filter((m) => m.startsWith(p));
      if (p === n || owners.length === 1) {
        full.set(p, n);
        options[p] = { type: (defs[n] as OptDef).type };
      }
    }
    options[n] = { ...(defs[n] as OptDef) };
  }
  const { tokens } = parseArgs({
    args: [...argv],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const opts = new Map<K, string | true>();
  const operands: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') operands.push(t.value);
    if (t.kind !== 'option') continue;
    const long = t.rawName.startsWith('--');
    const name = full.get(t.name);
    const def = name === undefined ? undefined : defs[name];
    // Non-strict parseArgs names an unknown short flag by its letter, which
    // may be a prefix of some long name: a short flag counts only if declared.
    if (name === undefined || def === undefined || (!long && def.short !== t.rawName.slice(1))) {
      const what = long ? t.rawName.slice(2) : t.rawName.slice(1);
      if (long) {
        const owners = names.filter((m) => m.startsWith(what));
        if (owners.length > 1)
          throw new KnockError(
            'E_USAGE',
            `option '--${what}' is ambiguous; possibilities: ${owners.map((m) => `'--${m}'`).join(' ')}`,
          );
        throw new KnockError('E_USAGE', `unrecognized option '--${what}'`);
      }
      throw new KnockError('E_USAGE', `invalid option -- '${what}'`);
    }
    if (def.type === 'string') {
      if (t.value === undefined)
        throw new KnockError(
          'E_USAGE',
          long
            ? `option '--${name}' requires an argument`
            : `option requires an argument -- '${def.short ?? ''}'`,
        );
      opts.set(name, t.value);
    } else {
      if (t.value !== undefined)
        throw new KnockError('E_USAGE', `option '--${name}' doesn't allow an argument`);
      opts.set(name, true);
    }
  }
  return { opts, operands };
}

const KNOCKD = {
  interface: { type: 'string', short: 'i' },
  daemon: { type: 'boolean', short: 'd' },
  config: { type: 'string', short: 'c' },
  debug: { type: 'boolean', short: 'D' },
  lookup: { type: 'boolean', short: 'l' },
  pidfile: { type: 'string', short: 'p' },
  logfile: { type: 'string', short: 'g' },
  verbose: { type: 'boolean', short: 'v' },
  'only-ip-v4': { type: 'boolean', short: '4' },
  version: { type: 'boolean', short: 'V' },
  help: { type: 'boolean', short: 'h' },
  check: { type: 'boolean' },
  'spa-access': { type: 'string' },
  'spa-port': { type: 'string' },
  replay: { type: 'string', short: 'r' },
  apply: { type: 'boolean' },
} as const satisfies OptDefs;
export type KnockdOpt = keyof typeof KNOCKD;

/** knockd's flags: knockd 0.8's getopt string `4vDdli:c:p:g:hV` plus -r (tcpdump's) and our long-only ones. */
export function parseKnockdArgs(argv: readonly string[]): Parsed<KnockdOpt> {
  return parse(argv, KNOCKD);
}

const KNOCK = {
  udp: { type: 'boolean', short: 'u' },
  delay: { type: 'string', short: 'd' },
  ipv4: { type: 'boolean', short: '4' },
  ipv6: { type: 'boolean', short: '6' },
  verbose: { type: 'boolean', short: 'v' },
  version: { type: 'boolean', short: 'V' },
  help: { type: 'boolean', short: 'h' },
  spa: { type: 'boolean' },
  'key-gen': { type: 'boolean' },
  'key-base64': { type: 'string' },
  'hmac-key-base64': { type: 'string' },
  'key-file': { type: 'string' },
  'hmac-key-file': { type: 'string' },
  'hmac-digest-type': { type: 'string' },
  'allow-ip': { type: 'string' },
  'spa-port': { type: 'string' },
  'spa-profile': { type: 'string' },
  'hosts-file': { type: 'string', short: 'F' },
  wait: { type: 'string' },
  tries: { type: 'string' },
  'wait-time': { type: 'string' },
  repeat: { type: 'string' },
  proxy: { type: 'boolean' },
  totp: { type: 'string' },
  'totp-show': { type: 'boolean' },
  'totp-gen': { type: 'boolean' },
} as const satisfies OptDefs;
export type KnockOpt = keyof typeof KNOCK;

/** knock's flags: knock 0.8's getopt string `vud:hV46` plus our long-only ones. */
export function parseKnockArgs(argv: readonly string[]): Parsed<KnockOpt> {
  return parse(argv, KNOCK);
}

const KNOCKCTL = {
  socket: { type: 'string', short: 's' },
  json: { type: 'boolean', short: 'j' },
  fleet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptDefs;
export type KnockctlOpt = keyof typeof KNOCKCTL;

export function parseKnockctlArgs(argv: readonly string[]): Parsed<KnockctlOpt> {
  return parse(argv, KNOCKCTL);
}
