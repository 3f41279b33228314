/** Reloads that change SPA and capture take effect without a restart. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { parseAccessConf } from '../../src/core/spa/access.js';
import { encodeSpa } from '../../src/core/spa/spa.js';
import { nodeSpaCrypto } from '../../src/adapters/spa-crypto.js';
import type { LoadedConfig, SpaSettings } from '../../src/daemon/ports.js';
import { harness, loaded, settle } from '../fakes/harness.js';
import { MemoryOneTime } from '../fakes/twins.js';

const K = crypto.randomBytes(32);
const H = crypto.randomBytes(64);
const CONF = `[options]\nfirewall = nftables\n[d]\nsequence = 1\nopen = tcp/22\n`;

function spa(port: number, socket: boolean): SpaSettings {
  const r = parseAccessConf(
    `SOURCE ANY\nKEY_BASE64 ${K.toString('base64')}\nHMAC_KEY_BASE64 ${H.toString('base64')}\nOPEN_PORTS tcp/22\n`,
    'access.conf',
  );
  assert.ok('stanzas' in r);
  return { stanzas: 'stanzas' in r ? r.stanzas : [], port, socket };
}

function packet(nowMs: number): Buffer {
  const text = encodeSpa(
    {
      user: 'u',
      timestamp: Math.floor(nowMs / 1000),
      allowIp: '192.0.2.44',
      access: [{ proto: 'tcp', port: 22 }],
    },
    { encKey: K, hmacKey: H, hmacAlg: 'sha256' },
    nodeSpaCrypto,
  );
  return Buffer.from(text, 'latin1');
}

test('reload turns SPA on (socket), moves its port, switches to capture and off again', async () => {
  let next: LoadedConfig = loaded(CONF);
  const t = harness(CONF, { reloadTo: () => next });
  await t.d.start();
  assert.deepEqual(t.capture.snaplens, [256]);
  assert.equal(t.datagrams.bound.size, 0);

  next = { ...loaded(CONF), spa: spa(62201, true) };
  assert.equal(await t.d.reload(), true);
  assert.deepEqual([...t.datagrams.bound.keys()], [62201]);
  assert.ok(t.datagrams.send(62201, packet(t.now()), '::ffff:192.0.2.44'.slice(7)));
  await settle();
  assert.equal(t.state.saved.grants[0]?.address, '192.0.2.44');

  next = { ...loaded(CONF), spa: spa(40000, true) };
  await t.d.reload();
  assert.deepEqual([...t.datagrams.bound.keys()], [40000], 'the port moved');

  next = { ...loaded(CONF), spa: spa(40000, false) };
  await t.d.reload();
  assert.equal(t.datagrams.bound.size, 0, 'capture mode needs no socket');
  assert.deepEqual(t.capture.snaplens, [256, 1600], 'capture reopened with whole datagrams');
  assert.match(t.capture.filters.at(-1)!, /udp dst port 40000/);

  next = loaded(CONF);
  await t.d.reload();
  assert.deepEqual(t.capture.snaplens, [256, 1600, 256]);
  assert.doesNotMatch(t.capture.filters.at(-1)!, /40000/);
  await t.d.shutdown();
});

test('a taken SPA port fails the start with a clear error; at reload the old socket stays', async () => {
  const t = harness(CONF, { spa: spa(62201, true) });
  t.datagrams.taken.add(62201);
  await assert.rejects(t.d.start(), /62201 is in use/);
  await t.d.shutdown();

  let next: LoadedConfig = { ...loaded(CONF), spa: spa(62201, true) };
  const u = harness(CONF, { spa: spa(62201, true), reloadTo: () => next });
  await u.d.start();
  u.datagrams.taken.add(50000);
  next = { ...loaded(CONF), spa: spa(50000, true) };
  await u.d.reload();
  assert.deepEqual([...u.datagrams.bound.keys()], [62201]);
  assert.ok(u.logger.lines.some((l) => l.includes('keeping the running SPA receiver')));
  await u.d.shutdown();
});

test('a one-time door that opens while a reload is under way does not get its used sequence back', async () => {
  const store = new MemoryOneTime([
    { line: 1, offset: 0, knocks: [1111, 2222].map((port) => ({ port, proto: 'tcp' as const })) },
    { line: 2, offset: 20, knocks: [3333, 4444].map((port) => ({ port, proto: 'tcp' as const })) },
  ]);
  const conf = `[ot]\none_time_sequences = /nonexistent/ot\nseq_timeout = 5\n`;
  // As the config loader does: the door's sequence is the file's first usable line.
  const build = () => {
    const l = loaded(conf);
    const first = store.read().usable[0]!;
    l.config.doors[0]!.sequence = first.knocks;
    l.oneTime.set(0, first);
    return l;
  };
  let release: (() => void) | undefined;
  const t = harness(conf, {
    initial: build(),
    oneTime: store,
    loader: {
      load: () => {
        // The files are read first; the loader's own awaits come after.
        const l = build();
        return new Promise((resolve) => (release = () => resolve({ ok: true, loaded: l })));
      },
    },
  });
  await t.d.start();
  const opens = () => t.logger.lines.filter((l) => l.includes('OPEN SESAME')).length;
  const reload = t.d.reload();
  while (release === undefined) await new Promise((r) => setImmediate(r));
  t.knock('192.0.2.5', 1111);
  t.knock('192.0.2.5', 2222);
  assert.equal(opens(), 1, 'the door opened during the reload, with the first line');
  release();
  assert.equal(await reload, true);
  t.knock('192.0.2.6', 1111);
  t.knock('192.0.2.6', 2222);
  assert.equal(opens(), 1, 'the used line does not open the door again');
  t.knock('192.0.2.7', 3333);
  t.knock('192.0.2.7', 4444);
  assert.equal(opens(), 2, 'the next line does');
  await t.d.shutdown();
});
