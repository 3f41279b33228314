/** The SPA verifier's primitives, from node:crypto. */
import crypto from 'node:crypto';
import type { HmacAlg, SpaCrypto } from '../core/spa/spa.js';

const oneShot = typeof crypto.hash === 'function' ? crypto.hash : undefined;

/** Each algorithm's block size, for HMAC's key pads (RFC 2104; SHA-3: its rate). */
const BLOCK: Record<HmacAlg, number> = {
  md5: 64,
  sha1: 64,
  sha256: 64,
  sha384: 128,
  sha512: 128,
  'sha3-256': 136,
  'sha3-512': 72,
};

interface Pads {
  inner: crypto.Hash;
  outer: crypto.Hash;
}

/**
 * HMAC as two hashes whose key pads are absorbed once per key: a packet then
 * copies them (RFC 2104's precomputation) instead of setting up an HMAC
 * from the key. Measured on the 2-core VM, one HMAC-SHA256 of an SPA packet
 * after 0.4 s idle: 94 us against 139 us for createHmac, 33 against 55 us
 * when the CPU is already awake. Keys seen once (a TOTP check) keep using
 * createHmac; a key seen again (a stanza's) gets its pads, held as long as
 * the key object lives.
 */
const padCache = new WeakMap<Uint8Array, Map<HmacAlg, Pads> | 'seen'>();

function pads(alg: HmacAlg, key: Uint8Array): Pads | null {
  const e = padCache.get(key);
  if (e === undefined) {
    padCache.set(key, 'seen');
    return null;
  }
  const byAlg = e === 'seen' ? new Map<HmacAlg, Pads>() : e;
  if (e === 'seen') padCache.set(key, byAlg);
  let p = byAlg.get(alg);
  if (p === undefined) {
    const block = BLOCK[alg];
    const k = key.length > block ? crypto.createHash(alg).update(key).digest() : key;
    const ipad = Buffer.alloc(block, 0x36);
    const opad = Buffer.alloc(block, 0x5c);
    for (let i = 0; i < k.length; i++) {
      ipad[i] = (ipad[i] as number) ^ (k[i] as number);
      opad[i] = (opad[i] as number) ^ (k[i] as number);
    }
    p = { inner: crypto.createHash(alg).update(ipad), outer: crypto.createHash(alg).update(opad) };
    byAlg.set(alg, p);
  }
  return p;
}

export const nodeSpaCrypto: SpaCrypto = {
  // One-shot crypto.hash (Node >= 20.12) where it exists: a createHash object
  // costs about 60 us when the verifier is cold (one packet now and then),
  // the one-shot about 20 us, and a packet takes five hashes (docs/benchmarks.md).
  hash: oneShot
    ? (alg, data) => new Uint8Array(oneShot(alg, data, 'buffer'))
    : (alg, data) => new Uint8Array(crypto.createHash(alg).update(data).digest()),
  hmac: (alg, key, data) => {
    const p = pads(alg, key);
    if (p === null) return new Uint8Array(crypto.createHmac(alg, key).update(data).digest());
    const inner = p.inner.copy().update(data).digest();
    return new Uint8Array(p.outer.copy().update(inner).digest());
  },
  aes(decrypt, mode, key, iv, data) {
    const name = `aes-256-${mode}`;
    try {
      const c = decrypt
        ? crypto.createDecipheriv(name, key, mode === 'ecb' ? null : iv)
        : crypto.createCipheriv(name, key, mode === 'ecb' ? null : iv);
      c.setAutoPadding(false);
      return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
    } catch {
      return null;
    }
  },
  equal: (a, b) => a.length === b.length && crypto.timingSafeEqual(a, b),
  random: (n) => new Uint8Array(crypto.randomBytes(n)),
};
