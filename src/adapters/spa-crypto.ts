/** The SPA verifier's primitives, from node:crypto. */
import crypto from 'node:crypto';
import type { SpaCrypto } from '../core/spa/spa.js';

const oneShot = typeof crypto.hash === 'function' ? crypto.hash : undefined;

export const nodeSpaCrypto: SpaCrypto = {
  // One-shot crypto.hash (Node >= 20.12) where it exists: a createHash object
  // costs about 60 us when the verifier is cold (one packet now and then),
  // the one-shot about 20 us, and a packet takes five hashes (docs/benchmarks.md).
  hash: oneShot
    ? (alg, data) => new Uint8Array(oneShot(alg, data, 'buffer'))
    : (alg, data) => new Uint8Array(crypto.createHash(alg).update(data).digest()),
  hmac: (alg, key, data) => new Uint8Array(crypto.createHmac(alg, key).update(data).digest()),
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
