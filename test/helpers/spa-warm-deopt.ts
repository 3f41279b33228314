/**
 * Runs the daemon's verifier warm-up to the end against an access.conf whose
 * stanzas narrow SOURCE, DESTINATION, the user and the ports, then verifies
 * packets unlike the warm-up's (other sources, allow IPs and timestamps, for
 * both kinds of stanza), printing `warm-up done` between the two. Run under
 * `node --trace-opt --trace-deopt --no-concurrent-recompilation`: the test
 * reads V8's trace for the verifier optimised during the warm-up and no
 * optimised code thrown away after it.
 */
import crypto from 'node:crypto';
import { parseAccessConf } from '../../src/core/spa/access.js';
import { encodeSpa } from '../../src/core/spa/spa.js';
import { evaluateSpa, ReplayCache } from '../../src/core/spa/policy.js';
import { nativeSpaCrypto as c } from '../../src/adapters/spa-crypto-native.js';
import { warmVerifier } from '../../src/daemon/spa-warm.js';

const k = () => crypto.randomBytes(32).toString('base64');
const h = () => crypto.randomBytes(64).toString('base64');
const r = parseAccessConf(
  `SOURCE 10.20.0.0/16, 192.0.2.7\nDESTINATION 10.9.0.1/32\nKEY_BASE64 ${k()}\nHMAC_KEY_BASE64 ${h()}\n` +
    `REQUIRE_USERNAME alice\nOPEN_PORTS tcp/22, udp/53\nFW_ACCESS_TIMEOUT 5\n` +
    `SOURCE ANY\nKEY_BASE64 ${k()}\nHMAC_KEY_BASE64 ${h()}\nHMAC_DIGEST_TYPE sha512\nRESTRICT_PORTS tcp/1\n`,
  'access.conf',
);
if (!('stanzas' in r)) throw new Error('access.conf does not parse');
const stanzas = r.stanzas;
const now = 2_000_000_000;
const w = warmVerifier(stanzas, c, now, () => performance.now());
if (w.verified !== 2) throw new Error(`warm-up verified ${w.verified} kinds, not 2`);
while (w.more?.() === true);
console.log('warm-up done');
const replay = new ReplayCache();
for (let n = 0; n < 8; n++) {
  const s = stanzas[n % 2]!;
  const keys = { encKey: s.encKey!, hmacKey: s.hmacKey!, hmacAlg: s.hmacAlg, mode: s.mode };
  // The first stanza's packets from inside its SOURCE, the second's from outside it.
  const src = n % 2 === 0 ? `10.20.${n}.9` : `198.51.100.${n}`;
  const m = {
    user: 'alice',
    timestamp: now - n,
    allowIp: src,
    access: [{ proto: 'tcp' as const, port: 22 }],
  };
  const pkt = new TextEncoder().encode(encodeSpa(m, keys, c));
  const d = evaluateSpa(pkt, src, '10.9.0.1', stanzas, replay, now, c);
  if (!d.ok || d.stanza !== n % 2) throw new Error(`packet ${n}: ${JSON.stringify(d)}`);
}
console.log('real packets verified');
