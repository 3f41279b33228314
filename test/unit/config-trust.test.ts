import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/adapters/config-file.js';

// knockd.conf, its Include files and access.conf hold shell commands, keys and
// programs the daemon runs: a file another user can change is refused, as
// sshd's StrictModes and our journal do (install review #4, TOTP review T4).
function dir(t: { after: (fn: () => void) => void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-trust-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}
function write(p: string, text: string, mode: number): string {
  fs.writeFileSync(p, text);
  fs.chmodSync(p, mode);
  return p;
}
const DOOR = '[d]\nsequence = 7000,8000\ncommand = /bin/true %IP%\n';
const messages = (r: Awaited<ReturnType<typeof loadConfig>>) =>
  r.ok ? [] : r.problems.map((p) => p.message);

test('a config or Include file writable by group or others is refused, naming it', async (t) => {
  const d = dir(t);
  for (const mode of [0o664, 0o646, 0o666]) {
    const conf = write(path.join(d, `k${mode.toString(8)}.conf`), DOOR, mode);
    const r = await loadConfig(conf);
    assert.equal(r.ok, false, `mode ${mode.toString(8)} accepted`);
    assert.match(
      messages(r)[0] ?? '',
      new RegExp(`writable by group or others \\(mode 0${mode.toString(8)}\\).*chmod go-w`),
    );
  }
  const inc = write(path.join(d, 'inc.conf'), DOOR, 0o666);
  const main = write(path.join(d, 'main.conf'), `[options]\nInclude = ${inc}\n`, 0o644);
  assert.match(messages(await loadConfig(main))[0] ?? '', /^Include: .*inc\.conf is writable/);
  fs.chmodSync(inc, 0o644);
  assert.ok((await loadConfig(main)).ok, 'a 0644 Include is fine');
  // /dev/null is world-writable but no one can change what it reads as.
  assert.deepEqual(messages(await loadConfig('/dev/null')), []);
});

test('a config owned by another user is refused', async (t) => {
  if (process.geteuid?.() !== 0) return t.skip('needs root to give a file away');
  const conf = write(path.join(dir(t), 'k.conf'), DOOR, 0o644);
  fs.chownSync(conf, 65534, 65534);
  assert.match(messages(await loadConfig(conf))[0] ?? '', /is owned by uid 65534, not by root/);
});

test('an access.conf writable by others is refused; one readable by others warns', async (t) => {
  const d = dir(t);
  const key = (n: number) => Buffer.alloc(32, n).toString('base64');
  const access = write(
    path.join(d, 'access.conf'),
    `SOURCE ANY\nKEY_BASE64 ${key(1)}\nHMAC_KEY_BASE64 ${key(2)}\nOPEN_PORTS tcp/22\n`,
    0o666,
  );
  const conf = write(
    path.join(d, 'k.conf'),
    `[options]\nFirewall = nftables\nSPA_Access = ${access}\n${DOOR}`,
    0o644,
  );
  assert.match(messages(await loadConfig(conf))[0] ?? '', /^SPA_Access: .*is writable by group/);
  fs.chmodSync(access, 0o644);
  const readable = await loadConfig(conf);
  assert.ok(readable.ok);
  assert.match(
    readable.ok ? (readable.loaded.spa?.warnings?.[0]?.message ?? '') : '',
    /every local user can read its keys/,
  );
  fs.chmodSync(access, 0o640);
  const private_ = await loadConfig(conf);
  assert.deepEqual(private_.ok ? private_.loaded.spa?.warnings : ['not ok'], []);
});

test('a One_Time_Sequences file others can write is refused: they could add sequences', async (t) => {
  const d = dir(t);
  const seqs = write(path.join(d, 'seqs'), '7000,8000,9000\n', 0o606);
  const conf = write(
    path.join(d, 'k.conf'),
    `[d]\none_time_sequences = ${seqs}\ncommand = /bin/true %IP%\n`,
    0o644,
  );
  assert.match(messages(await loadConfig(conf))[0] ?? '', /seqs is writable by group or others/);
  fs.chmodSync(seqs, 0o600);
  assert.ok((await loadConfig(conf)).ok);
});
