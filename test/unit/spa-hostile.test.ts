/**
 * Hostile SPA input (issue #9): payload size and whitespace, non-canonical
 * allow IPs and sources, replays through base64 variants, and timeouts that
 * would push a grant's expiry out of range.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { parseAccessConf, type Stanza } from '../../src/core/spa/access.js';
import { evaluateSpa, ReplayCache, type SpaDecision } from '../../src/core/spa/policy.js';
import {
  b64decodeCanonical,
  b64nopad,
  encodeSpa,
  HMAC_B64_LEN,
  SPA_PREFIX,
} from '../../src/core/spa/spa.js';
import { nodeSpaCrypto as c } from '../../src/adapters/spa-crypto.js';

const K = crypto.randomBytes(32).toString('base64');
const H = crypto.randomBytes(64).toString('base64');
const encKey = new Uint8Array(Buffer.from(K, 'base64'));
const hmacKey = new Uint8Array(Buffer.from(H, 'base64'));
const NOW = 1_790_000_000;
const wire = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

function stanzas(text: string): Stanza[] {
  const r = parseAccessConf(text, 'access.conf');
  if ('problems' in r) assert.fail(r.problems.map((p) => `${p.line}: ${p.message}`).join('\n'));
  return r.stanzas;
}

function pkt(
  o: Partial<{ user: string; ip: string; timeout: number }> = {},
  keys: { encKey: Uint8Array; hmacKey?: Uint8Array } = { encKey, hmacKey },
): string {
  return encodeSpa(
    {
      user: o.user ?? 'bob',
      timestamp: NOW,
      allowIp: o.ip ?? '10.0.0.5',
      access: [{ proto: 'tcp', port: 22 }],
      ...(o.timeout === undefined ? {} : { timeout: o.timeout }),
    },
    keys,
    c,
  );
}

const HMAC_STANZA = `SOURCE ANY\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\nREQUIRE_SOURCE_ADDRESS Y\n`;
const NO_HMAC_STANZA = `SOURCE ANY\nKEY_BASE64 ${K}\nALLOW_NO_HMAC Y\n`;

function reason(d: SpaDecision): string {
  return d.ok ? `opened for ${d.address}` : d.reason;
}

test('a 64 KB payload of spaces and one letter is rejected by its length at once', () => {
  const ss = stanzas(HMAC_STANZA);
  const payload = new Uint8Array(65_537).fill(0x20);
  payload[65_536] = 0x78;
  const t0 = performance.now();
  const d = evaluateSpa(payload, '10.0.0.9', [], ss, new ReplayCache(), NOW, c);
  const ms = performance.now() - t0;
  assert.equal(reason(d), 'bad length 65537');
  assert.ok(ms < 50, `took ${ms.toFixed(1)} ms`);
  // Within the length bound, the worst whitespace shapes are linear too.
  const worst: Uint8Array[] = [
    new Uint8Array(1500).fill(0x20),
    Uint8Array.from({ length: 1500 }, (_, i) => (i === 1499 ? 0x78 : 0x20)),
    Uint8Array.from({ length: 1500 }, (_, i) => (i % 2 === 0 ? 0x20 : 0x09)),
    Uint8Array.from({ length: 1500 }, (_, i) => (i % 2 === 0 ? 0x3d : 0x41)),
  ];
  const t1 = performance.now();
  for (let n = 0; n < 100; n++)
    for (const w of worst)
      assert.ok(!evaluateSpa(w, '10.0.0.9', [], ss, new ReplayCache(), NOW, c).ok);
  const per = (performance.now() - t1) / 400;
  assert.ok(per < 1, `${per.toFixed(3)} ms per 1500-byte hostile packet`);
});

test('trailing whitespace is cut; the bounds are fwknop’s 140..1500 bytes before the cut', () => {
  const ss = stanzas(HMAC_STANZA);
  const good = pkt();
  const d = evaluateSpa(wire(`${good}\r\n \t`), '10.0.0.9', [], ss, new ReplayCache(), NOW, c);
  assert.ok(d.ok, reason(d));
  const tooLong = wire(good + ' '.repeat(1501 - good.length));
  assert.equal(
    reason(evaluateSpa(tooLong, '10.0.0.9', [], ss, new ReplayCache(), NOW, c)),
    'bad length 1501',
  );
  const short = wire(good.slice(0, 139));
  assert.equal(
    reason(evaluateSpa(short, '10.0.0.9', [], ss, new ReplayCache(), NOW, c)),
    'bad length 139',
  );
  const blank = wire(' '.repeat(600));
  assert.equal(
    reason(evaluateSpa(blank, '10.0.0.9', [], ss, new ReplayCache(), NOW, c)),
    'bad length 0',
  );
});

test('random payloads of any size never throw and never open', () => {
  const ss = stanzas(HMAC_STANZA + NO_HMAC_STANZA);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4000 }), (b) => {
      assert.equal(evaluateSpa(b, '10.0.0.9', [], ss, new ReplayCache(), NOW, c).ok, false);
    }),
    { numRuns: 1000 },
  );
});

test('the allow IP must be plain dotted-quad decimal; the grant address is canonical', () => {
  const ss = stanzas(HMAC_STANZA);
  for (const ip of [
    '010.001.002.003',
    '010.077.000.002',
    '00.0.0.0',
    '0.0.0.00',
    '10.0.0.256',
    '10.0.0',
    '10.0.0.5.6',
    ' 10.0.0.5',
    '0x0a.0.0.5',
    '::1',
    '',
  ]) {
    const d = evaluateSpa(wire(pkt({ ip })), '10.0.0.9', [], ss, new ReplayCache(), NOW, c);
    assert.equal(reason(d), `bad allow IP '${ip}'`);
  }
  const d = evaluateSpa(
    wire(pkt({ ip: '10.7.0.200' })),
    '10.0.0.9',
    [],
    ss,
    new ReplayCache(),
    NOW,
    c,
  );
  assert.ok(d.ok && d.address === '10.7.0.200', reason(d));
  const any = evaluateSpa(
    wire(pkt({ ip: '0.0.0.0' })),
    '10.0.0.9',
    [],
    ss,
    new ReplayCache(),
    NOW,
    c,
  );
  assert.equal(reason(any), '0.0.0.0 when REQUIRE_SOURCE_ADDRESS is set');
});

test('the packet source is canonicalised: mapped IPv4 is IPv4, IPv6 is compressed, zones are refused', () => {
  const ss = stanzas(
    `SOURCE 10.0.0.0/24\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\n` +
      `SOURCE ANY\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\nOPEN_PORTS udp/1\n`,
  );
  const viaMapped = evaluateSpa(
    wire(pkt({ ip: '0.0.0.0' })),
    '::ffff:10.0.0.5',
    [],
    ss,
    new ReplayCache(),
    NOW,
    c,
  );
  assert.ok(
    viaMapped.ok && viaMapped.address === '10.0.0.5' && viaMapped.stanza === 0,
    reason(viaMapped),
  );
  const anyOnly = stanzas(`SOURCE ANY\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\n`);
  const v6 = evaluateSpa(
    wire(pkt({ ip: '0.0.0.0' })),
    '2001:DB8:0:0::7',
    [],
    anyOnly,
    new ReplayCache(),
    NOW,
    c,
  );
  assert.ok(v6.ok && v6.address === '2001:db8::7', reason(v6));
  for (const src of [
    'fe80::1%eth0',
    'fe80::1%1',
    '10.0.0.5%eth0',
    'host.example',
    '010.0.0.5',
    '',
  ]) {
    const d = evaluateSpa(
      wire(pkt({ ip: '0.0.0.0' })),
      src,
      [],
      anyOnly,
      new ReplayCache(),
      NOW,
      c,
    );
    assert.equal(reason(d), `source '${src}' is not a plain IP address (zones are refused)`);
  }
});

test('without HMAC, base64 variants of an accepted packet do not open again', () => {
  const ss = stanzas(NO_HMAC_STANZA);
  const keys = { encKey };
  const replay = new ReplayCache();
  // A user name length that leaves spare bits in the last base64 character.
  let good = '';
  for (let n = 1; (SPA_PREFIX.length + good.length) % 4 === 0 || good === ''; n++)
    good = pkt({ user: 'u'.repeat(n) }, keys);
  const first = evaluateSpa(wire(good), '10.0.0.9', [], ss, replay, NOW, c);
  assert.ok(first.ok, reason(first));
  // Same bytes after a lenient decode: a suffix after '=', and the last
  // character with its spare (ignored) bits set.
  const last = good[good.length - 1]!;
  const spare = (SPA_PREFIX.length + good.length) % 4 === 2 ? 15 : 3;
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const bumped = good.slice(0, -1) + B64[B64.indexOf(last) | spare]!;
  assert.notEqual(bumped, good);
  for (const variant of [`${good}=AAAA`, `${good}=`, `${good}==`, bumped]) {
    const d = evaluateSpa(wire(variant), '10.0.0.9', [], ss, replay, NOW, c);
    assert.ok(!d.ok, `variant ${variant.slice(-6)} opened again`);
    assert.match(d.reason, /^(replayed packet|ciphertext is not canonical base64)$/);
  }
  assert.equal(
    reason(evaluateSpa(wire(good), '10.0.0.9', [], ss, replay, NOW, c)),
    'replayed packet',
  );
});

test('the replay digest is over the ciphertext: an HMAC packet stripped of its HMAC is a replay', () => {
  // One key, two stanzas: with HMAC, and ALLOW_NO_HMAC. An observer who cuts
  // the HMAC off an accepted packet holds the same ciphertext, new text.
  const ss = stanzas(`${HMAC_STANZA}${NO_HMAC_STANZA}`);
  const replay = new ReplayCache();
  const good = pkt();
  const first = evaluateSpa(wire(good), '10.0.0.9', [], ss, replay, NOW, c);
  assert.ok(first.ok && first.stanza === 0, reason(first));
  const stripped = good.slice(0, good.length - HMAC_B64_LEN.sha256);
  const again = evaluateSpa(wire(stripped), '10.0.0.9', [], ss, replay, NOW, c);
  assert.equal(reason(again), 'replayed packet');
});

test('strict base64: one text per byte string', () => {
  for (let n = 0; n < 40; n++) {
    const b = new Uint8Array(crypto.randomBytes(n));
    assert.deepEqual(b64decodeCanonical(b64nopad(b)), b);
  }
  assert.equal(b64decodeCanonical('QQ=='), null, 'padding');
  assert.equal(b64decodeCanonical('QQ=A'), null, 'text after =');
  assert.equal(b64decodeCanonical('QR'), null, 'spare bits set');
  assert.deepEqual(b64decodeCanonical('QQ'), new Uint8Array([0x41]));
  assert.equal(b64decodeCanonical('QUJDR'), null, 'length 1 mod 4');
  assert.equal(b64decodeCanonical('Q-'), null, 'outside the alphabet');
});

test('access.conf timeouts are bounded so no grant expiry can overflow', () => {
  const base = `SOURCE ANY\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\n`;
  for (const [line, want] of [
    ['FW_ACCESS_TIMEOUT 86401', "4: FW_ACCESS_TIMEOUT must be 1..86400 seconds, got '86401'"],
    ['MAX_FW_TIMEOUT 999999999', "4: MAX_FW_TIMEOUT must be 1..86400 seconds, got '999999999'"],
    ['FW_ACCESS_TIMEOUT 0', "4: FW_ACCESS_TIMEOUT must be 1..86400 seconds, got '0'"],
    ['MAX_FW_TIMEOUT 1e9', "4: MAX_FW_TIMEOUT must be whole seconds, got '1e9'"],
  ] as const) {
    const r = parseAccessConf(`${base}${line}\n`, 'access.conf');
    assert.deepEqual(
      'problems' in r ? r.problems.map((p) => `${p.line}: ${p.message}`) : [],
      [want],
      line,
    );
    assert.ok('problems' in r && r.problems[0]?.file === 'access.conf');
  }
  const [s] = stanzas(`${base}MAX_FW_TIMEOUT 86400\nACCESS_EXPIRE_EPOCH 1900000000\n`);
  assert.equal(s?.accessExpire, 1_900_000_000, 'an epoch past 2030 is a date, not a timeout');
  const d = evaluateSpa(
    wire(pkt({ timeout: 65536 })),
    '10.0.0.9',
    [],
    [s!],
    new ReplayCache(),
    NOW,
    c,
  );
  assert.ok(d.ok && d.seconds === 65536, reason(d));
  // Stanzas built by hand (not parsed) are capped too.
  const huge = { ...s!, maxFwTimeout: 2 ** 40, fwAccessTimeout: 2 ** 40 };
  const e = evaluateSpa(
    wire(pkt({ timeout: 65536 })),
    '10.0.0.9',
    [],
    [huge],
    new ReplayCache(),
    NOW,
    c,
  );
  assert.ok(e.ok && e.seconds === 65536, reason(e));
  const f = evaluateSpa(wire(pkt()), '10.0.0.9', [], [huge], new ReplayCache(), NOW, c);
  assert.ok(f.ok && f.seconds === 86400, reason(f));
});
