import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/adapters/config-file.js';

function tree(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-inc-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

test('Include reads door files in name order; options stay in the main file', async () => {
  const dir = tree({
    'd/20-b.conf': '[b]\nsequence = 2\nopen = tcp/22\n',
    'd/10-a.conf': '[a]\nsequence = 1\n',
    'd/.hidden.conf': '[hidden]\nsequence = 9\n',
    'd/readme.txt': '[txt]\nsequence = 8\n',
  });
  fs.writeFileSync(
    path.join(dir, 'knockd.conf'),
    `[options]\nFirewall = nftables\nInclude = ${dir}/d/*.conf\n[main]\nsequence = 3\n`,
  );
  const r = await loadConfig(path.join(dir, 'knockd.conf'));
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
  assert.deepEqual(
    r.ok ? r.loaded.config.doors.map((d) => d.name) : [],
    ['main', 'a', 'b'],
    'main doors first, then included files by name; dotfiles and other names skipped',
  );
});

test('errors in an included file name that file and line; [options] there is refused', async () => {
  const dir = tree({
    'd/a.conf': '[a]\nsequence = 1\nseq_timeout = soon\n',
    'd/b.conf': '[options]\nFirewall = iptables\n',
  });
  fs.writeFileSync(
    path.join(dir, 'k.conf'),
    `[options]\nInclude = ${dir}/d/*.conf\n[m]\nsequence = 3\n`,
  );
  const r = await loadConfig(path.join(dir, 'k.conf'));
  assert.ok(!r.ok);
  const msgs = r.ok ? [] : r.problems.map((p) => `${path.basename(p.file)}:${p.line}`);
  assert.ok(msgs.includes('a.conf:3'), msgs.join(' '));
  assert.ok(msgs.includes('b.conf:1'), msgs.join(' '));
});

test('Include: a relative path, a wildcard directory or a missing directory is an error at its line', async () => {
  const dir = tree({});
  for (const inc of ['d/*.conf', '/etc/*/x.conf', `${dir}/missing/*.conf`]) {
    fs.writeFileSync(path.join(dir, 'k.conf'), `[options]\nInclude = ${inc}\n[m]\nsequence = 3\n`);
    const r = await loadConfig(path.join(dir, 'k.conf'));
    assert.ok(!r.ok, inc);
    assert.equal(r.ok ? 0 : r.problems[0]!.line, 2, inc);
  }
});

test('a GPG stanza whose GPG_HOME_DIR or GPG_EXE is missing is refused at load, with file:line', async () => {
  const H = Buffer.alloc(32, 7).toString('base64');
  const stanza = (home: string, exe: string) =>
    `SOURCE ANY\nHMAC_KEY_BASE64 ${H}\nGPG_HOME_DIR ${home}\nGPG_EXE ${exe}\nGPG_ALLOW_NO_PW Y\nGPG_REMOTE_ID 6A3FAD56\n`;
  const dir = tree({ 'keyring/.keep': '' });
  const load = (access: string) => {
    fs.writeFileSync(path.join(dir, 'access.conf'), access);
    fs.writeFileSync(
      path.join(dir, 'knockd.conf'),
      `[options]\nFirewall = nftables\nSPA_Access = ${dir}/access.conf\n[a]\nsequence = 1\n`,
    );
    return loadConfig(path.join(dir, 'knockd.conf'));
  };
  const good = await load(stanza(`${dir}/keyring`, '/bin/sh'));
  assert.ok(good.ok, good.ok ? '' : JSON.stringify(good.problems));
  const bad = await load(`\n${stanza(`${dir}/nowhere`, `${dir}/keyring`)}`);
  assert.ok(!bad.ok);
  assert.deepEqual(
    bad.ok ? [] : bad.problems.map((p) => `${path.basename(p.file)}:${p.line}: ${p.message}`),
    [
      `access.conf:2: GPG_HOME_DIR '${dir}/nowhere' is not a directory`,
      `access.conf:2: GPG_EXE '${dir}/keyring' is not an executable file`,
    ],
  );
});
