/** knockd -d: detach into the background, knockd 0.8's way, and report how start-up went. */
import { spawn } from 'node:child_process';
import { EXIT_CODES } from '../core/errors.js';

/** Set in the re-spawned child of `-d`; the parent waits for its word. */
export const CHILD_ENV = 'KNOCKD_TS_DAEMON_CHILD';

export function fail(code: keyof typeof EXIT_CODES, msg: string): never {
  process.stderr.write(`${msg}\n`);
  process.exit(EXIT_CODES[code]);
}

/**
 * -d: Node cannot fork, so the daemon re-executes itself detached (its own
 * session, stdio on /dev/null, cwd /) and the parent exits 0 only once the
 * child reports that capture is running, or exits non-zero with its error.
 */
export function daemonize(argv: string[]): Promise<never> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1] as string, ...argv], {
    detached: true,
    cwd: '/',
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, [CHILD_ENV]: '1' },
  });
  return new Promise(() => {
    child.on('message', (m: { ok: boolean; error?: string; code?: number }) => {
      if (m.ok) {
        child.disconnect();
        child.unref();
        process.exit(0);
      }
      process.stderr.write(`${m.error ?? 'knockd failed to start'}\n`);
      process.exit(m.code ?? 1);
    });
    child.on('exit', (code) => {
      process.stderr.write(`knockd exited during start-up (status ${code ?? '?'})\n`);
      process.exit(code === 0 || code === null ? 1 : code);
    });
  });
}
