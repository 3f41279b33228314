/**
 * getopt_long as knockd and knock use it: clustered short flags (-vD),
 * attached or separate arguments (-ieth0, -i eth0, --interface=eth0,
 * --interface eth0), and "--" to end options. Options may follow operands,
 * as with GNU getopt.
 */
import { KnockError } from '../core/errors.js';

export interface OptSpec {
  short: string;
  long: string;
  arg: boolean;
}

export interface Parsed {
  /** Keyed by the long name; value true for flags, the argument otherwise. */
  opts: Map<string, string | true>;
  operands: string[];
}

export function getopt(argv: readonly string[], specs: readonly OptSpec[]): Parsed {
  const opts = new Map<string, string | true>();
  const operands: string[] = [];
  const byShort = new Map(specs.map((s) => [s.short, s]));
  const byLong = new Map(specs.map((s) => [s.long, s]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = byLong.get(name);
      if (spec === undefined) throw new KnockError('E_USAGE', `unrecognized option '--${name}'`);
      if (spec.arg) {
        const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined)
          throw new KnockError('E_USAGE', `option '--${name}' requires an argument`);
        opts.set(spec.long, v);
      } else {
        if (eq >= 0)
          throw new KnockError('E_USAGE', `option '--${name}' doesn't allow an argument`);
        opts.set(spec.long, true);
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j] as string;
        const spec = byShort.get(c);
        if (spec === undefined) throw new KnockError('E_USAGE', `invalid option -- '${c}'`);
        if (spec.arg) {
          const v = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
          if (v === undefined)
            throw new KnockError('E_USAGE', `option requires an argument -- '${c}'`);
          opts.set(spec.long, v);
          break;
        }
        opts.set(spec.long, true);
      }
      continue;
    }
    operands.push(a);
  }
  return { opts, operands };
}
