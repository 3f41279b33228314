/**
 * "Is the door open yet?" for the latency benchmarks: a fresh TCP connect
 * every INTERVAL_MS (a dropped SYN is only retried after a second, so each
 * try is a new socket), and the time of the first one that succeeds.
 *
 * Node's timers cannot wait less than a millisecond, and a 1 ms poll would
 * hide the sub-millisecond opens we want to see. So the poll sleeps the
 * thread for the rest of each interval (Atomics.wait: no CPU burnt, which
 * matters on a small machine where a spinning client would take the core the
 * daemon needs), then takes one turn of the event loop (setImmediate), which
 * sends the new SYN and sees connect completions. A completion is therefore
 * seen at most one interval late.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setImmediate as turn } from 'node:timers/promises';

/**
 * The spacing of the tries. BENCH_POLL_MS (0 < ms <= 10) changes it, to see
 * how much of a sample the spacing itself adds (a run's JSON records it).
 */
export const INTERVAL_MS = ((v: number) => (v > 0 && v <= 10 ? v : 0.25))(
  Number(process.env.BENCH_POLL_MS ?? 0.25),
);
const nap = new Int32Array(new SharedArrayBuffer(4));

/** One connect: true once it completes, false on error or after `timeoutMs`. */
export function tryConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
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

/** Ms from t0 to the first successful connect, or null after `limit` ms. */
export async function firstConnect(
  host: string,
  port: number,
  t0: number,
  limit: number,
): Promise<number | null> {
  let done: number | null = null;
  const tries: Promise<void>[] = [];
  let next = performance.now();
  while (done === null && performance.now() - t0 < limit) {
    if (performance.now() >= next) {
      next += INTERVAL_MS;
      tries.push(
        tryConnect(host, port, 200).then((ok) => {
          if (ok && done === null) done = performance.now() - t0;
        }),
      );
    }
    await turn();
    const rest = next - performance.now();
    if (rest > 0 && done === null) Atomics.wait(nap, 0, 0, rest);
  }
  await Promise.all(tries);
  return done;
}

/** Waits (bounded) until connects to the port fail again; false if it stayed open. */
export async function waitClosed(host: string, port: number, limitMs: number): Promise<boolean> {
  const end = performance.now() + limitMs;
  while (performance.now() < end) {
    if (!(await tryConnect(host, port, 100))) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}
