/**
 * The SPA verifier's HMAC with precomputed key pads (issue #11) is the HMAC
 * of node:crypto, for every algorithm fwknop offers and key lengths around
 * each block size, on a key's first use and on the uses after it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { nodeSpaCrypto } from '../../src/adapters/spa-crypto.js';
import type { HmacAlg } from '../../src/core/spa/spa.js';

const ALGS: HmacAlg[] = ['md5', 'sha1', 'sha256', 'sha384', 'sha512', 'sha3-256', 'sha3-512'];

test('hmac equals createHmac for every algorithm, key length and repeated use', () => {
  for (const alg of ALGS) {
    for (const len of [0, 1, 32, 63, 64, 65, 72, 73, 128, 129, 136, 137, 300]) {
      const key = new Uint8Array(crypto.randomBytes(len));
      for (let use = 0; use < 3; use++) {
        const data = new Uint8Array(crypto.randomBytes(use * 97));
        const want = crypto.createHmac(alg, key).update(data).digest();
        assert.deepEqual(
          Buffer.from(nodeSpaCrypto.hmac(alg, key, data)),
          want,
          `${alg}, ${len}-byte key, use ${use + 1}`,
        );
      }
    }
  }
});

test('one key under two algorithms keeps a pad pair for each', () => {
  const key = new Uint8Array(crypto.randomBytes(32));
  const data = new Uint8Array(crypto.randomBytes(50));
  for (let round = 0; round < 2; round++)
    for (const alg of ['sha256', 'sha512'] as const)
      assert.deepEqual(
        Buffer.from(nodeSpaCrypto.hmac(alg, key, data)),
        crypto.createHmac(alg, key).update(data).digest(),
      );
});
