/**
 * Confirm-open: knock, then try to connect; if the port does not answer
 * within the try's window, knock again with a longer window, up to `tries`
 * times and `totalMs` in all. A window holds several connects started a
 * quarter second apart, so neither a lost SYN nor a probe that overtakes the
 * daemon's firewall change costs a whole kernel retransmission timeout.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Starts a connect every `everyMs` until one connects or `windowMs` passes; the winner, else null. */
export function probe(
  address: string,
  port: number,
  windowMs: number,
  everyMs = 250,
): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const pending = new Set<net.Socket>();
    let done = false;
    const finish = (winner: net.Socket | null) => {
      if (done) return;
      done = true;
      clearInterval(tick);
      clearTimeout(stop);
      for (const s of pending) if (s !== winner) s.destroy();
      resolve(winner);
    };
    const attempt = () => {
      if (pending.size >= 16) return;
      const s = net.connect({ host: address, port, allowHalfOpen: true });
      pending.add(s);
      s.once('connect', () => finish(s));
      s.on('error', () => {
        pending.delete(s);
        s.destroy();
      });
    };
    const tick = setInterval(attempt, everyMs);
    const stop = setTimeout(() => finish(null), windowMs);
    attempt();
  });
}

export interface WaitOptions {
  tries: number;
  /** Bound on the whole operation, knocks included. */
  totalMs: number;
  /**
   * The first try's connect window; each further try's is half as long
   * again, up to MAX_WINDOW_MS. The growth is gentle because a lost knock,
   * not a slow server, is the usual reason a try fails.
   */
  firstWindowMs: number;
  say?: ((line: string) => void) | undefined;
  now?: () => number;
}

export const WAIT_DEFAULTS = { tries: 3, totalMs: 20_000, firstWindowMs: 2_000 };
const MAX_WINDOW_MS = 8_000;

/**
 * Runs `knock` then probes, up to o.tries times; resolves with the connected
 * socket (the caller keeps or closes it) or null when the port stayed shut.
 */
export async function knockUntilOpen(
  knock: (attempt: number) => Promise<void>,
  address: string,
  port: number,
  o: WaitOptions,
): Promise<net.Socket | null> {
  const now = o.now ?? Date.now;
  const deadline = now() + o.totalMs;
  let windowMs = o.firstWindowMs;
  for (let attempt = 1; attempt <= o.tries; attempt++) {
    const left = deadline - now();
    if (left <= 0) break;
    o.say?.(`knock ${attempt}/${o.tries}`);
    await knock(attempt);
    const w = Math.min(windowMs, deadline - now());
    if (w <= 0) break;
    o.say?.(`connecting to ${address} port ${port} (up to ${(w / 1000).toFixed(1)} s)`);
    const s = await probe(address, port, w);
    if (s !== null) {
      o.say?.(`port ${port} is open`);
      return s;
    }
    o.say?.(`port ${port} did not answer`);
    windowMs = Math.min(windowMs * 1.5, MAX_WINDOW_MS);
    // A short pause lets a half-finished attempt on the daemon expire or reset.
    if (attempt < o.tries) await sleep(Math.min(200, Math.max(0, deadline - now())));
  }
  return null;
}
