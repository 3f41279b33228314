import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { frame, pcapFile } from '../helpers/frames.js';
import { EXIT_CODES } from '../../src/core/errors.js';

// What each knockd command loads: only the live daemon needs the control
// socket, the firewall adapters and the rest of serve.ts, and a dry replay
// needs none of the adapters that make changes.
const here = path.dirname(fileURLToPath(import.meta.url));
const KNOCKD = path.resolve(here, '../../src/cli/knockd.js');
const TRACE = path.resolve(here, '../helpers/import-trace.js');

function loaded(...args: string[]): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-loading-'));
  const out = path.join(dir, 'trace');
  fs.writeFileSync(out, '');
  execFileSync(process.execPath, ['--import', TRACE, KNOCKD, ...args], {
    env: { ...process.env, IMPORT_TRACE: out },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  });
  const urls = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean);
  fs.rmSync(dir, { recursive: true });
  return urls.map((u) => u.replace(/^.*\/dist\/src\//, ''));
}

const LIVE_ONLY = [
  'cli/serve.js',
  'adapters/control.js',
  'adapters/firewall.js',
  'adapters/nft-firewall.js',
  'adapters/state.js',
  'adapters/notify.js',
  'adapters/netif.js',
];

const fixtures: string[] = [];
after(() => {
  for (const d of fixtures) fs.rmSync(d, { recursive: true, force: true });
});

/** A module this test says is not loaded must exist, or the check proves nothing. */
function exists(mods: readonly string[]): void {
  for (const m of mods)
    assert.ok(fs.existsSync(path.resolve(here, '../../src', m)), `no such module: ${m}`);
}

function fixture(spa = false): { conf: string; pcap: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-loading-fx-'));
  fixtures.push(dir);
  const conf = path.join(dir, 'knockd.conf');
  const access = path.join(dir, 'access.conf');
  const key = (n: number) => Buffer.alloc(32, n).toString('base64');
  fs.writeFileSync(
    access,
    `SOURCE ANY\nKEY_BASE64 ${key(1)}\nHMAC_KEY_BASE64 ${key(2)}\nOPEN_PORTS tcp/22\n`,
  );
  fs.writeFileSync(
    conf,
    `[options]\n  Firewall = iptables\n${spa ? `  SPA_Access = ${access}\n` : ''}[openSSH]\n  sequence = 7000,8000\n  seq_timeout = 5\n`,
  );
  const pcap = path.join(dir, 'k.pcap');
  const data = frame({ src: '192.0.2.5', dst: '192.0.2.1', dport: 7000 });
  fs.writeFileSync(pcap, pcapFile(1, [{ tsMs: 0, data }]));
  return { conf, pcap };
}

test('knockd --help and --check load none of the live daemon', () => {
  exists([
    ...LIVE_ONLY,
    'cli/replay.js',
    'daemon/daemon.js',
    'adapters/runner.js',
    'adapters/net.js',
  ]);
  const { conf } = fixture();
  for (const args of [['--help'], ['-c', conf, '--check']]) {
    const mods = loaded(...args);
    assert.ok(mods.includes('cli/knockd.js'), `the trace sees knockd.js: ${mods.join(' ')}`);
    for (const m of [...LIVE_ONLY, 'cli/replay.js', 'daemon/daemon.js'])
      assert.ok(!mods.includes(m), `${args.join(' ')} loads ${m}`);
  }
});

test('a dry knockd -r loads the daemon but no adapter that changes anything', () => {
  const { conf, pcap } = fixture();
  const mods = loaded('-c', conf, '-r', pcap);
  assert.ok(mods.includes('cli/replay.js') && mods.includes('daemon/daemon.js'));
  for (const m of [...LIVE_ONLY, 'adapters/runner.js', 'adapters/net.js'])
    assert.ok(!mods.includes(m), `knockd -r loads ${m}`);
});

// The SPA code a config without SPA_Access never runs: the access.conf parser,
// the verifier, the GPG path and the warm-up.
const SPA_ONLY = [
  'core/spa/access.js',
  'core/spa/policy.js',
  'core/spa/gpg.js',
  'daemon/spa-warm.js',
  'daemon/spa-gpg.js',
];

test('without SPA_Access, knockd -r and --check load no SPA parser or verifier; with it, they do', () => {
  exists(SPA_ONLY);
  const knockOnly = fixture();
  for (const args of [
    ['-c', knockOnly.conf, '-r', knockOnly.pcap],
    ['-c', knockOnly.conf, '--check'],
  ]) {
    const mods = loaded(...args);
    for (const m of SPA_ONLY) assert.ok(!mods.includes(m), `${args.join(' ')} loads ${m}`);
  }
  const spa = fixture(true);
  const mods = loaded('-c', spa.conf, '-r', spa.pcap);
  for (const m of SPA_ONLY) assert.ok(mods.includes(m), `with SPA_Access, knockd -r loads ${m}`);
  const checked = loaded('-c', spa.conf, '--check');
  for (const m of SPA_ONLY) assert.ok(checked.includes(m), `with SPA_Access, --check loads ${m}`);
});

test('knockd --check fails with E_SPA when the verifier cannot be loaded', () => {
  const spa = fixture(true);
  // A broken install: a copy of the build without the SPA policy module.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-loading-broken-'));
  fixtures.push(dir);
  const src = path.resolve(here, '../../src');
  fs.cpSync(src, path.join(dir, 'src'), { recursive: true });
  fs.rmSync(path.join(dir, 'src/core/spa/policy.js'));
  fs.symlinkSync(path.resolve(here, '../../../node_modules'), path.join(dir, 'node_modules'));
  const run = (root: string) =>
    spawnSync(process.execPath, [path.join(root, 'cli/knockd.js'), '-c', spa.conf, '--check'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
  assert.equal(run(src).status, 0, 'the intact build passes the check');
  const r = run(path.join(dir, 'src'));
  assert.equal(r.status, EXIT_CODES.E_SPA, r.stderr);
  assert.match(r.stderr, /cannot load the verifier: .*policy\.js/);
  assert.doesNotMatch(r.stdout, /configuration OK/);
});
