/**
 * fwknop Single Packet Authorization: the verifier and encoder for the
 * Rijndael (AES) packet format of fwknop 2.x (FKO protocol 3.0.0). Pure:
 * the cryptographic primitives are passed in (node:crypto in the daemon),
 * and time is an argument where it matters. See
 * shared/reference/fwknop-spa.md for the format.
 *
 * Order of checks (as fwknopd): transport checks, HMAC over the prefixed
 * base64 text (constant time) before anything is decrypted, then AES with
 * the EVP_BytesToKey-MD5 key, then the inner digest, then the fields.
 *
 * Packet data is attacker input: everything here is linear in the packet.
 * The payload's length is checked before any other work and plain loops do
 * the character checks; the only regular expression that sees packet data
 * is parsePortSpec's anchored one, on one access spec of a decrypted and
 * digest-checked message of at most 192 bytes.
 */

import type { PortSpec } from '../port.js';
import { ascii, asciiOrNull, b64decodeCanonicalBytes, b64value, concat, text } from './bytes.js';

export { b64decode, b64decodeCanonical, b64nopad } from './bytes.js';
export { encodeSpa } from './encode.js';
import { parseEncoded } from './message.js';

export type HmacAlg = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512' | 'sha3-256' | 'sha3-512';
export type DigestAlg = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512' | 'sha3-256' | 'sha3-512';
export type AesMode = 'cbc' | 'ecb' | 'cfb' | 'ofb' | 'ctr' | 'legacy';

/** The primitives the verifier needs; adapters/spa-crypto.ts implements them with node:crypto. */
export interface SpaCrypto {
  hash(alg: DigestAlg, data: Uint8Array): Uint8Array;
  hmac(alg: HmacAlg, key: Uint8Array, data: Uint8Array): Uint8Array;
  /** AES-256 without padding removal; null when the data does not fit the mode. */
  aes(
    decrypt: boolean,
    mode: Exclude<AesMode, 'legacy'>,
    key: Uint8Array,
    iv: Uint8Array,
    data: Uint8Array,
  ): Uint8Array | null;
  equal(a: Uint8Array, b: Uint8Array): boolean;
  random(n: number): Uint8Array;
}

export interface SpaKeys {
  /** Rijndael passphrase bytes (KEY or decoded KEY_BASE64), 1..32 bytes. */
  encKey: Uint8Array;
  /** HMAC key bytes; without one the packet must carry no HMAC. */
  hmacKey?: Uint8Array;
  hmacAlg?: HmacAlg;
  mode?: AesMode;
}

export interface SpaMessage {
  rand: string;
  user: string;
  /** Unix seconds, as the client wrote them. */
  timestamp: number;
  version: string;
  /** 0 command, 1 access, 2 NAT, 3 access + timeout, 4 NAT + timeout, 5 local NAT, 6 local NAT + timeout. */
  type: number;
  /** The IP the client asks access for (0.0.0.0 means "the packet's source"). */
  allowIp: string;
  /** For access types: the requested ports. */
  access: PortSpec[];
  /** For type 0: the command text. */
  command?: string;
  nat?: { host: string; port: number };
  /** Client-requested firewall timeout (types 3, 4, 6). */
  timeout?: number;
  digestAlg: DigestAlg;
}

export const SPA_PREFIX = 'U2FsdGVkX1';
/** `Salted__`: the OpenSSL header that SPA_PREFIX encodes most of. */
const SALTED = [0x53, 0x61, 0x6c, 0x74, 0x65, 0x64, 0x5f, 0x5f];
export const HMAC_B64_LEN: Record<HmacAlg, number> = {
  md5: 22,
  sha1: 27,
  sha256: 43,
  sha384: 64,
  sha512: 86,
  'sha3-256': 43,
  'sha3-512': 86,
};
/** Digest algorithms by the length of their unpadded base64, SHA-2 tried before SHA-3. */
export const DIGEST_BY_LEN: Record<number, DigestAlg[]> = {
  22: ['md5'],
  27: ['sha1'],
  43: ['sha256', 'sha3-256'],
  64: ['sha384'],
  86: ['sha512', 'sha3-512'],
};

