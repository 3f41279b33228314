import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkTotpParams,
  drawOffset,
  sequenceFor,
  stepIndex,
  totpHmac,
  truncateCode,
  TOTP_DEFAULTS,
  type TotpAlg,
  type TotpHmac,
} from '../../src/core/knock/totp.js';
import { decodeBase32Secret, nodeTotpHmac } from '../../src/client/totp.js';

// RFC 6238 Appendix B: seeds and the 8-digit codes for each time and algorithm.
const SEEDS: Record<TotpAlg, string> = {
  sha1: '12345678901234567890',
  sha256: '12345678901234567890123456789012',
  sha512: '1234567890123456789012345678901234567890123456789012345678901234',
};
const VECTORS: [number, Record<TotpAlg, string>][] = [
  [59, { sha1: '94287082', sha256: '46119246', sha512: '90693936' }],
  [1111111109, { sha1: '07081804', sha256: '68084774', sha512: '25091201' }],
  [1111111111, { sha1: '14050471', sha256: '67062674', sha512: '99943326' }],
  [1234567890, { sha1: '89005924', sha256: '91819424', sha512: '93441116' }],
  [2000000000, { sha1: '69279037', sha256: '90698825', sha512: '38618901' }],
  [20000000000, { sha1: '65353130', sha256: '77737706', sha512: '47863826' }],
];

test('the HMAC step matches RFC 6238 Appendix B for SHA-1, SHA-256 and SHA-512', () => {
  for (const [t, codes] of VECTORS) {
    for (const alg of ['sha1', 'sha256', 'sha512'] as const) {
      const step = stepIndex(t * 1000, 30);
      const mac = totpHmac(nodeTotpHmac, alg, new TextEncoder().encode(SEEDS[alg]), step);
      assert.equal(truncateCode(mac, 8), codes[alg], `${alg} at T=${t}`);
    }
  }
});

test('a draw maps without modulo bias: every offset is hit equally often over all 16-bit draws', () => {
  for (const n of [1, 2, 3, 7, 1000, 40000, 50001, 65535, 65536]) {
    const counts = new Map<number, number>();
    let rejected = 0;
    for (let v = 0; v < 65536; v++) {
      const o = drawOffset(v, n);
      if (o === null) rejected++;
      else {
        assert.ok(o >= 0 && o < n);
        counts.set(o, (counts.get(o) ?? 0) + 1);
      }
    }
    assert.equal(counts.size, n, `n=${n}: every offset reachable`);
    const per = Math.floor(65536 / n);
    for (const c of counts.values()) assert.equal(c, per, `n=${n}`);
    assert.equal(rejected, 65536 % n, `n=${n}: only the top bucket is rejected`);
  }
});

test('rejected and repeated draws are replaced from further HMAC output (counter || block)', () => {
  const seen: string[] = [];
  // Block 0 is all 0xFFFF draws (rejected for n=3) and a repeat; block 1 supplies the ports.
  const fake: TotpHmac = (_alg, _key, data) => {
    seen.push(Buffer.from(data).toString('hex'));
    if (data.length === 8) return new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 1, 0, 1]);
    return new Uint8Array([0, 0, 0, 1, 0, 2, 0, 0]);
  };
  const p = { ...TOTP_DEFAULTS, length: 3, portMin: 1000, portMax: 1005 };
  // n = 6: 0xffff is 65535 >= 65532, rejected; 1 -> 1001; the second 1 is a repeat.
  const seq = sequenceFor(new Uint8Array(16), 5, p, fake);
  assert.deepEqual(
    seq.map((s) => s.port),
    [1001, 1000, 1002],
  );
  assert.deepEqual(seen, ['0000000000000005', '000000000000000500000001']);
});

test('sequences: distinct, in range, stable within a step, different across steps, secret-bound', () => {
  const secret = new Uint8Array(20).fill(7);
  const p = { ...TOTP_DEFAULTS, length: 4, portMin: 20000, portMax: 20009 };
  const a = sequenceFor(secret, 100, p, nodeTotpHmac);
  assert.deepEqual(sequenceFor(secret, 100, p, nodeTotpHmac), a);
  let differs = 0;
  for (let step = 0; step < 200; step++) {
    const s = sequenceFor(secret, step, p, nodeTotpHmac);
    assert.equal(s.length, 4);
    assert.equal(new Set(s.map((x) => x.port)).size, 4);
    for (const x of s) assert.ok(x.port >= 20000 && x.port <= 20009 && x.proto === 'tcp');
    if (JSON.stringify(s) !== JSON.stringify(a)) differs++;
  }
  assert.ok(differs > 190);
  assert.notDeepEqual(sequenceFor(new Uint8Array(20).fill(8), 100, p, nodeTotpHmac), a);
});

test('first knocks are uniform over a range whose size does not divide 65536 (a modulo map would not be)', () => {
  // n = 40000: a modulo map would give offsets below 25536 probability 2/65536
  // each, i.e. 77.9% of draws; unbiased, they get 63.8%.
  const p = { ...TOTP_DEFAULTS, length: 1, portMin: 1, portMax: 40000 };
  const secret = new Uint8Array(20).fill(1);
  let low = 0;
  const N = 20000;
  for (let step = 0; step < N; step++)
    if ((sequenceFor(secret, step, p, nodeTotpHmac)[0]?.port as number) <= 25536) low++;
  const frac = low / N;
  assert.ok(Math.abs(frac - 25536 / 40000) < 0.015, `fraction ${frac}`);
});

test('parameters are checked; base32 secrets decode loosely and must be 128 bits or more', () => {
  assert.equal(checkTotpParams(TOTP_DEFAULTS), null);
  assert.match(checkTotpParams({ ...TOTP_DEFAULTS, length: 0 }) ?? '', /Sequence_Length/);
  assert.match(checkTotpParams({ ...TOTP_DEFAULTS, length: 33 }) ?? '', /Sequence_Length/);
  assert.match(checkTotpParams({ ...TOTP_DEFAULTS, portMin: 0 }) ?? '', /range/);
  assert.match(
    checkTotpParams({ ...TOTP_DEFAULTS, portMin: 100, portMax: 104 }) ?? '',
    /too small/,
  );
  assert.match(checkTotpParams({ ...TOTP_DEFAULTS, stepSeconds: 0 }) ?? '', /step/);
  assert.throws(() =>
    sequenceFor(new Uint8Array(16), 0, { ...TOTP_DEFAULTS, length: 0 }, nodeTotpHmac),
  );
  // RFC 6238's SHA-1 seed, base32 with blanks and lower case.
  assert.deepEqual(
    Buffer.from(decodeBase32Secret('gezd gnbv gy3t qojq gezd gnbv gy3t qojq\n', 'f')).toString(),
    '12345678901234567890',
  );
  assert.throws(() => decodeBase32Secret('JBSWY3DP', 'f'), /40 bits; need 128/);
  assert.throws(() => decodeBase32Secret('!!!!', 'f'), /not base32/);
});
