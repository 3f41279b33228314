/**
 * The SPA verifier's primitives from the native/spa addon: the OpenSSL
 * inside node, called directly, with digests and ciphers fetched once. On a
 * lone packet after idle, node:crypto's per-call JavaScript (a Decipheriv is
 * a stream object) cost about as much as the cryptography; measured in
 * docs/performance.md. The addon is loaded on the first call (the verifier's
 * warm-up at start), not before: knock, knockctl and a daemon without SPA or
 * TOTP doors never load it. Without it, or for an algorithm its OpenSSL
 * lacks, node:crypto does the work: the results are the same bytes.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { addonPath } from './addon.js';
import { nodeSpaCrypto } from './spa-crypto.js';
import type { AesMode, DigestAlg, SpaCrypto } from '../core/spa/spa.js';

/** Each call writes its result to out and gives its length, or -1 for what it refuses. */
interface SpaAddon {
  digest(alg: number, data: Uint8Array, out: Uint8Array): number;
  hmac(alg: number, key: Uint8Array, data: Uint8Array, out: Uint8Array): number;
  aes(
    decrypt: boolean,
    mode: number,
    key: Uint8Array,
    iv: Uint8Array,
    data: Uint8Array,
    out: Uint8Array,
  ): number;
  supported(): number;
  /** The calling convention (spa.cc's kVersion); absent before results went to `out`. */
  readonly version?: number;
}

/** The addon build this adapter calls: an older one would take `out` for nothing. */
const ADDON_VERSION = 2;

/** The addon's tables (native/spa/src/spa.cc: kDigests, kModes), in order. */
const DIGESTS: readonly DigestAlg[] = [
  'md5',
  'sha1',
  'sha256',
  'sha384',
  'sha512',
  'sha3-256',
  'sha3-512',
];
const MODES: readonly Exclude<AesMode, 'legacy'>[] = ['cbc', 'ecb', 'cfb', 'ofb', 'ctr'];
/** The addon's kMaxData: longer input goes to node:crypto (an SPA packet is at most 1,500 bytes). */
const MAX_DATA = 65536;

/** The loaded addon and what it supports, or why there is none. */
type Loaded = { addon: SpaAddon; digests: Map<DigestAlg, number>; modes: Map<string, number> };
let loaded: Loaded | string | undefined;

/**
 * Why this addon cannot serve, or null. A build from before `out` (left by
 * a `git pull` without `npm run build:native`) would ignore it and every
 * result would come back empty: every SPA packet refused, silently.
 */
export function addonMismatch(addon: { readonly version?: unknown }): string | null {
  return addon.version === ADDON_VERSION
    ? null
    : `the SPA crypto addon is another build (version ${String(addon.version ?? 1)}, not ${ADDON_VERSION}): rebuild it with npm run build:native`;
}

function load(): Loaded | string {
  const file = addonPath('spa', 'knockspa.node');
  if (!fs.existsSync(file)) return `the SPA crypto addon is not built (${file})`;
  try {
    const addon = createRequire(import.meta.url)(file) as SpaAddon;
    const mismatch = addonMismatch(addon);
    if (mismatch !== null) return mismatch;
    const bits = addon.supported();
    const digests = new Map<DigestAlg, number>();
    const modes = new Map<string, number>();
    DIGESTS.forEach((a, i) => (bits & (1 << i)) !== 0 && digests.set(a, i));
    MODES.forEach((m, j) => (bits & (1 << (8 + j))) !== 0 && modes.set(m, j));
    return { addon, digests, modes };
  } catch (e) {
    return `the SPA crypto addon does not load: ${(e as Error).message}`;
  }
}

function addon(): Loaded | null {
  loaded ??= load();
  return typeof loaded === 'string' ? null : loaded;
}

/** Where the daemon's SPA primitives come from, for its -D output. */
export function spaCryptoSource(): string {
  const a = addon();
  return a === null
    ? `SPA: cryptography through node:crypto (${loaded as string})`
    : 'SPA: cryptography through the native/spa addon (the OpenSSL in node)';
}

/**
 * Where the addon writes: a digest is at most 64 bytes (EVP_MAX_MD_SIZE), AES
 * output as long as its input, and the addon wants 32 bytes of room beyond
 * it. Results are copied out (slice) before the next call; one thread runs
 * the verifier, so one scratch buffer serves every call.
 */
const scratch = new Uint8Array(MAX_DATA + 32);

/** A digest-based call through the addon, or node:crypto's where the addon gives nothing. */
function viaDigest(
  alg: DigestAlg,
  call: (addon: SpaAddon, i: number) => number,
  fallback: () => Uint8Array,
): Uint8Array {
  const a = addon();
  const i = a?.digests.get(alg);
  const n = a === null || i === undefined ? -1 : call(a.addon, i);
  return n < 0 ? fallback() : scratch.slice(0, n);
}

export const nativeSpaCrypto: SpaCrypto = {
  hash: (alg, data) =>
    viaDigest(
      alg,
      (a, i) => a.digest(i, data, scratch),
      () => nodeSpaCrypto.hash(alg, data),
    ),
  hmac: (alg, key, data) =>
    viaDigest(
      alg,
      (a, i) => a.hmac(i, key, data, scratch),
      () => nodeSpaCrypto.hmac(alg, key, data),
    ),
  aes(decrypt, mode, key, iv, data) {
    const a = addon();
    const j = a?.modes.get(mode);
    // The addon refuses exactly what node:crypto refuses (a key that is not
    // 32 bytes, a bad IV, data that does not fit the mode): its -1 stands.
    if (j === undefined || data.length > MAX_DATA)
      return nodeSpaCrypto.aes(decrypt, mode, key, iv, data);
    const n = a!.addon.aes(decrypt, j, key, iv, data, scratch);
    return n < 0 ? null : scratch.slice(0, n);
  },
  equal: nodeSpaCrypto.equal,
  random: nodeSpaCrypto.random,
};
