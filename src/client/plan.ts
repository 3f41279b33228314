/**
 * From the command line and a profile to a plan: what to knock (sequence,
 * TOTP sequence or SPA packet), where, and which port confirms the open.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KnockOpt } from '../cli/args.js';
import { formatProblem, KnockError } from '../core/errors.js';
import { DEFAULT_SPA_PORT, parsePortSpec, type PortSpec } from '../core/port.js';
import { sequenceFor, stepIndex, type TotpParams } from '../core/knock/totp.js';
import { resolveSpaKeys } from './spa-keys.js';
import { readProfileFile } from './secret-file.js';
import { parseProfiles, type Profile, type ProfileFile } from './profile.js';
import { parseHit } from './hits.js';
import { sendSequence } from './send.js';
import { WAIT_DEFAULTS } from './confirm.js';
import { sendSpa } from './spa-send.js';
import { nodeTotpHmac, readTotpSecret } from './totp.js';

export type Opts = Map<KnockOpt, string | true>;
export const str = (o: Opts, k: KnockOpt) => {
  const v = o.get(k);
  return typeof v === 'string' ? v : undefined;
};

/** The profile file: -F, else $XDG_CONFIG_HOME/knock/hosts, else ~/.config/knock/hosts. */
export function loadProfiles(o: Opts): { file: ProfileFile | null; path: string } {
  const explicit = str(o, 'hosts-file');
  const xdg = process.env.XDG_CONFIG_HOME;
  const p =
    explicit ??
    path.join(
      xdg !== undefined && xdg !== '' ? xdg : path.join(os.homedir(), '.config'),
      'knock',
      'hosts',
    );
  if (explicit === undefined && !fs.existsSync(p)) return { file: null, path: p };
  const f = parseProfiles(readProfileFile(p), p);
  if (f.problems.length > 0)
    throw new KnockError('E_CONFIG', f.problems.map(formatProblem).join('\n'));
  return { file: f, path: p };
}

/** `~/x` is in the home directory; a relative path is relative to the profile file. */
export function filePath(p: string, profilesPath: string): string {
  if (p === '~' || p.startsWith('~/')) return path.join(os.homedir(), p.slice(1));
  return path.resolve(path.dirname(profilesPath), p);
}

export function intOpt(o: Opts, k: KnockOpt, min: number, max: number): number | undefined {
  const v = str(o, k);
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max)
    throw new KnockError('E_USAGE', `--${k} '${v}' is not a whole number ${min}-${max}`);
  return Number(v);
}

/** What to knock, where, and how to confirm: from a profile, or from the command line. */
export interface Plan {
  host: string;
  family: number;
  /** Sends one round of knocks to `address`. */
  knock: (address: string, family: number) => Promise<void>;
  confirm?: PortSpec | undefined;
  tries: number;
  totalMs: number;
}

export function totpParams(p: Profile): TotpParams {
  const t = p.totp as NonNullable<Profile['totp']>;
  return { ...t, proto: p.protocol };
}

export function planFromProfile(
  o: Opts,
  p: Profile,
  profilesPath: string,
  say: (l: string) => void,
): Plan {
  const family = o.has('ipv4') ? 4 : o.has('ipv6') ? 6 : p.family;
  const delayMs = str(o, 'delay') !== undefined ? Number(str(o, 'delay')) : p.delayMs;
  const repeat = intOpt(o, 'repeat', 1, 5) ?? p.repeat;
  let knock: Plan['knock'];
  if (p.spa !== undefined) {
    const spa = p.spa;
    const keys = resolveSpaKeys({
      keyFile: filePath(spa.keyFile, profilesPath),
      hmacKeyFile: filePath(spa.hmacKeyFile, profilesPath),
      digestType: spa.digest,
    });
    knock = (address, fam) =>
      sendSpa(
        address,
        fam,
        keys,
        [p.open as PortSpec],
        spa.allowIp,
        spa.port ?? DEFAULT_SPA_PORT,
        say,
      );
  } else if (p.totp !== undefined) {
    const secret = readTotpSecret(filePath(p.totp.secretFile, profilesPath));
    const params = totpParams(p);
    // Each round computes the sequence afresh: a retry may fall in the next step.
    knock = (address, fam) =>
      sendSequence(
        address,
        fam,
        sequenceFor(secret, stepIndex(Date.now(), params.stepSeconds), params, nodeTotpHmac),
        {
          delayMs,
          repeat,
          say,
        },
      );
  } else {
    const hits: PortSpec[] = [];
    for (const w of p.sequence ?? []) {
      const h = parseHit(w, o.has('udp') || p.protocol === 'udp');
      if (typeof h === 'string')
        throw new KnockError('E_CONFIG', `${p.where}: Host ${p.name}: ${h}`);
      hits.push(h);
    }
    knock = (address, fam) => sendSequence(address, fam, hits, { delayMs, repeat, say });
  }
  return {
    host: p.address as string,
    family,
    knock,
    confirm: p.open,
    tries: p.tries ?? WAIT_DEFAULTS.tries,
    totalMs: (p.waitSeconds ?? WAIT_DEFAULTS.totalMs / 1000) * 1000,
  };
}

export function parseDelay(o: Opts): number {
  const d = str(o, 'delay');
  if (d === undefined) return 0;
  if (!/^-?\d+$/.test(d)) throw new KnockError('E_USAGE', `invalid delay '${d}'`);
  if (Number(d) < 0) throw new KnockError('E_USAGE', 'delay cannot be negative');
  return Number(d);
}

export function confirmPort(text: string): PortSpec {
  const p = parsePortSpec(/^\d+$/.test(text) ? `tcp/${text}` : text);
  if ('error' in p) throw new KnockError('E_USAGE', `--wait: ${p.error}`);
  if (p.proto !== 'tcp')
    throw new KnockError('E_USAGE', `--wait: only a TCP port can be confirmed`);
  return p;
}

/** Knocks once or until the port opens; resolves with the open socket for --proxy. */
