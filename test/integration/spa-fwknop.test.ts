import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { decodeSpa, SPA_PREFIX, type HmacAlg } from '../../src/core/spa/spa.js';
import { nodeSpaCrypto as c } from '../../src/adapters/spa-crypto.js';

// Packets from the stock fwknop client (built with -T, saved with -B; nothing is sent).
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spa-vectors-'));
function client(args: string[]): string {
  const out = path.join(dir, `p${crypto.randomBytes(4).toString('hex')}`);
  execFileSync(
    'fwknop',
    ['--no-rc-file', '--no-save-args', '-D', '127.0.0.1', '-B', out, '-T', ...args],
    {
      stdio: 'ignore',
    },
  );
  return fs.readFileSync(out, 'utf8').trim();
}

const encB64 = crypto.randomBytes(32).toString('base64');
const hmacB64 = crypto.randomBytes(64).toString('base64');
const keys = (hmacAlg: HmacAlg) => ({
  encKey: new Uint8Array(Buffer.from(encB64, 'base64')),
  hmacKey: new Uint8Array(Buffer.from(hmacB64, 'base64')),
  hmacAlg,
});
const clientAlg: Record<HmacAlg, string> = {
  md5: 'md5',
  sha1: 'sha1',
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  'sha3-256': 'sha3_256',
  'sha3-512': 'sha3_512',
};

test('packets from the stock fwknop client verify with every HMAC digest type', () => {
  for (const alg of Object.keys(clientAlg) as HmacAlg[]) {
    const now = Math.floor(Date.now() / 1000);
    const pkt = client([
      '-a',
      '10.0.0.2',
      '-A',
      'tcp/22,udp/53',
      '-U',
      'bob',
      '--key-base64-rijndael',
      encB64,
      '--key-base64-hmac',
      hmacB64,
      '--hmac-digest-type',
      clientAlg[alg],
    ]);
    const r = decodeSpa(pkt, keys(alg), c);
    assert.ok(r.ok, `${alg}: ${r.ok ? '' : r.reason}`);
    if (!r.ok) continue;
    assert.equal(r.message.allowIp, '10.0.0.2');
    assert.equal(r.message.user, 'bob');
    assert.equal(r.message.version, '3.0.0');
    assert.deepEqual(r.message.access, [
      { proto: 'tcp', port: 22 },
      { proto: 'udp', port: 53 },
    ]);
    assert.ok(Math.abs(r.message.timestamp - now) <= 5);
    // The wrong HMAC type for the stanza is refused, as fwknopd does.
    const other: HmacAlg = alg === 'sha256' ? 'sha512' : 'sha256';
    assert.equal(decodeSpa(pkt, keys(other), c).ok, false);
  }
});

test('stock client: client timeout (-f), inner digest types (-m) and AES modes (-M)', () => {
  const base = [
    '-a',
    '10.0.0.2',
    '-A',
    'tcp/22',
    '--key-base64-rijndael',
    encB64,
    '--key-base64-hmac',
    hmacB64,
  ];
  const t = decodeSpa(client([...base, '-f', '77']), keys('sha256'), c);
  assert.ok(t.ok && t.message.type === 3 && t.message.timeout === 77);
  for (const [m, want] of [
    ['md5', 'md5'],
    ['sha512', 'sha512'],
    ['sha3_256', 'sha3-256'],
  ]) {
    const r = decodeSpa(client([...base, '-m', m as string]), keys('sha256'), c);
    assert.ok(r.ok && r.message.digestAlg === want, `-m ${m}`);
  }
  for (const mode of ['ecb', 'cfb', 'ofb', 'ctr'] as const) {
    const r = decodeSpa(client([...base, '-M', mode]), { ...keys('sha256'), mode }, c);
    assert.ok(r.ok, `-M ${mode}: ${r.ok ? '' : r.reason}`);
  }
});

test('stock client: strict base64 accepts its packets at every length; leading-zero allow IPs are refused', () => {
  const noHmac = { encKey: keys('sha256').encKey };
  const residues = new Set<number>();
  // User names of 1..12 characters move the ciphertext through every block
  // count and base64 length residue the client produces.
  for (let n = 1; n <= 12; n++) {
    const pkt = client([
      '-a',
      '10.0.0.2',
      '-A',
      'tcp/22',
      '-U',
      'u'.repeat(n),
      '--key-base64-rijndael',
      encB64,
    ]);
    residues.add((SPA_PREFIX.length + pkt.length) % 4);
    const r = decodeSpa(pkt, noHmac, c);
    assert.ok(r.ok && r.message.user === 'u'.repeat(n), `user of ${n}: ${r.ok ? '' : r.reason}`);
  }
  assert.ok(residues.size >= 2, `only length residues ${[...residues].join(',')} seen`);
  // The stock client sends these as written (inet_aton reads 010 as octal 8).
  for (const ip of ['010.077.000.002', '00.0.0.0', '10.0.0.010']) {
    const r = decodeSpa(
      client([
        '-a',
        ip,
        '-A',
        'tcp/22',
        '--key-base64-rijndael',
        encB64,
        '--key-base64-hmac',
        hmacB64,
      ]),
      keys('sha256'),
      c,
    );
    assert.deepEqual(r, { ok: false, reason: `bad allow IP '${ip}'` });
  }
});
