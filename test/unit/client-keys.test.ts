import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolveSpaKeys } from '../../src/client/spa-keys.js';
import { readProfileFile, readSecretFile } from '../../src/client/secret-file.js';
import { KnockError } from '../../src/core/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knock-keys-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const K = crypto.randomBytes(32);
const H = crypto.randomBytes(64);
function write(name: string, text: string, mode: number): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  fs.chmodSync(p, mode);
  return p;
}
const err = (code: string, msg: RegExp) => (e: unknown) =>
  e instanceof KnockError && e.code === code && msg.test(e.message);

test('key files: read as base64, no warning', () => {
  const kf = write('k', `${K.toString('base64')}\n`, 0o600);
  const hf = write('h', H.toString('base64'), 0o400);
  const r = resolveSpaKeys({ keyFile: kf, hmacKeyFile: hf });
  assert.deepEqual(Buffer.from(r.encKey), K);
  assert.deepEqual(Buffer.from(r.hmacKey), H);
  assert.equal(r.hmacAlg, 'sha256');
  assert.deepEqual(r.warnings, []);
});

test('key files and SPA profiles others can read are refused, as ssh refuses keys', () => {
  for (const mode of [0o644, 0o640, 0o604, 0o610, 0o620]) {
    const kf = write(`k${mode.toString(8)}`, K.toString('base64'), mode);
    const hf = write('h-ok', H.toString('base64'), 0o600);
    assert.throws(
      () => resolveSpaKeys({ keyFile: kf, hmacKeyFile: hf }),
      err('E_IO', new RegExp(`permissions 0${mode.toString(8)} are too open`)),
    );
  }
  const pf = write(
    'profile',
    `KEY_BASE64 ${K.toString('base64')}\nHMAC_KEY_BASE64 ${H.toString('base64')}\n`,
    0o644,
  );
  assert.throws(() => resolveSpaKeys({ profile: pf }), err('E_IO', /too open/));
  fs.chmodSync(pf, 0o600);
  const r = resolveSpaKeys({ profile: pf, digestType: 'SHA3_512' });
  assert.deepEqual(Buffer.from(r.hmacKey), H);
  assert.equal(r.hmacAlg, 'sha3-512');
  assert.deepEqual(r.warnings, []);
});

test('keys given as arguments work but warn on stderr; each key needs one source', () => {
  const r = resolveSpaKeys({
    keyBase64: K.toString('base64'),
    hmacKeyBase64: H.toString('base64'),
  });
  assert.deepEqual(Buffer.from(r.encKey), K);
  assert.equal(r.warnings.length, 2);
  assert.match(r.warnings[0] as string, /--key-base64 .*\/proc\/PID\/cmdline/);
  assert.match(r.warnings[1] as string, /--hmac-key-base64 /);
  const kf = write('k2', K.toString('base64'), 0o600);
  assert.throws(
    () => resolveSpaKeys({ keyFile: kf, keyBase64: K.toString('base64'), hmacKeyBase64: 'AA==' }),
    err('E_USAGE', /give one/),
  );
  assert.throws(() => resolveSpaKeys({ keyFile: kf }), err('E_USAGE', /--hmac-key-file/));
  assert.throws(
    () => resolveSpaKeys({ keyFile: path.join(dir, 'missing'), hmacKeyBase64: 'AA==' }),
    err('E_IO', /ENOENT/),
  );
  const bad = write('bad', 'not base64!\n', 0o600);
  assert.throws(
    () => resolveSpaKeys({ keyFile: bad, hmacKeyBase64: 'AA==' }),
    err('E_IO', /not a base64 key/),
  );
});

test('profiles: only writes by others are refused; directories are not files', () => {
  assert.equal(readProfileFile(write('p644', 'x', 0o644)), 'x');
  assert.throws(() => readProfileFile(write('p664', 'x', 0o664)), err('E_IO', /0664 are too open/));
  assert.throws(() => readProfileFile(write('p646', 'x', 0o646)), err('E_IO', /too open/));
  assert.throws(() => readSecretFile(dir), err('E_IO', /not a regular file/));
});

test('a FIFO is refused at once, not waited on (review C1)', () => {
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  // In a child: the old blocking open never returned, and no timer can interrupt it.
  const mod = fileURLToPath(new URL('../../src/client/secret-file.js', import.meta.url));
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { readSecretFile } from ${JSON.stringify(mod)};
       try { readSecretFile(${JSON.stringify(fifo)}); } catch (e) { console.log(e.message); }`,
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  assert.equal(r.signal, null, 'the read of a FIFO was still waiting after 10 s');
  assert.match(r.stdout, /not a regular file/);
});

test('key files and profiles must belong to the user or root, as ssh requires (review C2)', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to give a file away');
  const key = write('theirs.key', K.toString('base64'), 0o600);
  const profile = write('theirs.profile', 'x', 0o644);
  fs.chownSync(key, 65534, 65534);
  fs.chownSync(profile, 65534, 65534);
  assert.throws(() => readSecretFile(key), err('E_IO', /belongs to uid 65534, not to you or root/));
  assert.throws(() => readProfileFile(profile), err('E_IO', /belongs to uid 65534/));
  fs.chownSync(profile, 0, 0);
  assert.equal(readProfileFile(profile), 'x');
});
