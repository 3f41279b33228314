/**
 * Runs knockd-compatible commands through /bin/sh -c, as knockd's system()
 * does, without blocking capture. The only attacker-derived text in the
 * command is the source address, which our decoder printed from bytes.
 */
import { spawn } from 'node:child_process';

export interface RunResult {
  /** Exit status, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

export interface CommandRunner {
  run(command: string): Promise<RunResult>;
}

export class ShellRunner implements CommandRunner {
  /** @param timeoutMs a command still running after this is killed (0: never). */
  constructor(private readonly timeoutMs = 0) {}

  run(command: string): Promise<RunResult> {
    return new Promise((resolve) => {
      let timedOut = false;
      const child = spawn('/bin/sh', ['-c', command], {
        stdio: ['ignore', 'ignore', 'inherit'],
        detached: true, // its own session, as knockd's setsid()
      });
      const timer =
        this.timeoutMs > 0
          ? setTimeout(() => {
              timedOut = true;
              try {
                if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
              } catch {
                // already gone
              }
            }, this.timeoutMs)
          : null;
      child.on('error', () => {
        if (timer !== null) clearTimeout(timer);
        resolve({ code: 127, signal: null, timedOut });
      });
      child.on('exit', (code, signal) => {
        if (timer !== null) clearTimeout(timer);
        resolve({ code, signal, timedOut });
      });
    });
  }
}
