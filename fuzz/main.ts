/**
 * npm run fuzz: a reproducible fuzzing campaign over every parser and
 * verifier that sees untrusted (or semi-trusted) bytes.
 *
 *   FUZZ_N=<total inputs>     default 200000, split across targets by weight
 *   FUZZ_SEED=<int>           default 20261125; printed
 *   FUZZ_TARGETS=a,b          only these targets
 *   FUZZ_SHARD=k/n            run the k-th of n equal slices of each target's inputs
 *   FUZZ_ONE=<target>:<i>     rebuild and run input i alone, printing it
 *   FUZZ_JSON=<file>          also write the results as JSON (node dist/fuzz/sum.js adds shards up)
 *
 * Exit status 1 when anything is found (crash, property, acceptance, confirmed hang).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { Rng } from './rng.js';
import { runTarget, table, HANG_MS, type TargetResult } from './harness.js';
import { TARGETS } from './targets.js';

const env = process.env;
const N = Number(env.FUZZ_N ?? 200_000);
const SEED = Number(env.FUZZ_SEED ?? 20261125);
const only = env.FUZZ_TARGETS?.split(',').filter((s) => s !== '');
const [shardK, shardN] = (env.FUZZ_SHARD ?? '0/1').split('/').map(Number) as [number, number];

if (
  !Number.isInteger(N) ||
  N < 0 ||
  !Number.isInteger(SEED) ||
  !(shardN >= 1 && shardK >= 0 && shardK < shardN)
) {
  console.error('fuzz: FUZZ_N, FUZZ_SEED must be integers and FUZZ_SHARD k/n with 0 <= k < n');
  process.exit(64);
}

if (env.FUZZ_ONE !== undefined) {
  const [name, idx] = env.FUZZ_ONE.split(':');
  const id = TARGETS.findIndex((t) => t.name === name);
  const t = TARGETS[id];
  if (t === undefined) {
    console.error(`fuzz: no target '${name}' (have ${TARGETS.map((x) => x.name).join(', ')})`);
    process.exit(64);
  }
  const input = t.gen(Rng.for(SEED, id, Number(idx)), Number(idx));
  console.log(`seed ${SEED} target ${t.name} input ${idx}:\n${t.show(input)}`);
  const t0 = process.hrtime.bigint();
  t.run(input); // throws as it would in the campaign
  console.log(`ok in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(2)} ms`);
  process.exit(0);
}

const totalWeight = TARGETS.reduce((n, t) => n + t.weight, 0);
console.log(
  `fuzz: seed ${SEED}, FUZZ_N ${N}, shard ${shardK}/${shardN}, hang threshold ${HANG_MS} ms, ` +
    `node ${process.version}, ${os.cpus().length} cpus, ${new Date().toISOString()}`,
);
const results: TargetResult[] = [];
TARGETS.forEach((t, id) => {
  if (only !== undefined && !only.includes(t.name)) return;
  const n = Math.round((N * t.weight) / totalWeight);
  const from = Math.floor((n * shardK) / shardN);
  const to = Math.floor((n * (shardK + 1)) / shardN);
  const r = runTarget(t, id, SEED, from, to);
  results.push(r);
  console.log(
    `  ${t.name}: inputs ${from}..${to - 1} in ${r.seconds.toFixed(1)} s: crashes ${r.crashes}, properties ${r.properties}, ` +
      `hangs ${r.hangsRaw} raw / ${r.hangsConfirmed} confirmed, acceptances ${r.acceptances}` +
      (Object.keys(r.notes).length > 0
        ? `; ${Object.entries(r.notes)
            .map(([k, v]) => `${k}: ${v}`)
            .join('; ')}`
        : ''),
  );
});
const cpuSeconds = (({ user, system }) => (user + system) / 1e6)(process.cpuUsage());
console.log(`\n${table(results)}\n\nprocess CPU time: ${cpuSeconds.toFixed(1)} s\n`);
let bad = 0;
for (const r of results) {
  for (const f of r.findings) {
    if (f.kind === 'hang' || f.kind === 'crash' || f.kind === 'property' || f.kind === 'acceptance')
      bad++;
    console.log(
      `[${r.name}] ${f.kind} at input ${f.index} (FUZZ_SEED=${SEED} FUZZ_ONE=${r.name}:${f.index}): ${f.message}\n    input: ${f.input.slice(0, 800)}`,
    );
  }
}
if (env.FUZZ_JSON !== undefined)
  writeFileSync(
    env.FUZZ_JSON,
    `${JSON.stringify({ seed: SEED, n: N, shard: `${shardK}/${shardN}`, cpuSeconds, results }, null, 1)}\n`,
  );
process.exit(bad > 0 ? 1 : 0);
