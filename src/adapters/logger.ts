/**
 * knockd's three log outputs: the log file (`[YYYY-MM-DD HH:MM] msg`),
 * syslog (ident knockd, LOG_USER, LOG_NOTICE) and stdout for -v/-D.
 * Writes are synchronous appends of one line: a full disk or an unwritable
 * file loses the line, never the daemon.
 */
import fs from 'node:fs';
import { logFileLine } from '../core/logfmt.js';
import type { Config } from '../core/config.js';
import type { Logger } from '../daemon/ports.js';

export interface LoggerOptions {
  logFile?: string;
  /** -g: the log file when [options] LogFile does not name one. */
  cliLogFile?: string;
  /**
   * stderr is connected to journald (systemd's JOURNAL_STREAM): log lines go
   * there without knockd's timestamp (journald stamps them), unless LogFile
   * or UseSyslog send them elsewhere.
   */
  journal?: boolean;
  /** Opens syslog (the native addon) when [options] UseSyslog asks for it; may throw. */
  openSyslog?: () => (msg: string) => void;
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

  /**
   * Applies [options] LogFile (over -g) and UseSyslog, as knockd does. The
   * log file is closed and reopened, so a reload after logrotate moved it
   * writes to the new file.
   */
  configure(cfg: Config): void {
    this.setLogFile(cfg.options.logFile ?? this.opts.cliLogFile);
    if (
      cfg.options.useSyslog &&
      this.opts.syslog === undefined &&
      this.opts.openSyslog !== undefined
    )
      this.opts = { ...this.opts, syslog: this.opts.openSyslog() };
  }

  setLogFile(file: string | undefined): void {
    this.close();
    this.opts = { ...this.opts, logFile: file };
    this.open();
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
    if (this.opts.journal === true && this.fd === null && this.opts.syslog === undefined) {
      this.err(`${msg}\n`);
      return;
    }
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

/** Whether stderr is the journal stream systemd named in JOURNAL_STREAM (`dev:inode`). */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const js = env.JOURNAL_STREAM;
  if (js === undefined) return false;
  try {
    const st = fs.fstatSync(2);
    return js === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}
