/**
 * Issue #11 (SPA-to-open latency): the verifier is warmed when SPA is
 * configured, so the first packet does not pay lazy compilation and
 * node:crypto's first use (4-6 ms); and the one-shot hash gives the same
 * digests as createHash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { parseAccessConf, type Stanza } from '../../src/core/spa/access.js';
import type { SpaCrypto } from '../../src/core/spa/spa.js';
import { nodeSpaCrypto } from '../../src/adapters/spa-crypto.js';
import { SpaService } from '../../src/daemon/spa-service.js';
import { WARM_ROUNDS, warmVerifier } from '../../src/daemon/spa-warm.js';
import type { GrantKeeper } from '../../src/daemon/grant-keeper.js';
import { LogLimiter } from '../../src/core/ratelimit.js';

function stanzas(digests: string[]): Stanza[] {
  const text = digests
    .map(
      (d) =>
        `SOURCE ANY\nKEY_BASE64 ${crypto.randomBytes(32).toString('base64')}\n` +
        `HMAC_KEY_BASE64 ${crypto.randomBytes(64).toString('base64')}\nHMAC_DIGEST_TYPE ${d}\nOPEN_PORTS tcp/22\n`,
    )
    .join('');
  const r = parseAccessConf(text, 'access.conf');
  assert.ok('stanzas' in r);
  return 'stanzas' in r ? r.stanzas : [];
}

function counting(): { c: SpaCrypto; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const count = (k: string) => (calls[k] = (calls[k] ?? 0) + 1);
  const b = nodeSpaCrypto;
  return {
    calls,
    c: {
      hash: (a, d) => (count('hash'), b.hash(a, d)),
      hmac: (a, k, d) => (count('hmac'), b.hmac(a, k, d)),
      aes: (x, m, k, iv, d) => (count('aes'), b.aes(x, m, k, iv, d)),
      equal: (x, y) => (count('equal'), b.equal(x, y)),
      random: (n) => (count('random'), b.random(n)),
    },
  };
}

test('configuring SPA runs a packet through the verifier, touching no replay cache, counter or log', async () => {
  const { c, calls } = counting();
  const lines: string[] = [];
  const logger = {
    log: (m: string) => lines.push(m),
    verbose: () => {},
    debug: () => {},
    error: (m: string) => lines.push(m),
    configure: () => {},
    close: () => {},
  };
  let burns = 0;
  const spa = new SpaService(
    { bind: () => Promise.reject(new Error('no sockets here')) },
    c,
    {} as GrantKeeper,
    logger,
    new LogLimiter(5, 50),
    () => 2_000_000_000_000,
    () => burns++,
  );
  await spa.configure({ stanzas: stanzas(['sha256']), port: 62201, socket: false });
  // Encrypt and decrypt, the HMAC both ways: the primitives the first packet would meet cold.
  assert.ok((calls.aes ?? 0) >= 2, `aes calls: ${calls.aes}`);
  assert.ok((calls.hmac ?? 0) >= 2, `hmac calls: ${calls.hmac}`);
  assert.equal(spa.replay.size, 0);
  assert.equal(spa.counters.accepted, 0);
  assert.equal(spa.counters.rejected.size, 0);
  assert.equal(burns, 0);
  assert.deepEqual(lines, []);
});

test('warmVerifier: one packet per kind of stanza, each verifies; a failing primitive is not an error', () => {
  const s = stanzas(['sha256', 'sha512', 'sha256']);
  assert.equal(warmVerifier(s, nodeSpaCrypto, 2_000_000_000), 2);
  const broken: SpaCrypto = { ...nodeSpaCrypto, aes: () => null };
  assert.equal(warmVerifier(s, broken, 2_000_000_000), 0);
});

test('warmVerifier runs the first kind WARM_ROUNDS times and later kinds a quarter as often, until one fails', () => {
  const { c, calls } = counting();
  warmVerifier(stanzas(['sha256', 'sha512']), c, 2_000_000_000);
  // One HMAC to build each kind's packet, one to check it per round.
  assert.equal(calls.hmac, 2 + WARM_ROUNDS + WARM_ROUNDS / 4);
  const broken = counting();
  // The packet's HMAC never matches: the first round fails and no more run.
  warmVerifier(stanzas(['sha256']), { ...broken.c, equal: () => false }, 2_000_000_000);
  assert.equal(broken.calls.hmac, 2);
});

test('the one-shot hash gives createHash digests for every algorithm the verifier uses', () => {
  const data = crypto.randomBytes(300);
  for (const alg of ['md5', 'sha1', 'sha256', 'sha384', 'sha512', 'sha3-256', 'sha3-512'] as const)
    assert.deepEqual(
      Buffer.from(nodeSpaCrypto.hash(alg, data)),
      crypto.createHash(alg).update(data).digest(),
      alg,
    );
});
