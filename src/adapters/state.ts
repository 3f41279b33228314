/**
 * The journal on disk: StateDir/state.json, replaced atomically (write a
 * temp file, fsync, rename, fsync the directory), so a crash at any moment
 * leaves either the old or the new journal. A corrupt journal is moved
 * aside and reported, never fatal.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseJournal, serializeJournal, type JournalState } from '../core/grants/journal.js';
import type { StateStore } from '../daemon/ports.js';

export class FileStateStore implements StateStore {
  readonly file: string;

  constructor(private readonly dir: string) {
    this.file = path.join(dir, 'state.json');
  }

  load(): { state: JournalState; warning?: string } {
    const empty = { grants: [], stops: [] };
    try {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      return {
        state: empty,
        warning: `cannot create state directory ${this.dir}: ${(e as Error).message}`,
      };
    }
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: empty };
      return { state: empty, warning: `cannot read ${this.file}: ${(e as Error).message}` };
    }
    const r = parseJournal(text);
    if ('state' in r) return { state: r.state };
    const aside = `${this.file}.corrupt-${process.pid}-${Date.now()}`;
    try {
      fs.renameSync(this.file, aside);
    } catch {
      // leave it; the next save replaces it
    }
    return {
      state: empty,
      warning: `journal ${this.file} is corrupt (${r.error}); moved to ${aside}`,
    };
  }

  save(state: JournalState): void {
    const tmp = `${this.file}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, serializeJournal(state));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    const dfd = fs.openSync(this.dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  }
}
