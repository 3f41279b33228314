import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { parseAccessConf, sourceMatches, type Stanza } from '../../src/core/spa/access.js';
import { evaluateSpa, ReplayCache } from '../../src/core/spa/policy.js';
import { encodeSpa } from '../../src/core/spa/spa.js';
import { nodeSpaCrypto as c } from '../../src/adapters/spa-crypto.js';

const K = crypto.randomBytes(32).toString('base64');
const wire = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const H = crypto.randomBytes(64).toString('base64');

function stanzas(text: string): Stanza[] {
  const r = parseAccessConf(text, 'access.conf');
  if ('problems' in r) assert.fail(r.problems.map((p) => `${p.line}: ${p.message}`).join('\n'));
  return r.stanzas;
}

test('access.conf: stanzas, CIDRs, keys, defaults; every problem with its line', () => {
  const [s] = stanzas(
    `# comment\nSOURCE 10.0.0.0/24, 192.0.2.7\n  KEY_BASE64 ${K}\n  HMAC_KEY_BASE64: ${H}\n  OPEN_PORTS tcp/22, udp/53 ; trailing\n  HMAC_DIGEST_TYPE SHA3_256\n`,
  );
  assert.ok(s);
  assert.equal(s.hmacAlg, 'sha3-256');
  assert.equal(s.fwAccessTimeout, 30);
  assert.equal(s.maxFwTimeout, 300);
  assert.deepEqual(s.openPorts, [
    { proto: 'tcp', port: 22 },
    { proto: 'udp', port: 53 },
  ]);
  assert.ok(sourceMatches(s, '10.0.0.99'));
  assert.ok(sourceMatches(s, '192.0.2.7'));
  assert.ok(!sourceMatches(s, '10.0.1.1'));
  const r = parseAccessConf(
    'KEY x\nSOURCE 10.0.0.300\nKEY abc\nCMD_CYCLE_OPEN /bin/x\nOPEN_PORTS tcp/0\nBOGUS 1\n',
    'a',
  );
  assert.ok('problems' in r);
  const msgs = 'problems' in r ? r.problems.map((p) => `${p.line}: ${p.message}`) : [];
  // KEY before SOURCE and BOGUS are warnings now (fwknopd skips and ignores them).
  assert.deepEqual(msgs, [
    "2: SOURCE: bad address list '10.0.0.300'",
    "5: OPEN_PORTS: bad port list 'tcp/0'",
    '2: CMD_CYCLE_OPEN without CMD_CYCLE_CLOSE (write CMD_CYCLE_CLOSE NONE for no close)',
    '2: stanza has no HMAC_KEY or HMAC_KEY_BASE64 (knockd-ts requires HMAC; ALLOW_NO_HMAC Y opts out)',
  ]);
  assert.ok('stanzas' in parseAccessConf('SOURCE ANY\nKEY abc\nALLOW_NO_HMAC Y\n', 'a'));
  assert.ok('problems' in parseAccessConf('SOURCE ANY\nKEY same\nHMAC_KEY same\n', 'a'));
});

test('policy: first matching stanza wins, ports and usernames are enforced, replays never open', () => {
  const ss = stanzas(
    `SOURCE 10.0.0.0/24\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\nREQUIRE_USERNAME carol\n` +
      `SOURCE ANY\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\nOPEN_PORTS tcp/22\nRESTRICT_PORTS tcp/23\nMAX_FW_TIMEOUT 60\n`,
  );
  const keys = {
    encKey: new Uint8Array(Buffer.from(K, 'base64')),
    hmacKey: new Uint8Array(Buffer.from(H, 'base64')),
  };
  const now = 1_790_000_000;
  const pkt = (
    o: Partial<{
      user: string;
      access: { proto: 'tcp' | 'udp'; port: number }[];
      timeout: number;
      ts: number;
      ip: string;
    }>,
  ) =>
    wire(
      encodeSpa(
        {
          user: o.user ?? 'bob',
          timestamp: o.ts ?? now,
          allowIp: o.ip ?? '10.0.0.5',
          access: o.access ?? [{ proto: 'tcp', port: 22 }],
          ...(o.timeout === undefined ? {} : { timeout: o.timeout }),
        },
        keys,
        c,
      ),
    );
  const replay = new ReplayCache();
  const ok = evaluateSpa(pkt({ timeout: 999 }), '10.0.0.5', [], ss, replay, now, c);
  assert.deepEqual(
    ok.ok && [ok.address, ok.stanza, ok.seconds],
    ['10.0.0.5', 1, 60],
    'client timeout capped',
  );
  const carol = evaluateSpa(
    pkt({ user: 'carol', access: [{ proto: 'tcp', port: 9999 }] }),
    '10.0.0.5',
    [],
    ss,
    replay,
    now,
    c,
  );
  assert.ok(carol.ok && carol.stanza === 0);
  for (const [p, reason] of [
    [pkt({ access: [{ proto: 'tcp', port: 23 }] }), /tcp\/23 is in RESTRICT_PORTS/],
    [pkt({ access: [{ proto: 'udp', port: 53 }] }), /udp\/53 is not in OPEN_PORTS/],
    [pkt({ ts: now - 121 }), /packet is 121 s old/],
    [pkt({ ts: now + 200 }), /packet is -200 s old/],
  ] as const) {
    const r = evaluateSpa(p, '10.0.0.5', [], ss, replay, now, c);
    assert.ok(!r.ok && reason.test(r.reason), r.ok ? 'opened' : r.reason);
  }
  const once = pkt({});
  assert.ok(evaluateSpa(once, '10.0.0.5', [], ss, replay, now, c).ok);
  assert.deepEqual(evaluateSpa(once, '10.0.0.5', [], ss, replay, now, c), {
    ok: false,
    reason: 'replayed packet',
  });
  // Over IPv6 with allow IP 0.0.0.0, the grant is for the IPv6 source (SOURCE ANY only).
  const v6 = evaluateSpa(pkt({ ip: '0.0.0.0' }), '2001:db8::7', [], ss, replay, now, c);
  assert.ok(v6.ok && v6.address === '2001:db8::7' && v6.stanza === 1);
  // The cache forgets what the age check would reject anyway.
  const before = replay.size;
  replay.prune(now + 121);
  assert.ok(replay.size < before);
  assert.equal(replay.size, 1, 'the future-dated packet stays until its own window ends');
  replay.prune(now + 321);
  assert.equal(replay.size, 0);
});
