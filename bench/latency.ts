/**
 * Knock-to-open latency, run in the client namespace: knock the open
 * sequence, then try to connect every millisecond (each try a fresh socket,
 * since a dropped SYN is only retried after a second) and record the time
 * from the last knock to the first successful connect. Then knock the close
 * sequence and wait until the port is shut again.
 * usage: node dist/bench/latency.js HOST ROUNDS GAP_MS   (prints JSON: samples in ms)
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

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

function tryConnect(timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port: 22 });
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.on('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.on('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/** Resolves with the ms from t0 to the first successful connect, or null after `limit` ms. */
async function firstConnect(t0: number, limit: number): Promise<number | null> {
  let done: number | null = null;
  const tries: Promise<void>[] = [];
  while (done === null && performance.now() - t0 < limit) {
    tries.push(
      tryConnect(200).then((ok) => {
        if (ok && done === null) done = performance.now() - t0;
      }),
    );
    await sleep(1);
  }
  await Promise.all(tries);
  return done;
}

const samples: (number | null)[] = [];
for (let i = 0; i < rounds; i++) {
  for (const p of [7000, 8000, 9000]) await knock(p);
  const t0 = performance.now();
  samples.push(await firstConnect(t0, 3000));
  await sleep(gap);
  for (const p of [9000, 8000, 7000]) await knock(p);
  for (let k = 0; k < 50 && (await tryConnect(100)); k++) await sleep(20);
  await sleep(gap);
}
process.stdout.write(`${JSON.stringify({ samples })}\n`);
