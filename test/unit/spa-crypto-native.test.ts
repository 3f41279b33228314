/**
 * The daemon's SPA primitives from the native/spa addon (issue #11) give
 * node:crypto's bytes for every digest, HMAC and AES mode fwknop uses,
 * refuse what node:crypto refuses, and never throw on malformed calls.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { addonPath } from '../../src/adapters/addon.js';
import {
  addonMismatch,
  nativeSpaCrypto,
  spaCryptoSource,
} from '../../src/adapters/spa-crypto-native.js';
import { nodeSpaCrypto } from '../../src/adapters/spa-crypto.js';
import { encodeSpa, decodeSpa, type AesMode, type HmacAlg } from '../../src/core/spa/spa.js';

const ALGS: HmacAlg[] = ['md5', 'sha1', 'sha256', 'sha384', 'sha512', 'sha3-256', 'sha3-512'];
const MODES: Exclude<AesMode, 'legacy'>[] = ['cbc', 'ecb', 'cfb', 'ofb', 'ctr'];
const bytes = (n: number) => new Uint8Array(crypto.randomBytes(n));
const same = (a: Uint8Array | null, b: Uint8Array | null) =>
  a === null || b === null ? a === b : Buffer.from(a).equals(Buffer.from(b));

test('the addon is built and is what the daemon uses', () => {
  assert.match(spaCryptoSource(), /native\/spa addon/);
});

test('digests and HMACs equal node:crypto for every algorithm and length', () => {
  for (const alg of ALGS)
    for (const len of [0, 1, 55, 64, 150, 1500]) {
      const data = bytes(len);
      assert.ok(same(nativeSpaCrypto.hash(alg, data), nodeSpaCrypto.hash(alg, data)), alg);
      for (const klen of [0, 16, 32, 64, 137, 300]) {
        const key = bytes(klen);
        const want = new Uint8Array(crypto.createHmac(alg, key).update(data).digest());
        assert.ok(same(nativeSpaCrypto.hmac(alg, key, data), want), `${alg} key ${klen}`);
      }
    }
});

test('AES-256 in every mode equals node:crypto, both ways, refusals included', () => {
  for (const mode of MODES)
    for (const len of [0, 1, 15, 16, 17, 160, 1504]) {
      const key = bytes(32);
      const iv = bytes(16);
      const data = bytes(len);
      for (const decrypt of [true, false]) {
        const got = nativeSpaCrypto.aes(decrypt, mode, key, iv, data);
        const want = nodeSpaCrypto.aes(decrypt, mode, key, iv, data);
        assert.ok(same(got, want), `${mode} ${decrypt ? 'decrypt' : 'encrypt'} ${len} bytes`);
      }
      // Keys and IVs of the wrong size are refused by both.
      for (const [k, v] of [
        [bytes(31), iv],
        [bytes(33), iv],
        [key, bytes(15)],
      ] as const) {
        const ct = bytes(32);
        const want = nodeSpaCrypto.aes(true, mode, k, v, ct);
        // ECB takes no IV: only the keys are refused there.
        assert.equal(want === null, mode !== 'ecb' || k.length !== 32, `${mode} refuses`);
        assert.ok(same(nativeSpaCrypto.aes(true, mode, k, v, ct), want), mode);
      }
    }
});

test('a packet built with node:crypto verifies with the addon, and the other way round', () => {
  const keys = { encKey: bytes(32), hmacKey: bytes(64), hmacAlg: 'sha512' as const };
  const m = { user: 'alice', timestamp: 1_800_000_000, allowIp: '10.0.0.2', access: [] };
  for (const [enc, dec] of [
    [nodeSpaCrypto, nativeSpaCrypto],
    [nativeSpaCrypto, nodeSpaCrypto],
  ]) {
    const pkt = encodeSpa({ ...m, access: [{ proto: 'tcp', port: 22 }] }, keys, enc!);
    const r = decodeSpa(pkt, keys, dec!);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.equal(r.message.user, 'alice');
  }
});

test('malformed calls to the addon return -1 and never throw', () => {
  const addon = createRequire(import.meta.url)(addonPath('spa', 'knockspa.node')) as Record<
    string,
    (...a: unknown[]) => unknown
  >;
  const b = bytes(16);
  const out = new Uint8Array(64);
  const calls: [string, unknown[]][] = [
    ['digest', [7, b, out]],
    ['digest', [-1, b, out]],
    ['digest', [NaN, b, out]],
    ['digest', [1.5, b, out]],
    ['digest', [Infinity, b, out]],
    ['digest', [2 ** 32 + 2, b, out]],
    ['digest', ['sha256', b, out]],
    ['digest', [2, 'text', out]],
    ['digest', [2, new Uint16Array(4), out]],
    ['digest', [2, new Uint8Array(65537), out]],
    ['digest', [2, b]],
    ['digest', [2, b, new Uint8Array(63)]],
    ['digest', [2, b, new Uint16Array(64)]],
    ['digest', [2]],
    ['hmac', [2, b, out]],
    ['hmac', [99, b, b, out]],
    ['hmac', [2, b, b, new Uint8Array(32)]],
    ['aes', [true, 5, bytes(32), b, b, out]],
    ['aes', ['yes', 0, bytes(32), b, b, out]],
    ['aes', [true, 0, bytes(32), b, bytes(15), out]],
    ['aes', [true, 0, bytes(16), b, b, out]],
    ['aes', [true, 0, bytes(32), null, b, out]],
    ['aes', [true, 0, bytes(32), b, b, new Uint8Array(47)]],
    ['aes', [true, 0, bytes(32), b, b]],
    ['aes', []],
  ];
  for (const [fn, args] of calls) assert.equal(addon[fn]!(...args), -1, `${fn}(${args.length})`);
  assert.equal(addon.digest!(2, b, out), 32, 'a good call still works');
  assert.ok(same(out.subarray(0, 32), nodeSpaCrypto.hash('sha256', b)));
});

test('each result is a copy: a later call does not change an earlier result', () => {
  const first = nativeSpaCrypto.hash('sha256', bytes(40));
  const kept = Buffer.from(first);
  nativeSpaCrypto.hash('sha512', bytes(40));
  nativeSpaCrypto.aes(true, 'cbc', bytes(32), bytes(16), bytes(64));
  assert.ok(kept.equals(first));
});

test('an addon of another build is refused, so node:crypto serves instead of empty results', () => {
  const addon = createRequire(import.meta.url)(addonPath('spa', 'knockspa.node')) as {
    version?: unknown;
  };
  assert.equal(addonMismatch(addon), null);
  // The build before results went to `out`: no version.
  assert.match(addonMismatch({}) ?? '', /another build \(version 1, not 2\).*build:native/);
  assert.match(addonMismatch({ version: 3 }) ?? '', /version 3/);
  assert.match(spaCryptoSource(), /native\/spa addon/);
});
