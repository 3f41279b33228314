/** The daemon's modules, each wired to in-memory twins. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, type Door } from '../../src/core/config.js';
import { CommandScheduler, COOLDOWN_MS } from '../../src/daemon/commands.js';
import { EventLog } from '../../src/daemon/event-log.js';
import { GrantKeeper, MAX_GRANTS } from '../../src/daemon/grant-keeper.js';
import { reasonLabel } from '../../src/daemon/spa-service.js';
import { JournalWriter } from '../../src/daemon/journal-writer.js';
import type { RunResult } from '../../src/daemon/ports.js';
import {
  FakeResolver,
  MemoryFirewall,
  MemoryLogger,
  MemoryStateStore,
  RecordingRunner,
} from '../fakes/twins.js';
import { settle } from '../fakes/harness.js';

function doors(conf: string): Door[] {
  const r = parseConfig(conf, 't.conf');
  assert.ok(r.ok);
  return r.ok ? r.config.doors : [];
}

const DOORS = doors(`[a]
sequence = 1
start_command = start a %IP%
stop_command = stop a %IP%
cmd_timeout = 5
[b]
sequence = 2
start_command = start b %IP%
`);
const A = DOORS[0]!;
const B = DOORS[1]!;

function scheduler(max = 2) {
  let now = 1_000_000;
  const runner = new RecordingRunner();
  const logger = new MemoryLogger();
  let persists = 0;
  const s = new CommandScheduler(
    runner,
    logger,
    () => now,
    (n) => DOORS.find((d) => d.name === n),
    () => {
      persists++;
      return Promise.resolve();
    },
    max,
  );
  return { s, runner, logger, advance: (ms: number) => (now += ms), persists: () => persists };
}

test('commands: a door runs at most MaxCommands at once; the rest are dropped, other doors unaffected', async () => {
  const t = scheduler(2);
  t.runner.hold = true;
  for (let i = 1; i <= 50; i++) t.s.onOpen(A, `192.0.2.${i}`, 4);
  t.s.onOpen(B, '192.0.2.99', 4);
  await settle(5);
  assert.equal(t.runner.commands.filter((c) => c.startsWith('start a')).length, 2);
  assert.deepEqual(
    t.runner.commands.filter((c) => c.startsWith('start b')),
    ['start b 192.0.2.99'],
    'a flooded door does not starve another door',
  );
  assert.deepEqual(t.s.drainDropped(), [{ door: 'a', dropped: 48 }]);
  t.runner.finishAll();
  await settle(5);
  t.s.onOpen(A, '192.0.2.200', 4);
  await settle(5);
  assert.ok(t.runner.commands.includes('start a 192.0.2.200'), 'slots come back when commands end');
  t.runner.hold = false;
  t.runner.finishAll();
  await t.s.shutdown();
  assert.equal(t.runner.commands.filter((c) => c.startsWith('stop a')).length, 3);
});

test('commands: one start per (door, source) per cooldown', async () => {
  const t = scheduler(16);
  t.s.onOpen(B, '192.0.2.1', 4);
  t.s.onOpen(B, '192.0.2.1', 4);
  t.s.onOpen(B, '192.0.2.2', 4);
  t.advance(COOLDOWN_MS);
  t.s.onOpen(B, '192.0.2.1', 4);
  await settle(5);
  assert.deepEqual(t.runner.commands, [
    'start b 192.0.2.1',
    'start b 192.0.2.2',
    'start b 192.0.2.1',
  ]);
  await t.s.shutdown();
});

test('commands: the stop is persisted before the start runs, and rebuilt from the config', async () => {
  const t = scheduler();
  t.s.onOpen(A, '192.0.2.7', 4);
  assert.equal(t.s.pending().length, 1);
  assert.deepEqual(Object.keys(t.s.pending()[0]!).sort(), ['address', 'door', 'due', 'id']);
  await settle(5);
  assert.ok(t.persists() >= 1);
  await t.s.shutdown(); // shutdown runs pending stops at once
  assert.deepEqual(t.runner.commands, ['start a 192.0.2.7', 'stop a 192.0.2.7']);
});

test('commands: a restored stop for a door that is gone is dropped, never run from disk', async () => {
  const t = scheduler();
  t.s.restore([{ id: 4, door: 'gone', address: '192.0.2.8', due: 0 }]);
  await settle(5);
  assert.deepEqual(t.runner.commands, []);
  assert.ok(t.logger.lines.some((l) => l.includes('pending stop command dropped')));
});

test('commands: a delay past setTimeout range is not run at once', async () => {
  const t = scheduler();
  const days40 = 40 * 86_400_000;
  t.s.restore([{ id: 1, door: 'a', address: '192.0.2.9', due: 1_000_000 + days40 }]);
  await settle(20);
  assert.deepEqual(
    t.runner.commands,
    [],
    'a 40-day stop must wait (setTimeout would fire at once)',
  );
  assert.equal(t.s.pending().length, 1);
  await t.s.shutdown();
  assert.deepEqual(t.runner.commands, ['stop a 192.0.2.9']);
});

test('commands: a runner that rejects or throws is a logged failure, never an unhandled rejection', async () => {
  const logger = new MemoryLogger();
  const s = new CommandScheduler(
    { run: (): Promise<RunResult> => Promise.reject(new Error('spawn EAGAIN')) },
    logger,
    () => 0,
    () => B,
    () => Promise.resolve(),
  );
  s.onOpen(B, '192.0.2.1', 4);
  await s.shutdown();
  assert.ok(logger.lines.some((l) => l.includes('could not start: spawn EAGAIN')));
  assert.equal(s.counters.failed, 1);
});

test('journal writer: a burst of changes is one write; flush waits for it', async () => {
  const store = new MemoryStateStore();
  let n = 0;
  const w = new JournalWriter(
    store,
    () => ({ grants: [], stops: [], replay: [[`d${n}`, 1]] }),
    new MemoryLogger(),
  );
  for (n = 1; n <= 1000; n++) w.markDirty();
  assert.equal(store.saves, 0, "nothing is written on the caller's path");
  await w.flush();
  assert.equal(store.saves, 1);
  assert.deepEqual(store.saved.replay, [['d1001', 1]]);
  w.markDirty();
  const t0 = performance.now();
  await w.flush();
  assert.ok(performance.now() - t0 >= 40, 'writes are spaced by the minimum interval');
  assert.equal(store.saves, 2);
});

test('journal writer: a failing store is reported once and flush still resolves', async () => {
  const logger = new MemoryLogger();
  const w = new JournalWriter(
    {
      load: () => ({ state: { grants: [], stops: [] }, warnings: [] }),
      save: () => {
        throw new Error('EROFS');
      },
    },
    () => ({ grants: [], stops: [] }),
    logger,
  );
  w.markDirty();
  await w.flush();
  w.markDirty();
  await w.flush();
  assert.equal(logger.lines.filter((l) => l.includes('EROFS')).length, 1);
});

test('event log: -l looks up only printed lines, a bounded number at once, and caches misses', async () => {
  let now = 0;
  const resolver = new FakeResolver();
  const logger = new MemoryLogger();
  const log = new EventLog(logger, () => now, resolver, true);
  for (let i = 0; i < 1000; i++)
    log.log({ kind: 'stage', door: A, src: `192.0.2.${i % 250}.`, stage: 1 });
  assert.ok(resolver.asked.length <= 8, `in flight: ${resolver.asked.length}`);
  resolver.answerAll(null);
  await settle(1);
  now += 60_000;
  const before = resolver.asked.length;
  log.log({ kind: 'stage', door: A, src: resolver.asked[0]!, stage: 1 });
  assert.equal(resolver.asked.length, before, 'a negative answer is cached');
});

test('event log: OPEN lines are rate limited too, with a summary', () => {
  const logger = new MemoryLogger();
  const log = new EventLog(logger, () => 0, new FakeResolver(), false);
  for (let i = 0; i < 500; i++)
    log.log({ kind: 'open', door: A, doorIndex: 0, src: `10.9.${i >> 8}.${i & 255}`, family: 4 });
  const opens = logger.lines.filter((l) => l.endsWith('OPEN SESAME')).length;
  assert.ok(opens > 0 && opens <= 50, `${opens} OPEN lines`);
  assert.match(log.summaries().join('\n'), /a: \d+ OPEN lines from 4\d\d sources suppressed/);
});

test('commands: a stop stays in the journal while it waits for a slot and runs (review R7)', async () => {
  const t = scheduler(1);
  t.runner.hold = true;
  t.s.onOpen(A, '192.0.2.7', 4); // holds the only slot; its stop is due in 5 s
  await settle(5);
  t.advance(6000);
  // The stop comes due while the start still holds the slot: it waits, and stays pending.
  (t.s as unknown as { arm(e: unknown): void }).arm(t.s.pending()[0]);
  await settle(5);
  assert.equal(t.s.pending().length, 1, 'a waiting stop is still in the journal');
  t.runner.hold = false;
  t.runner.finishAll();
  await settle(20);
  assert.deepEqual(t.runner.commands, ['start a 192.0.2.7', 'stop a 192.0.2.7']);
  assert.equal(t.s.pending().length, 0, 'removed once it ran');
  await t.s.shutdown();
});

test('grants: the table stops at MAX_GRANTS (refreshes still pass) and grant lines are rate limited', async () => {
  const logger = new MemoryLogger();
  const keeper = new GrantKeeper(
    new MemoryFirewall(),
    logger,
    () => 0,
    () => {},
  );
  const port = [{ proto: 'tcp' as const, port: 22 }];
  let refused = 0;
  for (let i = 0; i < MAX_GRANTS + 10; i++) {
    const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    if (keeper.open('d', a, port, 30) === null) refused++;
  }
  assert.equal(keeper.table.size, MAX_GRANTS);
  assert.equal(refused, 10);
  assert.notEqual(keeper.open('d', '10.0.0.0', port, 60), null, 'a refresh passes when full');
  assert.ok(logger.lines.length <= 60, `${logger.lines.length} grant lines`);
  await keeper.close();
});

test('SPA rejection labels do not carry the values they quote (review R3)', () => {
  assert.equal(
    reasonLabel('no access.conf stanza for source 198.51.100.7'),
    'no access.conf stanza for source',
  );
  assert.equal(reasonLabel('packet is 301 s old'), 'packet is');
  assert.equal(reasonLabel('replayed packet'), 'replayed packet');
  assert.equal(reasonLabel("bad allow IP '010.1.2.3'"), 'bad allow IP');
});
