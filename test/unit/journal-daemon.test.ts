/**
 * What the daemon does with the pending stops it reads back: the command is
 * rebuilt from the config, so command text in a journal never runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/core/config.js';
import { parseJournal, type JournalState } from '../../src/core/grants/journal.js';
import { Daemon } from '../../src/daemon/daemon.js';
import type { StateStore } from '../../src/adapters/state.js';
import type { CaptureSource } from '../../src/adapters/capture.js';
import { MemoryLogger, RecordingRunner } from '../fakes/twins.js';

const CONF = `[cmd]
sequence = 4
start_command = start %IP%
cmd_timeout = 100
stop_command = stop %IP%
[nostop]
sequence = 5
command = only-start %IP%
`;

const idle: CaptureSource = {
  linktype: 1,
  setFilter() {},
  start() {},
  stats: () => null,
  close() {},
};

/** A store holding exactly the given journal text, parsed as the file store would. */
function storeOf(text: string): StateStore & { saved: JournalState | null } {
  return {
    saved: null,
    load() {
      const r = parseJournal(text);
      assert.ok('state' in r);
      return { state: r.state, warnings: r.warnings };
    },
    save(s) {
      this.saved = structuredClone(s);
    },
  };
}

async function restart(text: string) {
  const r = parseConfig(CONF, 'j.conf');
  assert.ok(r.ok);
  const logger = new MemoryLogger();
  const runner = new RecordingRunner();
  const state = storeOf(text);
  const d = new Daemon(
    { config: r.ok ? r.config : { options: { useSyslog: false }, doors: [] }, oneTime: new Map() },
    { configPath: 'j.conf', iface: 'x', ipv4Only: false, lookup: false, debug: false },
    {
      logger,
      runner,
      openCapture: () => idle,
      addresses: () => [],
      now: () => 1_000_000,
      state,
    },
  );
  await d.start();
  await new Promise((res) => setImmediate(res));
  await d.shutdown();
  return { logger, runner, state };
}

test('a journaled command text never runs; the stop command comes from the config', async () => {
  const t = await restart(
    JSON.stringify({
      version: 1,
      grants: [],
      stops: [
        { id: 1, door: 'cmd', address: '192.0.2.7', command: 'touch /tmp/pwned-unit', due: 0 },
      ],
    }),
  );
  assert.deepEqual(t.runner.commands, ['stop 192.0.2.7']);
  assert.equal(t.state.saved?.stops.length, 0, 'the ran stop leaves the journal');
});

test('a pending stop for a door that is gone, or has no stop command, is dropped and logged', async () => {
  const t = await restart(
    JSON.stringify({
      version: 2,
      grants: [],
      stops: [
        { id: 1, door: 'removed', address: '192.0.2.7', family: 4, due: 0 },
        { id: 2, door: 'nostop', address: '192.0.2.8', family: 4, due: 0 },
        { id: 3, door: 'cmd', address: '2001:db8::9', family: 6, due: 0 },
      ],
    }),
  );
  assert.deepEqual(t.runner.commands, ['stop 2001:db8::9']);
  for (const [door, addr] of [
    ['removed', '192.0.2.7'],
    ['nostop', '192.0.2.8'],
  ] as const) {
    assert.ok(
      t.logger.lines.some(
        (l) => l.startsWith('warning: journal: dropped') && l.includes(addr) && l.includes(door),
      ),
      `no drop warning for ${door}: ${t.logger.lines.join(' | ')}`,
    );
  }
});

test('journal warnings are logged by the daemon', async () => {
  const t = await restart(
    JSON.stringify({
      version: 2,
      grants: [],
      stops: [{ id: 1, door: 'cmd', address: 'nope', family: 4, due: 0 }],
    }),
  );
  assert.deepEqual(t.runner.commands, []);
  assert.ok(
    t.logger.lines.includes('warning: stop 0 skipped: bad address "nope"'),
    t.logger.lines.join(' | '),
  );
});
