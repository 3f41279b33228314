/**
 * Knock-to-open latency, run in the client namespace: knock the open
 * sequence, then poll port 22 with fresh connects (bench/poll.ts) and record
 * the time from the last knock to the first successful connect. Then knock
 * the close sequence and wait until the port is shut again.
 * usage: node dist/bench/latency.js HOST ROUNDS GAP_MS   (prints JSON: samples in ms)
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { firstConnect, INTERVAL_MS, waitClosed } from './poll.js';

const [host = '10.77.0.1', roundsText = '50', gapText = '1200'] = process.argv.slice(2);
const rounds = Number(roundsText);
const gap = Number(gapText);

function knock(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = new net.Socket();
    s.on('error', () => {});
    s.connect({ host, port });
    setImmediate(() => {
      s.destroy();
      resolve();
    });
  });
}

const samples: (number | null)[] = [];
for (let i = 0; i < rounds; i++) {
  for (const p of [7000, 8000, 9000]) await knock(p);
  const t0 = performance.now();
  samples.push(await firstConnect(host, 22, t0, 3000));
  await sleep(gap);
  for (const p of [9000, 8000, 7000]) await knock(p);
  await waitClosed(host, 22, 2000);
  await sleep(gap);
}
process.stdout.write(`${JSON.stringify({ poll_ms: INTERVAL_MS, samples })}\n`);
