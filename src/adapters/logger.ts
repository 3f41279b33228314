/**
 * knockd's three log outputs: the log file (`[YYYY-MM-DD HH:MM] msg`),
 * syslog (ident knockd, LOG_USER, LOG_NOTICE) and stdout for -v/-D.
 * Writes are synchronous appends of one line: a full disk or an unwritable
 * file loses the line, never the daemon.
 */
import fs from 'node:fs';
import { logFileLine } from '../core/logfmt.js';

export interface Logger {
  /** A knockd log message: file, syslog and (with -v) stdout. */
  log(msg: string): void;
  /** Verbose-only message to stdout (knockd's vprint). */
  verbose(msg: string): void;
  /** Debug-only message to stdout (knockd's dprint). */
  debug(msg: string): void;
  /** Errors go to stderr and to the log. */
  error(msg: string): void;
  close(): void;
}

export interface LoggerOptions {
  logFile?: string;
  syslog?: (msg: string) => void;
  verbose: boolean;
  debug: boolean;
  now: () => Date;
  stdout?: (s: string) => void;
  stderr?: (s: string) => void;
}

export class KnockdLogger implements Logger {
  private fd: number | null = null;
  private warned = false;
  private readonly out: (s: string) => void;
  private readonly err: (s: string) => void;

  constructor(private opts: LoggerOptions) {
    this.out = opts.stdout ?? ((s) => process.stdout.write(s));
    this.err = opts.stderr ?? ((s) => process.stderr.write(s));
    this.open();
  }

  setLogFile(file: string | undefined): void {
    this.close();
    this.opts = { ...this.opts, logFile: file };
    this.open();
  }

  setSyslog(fn: ((msg: string) => void) | undefined): void {
    this.opts = { ...this.opts, syslog: fn };
  }

  private open(): void {
    if (this.opts.logFile === undefined) return;
    try {
      this.fd = fs.openSync(this.opts.logFile, 'a', 0o640);
      this.warned = false;
    } catch (e) {
      this.fd = null;
      this.err(`warning: cannot open logfile: ${(e as Error).message}\n`);
    }
  }

  log(msg: string): void {
    if (this.opts.verbose || this.opts.debug) this.out(`${msg}\n`);
    if (this.fd !== null) {
      try {
        fs.writeSync(this.fd, logFileLine(this.opts.now(), msg));
      } catch (e) {
        if (!this.warned) {
          this.warned = true;
          this.err(`warning: cannot write logfile: ${(e as Error).message}\n`);
        }
      }
    }
    this.opts.syslog?.(msg);
  }

  verbose(msg: string): void {
    if (this.opts.verbose || this.opts.debug) this.out(`${msg}\n`);
  }

  debug(msg: string): void {
    if (this.opts.debug) this.out(`${msg}\n`);
  }

  error(msg: string): void {
    this.err(`${msg}\n`);
    if (this.fd !== null) {
      try {
        fs.writeSync(this.fd, logFileLine(this.opts.now(), msg));
      } catch {
        // already reported on stderr
      }
    }
    this.opts.syslog?.(msg);
  }

  close(): void {
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // nothing to do: the descriptor is gone either way
      }
      this.fd = null;
    }
  }
}
