/**
 * Runs knockd-compatible commands through /bin/sh -c, as knockd's system()
 * does, without blocking capture. The only attacker-derived text in the
 * command is the source address, which our decoder printed from bytes.
 */
import { spawn, type ChildProcess } from 'node:child_process';

import type { CommandRunner, RunResult } from '../daemon/ports.js';

function trySpawn(command: string): ChildProcess | null {
  try {
    return spawn('/bin/sh', ['-c', command], {
      stdio: ['ignore', 'ignore', 'inherit'],
      detached: true, // its own session, as knockd's setsid()
    });
  } catch {
    return null;
  }
}

export class ShellRunner implements CommandRunner {
  /** @param timeoutMs a command still running after this is killed (0: never). */
  constructor(private readonly timeoutMs = 0) {}

  run(command: string): Promise<RunResult> {
    return new Promise((resolve) => {
      let timedOut = false;
      const child = trySpawn(command);
      if (child === null) {
        // spawn throws synchronously on EAGAIN/ENOMEM: a failed command, never a crash.
        resolve({ code: 127, signal: null, timedOut: false });
        return;
      }
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
