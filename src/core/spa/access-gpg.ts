/**
 * The GPG_* keywords of access.conf, with fwknopd 2.6.10's meaning
 * (server/access.c: the keyword switch, set_acc_defaults and
 * acc_data_is_valid). Pure: lines in, a stanza's StanzaGpg (or problems and
 * warnings) out.
 */
import type { ConfigProblem } from '../errors.js';
import { DEFAULT_GPG_EXE, DEFAULT_GPG_HOME_DIR, type StanzaGpg } from './gpg.js';

/** What a stanza's GPG_* lines said, before the stanza is complete. */
export interface GpgLines {
  /** The first GPG_* line: where stanza-level messages point. */
  line: number;
  /** null: GPG_ALLOW_NO_PW Y came last; a string: GPG_DECRYPT_PW. Unset: neither. */
  passphrase?: string | null;
  decryptId?: string;
  homeDir?: string;
  exe?: string;
  requireSig?: boolean;
  disableSig?: boolean;
  ignoreSigError?: boolean;
  remoteIds?: string[];
  fingerprints?: string[];
  /** A signer list was refused: no second problem about it missing. */
  badList?: boolean;
}

type Report = (line: number, message: string) => void;

/** fwknopd's expand_acc_string_list: comma-separated, whitespace around each trimmed. */
function hexList(
  value: string,
  lengths: readonly number[],
  what: string,
  line: number,
  bad: Report,
): string[] | undefined {
  const out: string[] = [];
  for (const item of value.split(',')) {
    const v = item.trim().replace(/^0x/i, '').replace(/\s+/g, '').toUpperCase();
    if (!/^[0-9A-F]+$/.test(v) || !lengths.includes(v.length)) {
      bad(line, `${what}: '${item.trim()}' is not ${lengths.join(', ')} hex digits`);
      return undefined;
    }
    out.push(v);
  }
  return out;
}

/**
 * One GPG_* line. `yes` is fwknopd's reading of a switch (a value that
 * starts with Y or y). Paths must be absolute: fwknopd reads a relative one
 * from its working directory, which a daemon does not keep.
 */
export function gpgLine(
  g: GpgLines,
  name: string,
  value: string,
  line: number,
  yes: boolean,
  bad: Report,
): void {
  switch (name) {
    case 'GPG_DECRYPT_PW':
      if (value.toUpperCase() === '__CHANGEME__') bad(line, 'GPG_DECRYPT_PW is still __CHANGEME__');
      else g.passphrase = value;
      break;
    case 'GPG_ALLOW_NO_PW':
      // fwknopd: Y sets the passphrase to '' (the last of the two lines wins).
      if (yes) g.passphrase = null;
      break;
    case 'GPG_DECRYPT_ID':
      g.decryptId = value;
      break;
    case 'GPG_HOME_DIR':
    case 'GPG_EXE':
      if (!value.startsWith('/')) bad(line, `${name} must be an absolute path, got '${value}'`);
      else if (name === 'GPG_HOME_DIR') g.homeDir = value;
      else g.exe = value;
      break;
    case 'GPG_REQUIRE_SIG':
      g.requireSig = yes;
      break;
    case 'GPG_DISABLE_SIG':
      g.disableSig = yes;
      break;
    case 'GPG_IGNORE_SIG_VERIFY_ERROR':
      g.ignoreSigError = yes;
      break;
    case 'GPG_REMOTE_ID': {
      const ids = hexList(value, [8, 16, 40], 'GPG_REMOTE_ID', line, bad);
      if (ids !== undefined) g.remoteIds = ids;
      else g.badList = true;
      break;
    }
    case 'GPG_FINGERPRINT_ID': {
      const f = hexList(value, [40, 64], 'GPG_FINGERPRINT_ID', line, bad);
      if (f !== undefined) g.fingerprints = f;
      else g.badList = true;
      break;
    }
  }
}

/**
 * The stanza's GPG settings once all its lines are read, or undefined when
 * it does not decrypt GPG packets (no GPG_DECRYPT_PW, no GPG_ALLOW_NO_PW Y:
 * fwknopd then ignores the other GPG_* lines, and so do we, with a warning).
 */
export function finishGpg(
  g: GpgLines,
  hmacKey: Uint8Array | undefined,
  file: string,
  problems: ConfigProblem[],
  warnings: ConfigProblem[],
): StanzaGpg | undefined {
  const warn = (message: string) => warnings.push({ file, line: g.line, message });
  const bad = (message: string) => problems.push({ file, line: g.line, message });
  if (g.passphrase === undefined) {
    warn('GPG_* ignored: without GPG_DECRYPT_PW or GPG_ALLOW_NO_PW Y no GPG packet is decrypted');
    return undefined;
  }
  const disable = g.disableSig === true;
  // fwknopd: signatures are required unless GPG_DISABLE_SIG Y; GPG_REQUIRE_SIG Y wins over it.
  const requireSig = g.requireSig === true || !disable;
  if (g.requireSig === true && disable)
    warn('GPG_REQUIRE_SIG and GPG_DISABLE_SIG are both set: signatures are checked');
  else if (!requireSig) warn('GPG_DISABLE_SIG Y: GPG packets are accepted unsigned');
  const remoteIds = g.remoteIds ?? [];
  const fingerprints = g.fingerprints ?? [];
  if (g.badList === true) return undefined;
  if (!disable && remoteIds.length === 0 && fingerprints.length === 0) {
    bad(
      'a GPG stanza needs GPG_REMOTE_ID or GPG_FINGERPRINT_ID (the signers it accepts), or GPG_DISABLE_SIG Y',
    );
    return undefined;
  }
  if (requireSig && remoteIds.length === 0 && fingerprints.length === 0)
    warn('no GPG_REMOTE_ID or GPG_FINGERPRINT_ID: any signer the keyring trusts is accepted');
  if (
    hmacKey !== undefined &&
    typeof g.passphrase === 'string' &&
    hmacKey.length === new TextEncoder().encode(g.passphrase).length &&
    new TextEncoder().encode(g.passphrase).every((b, i) => b === hmacKey[i])
  ) {
    bad('GPG_DECRYPT_PW and HMAC_KEY must differ');
    return undefined;
  }
  return {
    ...(g.passphrase === null ? {} : { passphrase: g.passphrase }),
    ...(g.decryptId === undefined ? {} : { decryptId: g.decryptId }),
    homeDir: g.homeDir ?? DEFAULT_GPG_HOME_DIR,
    exe: g.exe ?? DEFAULT_GPG_EXE,
    requireSig,
    ignoreSigError: g.ignoreSigError === true,
    remoteIds,
    fingerprints,
  };
}
