/**
 * The client side of TOTP sequences: the secret file and node:crypto's HMAC.
 * The secret is base32 as authenticator apps show it; decoding uses the
 * rfc4648 package (MIT, no dependencies) in loose mode, which takes
 * lower case, missing padding and the 0/1 for O/L slips; blanks are removed
 * first so "JBSW Y3DP ..." groups work.
 */
import crypto from 'node:crypto';
import { base32 } from 'rfc4648';
import { KnockError } from '../core/errors.js';
import { parseBase32Secret, type TotpHmac } from '../core/knock/totp.js';
import { readSecretFile } from './secret-file.js';

export const nodeTotpHmac: TotpHmac = (alg, key, data) =>
  new Uint8Array(crypto.createHmac(alg, key).update(data).digest());

export function decodeBase32Secret(text: string, where: string): Uint8Array {
  const r = parseBase32Secret(text);
  if (typeof r === 'string') throw new KnockError('E_IO', `${where}: ${r}`);
  return r;
}

/** Reads a base32 TOTP secret from a file only its owner can read. */
export function readTotpSecret(path: string): Uint8Array {
  return decodeBase32Secret(readSecretFile(path), path);
}

/** A new 160-bit secret in base32 (RFC 4226's recommended length). */
export function newTotpSecret(): string {
  return base32.stringify(crypto.randomBytes(20), { pad: false });
}
