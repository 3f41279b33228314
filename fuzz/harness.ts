/**
 * The campaign runner: per target, generate inputs from fixed seeds, time
 * each run with process.hrtime, and count crashes (a throw from a function
 * that must not throw), property violations, hangs and acceptances.
 */
import { Rng } from './rng.js';

/** A failed oracle (not a crash): the function returned something it must not. */
export class Violation extends Error {
  constructor(
    readonly kind: 'property' | 'acceptance',
    message: string,
  ) {
    super(message);
  }
}

export interface Target<I> {
  name: string;
  /** Share of FUZZ_N this target gets. */
  weight: number;
  gen(r: Rng, index: number): I;
  /** Throws Violation for a wrong result; any other throw is a crash. */
  run(input: I): void;
  show(input: I): string;
  /** Extra counters a target keeps (reported, not judged). */
  notes?: Map<string, number>;
}

export const HANG_MS = 10;

export interface Finding {
  kind: 'crash' | 'property' | 'acceptance' | 'hang';
  index: number;
  ms?: number;
  message: string;
  input: string;
}

export interface TargetResult {
  name: string;
  inputs: number;
  crashes: number;
  properties: number;
  acceptances: number;
  hangsRaw: number;
  hangsConfirmed: number;
  maxMs: number;
  seconds: number;
  findings: Finding[];
  notes: Record<string, number>;
}

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Runs one input; returns what happened, its wall time and its CPU time (ms). */
function once<I>(t: Target<I>, input: I): { ms: number; cpu: number; error?: unknown } {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  try {
    t.run(input);
    return { ms: ms(t0), cpu: cpuMs(c0) };
  } catch (e) {
    return { ms: ms(t0), cpu: cpuMs(c0), error: e };
  }
}

function cpuMs(c0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(c0);
  return (d.user + d.system) / 1000;
}

export function runTarget<I>(
  t: Target<I>,
  targetId: number,
  seed: number,
  from: number,
  to: number,
  keep = 5,
): TargetResult {
  const res: TargetResult = {
    name: t.name,
    inputs: 0,
    crashes: 0,
    properties: 0,
    acceptances: 0,
    hangsRaw: 0,
    hangsConfirmed: 0,
    maxMs: 0,
    seconds: 0,
    findings: [],
    notes: {},
  };
  const start = process.hrtime.bigint();
  const record = (f: Finding) => {
    if (res.findings.filter((x) => x.kind === f.kind).length < keep) res.findings.push(f);
  };
  for (let i = from; i < to; i++) {
    const input = t.gen(Rng.for(seed, targetId, i), i);
    const r = once(t, input);
    res.inputs++;
    if (r.error !== undefined) {
      const e = r.error;
      if (e instanceof Violation) {
        if (e.kind === 'acceptance') res.acceptances++;
        else res.properties++;
        record({ kind: e.kind, index: i, message: e.message, input: t.show(input) });
      } else {
        res.crashes++;
        const stack = e instanceof Error ? (e.stack ?? e.message) : String(e);
        record({ kind: 'crash', index: i, message: stack, input: t.show(input) });
      }
    }
    if (r.ms > HANG_MS) {
      res.hangsRaw++;
      // Re-run: a GC pause or a descheduled process (2 shared cores, nice 19)
      // is not a hang; a slow input is slow every time, in wall and in CPU time.
      // Re-runs must not count twice in a target's notes.
      const saved = new Map(t.notes ?? []);
      let best = r.ms;
      let bestCpu = Infinity;
      for (let k = 0; k < 3 && best > HANG_MS && bestCpu > HANG_MS; k++) {
        const again = once(t, input);
        best = Math.min(best, again.ms);
        bestCpu = Math.min(bestCpu, again.cpu);
      }
      for (const [k, v] of saved) t.notes?.set(k, v);
      if (best > HANG_MS && bestCpu > HANG_MS) {
        res.hangsConfirmed++;
        record({
          kind: 'hang',
          index: i,
          ms: best,
          message: `${best.toFixed(1)} ms wall, ${bestCpu.toFixed(1)} ms CPU at best of 3 re-runs (first run ${r.ms.toFixed(1)} ms)`,
          input: t.show(input),
        });
      }
    }
    if (r.ms > res.maxMs) res.maxMs = r.ms;
  }
  res.seconds = ms(start) / 1000;
  for (const [k, v] of t.notes ?? []) res.notes[k] = v;
  return res;
}

export function table(results: TargetResult[]): string {
  const head = [
    'target',
    'inputs',
    'crashes',
    'props',
    'hangs raw',
    'hangs conf',
    'accepts',
    'max ms',
    'seconds',
  ];
  const rows = results.map((r) => [
    r.name,
    String(r.inputs),
    String(r.crashes),
    String(r.properties),
    String(r.hangsRaw),
    String(r.hangsConfirmed),
    String(r.acceptances),
    r.maxMs.toFixed(2),
    r.seconds.toFixed(1),
  ]);
  const sum = (f: (r: TargetResult) => number) => String(results.reduce((n, r) => n + f(r), 0));
  rows.push([
    'TOTAL',
    sum((r) => r.inputs),
    sum((r) => r.crashes),
    sum((r) => r.properties),
    sum((r) => r.hangsRaw),
    sum((r) => r.hangsConfirmed),
    sum((r) => r.acceptances),
    Math.max(0, ...results.map((r) => r.maxMs)).toFixed(2),
    results.reduce((n, r) => n + r.seconds, 0).toFixed(1),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`;
  return [
    line(head),
    `|${w.map((n, i) => (i === 0 ? ':' : '-').padEnd(n + 1, '-') + (i === 0 ? '-' : ':')).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}
