/**
 * Reads knockd.conf and the one-time sequences files it names. Parsing is
 * pure (core/config.ts); this adapter only does the file I/O and reports
 * unreadable files as problems at the directive's line.
 */
import fs from 'node:fs';
import { parseConfig, parseOneTimeFile, type Config, type OneTimeLine } from '../core/config.js';
import type { ConfigProblem } from '../core/errors.js';
import { DEFAULT_SPA_PORT } from '../core/port.js';
import { parseAccessConf, type Stanza } from '../core/spa/access.js';

export interface LoadedConfig {
  config: Config;
  /** Parsed SPA_Access stanzas, when SPA is configured. */
  spa?: { stanzas: Stanza[]; port: number; socket: boolean };
  /** Door index -> the one-time line in use for it. */
  oneTime: Map<number, OneTimeLine>;
}

export function readOneTime(path: string): { usable: OneTimeLine[] } | { error: string } {
  try {
    const bytes = fs.readFileSync(path);
    // knockd opens it r+ at start-up; an unwritable file would fail at the first use.
    fs.accessSync(path, fs.constants.R_OK | fs.constants.W_OK);
    return { usable: parseOneTimeFile(bytes).usable };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** Command-line values that override [options] SPA_Access and SPA_Port. */
export interface SpaOverrides {
  spaAccess?: string;
  spaPort?: number;
}

export function loadConfig(
  file: string,
  overrides: SpaOverrides = {},
): { ok: true; loaded: LoadedConfig } | { ok: false; problems: ConfigProblem[] } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return {
      ok: false,
      problems: [{ file, line: 0, message: `cannot read config: ${(e as Error).message}` }],
    };
  }
  const r = parseConfig(text, file);
  if (!r.ok) return { ok: false, problems: r.problems };
  const problems: ConfigProblem[] = [];
  const oneTime = new Map<number, OneTimeLine>();
  r.config.doors.forEach((door, i) => {
    const ot = door.oneTimeSequences;
    if (ot === undefined) return;
    const res = readOneTime(ot.path);
    if ('error' in res) {
      problems.push({
        file,
        line: ot.line,
        message: `door '${door.name}': one_time_sequences: ${res.error}`,
      });
      return;
    }
    const first = res.usable[0];
    if (first === undefined) {
      problems.push({
        file,
        line: ot.line,
        message: `door '${door.name}': one_time_sequences file '${ot.path}' has no usable sequence`,
      });
      return;
    }
    door.sequence = first.knocks;
    oneTime.set(i, first);
  });
  if (overrides.spaAccess !== undefined)
    r.config.options.spaAccess = { path: overrides.spaAccess, line: 0 };
  if (overrides.spaPort !== undefined) r.config.options.spaPort = overrides.spaPort;
  if (
    r.config.options.spaAccess !== undefined &&
    r.config.options.firewall === undefined &&
    overrides.spaAccess !== undefined
  ) {
    problems.push({
      file,
      line: 0,
      message: `--spa-access needs 'Firewall = iptables' or 'nftables' in [options]`,
    });
  }
  let spa: LoadedConfig['spa'];
  const sa = r.config.options.spaAccess;
  if (sa !== undefined) {
    let text: string | null = null;
    try {
      text = fs.readFileSync(sa.path, 'utf8');
    } catch (e) {
      problems.push({ file, line: sa.line, message: `SPA_Access: ${(e as Error).message}` });
    }
    if (text !== null) {
      const a = parseAccessConf(text, sa.path);
      if ('problems' in a) problems.push(...a.problems);
      else
        spa = {
          stanzas: a.stanzas,
          port: r.config.options.spaPort ?? DEFAULT_SPA_PORT,
          socket: r.config.options.spaReceive === 'socket',
        };
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, loaded: { config: r.config, oneTime, ...(spa === undefined ? {} : { spa }) } };
}
