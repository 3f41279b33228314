/** An access.conf stanza for tests: any source, tcp/22, fresh random keys (HMAC-SHA256 by default). */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { parseAccessConf, type Stanza } from '../../src/core/spa/access.js';

export function randomKeyStanza(): { stanzas: Stanza[]; key: Buffer; hmac: Buffer } {
  const key = crypto.randomBytes(32);
  const hmac = crypto.randomBytes(64);
  const r = parseAccessConf(
    `SOURCE ANY\nKEY_BASE64 ${key.toString('base64')}\nHMAC_KEY_BASE64 ${hmac.toString('base64')}\nOPEN_PORTS tcp/22\n`,
    'access.conf',
  );
  assert.ok('stanzas' in r);
  return { stanzas: 'stanzas' in r ? r.stanzas : [], key, hmac };
}
