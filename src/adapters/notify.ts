/**
 * systemd's readiness protocol (sd_notify): READY=1 once capture is open and
 * the firewall reconciled, RELOADING=1 / READY=1 around a reload, STATUS=
 * with a one-line summary, STOPPING=1, and WATCHDOG=1 at half the interval
 * WatchdogSec sets. Outside systemd (no NOTIFY_SOCKET) every call does nothing.
 */
import { loadNative } from './capture.js';

export interface Notifier {
  ready(status: string): void;
  reloading(): void;
  stopping(): void;
  status(status: string): void;
}

const NONE: Notifier = { ready() {}, reloading() {}, stopping() {}, status() {} };

export function systemdNotifier(env: NodeJS.ProcessEnv = process.env): Notifier {
  const path = env.NOTIFY_SOCKET;
  if (path === undefined || path === '') return NONE;
  const send = (state: string) => {
    loadNative().sdNotify(path, state);
  };
  const usec = Number(env.WATCHDOG_USEC);
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
  if (Number.isFinite(usec) && usec >= 2000 && usec <= 2 ** 31 * 1000 && forUs) {
    // Pings come from the event loop: a stalled loop misses them, and systemd restarts us.
    setInterval(() => send('WATCHDOG=1'), Math.max(1, Math.floor(usec / 2000))).unref();
  }
  // Children (commands) must not talk to systemd in our name.
  delete process.env.NOTIFY_SOCKET;
  delete process.env.WATCHDOG_USEC;
  delete process.env.WATCHDOG_PID;
  return {
    ready: (status) => send(`READY=1\nSTATUS=${status}`),
    reloading: () => send('RELOADING=1'),
    stopping: () => send('STOPPING=1'),
    status: (status) => send(`STATUS=${status}`),
  };
}