/** The base64 of an OpenPGP public-key-encrypted session key packet's header (0x85): fwknop's B64_GPG_PREFIX. */
export const GPG_PREFIX = 'hQ';
/** fwknop's MIN_GNUPG_MSG_SIZE: a payload this long (HMAC included) is taken for a GPG packet. */
export const MIN_GNUPG_MSG_SIZE = 400;
/** fwknop's MIN_SPA_DATA_SIZE and MAX_SPA_PACKET_LEN: the payload bounds fwknopd accepts. */
export const MIN_SPA_DATA_SIZE = 140;
export const MAX_SPA_PACKET_LEN = 1500;

/** OpenSSL EVP_BytesToKey(MD5, salt, count 1): 32-byte key and 16-byte IV. */
export function bytesToKey(
  c: SpaCrypto,
  pass: Uint8Array,
  salt: Uint8Array,
): { key: Uint8Array; iv: Uint8Array } {
  const d1 = c.hash('md5', concat(pass, salt));
  const d2 = c.hash('md5', concat(d1, pass, salt));
  const d3 = c.hash('md5', concat(d2, pass, salt));
  return { key: concat(d1, d2), iv: d3 };
}

/** Legacy mode: the passphrase is cut or right-padded with ASCII '0' to 16 bytes. */
export function passphrase(keys: SpaKeys): Uint8Array {
  if (keys.mode !== 'legacy') return keys.encKey;
  const p = new Uint8Array(16).fill(0x30);
  p.set(keys.encKey.subarray(0, 16));
  return p;
}

export type SpaResult = { ok: true; message: SpaMessage } | { ok: false; reason: string };
const fail = (reason: string): SpaResult => ({ ok: false, reason });

const ASCII_DECODER = new TextDecoder('latin1');

/** ASCII whitespace as C's isspace sees it: what a client or `echo` may append. */
const isSpace = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);

/**
 * The payload bytes as text for the verifier. The length is checked first
 * (against the raw bytes, so a huge datagram costs O(1)), then trailing
 * whitespace is cut with a loop, then fwknopd's transport checks run.
 */
export function spaText(
  payload: Uint8Array,
): { ok: true; text: string; bytes: Uint8Array } | { ok: false; reason: string } {
  if (payload.length < MIN_SPA_DATA_SIZE || payload.length > MAX_SPA_PACKET_LEN)
    return { ok: false, reason: `bad length ${payload.length}` };
  let end = payload.length;
  while (end > 0 && isSpace(payload[end - 1]!)) end--;
  if (end < MIN_SPA_DATA_SIZE) return { ok: false, reason: `bad length ${end}` };
  // The alphabet on the bytes first: garbage costs no string building.
  for (let i = 0; i < end; i++) {
    const b = payload[i]!;
    if (b !== 0x3d && b64value(b) < 0) return { ok: false, reason: 'not base64 text' };
  }
  // All ASCII now, where every single-byte decoding agrees.
  const bytes = payload.subarray(0, end);
  const t = ASCII_DECODER.decode(bytes);
  const pre = precheckShape(t);
  return pre === null ? { ok: true, text: t, bytes } : { ok: false, reason: pre };
}

/** Transport checks that need no key (fwknopd's pre-checks). */
export function precheck(payload: string): string | null {
  const shape = precheckShape(payload);
  if (shape !== null) return shape;
  for (let i = 0; i < payload.length; i++) {
    const ch = payload.charCodeAt(i);
    if (ch !== 0x3d && b64value(ch) < 0) return 'not base64 text';
  }
  return null;
}

/** precheck without the alphabet, for text whose bytes were already checked (spaText). */
function precheckShape(payload: string): string | null {
  if (payload.length < MIN_SPA_DATA_SIZE || payload.length > MAX_SPA_PACKET_LEN)
    return `bad length ${payload.length}`;
  if (payload.startsWith(SPA_PREFIX)) return 'starts with the Salted__ prefix (replay attempt)';
  // The client strips the 'hQ' every GPG packet starts with and fwknopd adds
  // it back: a packet that already has it is a replay with the prefix put back.
  if (payload.length > MIN_GNUPG_MSG_SIZE && payload.startsWith(GPG_PREFIX))
    return 'starts with the GPG prefix hQ (replay attempt)';
  return null;
}

export type Unwrapped = { ok: true; raw: Uint8Array } | { ok: false; reason: string };

/** SPA_PREFIX as bytes: put back in front of the packet's text for the HMAC and the decode. */
const PREFIX_BYTES = ascii(SPA_PREFIX);

