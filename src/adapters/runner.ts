/**
 * Runs commands without blocking capture: knockd-compatible command text
 * through /bin/sh -c, as knockd's system() does (the only attacker-derived
 * text in it is the source address, which our decoder printed from bytes),
 * and argv arrays with no shell, as fwknopd's execvp() runs CMD_CYCLE lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';

import type { ArgvRunner, CommandRunner, RunResult } from '../daemon/ports.js';

function trySpawn(file: string, args: readonly string[]): ChildProcess | null {
  try {
    return spawn(file, args, {
      stdio: ['ignore', 'ignore', 'inherit'],
      detached: true, // its own session, as knockd's setsid()
    });
  } catch {
    return null;
  }
}

export class ShellRunner implements CommandRunner, ArgvRunner {
  /** @param timeoutMs a command still running after this is killed (0: never). */
  constructor(private readonly timeoutMs = 0) {}

  run(command: string): Promise<RunResult> {
    return this.spawnWait('/bin/sh', ['-c', command]);
  }

  /** argv[0] is looked up in PATH (execvp); no shell sees the arguments. */
  runArgv(argv: readonly string[]): Promise<RunResult> {
    const [file, ...args] = argv;
    if (file === undefined || file === '')
      return Promise.resolve({ code: 127, signal: null, timedOut: false });
    return this.spawnWait(file, args);
  }

  private spawnWait(file: string, args: readonly string[]): Promise<RunResult> {
    return new Promise((resolve) => {
      let timedOut = false;
      const child = trySpawn(file, args);
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
