import { test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, settle } from '../fakes/harness.js';
import type { MemoryStateStore } from '../fakes/twins.js';

const CONF = `[options]
firewall = nftables
[open]
sequence = 1,2
open = tcp/22
open_timeout = 10
[close]
sequence = 3
close = tcp/22
[cmd]
sequence = 4
start_command = start %IP%
cmd_timeout = 100
stop_command = stop %IP%
`;

const make = (state?: MemoryStateStore) => harness(CONF, state === undefined ? {} : { state });

test('open, refresh, close by knock: one grant, journaled, synced', async () => {
  const t = make();
  await t.d.start();
  t.knock('192.0.2.5', 1);
  t.knock('192.0.2.5', 2);
  t.knock('192.0.2.5', 1);
  t.knock('192.0.2.5', 2);
  await settle();
  assert.equal(t.state.saved.grants.length, 1);
  assert.equal(t.fw.synced.at(-1)!.length, 1);
  assert.deepEqual(t.fw.guarded, [{ proto: 'tcp', port: 22 }]);
  t.knock('192.0.2.5', 3);
  await settle();
  assert.equal(t.state.saved.grants.length, 0);
  assert.equal(t.fw.synced.at(-1)!.length, 0);
  assert.ok(t.logger.lines.some((l) => l === '192.0.2.5: open: close tcp/22 (closed by knock)'));
  await t.d.shutdown();
});

test('a restart restores live grants, drops expired ones, and runs overdue stop commands', async () => {
  const first = make();
  await first.d.start();
  first.knock('192.0.2.5', 1);
  first.knock('192.0.2.5', 2);
  first.knock('192.0.2.7', 4);
  await settle();
  assert.equal(first.state.saved.stops.length, 1);
  // "kill -9": no shutdown; a new daemon reads the same journal later.
  const second = make(first.state);
  second.advance(200_000); // past the grant and the stop's due time
  await second.d.start();
  await settle();
  assert.deepEqual(second.runner.commands, ['stop 192.0.2.7']);
  assert.equal(second.fw.synced[0]!.length, 0, 'the expired grant is not restored');
  await second.d.shutdown();
  assert.equal(second.state.saved.stops.length, 0);
  await first.d.shutdown(); // only to stop its timers

  const third = make();
  await third.d.start();
  third.knock('192.0.2.5', 1);
  third.knock('192.0.2.5', 2);
  await settle(); // the journal is written off the packet path, within ~50 ms
  const fourth = make(third.state);
  fourth.advance(5000);
  await fourth.d.start();
  assert.equal(fourth.fw.synced[0]!.length, 1, 'the live grant is restored');
  await fourth.d.shutdown();
  await third.d.shutdown();
});

test('control: grant and revoke by an admin; errors for unknown doors', async () => {
  const t = make();
  await t.d.start();
  assert.deepEqual(await t.d.control({ cmd: 'grant', address: '2001:db8::9', door: 'open' }), {
    granted: 'tcp/22',
    seconds: 10,
  });
  const st = (await t.d.control({ cmd: 'grants' })) as {
    grants: { address: string; secondsLeft: number }[];
  };
  assert.equal(st.grants[0]!.address, '2001:db8::9');
  assert.equal(st.grants[0]!.secondsLeft, 10);
  assert.throws(
    () => t.d.control({ cmd: 'grant', address: '192.0.2.1', door: 'cmd' }),
    /no Open ports/,
  );
  assert.throws(
    () => t.d.control({ cmd: 'grant', address: '192.0.2.1', door: 'zz' }),
    /no door named/,
  );
  assert.deepEqual(await t.d.control({ cmd: 'revoke', address: '2001:db8::9' }), { revoked: 1 });
  await t.d.shutdown();
});