/**
 * HMAC check and base64 decode: the bytes `Salted__ || salt || ciphertext`
 * that decryption will use. Strict base64 makes them a function of the text
 * and the text a function of them, so a digest over them identifies the packet.
 */
export function unwrapSpa(payload: string, keys: SpaKeys, c: SpaCrypto): Unwrapped {
  const b = asciiOrNull(payload);
  return b === null ? { ok: false, reason: 'not base64 text' } : unwrapBytes(b, keys, c);
}

/**
 * unwrapSpa on the packet's text as its ASCII bytes (spaText's `bytes`), as
 * the packet path calls it: no string is built. The HMAC is compared as
 * bytes: the packet's MAC text decoded strictly (one text per byte string),
 * so it equals the MAC exactly when the text equals the MAC's base64.
 */
export function unwrapBytes(payload: Uint8Array, keys: SpaKeys, c: SpaCrypto): Unwrapped {
  const hmacKey = keys.hmacKey;
  const alg = keys.hmacAlg ?? 'sha256';
  let ctLen = payload.length;
  if (hmacKey !== undefined) {
    ctLen -= HMAC_B64_LEN[alg];
    if (ctLen < 36) return { ok: false, reason: 'too short for its HMAC' };
  }
  const prefixed = new Uint8Array(PREFIX_BYTES.length + ctLen);
  prefixed.set(PREFIX_BYTES);
  prefixed.set(payload.subarray(0, ctLen), PREFIX_BYTES.length);
  if (hmacKey !== undefined) {
    const mac = b64decodeCanonicalBytes(payload.subarray(ctLen));
    if (mac === null || !c.equal(mac, c.hmac(alg, hmacKey, prefixed)))
      return { ok: false, reason: 'HMAC mismatch' };
  }
  const raw = b64decodeCanonicalBytes(prefixed);
  if (raw === null) return { ok: false, reason: 'ciphertext is not canonical base64' };
  if (raw.length < 32 || raw.length % 16 !== 0)
    return { ok: false, reason: 'ciphertext is not whole AES blocks' };
  // The prefix we add fixes 60 of the header's 64 bits; the packet's first
  // character holds the last 4, which decryption never reads. Unchecked,
  // they made 15 more spellings of one packet for the replay cache (fuzz F6).
  for (let i = 0; i < 8; i++)
    if (raw[i] !== SALTED[i]) return { ok: false, reason: 'not an OpenSSL Salted__ header' };
  return { ok: true, raw };
}

export function decodeSpa(payload: string, keys: SpaKeys, c: SpaCrypto): SpaResult {
  const pre = precheck(payload);
  if (pre !== null) return fail(pre);
  const u = unwrapSpa(payload, keys, c);
  return u.ok ? decryptSpa(u.raw, keys, c) : fail(u.reason);
}

/** Decryption and field checks of unwrapped bytes (see unwrapSpa). */
export function decryptSpa(raw: Uint8Array, keys: SpaKeys, c: SpaCrypto): SpaResult {
  const salt = raw.subarray(8, 16);
  const { key, iv } = bytesToKey(c, passphrase(keys), salt);
  const mode = keys.mode === undefined || keys.mode === 'legacy' ? 'cbc' : keys.mode;
  const padded = c.aes(true, mode, key, iv, raw.subarray(16));
  if (padded === null || padded.length === 0) return fail('decryption failed');
  const pad = padded[padded.length - 1]!;
  let pt = padded;
  if (pad >= 1 && pad <= 16 && padded.subarray(padded.length - pad).every((x) => x === pad)) {
    pt = padded.subarray(0, padded.length - pad);
  }
  return decodePlain(pt, c);
}

/** The checks every decrypted message passes, AES or GPG, then its fields. */
export function decodePlain(pt: Uint8Array, c: SpaCrypto): SpaResult {
  if (pt.length < 36 || pt.length > 1499) return fail('decrypted length out of range');
  // 16 random digits and a colon: what a wrong key almost never produces.
  for (let i = 0; i < 16; i++)
    if (pt[i]! < 0x30 || pt[i]! > 0x39) return fail('decryption failed (wrong key?)');
  if (pt[16] !== 0x3a) return fail('decryption failed (wrong key?)');
  for (let i = 0; i < pt.length; i++)
    if (pt[i]! < 0x20 || pt[i]! >= 0x7f) return fail('decrypted text is not printable');
  return parseEncoded(text(pt), c, pt);
}
