/**
 * The nftables backend's two ways of applying a change (issue #11): in this
 * process through libnftables, or by the `nft -i` coprocess. The library is
 * the in-memory twin of test/fakes/nft-twin.ts; the kernel path is covered by
 * test/netns (t-grants-nftables.sh, t-fw-coprocess.sh, t-fdleak.sh).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NftablesFirewall, LIB_SYNC_MAX } from '../../src/adapters/nft-firewall.js';
import type { NftLibrary } from '../../src/adapters/nft-lib.js';
import { GrantKeeper } from '../../src/daemon/grant-keeper.js';
import { parseConfig } from '../../src/core/config.js';
import { restartWarnings } from '../../src/core/config-options.js';
import type { Grant } from '../../src/core/grants/grants.js';
import { NftLibraryTwin } from '../fakes/nft-twin.js';
import { MemoryLogger } from '../fakes/twins.js';

const NOW = Date.UTC(2026, 10, 26, 3, 0, 0);
const SSH = [{ proto: 'tcp' as const, port: 22 }];
const g = (address: string, over: Partial<Grant> = {}): Grant => ({
  door: 'openSSH',
  address,
  family: 4,
  ports: SSH,
  expires: NOW + 30_000,
  ...over,
});
const el = (address: string) => `${address} . tcp . 22`;

class Coprocess extends EventEmitter {
  readonly pid = 4242;
  exitCode = null;
  signalCode = null;
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  kill(): boolean {
    return true;
  }
}

function backend(opts: { apply?: 'library' | 'process'; lib?: NftLibrary | string } = {}) {
  const execs: string[] = [];
  const spawned: Coprocess[] = [];
  const debug: string[] = [];
  const errors: string[] = [];
  let opened = 0;
  const fw = new NftablesFirewall({
    guardInterfaces: ['veth-s'],
    apply: opts.apply,
    debug: (m) => debug.push(m),
    exec: async (file, args) => {
      execs.push(`${file} ${args.join(' ')}`);
      return { code: 0, stdout: '', stderr: '' };
    },
    spawnNft: () => {
      const c = new Coprocess();
      spawned.push(c);
      return c as unknown as ChildProcessWithoutNullStreams;
    },
    openLibrary: () => {
      opened++;
      return opts.lib ?? 'no libnftables in this test';
    },
  });
  fw.onError = (m) => errors.push(m);
  fw.setGuarded(SSH);
  return { fw, execs, spawned, debug, errors, opened: () => opened };
}

test('library path: the check, syncs and each change run in this process, one run per change, no nft process', async () => {
  const lib = new NftLibraryTwin();
  const { fw, execs, spawned, debug } = backend({ lib });
  await fw.init();
  assert.equal(lib.runs.length, 1);
  assert.equal(lib.runs[0]!.check, true, 'init only checks (nft -c)');
  assert.match(lib.runs[0]!.text, /^table inet knockd\n/);
  assert.equal(lib.sets, null, 'a check changes nothing');
  assert.deepEqual(debug, [
    'firewall: nftables changes are applied in this process (grant changes as netlink messages, the table through libnftables)',
  ]);
  await fw.sync([g('192.0.2.5')], NOW);
  assert.deepEqual(lib.elements(), [el('192.0.2.5')]);
  assert.equal(fw.update({ open: g('192.0.2.6') }, NOW), true);
  assert.deepEqual(lib.elements(), [el('192.0.2.5'), el('192.0.2.6')]);
  await Promise.resolve(); // the next turn
  // A close and an open together are one run: one transaction.
  const before = lib.runs.length;
  assert.equal(fw.update({ close: g('192.0.2.5'), open: g('192.0.2.7') }, NOW), true);
  assert.equal(lib.runs.length, before + 1);
  assert.deepEqual(lib.elements(), [el('192.0.2.6'), el('192.0.2.7')]);
  assert.deepEqual(execs, [], 'no nft process for the check or the sync');
  assert.equal(spawned.length, 0, 'no coprocess');
  fw.close();
  assert.equal(lib.closed, true);
});

test('library path: the first change of a turn runs at once; the rest of the turn is one run at its end', async () => {
  const lib = new NftLibraryTwin();
  const { fw } = backend({ lib });
  await fw.sync([g('192.0.2.9')], NOW);
  const base = lib.runs.length;
  assert.equal(fw.update({ open: g('192.0.2.5') }, NOW), true);
  assert.equal(lib.runs.length, base + 1, 'a lone grant is in the kernel before update returns');
  assert.deepEqual(lib.elements(), [el('192.0.2.5'), el('192.0.2.9')]);
  for (const a of ['192.0.2.6', '192.0.2.7']) fw.update({ open: g(a) }, NOW);
  fw.update({ close: g('192.0.2.9') }, NOW);
  assert.equal(lib.runs.length, base + 1, 'queued until the turn ends');
  await Promise.resolve();
  assert.equal(lib.runs.length, base + 2, 'three changes, one run');
  assert.deepEqual(lib.elements(), [el('192.0.2.5'), el('192.0.2.6'), el('192.0.2.7')]);
  // The next turn starts afresh; a sync drops what it covers; close flushes.
  fw.update({ open: g('192.0.2.8') }, NOW);
  fw.update({ close: g('192.0.2.8') }, NOW);
  await fw.sync([g('192.0.2.8')], NOW);
  await Promise.resolve();
  assert.deepEqual(
    lib.elements(),
    [el('192.0.2.8')],
    'the queued close did not land after the sync',
  );
  fw.update({ open: g('192.0.2.1') }, NOW);
  fw.update({ open: g('192.0.2.2') }, NOW);
  fw.close();
  assert.deepEqual(lib.elements(), [el('192.0.2.1'), el('192.0.2.2'), el('192.0.2.8')]);
});

test('library path: a failed change never throws; it reaches onError once, after update returned', async () => {
  for (const failure of [
    'Error: Could not process rule: No such file or directory\nadd ...',
    'throw',
  ]) {
    const lib = new NftLibraryTwin();
    const { fw, errors } = backend({ lib });
    await fw.sync([], NOW);
    lib.failNext = failure;
    assert.equal(fw.update({ open: g('192.0.2.5') }, NOW), true);
    assert.deepEqual(errors, [], 'not reported from inside update (the packet path)');
    await Promise.resolve();
    assert.equal(errors.length, 1, failure);
    assert.match(
      errors[0]!,
      failure === 'throw'
        ? /^libnftables: addon failure$/
        : /^libnftables: Error: Could not process rule/,
    );
  }
});

test("library path: a change that fails (table deleted by hand) ends in the keeper's full sync, which restores every grant", async () => {
  const lib = new NftLibraryTwin();
  const { fw } = backend({ lib });
  const logger = new MemoryLogger();
  const keeper = new GrantKeeper(
    fw,
    logger,
    () => NOW,
    () => {},
  );
  await keeper.restore([], SSH);
  keeper.open('openSSH', '192.0.2.5', SSH, 30);
  assert.deepEqual(lib.elements(), [el('192.0.2.5')]);
  await new Promise((r) => setImmediate(r));
  lib.sets = null; // nft delete table inet knockd
  keeper.open('openSSH', '192.0.2.6', SSH, 30);
  await new Promise((r) => setImmediate(r)); // the reported error starts the full sync
  await keeper.close(); // which close waits for
  assert.match(
    logger.lines.join('\n'),
    /error: firewall: libnftables: Error: No such file or directory; resynchronising/,
  );
  assert.deepEqual(lib.elements(), [el('192.0.2.5'), el('192.0.2.6')]);
});

test('a sync above LIB_SYNC_MAX grants goes to an nft -f process; no coprocess starts after it', async () => {
  const lib = new NftLibraryTwin();
  const { fw, execs, spawned } = backend({ lib });
  const many = Array.from({ length: LIB_SYNC_MAX + 1 }, (_, i) => g(`10.0.${i >> 8}.${i & 255}`));
  await fw.sync(many, NOW);
  assert.deepEqual(execs, ['nft -f -']);
  assert.equal(lib.runs.length, 0);
  await fw.sync(many.slice(0, LIB_SYNC_MAX), NOW);
  assert.equal(lib.runs.length, 1, 'LIB_SYNC_MAX grants still run in this process');
  assert.equal(lib.elements().length, LIB_SYNC_MAX);
  assert.equal(spawned.length, 0);
});

test("library path: a failed sync or check is an E_FIREWALL error with nft's text", async () => {
  const lib = new NftLibraryTwin();
  const { fw } = backend({ lib });
  lib.failNext = 'Error: Could not process rule: Operation not supported';
  await assert.rejects(fw.init(), {
    code: 'E_FIREWALL',
    message: /kernel nf_tables support.*Operation not supported/,
  });
  lib.failNext = 'Error: syntax error';
  await assert.rejects(fw.sync([], NOW), {
    code: 'E_FIREWALL',
    message: /^nft -f failed: Error: syntax error$/,
  });
});

test('the coprocess when the library does not load or NftApply = process; NftApply = library without it fails the start', async () => {
  // Default, no library: the coprocess path, as before.
  let b = backend();
  await b.fw.init();
  assert.deepEqual(b.debug, [
    'firewall: nftables changes are applied by an nft -i process (no libnftables in this test)',
  ]);
  assert.deepEqual(b.execs, ['nft --version', 'nft -c -f -']);
  await b.fw.sync([], NOW);
  assert.equal(b.fw.update({ open: g('192.0.2.5') }, NOW), true);
  assert.equal(b.spawned.length, 1);
  assert.match(
    String(b.spawned[0]!.stdin.read()),
    /add element inet knockd grants4 \{ 192\.0\.2\.5 \. tcp \. 22 /,
  );
  // NftApply = process: the library is not even opened.
  const lib = new NftLibraryTwin();
  b = backend({ apply: 'process', lib });
  await b.fw.init();
  assert.equal(b.opened(), 0);
  assert.match(b.debug[0]!, /by an nft -i process \(NftApply = process\)/);
  assert.equal(b.fw.update({ open: g('192.0.2.5') }, NOW), true);
  assert.equal(b.spawned.length, 1);
  assert.equal(lib.runs.length, 0);
  // NftApply = library: with it, the library; without it, init fails.
  b = backend({ apply: 'library', lib });
  await b.fw.init();
  assert.equal(lib.runs.length, 1);
  b = backend({ apply: 'library' });
  await assert.rejects(b.fw.init(), {
    code: 'E_FIREWALL',
    message: 'NftApply = library: no libnftables in this test',
  });
});

test('the real loader: a build without native/nft gives a reason (the daemon then uses nft -i), never an exception', () => {
  const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'knock-nftlib-'));
  try {
    fs.cpSync(path.join(dist, 'src'), path.join(tmp, 'dist', 'src'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'package.json'), '{"type":"module"}');
    const r = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { openNftLibrary } from '${path.join(tmp, 'dist', 'src', 'adapters', 'nft-lib.js')}'; console.log(openNftLibrary());`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /the libnftables addon is not built \(.*native\/nft\/build\/Release\/knocknft\.node; needs libnftables-dev/,
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('NftApply: library or process, nftables only, a change needs a restart', () => {
  const parse = (opts: string) => parseConfig(`[options]\n${opts}\n[a]\nsequence = 1\n`, 'k.conf');
  const r = parse('Firewall = nftables\nNftApply = Process');
  assert.ok(r.ok);
  assert.deepEqual(r.ok ? r.config.options.nftApply : null, { mode: 'process', line: 3 });
  const bad = (opts: string) => {
    const p = parse(opts);
    return p.ok ? [] : p.problems.map((x) => `${x.file}:${x.line}: ${x.message}`);
  };
  assert.deepEqual(bad('Firewall = nftables\nNftApply = fast'), [
    "k.conf:3: NftApply must be library or process, got 'fast'",
  ]);
  assert.deepEqual(bad('Firewall = iptables\nNftApply = library'), [
    "k.conf:3: NftApply needs 'Firewall = nftables' in [options]",
  ]);
  const base = { useSyslog: false, firewall: 'nftables' as const };
  assert.deepEqual(
    restartWarnings(base, { ...base, nftApply: { mode: 'process', line: 3 } }, 'eth0'),
    ['NftApply changes need a restart; keeping the running path'],
  );
  assert.deepEqual(
    restartWarnings(
      { ...base, nftApply: { mode: 'process', line: 2 } },
      { ...base, nftApply: { mode: 'process', line: 9 } },
      'eth0',
    ),
    [],
  );
});
