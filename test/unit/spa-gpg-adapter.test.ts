/**
 * The gpg adapter's process handling, with stand-in executables (shell
 * scripts at GPG_EXE's place): argv carries no secret, the passphrase
 * travels on its own pipe, the child sees no descriptor beyond its five,
 * and a run that hangs or floods its output is killed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GpgProcess, gpgArgs, MAX_PLAINTEXT } from '../../src/adapters/spa-gpg.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-gpg-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
function exe(name: string, body: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o700 });
  return p;
}
const req = { homeDir: '/nonexistent/home', ciphertext: new Uint8Array([0x85, 1, 2, 3]) };

test("gpg's argv: batch, status on fd 3, the passphrase fd only with a passphrase, which is never in it", () => {
  const with_ = gpgArgs({ ...req, exe: '/usr/bin/gpg', passphrase: 'sekrit' });
  assert.deepEqual(with_.slice(0, 7), [
    '--homedir',
    '/nonexistent/home',
    '--batch',
    '--no-tty',
    '--quiet',
    '--status-fd',
    '3',
  ]);
  assert.ok(with_.includes('--passphrase-fd') && with_.includes('--no-auto-key-retrieve'));
  assert.equal(with_.at(-1), '--decrypt');
  assert.ok(!with_.join(' ').includes('sekrit'));
  assert.ok(!gpgArgs({ ...req, exe: '/usr/bin/gpg' }).includes('--passphrase-fd'));
});

test('the passphrase on fd 4, the ciphertext on stdin, status from fd 3; no other descriptor inherited', async () => {
  const fake = exe(
    'echo-gpg',
    'printf "%s " "$@"; echo; wc -c; ls /proc/$$/fd | tr "\\n" " " >&2; cat <&4 >&3',
  );
  const r = await new GpgProcess().decrypt({ ...req, exe: fake, passphrase: 'sekrit' });
  assert.ok(r.ok, JSON.stringify(r));
  const out = Buffer.from(r.plaintext).toString();
  assert.ok(!out.includes('sekrit'), out);
  assert.match(out, /--passphrase-fd 4 --decrypt \n4\n/);
  assert.equal(r.status, 'sekrit\n');
  const fds = await new GpgProcess().decrypt({
    ...req,
    exe: exe('fds', 'ls /proc/$$/fd'),
    passphrase: 'x',
  });
  assert.ok(fds.ok);
  // Beyond its five: the shell's own script (dash: fd 10) and what this
  // process itself inherited without close-on-exec (a test harness's pipe).
  // Nothing the daemon opens leaks: Node opens every descriptor O_CLOEXEC.
  const passedOn = new Set(
    fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        const flags = /flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
        return Number(fd) > 2 && flags !== null && (parseInt(flags[1] ?? '0', 8) & 0o2000000) === 0;
      } catch {
        return false;
      }
    }),
  );
  const open = Buffer.from(fds.plaintext).toString().trim().split(/\s+/);
  assert.deepEqual(
    open.filter((fd) => fd !== '10' && !passedOn.has(fd)).sort(),
    ['0', '1', '2', '3', '4'],
    `open: ${open.join(' ')}; inherited: ${[...passedOn].join(' ')}`,
  );
});

test('a gpg that hangs is killed (SIGKILL) at the timeout; one that floods is killed at the bound', async () => {
  const t0 = Date.now();
  const hang = await new GpgProcess(200).decrypt({
    ...req,
    exe: exe('hang', 'trap "" TERM; exec sleep 30'),
  });
  assert.deepEqual(hang, { ok: false, reason: 'gpg took longer than 200 ms' });
  assert.ok(Date.now() - t0 < 5000);
  const flood = await new GpgProcess().decrypt({ ...req, exe: exe('flood', 'exec cat /dev/zero') });
  assert.deepEqual(flood, {
    ok: false,
    reason: `gpg wrote more than ${MAX_PLAINTEXT} bytes of plaintext`,
  });
  const status = await new GpgProcess().decrypt({
    ...req,
    exe: exe('sflood', 'exec cat /dev/zero >&3'),
  });
  assert.ok(!status.ok && /bytes of status/.test(status.reason));
  const missing = await new GpgProcess().decrypt({ ...req, exe: path.join(dir, 'missing') });
  assert.ok(!missing.ok && /^cannot run .*ENOENT/.test(missing.reason), JSON.stringify(missing));
});

test('a gpg still running when the daemon exits is killed, not left behind', async () => {
  const pidFile = path.join(dir, 'hung.pid');
  const hung = exe('hung', `echo $$ >"${pidFile}"; exec sleep 30`);
  // The daemon's way out: shutdown ends with process.exit while gpg may still run.
  const script = `
    import { GpgProcess } from ${JSON.stringify(new URL('../../src/adapters/spa-gpg.js', import.meta.url).href)};
    import fs from 'node:fs';
    void new GpgProcess(60_000).decrypt({ exe: ${JSON.stringify(hung)}, homeDir: '/nonexistent', ciphertext: new Uint8Array(4) });
    const t = setInterval(() => { if (fs.existsSync(${JSON.stringify(pidFile)})) { clearInterval(t); process.exit(0); } }, 10);
  `;
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 });
  assert.equal(r.status, 0, r.stderr.toString());
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  const alive = () => {
    try {
      process.kill(pid, 0);
      return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2]?.startsWith('Z');
    } catch {
      return false;
    }
  };
  const wasAlive = alive();
  if (wasAlive) process.kill(pid, 'SIGKILL'); // leave nothing behind either way
  assert.equal(wasAlive, false, `gpg (pid ${pid}) outlived the daemon`);
});
