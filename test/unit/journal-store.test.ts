/**
 * The journal on disk (FileStateStore) in a private temp directory. The
 * ownership cases chown to 'nobody' and so need root; they are skipped
 * otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileStateStore } from '../../src/adapters/state.js';
import { KnockError } from '../../src/core/errors.js';
import type { JournalState } from '../../src/core/grants/journal.js';

const NOBODY = 65534;
const tmpOf = (dir: string) => path.join(dir, 'state.json.tmp');
const asRoot = { skip: process.geteuid?.() !== 0 ? 'needs root (chown)' : false };

function tempDir(t: { after: (fn: () => void) => void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-journal-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

const STATE: JournalState = {
  grants: [
    {
      door: 'd',
      address: '192.0.2.5',
      family: 4,
      ports: [{ proto: 'tcp', port: 22 }],
      expires: 10,
    },
  ],
  stops: [{ id: 1, door: 'cmd', address: '192.0.2.7', due: 5 }],
  replay: [],
  totp: [],
};

/** load() must refuse with E_STATE and name the path. */
function refuses(store: FileStateStore, named: string, why: RegExp): void {
  assert.throws(
    () => store.load(),
    (e: unknown) => {
      assert.ok(e instanceof KnockError, `not a KnockError: ${String(e)}`);
      assert.equal(e.code, 'E_STATE');
      assert.ok(e.message.includes(named), `message does not name ${named}: ${e.message}`);
      assert.match(e.message, why);
      return true;
    },
  );
}

test('a state directory we create is 0700, and save/load round-trip with a 0600 file', (t) => {
  const dir = path.join(tempDir(t), 'a', 'state');
  const old = process.umask(0);
  try {
    const s = new FileStateStore(dir);
    assert.deepEqual(s.load(), { state: { grants: [], stops: [] }, warnings: [] });
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    s.save(STATE);
    assert.equal(fs.statSync(s.file).mode & 0o777, 0o600);
    assert.ok(!fs.existsSync(tmpOf(dir)), 'no temp file left');
    assert.deepEqual(new FileStateStore(dir).load(), { state: STATE, warnings: [] });
  } finally {
    process.umask(old);
  }
});

test('a group- or other-writable state directory is refused, naming it', (t) => {
  const dir = tempDir(t);
  for (const mode of [0o770, 0o707, 0o777]) {
    fs.chmodSync(dir, mode);
    refuses(new FileStateStore(dir), dir, /writable by group or others/);
  }
  fs.chmodSync(dir, 0o755);
  assert.doesNotThrow(() => new FileStateStore(dir).load());
});

test('a state directory owned by someone else is refused, naming it', asRoot, (t) => {
  const dir = tempDir(t);
  fs.chownSync(dir, NOBODY, NOBODY);
  refuses(new FileStateStore(dir), dir, /owned by uid 65534/);
});

test('a journal owned by someone else or writable by others is refused, naming it', asRoot, (t) => {
  const dir = tempDir(t);
  const s = new FileStateStore(dir);
  s.save(STATE);
  fs.chownSync(s.file, NOBODY, NOBODY);
  refuses(s, s.file, /owned by uid 65534/);
  fs.chownSync(s.file, 0, 0);
  fs.chmodSync(s.file, 0o662);
  refuses(s, s.file, /writable by group or others/);
  fs.chmodSync(s.file, 0o644);
  assert.deepEqual(s.load().state, STATE);
});

test('a journal that is a symlink or not a regular file is refused (and a FIFO does not hang)', (t) => {
  const dir = tempDir(t);
  const s = new FileStateStore(dir);
  const elsewhere = path.join(dir, 'elsewhere.json');
  fs.writeFileSync(elsewhere, '{"version":2,"grants":[],"stops":[]}', { mode: 0o600 });
  fs.symlinkSync(elsewhere, s.file);
  refuses(s, s.file, /symbolic link/);
  fs.unlinkSync(s.file);
  // node has no mkfifo(3); coreutils does. Opening a FIFO for reading would block.
  execFileSync('mkfifo', ['-m', '0600', s.file]);
  refuses(s, s.file, /not a regular file/);
  fs.unlinkSync(s.file);
  fs.mkdirSync(s.file, { mode: 0o700 });
  refuses(s, s.file, /not a regular file/);
});

test('a planted state.json.tmp symlink is never followed by save', (t) => {
  const dir = tempDir(t);
  const s = new FileStateStore(dir);
  const victim = path.join(dir, 'victim');
  fs.writeFileSync(victim, 'precious\n');
  fs.symlinkSync(victim, tmpOf(dir));
  assert.throws(() => s.save(STATE), /refusing to replace .*state\.json\.tmp/);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
  assert.ok(fs.lstatSync(tmpOf(dir)).isSymbolicLink(), 'the planted link is left for the admin');
  assert.ok(!fs.existsSync(s.file), 'no journal written through the link');
});

test('a stale state.json.tmp left by a crash (regular file, ours) is replaced', (t) => {
  const dir = tempDir(t);
  const s = new FileStateStore(dir);
  fs.writeFileSync(tmpOf(dir), 'half a journ', { mode: 0o600 });
  s.save(STATE);
  assert.ok(!fs.existsSync(tmpOf(dir)));
  assert.deepEqual(s.load().state, STATE);
});

test('a stale temp owned by someone else is not removed', asRoot, (t) => {
  const dir = tempDir(t);
  const s = new FileStateStore(dir);
  fs.writeFileSync(tmpOf(dir), 'theirs', { mode: 0o600 });
  fs.chownSync(tmpOf(dir), NOBODY, NOBODY);
  assert.throws(() => s.save(STATE), /refusing to replace/);
  assert.equal(fs.readFileSync(tmpOf(dir), 'utf8'), 'theirs');
});

test('an old journal with a bad entry loads the rest, with the warning naming the file', (t) => {
  const dir = tempDir(t);
  const s = new FileStateStore(dir);
  fs.writeFileSync(
    s.file,
    JSON.stringify({
      version: 1,
      grants: [],
      stops: [
        { id: 1, door: 'cmd', address: '192.0.2.7', command: 'touch /tmp/pwned', due: 5 },
        { id: 2, door: 'cmd', address: '192.0.2.7; reboot', command: 'x', due: 5 },
      ],
    }),
    { mode: 0o600 },
  );
  const r = s.load();
  assert.deepEqual(r.state.stops, [{ id: 1, door: 'cmd', address: '192.0.2.7', due: 5 }]);
  assert.equal(r.warnings.length, 1);
  assert.ok(r.warnings[0]!.startsWith(`journal ${s.file}: stop 1 skipped`), r.warnings[0]);
  assert.ok(fs.existsSync(s.file), 'a partly bad journal is not moved aside');
});

test('a journal that is not JSON is moved aside with a warning', (t) => {
  const dir = tempDir(t);
  const s = new FileStateStore(dir);
  fs.writeFileSync(s.file, '{"version":', { mode: 0o600 });
  const r = s.load();
  assert.deepEqual(r.state, { grants: [], stops: [] });
  assert.match(r.warnings[0] ?? '', /is corrupt \(not JSON/);
  assert.ok(!fs.existsSync(s.file));
});
