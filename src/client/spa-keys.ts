/**
 * Where `knock --spa` takes its keys from, best first: key files
 * (--key-file, --hmac-key-file), a profile (--spa-profile), and only then
 * the command line, which every local user can read in /proc/PID/cmdline,
 * so keys given there earn a warning.
 */
import { KnockError } from '../core/errors.js';
import { HMAC_B64_LEN, type HmacAlg } from '../core/spa/spa.js';
import { readKeyFile, readSecretFile } from './secret-file.js';

export interface SpaKeySources {
  keyBase64?: string | undefined;
  hmacKeyBase64?: string | undefined;
  keyFile?: string | undefined;
  hmacKeyFile?: string | undefined;
  profile?: string | undefined;
  digestType?: string | undefined;
}

export interface ResolvedSpaKeys {
  encKey: Uint8Array;
  hmacKey: Uint8Array;
  hmacAlg: HmacAlg;
  /** Lines for stderr. */
  warnings: string[];
}

function fromArg(flag: string, value: string, warnings: string[]): Uint8Array {
  warnings.push(
    `warning: ${flag} puts a key where every local user can read it (ps, /proc/PID/cmdline); ` +
      `use --key-file/--hmac-key-file or --spa-profile`,
  );
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value))
    throw new KnockError('E_USAGE', `${flag}: not a base64 key`);
  return new Uint8Array(Buffer.from(value, 'base64'));
}

/** Throws KnockError (E_USAGE, E_IO) with a message naming the flag or file. */
export function resolveSpaKeys(s: SpaKeySources): ResolvedSpaKeys {
  const warnings: string[] = [];
  const profile = new Map<string, string>();
  if (s.profile !== undefined) {
    for (const line of readSecretFile(s.profile).split('\n')) {
      const m = /^\s*([A-Z0-9_]+)\s+(\S+)\s*$/.exec(line);
      if (m !== null) profile.set(m[1] as string, m[2] as string);
    }
  }
  const pick = (
    argFlag: string,
    arg: string | undefined,
    file: string | undefined,
    key: string,
  ): Uint8Array | undefined => {
    if (file !== undefined && arg !== undefined)
      throw new KnockError('E_USAGE', `${argFlag} and a key file given: give one`);
    if (file !== undefined) return readKeyFile(file);
    if (arg !== undefined) return fromArg(argFlag, arg, warnings);
    const p = profile.get(key);
    return p === undefined ? undefined : new Uint8Array(Buffer.from(p, 'base64'));
  };
  const encKey = pick('--key-base64', s.keyBase64, s.keyFile, 'KEY_BASE64');
  const hmacKey = pick('--hmac-key-base64', s.hmacKeyBase64, s.hmacKeyFile, 'HMAC_KEY_BASE64');
  if (encKey === undefined || hmacKey === undefined)
    throw new KnockError(
      'E_USAGE',
      '--spa needs --key-file and --hmac-key-file (or --spa-profile, or --key-base64 and --hmac-key-base64)',
    );
  const alg = (s.digestType ?? profile.get('HMAC_DIGEST_TYPE') ?? 'sha256')
    .toLowerCase()
    .replace('_', '-');
  if (!(alg in HMAC_B64_LEN)) throw new KnockError('E_USAGE', `unknown HMAC digest type '${alg}'`);
  return { encKey, hmacKey, hmacAlg: alg as HmacAlg, warnings };
}
