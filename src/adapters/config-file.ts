/**
 * Reads knockd.conf, the one-time sequences files and the SPA access.conf
 * it names. Parsing is pure (core/config.ts, core/spa/access.ts); this
 * adapter only does the file I/O and reports unreadable files as problems at
 * the directive's line.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  parseConfig,
  parseOneTimeFile,
  type OneTimeLine,
  type SpaOverrides,
} from '../core/config.js';
import type { ConfigProblem } from '../core/errors.js';
import { DEFAULT_SPA_PORT } from '../core/port.js';
import type { ConfigLoader, LoadedConfig, OneTimeStore } from '../daemon/ports.js';
import { untrusted } from './trust.js';

export type { SpaOverrides } from '../core/config.js';

export const oneTimeFiles: OneTimeStore = {
  read(path: string): { usable: OneTimeLine[] } | { error: string } {
    try {
      // Whoever can write it can add sequences that open.
      const why = untrustedFile(path, fs.statSync(path));
      if (why !== null) return { error: why };
      const bytes = fs.readFileSync(path);
      // knockd opens it r+ at start-up; an unwritable file would fail at the first use.
      fs.accessSync(path, fs.constants.R_OK | fs.constants.W_OK);
      return { usable: parseOneTimeFile(bytes).usable };
    } catch (e) {
      return { error: (e as Error).message };
    }
  },
  markUsed(path: string, offset: number): void {
    const fd = fs.openSync(path, 'r+');
    try {
      fs.writeSync(fd, '#', offset);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
};

/**
 * A file with commands, keys, programs or sequences, under trust.ts's rule.
 * Devices and pipes (-c /dev/null, /dev/stdin) hold no content of their own.
 */
function untrustedFile(path: string, st: fs.Stats): string | null {
  return st.isFile() ? untrusted('file', path, st) : null;
}

/** A config file's text, if untrustedFile allows; `othersRead`: any local user can read it. */
function readText(path: string): { text: string; othersRead: boolean } | { error: string } {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    return { error: (e as Error).message };
  }
  try {
    const st = fs.fstatSync(fd);
    const why = untrustedFile(path, st);
    if (why !== null) return { error: why };
    return {
      text: fs.readFileSync(fd, 'utf8'),
      othersRead: st.isFile() && (st.mode & 0o004) !== 0,
    };
  } catch (e) {
    return { error: (e as Error).message };
  } finally {
    fs.closeSync(fd);
  }
}

type Loaded = { ok: true; loaded: LoadedConfig } | { ok: false; problems: ConfigProblem[] };

async function loadConfigUnsafe(file: string, overrides: SpaOverrides = {}): Promise<Loaded> {
  const t = readText(file);
  if ('error' in t)
    return { ok: false, problems: [{ file, line: 0, message: `cannot read config: ${t.error}` }] };
  const r = parseConfig(t.text, file, overrides);
  if (!r.ok) return { ok: false, problems: r.problems };
  const problems: ConfigProblem[] = [];
  for (const inc of r.config.options.include ?? []) {
    const files = expandGlob(inc.pattern);
    if ('error' in files) {
      problems.push({ file, line: inc.line, message: `Include: ${files.error}` });
      continue;
    }
    for (const f of files.files) {
      const it = readText(f);
      if ('error' in it) {
        problems.push({ file, line: inc.line, message: `Include: ${it.error}` });
        continue;
      }
      const ir = parseConfig(it.text, f, {}, r.config.options);
      if (!ir.ok) problems.push(...ir.problems);
      else r.config.doors.push(...ir.config.doors);
    }
  }
  const oneTime = new Map<number, OneTimeLine>();
  r.config.doors.forEach((door, i) => {
    const ot = door.oneTimeSequences;
    if (ot === undefined) return;
    const res = oneTimeFiles.read(ot.path);
    const first = 'usable' in res ? res.usable[0] : undefined;
    if (first === undefined) {
      const why =
        'error' in res
          ? `one_time_sequences: ${res.error}`
          : `one_time_sequences file '${ot.path}' has no usable sequence`;
      problems.push({ file, line: ot.line, message: `door '${door.name}': ${why}` });
      return;
    }
    door.sequence = first.knocks;
    oneTime.set(i, first);
  });
  let spa: LoadedConfig['spa'];
  const sa = r.config.options.spaAccess;
  if (sa !== undefined) {
    const a = readText(sa.path);
    if ('error' in a) problems.push({ file, line: sa.line, message: `SPA_Access: ${a.error}` });
    else {
      // The access.conf parser (and the SPA code under it) is loaded only for a config that uses it.
      const { parseAccessConf } = await import('../core/spa/access.js');
      const p = parseAccessConf(a.text, sa.path);
      if ('problems' in p) problems.push(...p.problems);
      else {
        // fwknopd refuses a GPG stanza whose keyring or gpg is missing at load; so do we.
        for (const st of p.stanzas) {
          if (st.gpg === undefined) continue;
          if (!isDir(st.gpg.homeDir))
            problems.push({
              file: sa.path,
              line: st.line,
              message: `GPG_HOME_DIR '${st.gpg.homeDir}' is not a directory`,
            });
          if (!isExecutable(st.gpg.exe))
            problems.push({
              file: sa.path,
              line: st.line,
              message: `GPG_EXE '${st.gpg.exe}' is not an executable file`,
            });
        }
        const exposed: ConfigProblem[] = a.othersRead
          ? [
              {
                file: sa.path,
                line: 0,
                message: `every local user can read its keys (chmod o-r ${sa.path}; chgrp the daemon's group if it runs as its own user)`,
              },
            ]
          : [];
        spa = {
          stanzas: p.stanzas,
          warnings: [...exposed, ...p.warnings],
          port: r.config.options.spaPort ?? DEFAULT_SPA_PORT,
          socket: r.config.options.spaReceive === 'socket',
        };
      }
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, loaded: { config: r.config, oneTime, ...(spa === undefined ? {} : { spa }) } };
}

/**
 * The files a `/dir/pattern` names, sorted by name. Only the last component
 * may have wildcards (`*`, `?`); like the shell, `*` does not match a leading dot.
 */
export function expandGlob(pattern: string): { files: string[] } | { error: string } {
  const slash = pattern.lastIndexOf('/');
  const dir = pattern.slice(0, slash) || '/';
  const base = pattern.slice(slash + 1);
  if (!/[*?]/.test(base)) return { files: [pattern] };
  const re = new RegExp(
    `^${base
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')}$`,
  );
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    return { error: (e as Error).message };
  }
  const files = names
    .filter((n) => re.test(n) && !(n.startsWith('.') && !base.startsWith('.')))
    .sort()
    .map((n) => path.join(dir, n))
    .filter((f) => fs.statSync(f, { throwIfNoEntry: false })?.isFile() === true);
  return { files };
}

/** The loader the daemon re-runs on SIGHUP. */
export function configFile(file: string, overrides: SpaOverrides): ConfigLoader {
  return { load: () => loadConfig(file, overrides) };
}

/** Reads and checks the config; every failure, even an unexpected one, is a problem, never a throw. */
export async function loadConfig(file: string, overrides: SpaOverrides = {}): Promise<Loaded> {
  try {
    return await loadConfigUnsafe(file, overrides);
  } catch (e) {
    return {
      ok: false,
      problems: [{ file, line: 0, message: `cannot read config: ${(e as Error).message}` }],
    };
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
