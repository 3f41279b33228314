/** Review finding: a key holder's far-future packets must not grow the replay cache without bound. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateSpa, FUTURE_CAP, ReplayCache } from '../../src/core/spa/policy.js';
import { encodeSpa } from '../../src/core/spa/spa.js';
import { nodeSpaCrypto as c } from '../../src/adapters/spa-crypto.js';
import { randomKeyStanza } from '../helpers/spa-stanza.js';

test('far-future authentic packets fill at most FUTURE_CAP places, then are refused; in-window packets still pass', () => {
  const { stanzas, key: K, hmac: H } = randomKeyStanza();
  const now = 2_000_000_000;
  const pkt = (ts: number) =>
    Buffer.from(
      encodeSpa(
        { user: 'u', timestamp: ts, allowIp: '192.0.2.9', access: [{ proto: 'tcp', port: 22 }] },
        { encKey: K, hmacKey: H, hmacAlg: 'sha256' },
        c,
      ),
      'latin1',
    );
  const replay = new ReplayCache();
  let full = 0;
  for (let i = 0; i < FUTURE_CAP + 200; i++) {
    const d = evaluateSpa(pkt(now + 10_000_000 + i), '192.0.2.9', [], stanzas, replay, now, c);
    assert.equal(d.ok, false);
    if (!d.ok && d.reason === 'replay cache full') full++;
  }
  assert.equal(replay.size, FUTURE_CAP);
  assert.equal(full, 200);
  const ok = evaluateSpa(pkt(now), '192.0.2.9', [], stanzas, replay, now, c);
  assert.equal(ok.ok, true, 'a packet in the window is still accepted');
});
