/**
 * The control socket adapter in a private temp directory: what it removes,
 * what it refuses, the mode it ends with, and that it leaves the process
 * umask alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ControlServer } from '../../src/adapters/control.js';
import type { ControlRequest } from '../../src/core/control.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-ctl-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** One request line, the first reply line. */
function ask(sock: string, line: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let buf = '';
    c.setEncoding('utf8');
    c.on('connect', () => c.write(`${line}\n`));
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        c.destroy();
        resolve(JSON.parse(buf.slice(0, nl)));
      }
    });
    c.on('error', reject);
  });
}

const seen: ControlRequest[] = [];
const handler = (req: ControlRequest) => {
  seen.push(req);
  return Promise.resolve({ echo: req });
};

test('the socket ends up 0600, ours, at its path, with nothing else left behind', async (t) => {
  const dir = tempDir(t);
  const sock = path.join(dir, 'k.sock');
  const old = process.umask(0); // a umask-dependent socket would come out 0777
  let srv: ControlServer;
  try {
    srv = new ControlServer(sock, handler);
    await srv.listen();
  } finally {
    process.umask(old);
  }
  const st = fs.lstatSync(sock);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal(st.uid, process.geteuid?.());
  assert.deepEqual(fs.readdirSync(dir), ['k.sock'], 'no temp directory left');
  assert.deepEqual(await ask(sock, '{"cmd":"revoke","address":"2001:DB8::0:1"}'), {
    ok: true,
    echo: { cmd: 'revoke', address: '2001:db8::1' },
  });
  assert.deepEqual(await ask(sock, '{"cmd":"revoke","address":"1.2.3.4; reboot"}'), {
    ok: false,
    error: 'revoke needs an IP address, got "1.2.3.4; reboot"',
  });
  srv.close();
  assert.ok(!fs.existsSync(sock), 'close removes our socket');
});

test('listen leaves the process umask alone, also while it waits', async (t) => {
  const dir = tempDir(t);
  const before = process.umask(0o022);
  try {
    const srv = new ControlServer(path.join(dir, 'k.sock'), handler);
    const pending = srv.listen();
    // Other code runs during the await; it must see the umask it set.
    const during = process.umask(0o022);
    await pending;
    const after = process.umask(0o022);
    srv.close();
    assert.equal(during.toString(8), '22', 'umask changed while listen was pending');
    assert.equal(after.toString(8), '22', 'umask changed after listen');
  } finally {
    process.umask(before);
  }
});

test('a regular file at the socket path is refused and kept', async (t) => {
  const dir = tempDir(t);
  const sock = path.join(dir, 'k.sock');
  fs.writeFileSync(sock, 'not a socket\n');
  await assert.rejects(
    new ControlServer(sock, handler).listen(),
    /k\.sock exists and is not a socket; refusing to remove it/,
  );
  assert.equal(fs.readFileSync(sock, 'utf8'), 'not a socket\n');
});

test('a symlink at the socket path is refused and kept, its target untouched', async (t) => {
  const dir = tempDir(t);
  const sock = path.join(dir, 'k.sock');
  const target = path.join(dir, 'target');
  fs.writeFileSync(target, 'x', { mode: 0o644 });
  fs.symlinkSync(target, sock);
  await assert.rejects(new ControlServer(sock, handler).listen(), /is not a socket/);
  assert.ok(fs.lstatSync(sock).isSymbolicLink());
  assert.equal(fs.statSync(target).mode & 0o777, 0o644, 'mode not set through the link');
  // A dangling link (the classic chmod-through-a-link trap) is refused too.
  fs.unlinkSync(target);
  await assert.rejects(new ControlServer(sock, handler).listen(), /is not a socket/);
  assert.ok(fs.lstatSync(sock).isSymbolicLink());
});

test('a stale socket is replaced; a live one is refused and keeps working', async (t) => {
  const dir = tempDir(t);
  const sock = path.join(dir, 'k.sock');
  // A stale socket: a second name for a bound socket outlives the server.
  const other = net.createServer((c) => {
    c.on('error', () => {});
    c.once('data', () => c.end('{"ok":true,"other":1}\n'));
  });
  const first = path.join(dir, 'first.sock');
  await new Promise<void>((r) => other.listen(first, r));
  fs.linkSync(first, sock);
  await assert.rejects(new ControlServer(sock, handler).listen(), /in use by another daemon/);
  assert.deepEqual(await ask(sock, '{"cmd":"status"}'), { ok: true, other: 1 });
  await new Promise<void>((r) => other.close(() => r()));
  assert.ok(fs.lstatSync(sock).isSocket(), 'stale socket present');
  const srv = new ControlServer(sock, handler);
  await srv.listen();
  assert.deepEqual(await ask(sock, '{"cmd":"status"}'), { ok: true, echo: { cmd: 'status' } });
  srv.close();
});

test('close removes only the socket it created', async (t) => {
  const dir = tempDir(t);
  const sock = path.join(dir, 'k.sock');
  const srv = new ControlServer(sock, handler);
  await srv.listen();
  // Someone replaced the path meanwhile (e.g. a second daemon took over).
  fs.unlinkSync(sock);
  fs.writeFileSync(sock, 'someone else\n');
  srv.close();
  assert.equal(fs.readFileSync(sock, 'utf8'), 'someone else\n');
});
