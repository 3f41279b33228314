/**
 * knockd's three log outputs: the log file (`[YYYY-MM-DD HH:MM] msg`),
 * syslog (ident knockd, LOG_USER, LOG_NOTICE) and stdout for -v/-D.
 * Writes are synchronous appends: a full disk or an unwritable file loses
 * the line, never the daemon. The log file and syslog lines of one job (a
 * captured batch, a timer) are written when the job ends (a microtask), in
 * one append: on the packet path the firewall change goes first, and the
 * writes after it (measured on the 2-core VM: about 0.07 ms per line after
 * idle, on the way to every SPA open). Lines for the journal (stderr under
 * systemd) wait for the end of the job the same way. Errors, close(), a reload and the
 * process's exit write at once, and a job that logs more than FLUSH_BYTES
 * writes as it goes.
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

/** Pending log-file text above which a job's lines are written without waiting for its end. */
const FLUSH_BYTES = 64 * 1024;

/** Loggers with lines pending: written when the process exits (process.exit() in a job). */
const unflushed = new Set<KnockdLogger>();
let exitHook = false;

export class KnockdLogger implements Logger {
  private fd: number | null = null;
  private warned = false;
  /**
   * This job's log-file messages, their times (formatted when written: the
   * formatting is off the packet path too) and their length; syslog messages.
   */
  private lines: string[] = [];
  private times: Date[] = [];
  private bytes = 0;
  private sys: string[] = [];
  /** This job's lines for the journal (stderr), written with the others. */
  private journalText = '';
  private flushQueued = false;
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
      this.journalText += `${msg}\n`;
      if (this.journalText.length > FLUSH_BYTES) this.flush();
      else this.later();
      return;
    }
    if (this.opts.verbose || this.opts.debug) this.out(`${msg}\n`);
    if (this.fd !== null) {
      this.lines.push(msg);
      this.times.push(this.opts.now());
      this.bytes += msg.length;
    }
    if (this.opts.syslog !== undefined) this.sys.push(msg);
    if (this.bytes > FLUSH_BYTES) this.flush();
    else this.later();
  }

  private later(): void {
    if (
      this.flushQueued ||
      (this.lines.length === 0 && this.sys.length === 0 && this.journalText === '')
    )
      return;
    this.flushQueued = true;
    unflushed.add(this);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const l of unflushed) l.flush();
      });
    }
    queueMicrotask(() => this.flush());
  }

  /** Writes the pending lines: the journal's in one write, the file in one append, then syslog. */
  flush(): void {
    this.flushQueued = false;
    unflushed.delete(this);
    if (this.journalText !== '') {
      const j = this.journalText;
      this.journalText = '';
      this.err(j);
    }
    let text = '';
    for (let i = 0; i < this.lines.length; i++)
      text += logFileLine(this.times[i] as Date, this.lines[i] as string);
    const sys = this.sys;
    this.lines = [];
    this.times = [];
    this.bytes = 0;
    this.sys = [];
    if (text !== '' && this.fd !== null) {
      try {
        fs.writeSync(this.fd, text);
      } catch (e) {
        if (!this.warned) {
          this.warned = true;
          this.err(`warning: cannot write logfile: ${(e as Error).message}\n`);
        }
      }
    }
    for (const m of sys) this.opts.syslog?.(m);
  }

  verbose(msg: string): void {
    if (this.opts.verbose || this.opts.debug) this.out(`${msg}\n`);
  }

  debug(msg: string): void {
    if (this.opts.debug) this.out(`${msg}\n`);
  }

  error(msg: string): void {
    // The job's earlier lines first: the journal shows them in order.
    if (this.journalText !== '') this.flush();
    this.err(`${msg}\n`);
    if (this.fd !== null) {
      this.lines.push(msg);
      this.times.push(this.opts.now());
    }
    if (this.opts.syslog !== undefined) this.sys.push(msg);
    this.flush();
  }

  close(): void {
    this.flush();
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
