/**
 * Issue #11: an accepted SPA packet's grant goes to the firewall before the
 * journal is marked for its burned digest (the mark creates a timer, which
 * is not needed for the open); and the mark happens even when the grant
 * throws, so the digest still reaches the journal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeSpa } from '../../src/core/spa/spa.js';
import { nodeSpaCrypto } from '../../src/adapters/spa-crypto.js';
import { SpaService } from '../../src/daemon/spa-service.js';
import type { GrantKeeper } from '../../src/daemon/grant-keeper.js';
import { LogLimiter } from '../../src/core/ratelimit.js';
import { randomKeyStanza } from '../helpers/spa-stanza.js';

const NOW = 2_000_000_000_000;

async function setup(open: () => void) {
  const { stanzas, key, hmac } = randomKeyStanza();
  const events: string[] = [];
  const silent = () => {};
  const logger = {
    log: silent,
    verbose: silent,
    debug: silent,
    error: silent,
    configure: silent,
    close: silent,
  };
  const grants = {
    open: () => {
      events.push('open');
      open();
    },
  } as unknown as GrantKeeper;
  const spa = new SpaService(
    { bind: () => Promise.reject(new Error('no sockets here')) },
    nodeSpaCrypto,
    grants,
    logger,
    new LogLimiter(5, 50),
    () => NOW,
    () => events.push('burn'),
  );
  await spa.configure({ stanzas, port: 62201, socket: false });
  const pkt = encodeSpa(
    {
      user: 'alice',
      timestamp: NOW / 1000,
      allowIp: '10.0.0.2',
      access: [{ proto: 'tcp', port: 22 }],
    },
    { encKey: new Uint8Array(key), hmacKey: new Uint8Array(hmac), hmacAlg: 'sha256' },
    nodeSpaCrypto,
  );
  return { spa, events, pkt: new TextEncoder().encode(pkt) };
}

test('the grant is made before the journal is marked', async () => {
  const { spa, events, pkt } = await setup(() => {});
  spa.onPacket(pkt, '10.0.0.2', '10.0.0.1');
  assert.deepEqual(events, ['open', 'burn']);
  assert.equal(spa.counters.accepted, 1);
});

test('a grant that throws still leaves the burned digest marked for the journal', async () => {
  const { spa, events, pkt } = await setup(() => {
    throw new Error('firewall gone');
  });
  assert.throws(() => spa.onPacket(pkt, '10.0.0.2', '10.0.0.1'), /firewall gone/);
  assert.deepEqual(events, ['open', 'burn']);
  assert.equal(spa.replay.size, 1);
});
