/** The SPA verifier's primitives, from node:crypto. */
import crypto from 'node:crypto';
import type { SpaCrypto } from '../core/spa/spa.js';

export const nodeSpaCrypto: SpaCrypto = {
  hash: (alg, data) => new Uint8Array(crypto.createHash(alg).update(data).digest()),
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
