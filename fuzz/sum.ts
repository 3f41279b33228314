/**
 * Adds up the FUZZ_JSON files of a sharded campaign into one table:
 *   node dist/fuzz/sum.js shard1.json shard2.json ...
 */
import { readFileSync } from 'node:fs';
import { table, type TargetResult } from './harness.js';

const byName = new Map<string, TargetResult>();
let cpu = 0;
for (const file of process.argv.slice(2)) {
  const j = JSON.parse(readFileSync(file, 'utf8')) as {
    seed: number;
    n: number;
    shard: string;
    results: TargetResult[];
    cpuSeconds?: number;
  };
  cpu += j.cpuSeconds ?? 0;
  console.log(
    `${file}: seed ${j.seed}, FUZZ_N ${j.n}, shard ${j.shard}, targets ${j.results.map((r) => r.name).join(',')}`,
  );
  for (const r of j.results) {
    const a = byName.get(r.name);
    if (a === undefined) {
      byName.set(r.name, { ...r, findings: [...r.findings], notes: { ...r.notes } });
      continue;
    }
    a.inputs += r.inputs;
    a.crashes += r.crashes;
    a.properties += r.properties;
    a.acceptances += r.acceptances;
    a.hangsRaw += r.hangsRaw;
    a.hangsConfirmed += r.hangsConfirmed;
    a.maxMs = Math.max(a.maxMs, r.maxMs);
    a.seconds += r.seconds;
    a.findings.push(...r.findings);
    for (const [k, v] of Object.entries(r.notes)) a.notes[k] = (a.notes[k] ?? 0) + v;
  }
}
const results = [...byName.values()];
console.log(`\n${table(results)}\n`);
for (const r of results)
  for (const [k, v] of Object.entries(r.notes)) console.log(`${r.name}: ${k}: ${v}`);
if (cpu > 0) console.log(`process CPU time, all files: ${cpu.toFixed(1)} s`);
