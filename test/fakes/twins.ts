/** In-memory twins of the daemon's adapters, for tests without I/O. */
import type { Logger } from '../../src/adapters/logger.js';
import type { CommandRunner, RunResult } from '../../src/adapters/runner.js';

export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  readonly debugLines: string[] = [];
  log(msg: string): void {
    this.lines.push(msg);
  }
  verbose(): void {}
  debug(msg: string): void {
    this.debugLines.push(msg);
  }
  error(msg: string): void {
    this.lines.push(msg);
  }
  reopen(): void {}
  close(): void {}
}

export class RecordingRunner implements CommandRunner {
  readonly commands: string[] = [];
  constructor(private readonly code = 0) {}
  run(command: string): Promise<RunResult> {
    this.commands.push(command);
    return Promise.resolve({ code: this.code, signal: null, timedOut: false });
  }
}
