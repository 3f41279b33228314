/**
 * The journal on disk: StateDir/state.json, replaced atomically (write a
 * temp file, fsync, rename, fsync the directory), so a crash at any moment
 * leaves either the old or the new journal. A corrupt journal is moved
 * aside and reported, never fatal; bad entries in it are skipped and
 * reported.
 *
 * The journal decides which firewall grants exist and which stop commands
 * run as root, so the directory and the file must be ours: owned by root or
 * by the daemon's effective uid, not writable by group or others. Anything
 * else stops the start (E_STATE) rather than being trusted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KnockError } from '../core/errors.js';
import { parseJournal, serializeJournal, type JournalState } from '../core/grants/journal.js';
import type { StateStore } from '../daemon/ports.js';
import { untrusted } from './trust.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = fs.constants;

const euid = (): number => process.geteuid?.() ?? 0;
const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

/** Throws E_STATE unless `st` is owned by root or by us and writable by nobody else. */
export function checkTrusted(what: string, p: string, st: fs.Stats): void {
  const why = untrusted(what, p, st);
  if (why !== null) throw new KnockError('E_STATE', why);
}

export class FileStateStore implements StateStore {
  readonly file: string;
  readonly tmp: string;

  constructor(private readonly dir: string) {
    this.file = path.join(dir, 'state.json');
    this.tmp = `${this.file}.tmp`;
  }

  load(): { state: JournalState; warnings: string[] } {
    const empty = { grants: [], stops: [] };
    let dst: fs.Stats;
    try {
      // A symlinked StateDir is judged by the directory it points to.
      dst = fs.statSync(this.dir);
    } catch (e) {
      if (errno(e) !== 'ENOENT') {
        throw new KnockError(
          'E_STATE',
          `cannot inspect state directory ${this.dir}: ${(e as Error).message}`,
        );
      }
      try {
        fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        dst = fs.statSync(this.dir);
      } catch (e2) {
        return {
          state: empty,
          warnings: [`cannot create state directory ${this.dir}: ${(e2 as Error).message}`],
        };
      }
    }
    if (!dst.isDirectory())
      throw new KnockError('E_STATE', `state directory ${this.dir} is not a directory`);
    checkTrusted('state directory', this.dir, dst);

    let text: string;
    let fd: number;
    try {
      // O_NONBLOCK: a FIFO planted as the journal must not hang the start.
      fd = fs.openSync(this.file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (e) {
      if (errno(e) === 'ENOENT') return { state: empty, warnings: [] };
      if (errno(e) === 'ELOOP')
        throw new KnockError('E_STATE', `journal ${this.file} is a symbolic link; refusing it`);
      return { state: empty, warnings: [`cannot read ${this.file}: ${(e as Error).message}`] };
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile())
        throw new KnockError('E_STATE', `journal ${this.file} is not a regular file`);
      checkTrusted('journal', this.file, st);
      text = fs.readFileSync(fd, 'utf8');
    } catch (e) {
      if (e instanceof KnockError) throw e;
      return { state: empty, warnings: [`cannot read ${this.file}: ${(e as Error).message}`] };
    } finally {
      fs.closeSync(fd);
    }

    const r = parseJournal(text);
    if ('state' in r)
      return { state: r.state, warnings: r.warnings.map((w) => `journal ${this.file}: ${w}`) };
    const aside = `${this.file}.corrupt-${process.pid}-${Date.now()}`;
    try {
      fs.renameSync(this.file, aside);
    } catch {
      // leave it; the next save replaces it
    }
    return {
      state: empty,
      warnings: [`journal ${this.file} is corrupt (${r.error}); moved to ${aside}`],
    };
  }

  save(state: JournalState): void {
    this.clearStaleTemp();
    // O_EXCL | O_NOFOLLOW: whatever appears at the temp path meanwhile makes
    // the open fail; it is never followed or written through.
    const fd = fs.openSync(this.tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      fs.writeSync(fd, serializeJournal(state));
      fs.fsyncSync(fd);
    } catch (e) {
      fs.closeSync(fd);
      try {
        fs.unlinkSync(this.tmp);
      } catch {
        // the next save clears it
      }
      throw e;
    }
    fs.closeSync(fd);
    fs.renameSync(this.tmp, this.file);
    const dfd = fs.openSync(this.dir, O_RDONLY | O_DIRECTORY);
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  }

  /** A temp file left by a crash is removed, but only a regular file of ours. */
  private clearStaleTemp(): void {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.tmp);
    } catch (e) {
      if (errno(e) === 'ENOENT') return;
      throw e;
    }
    if (!st.isFile() || st.uid !== euid()) {
      throw new KnockError(
        'E_STATE',
        `refusing to replace ${this.tmp}: it is not a regular file owned by uid ${euid()}`,
      );
    }
    fs.unlinkSync(this.tmp);
  }
}
