/**
 * What the daemon does with the pending stops it reads back: the command is
 * rebuilt from the config, so command text in a journal never runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJournal, type JournalState } from '../../src/core/grants/journal.js';
import { harness, settle } from '../fakes/harness.js';
import { MemoryStateStore } from '../fakes/twins.js';

const CONF = `[cmd]
sequence = 4
start_command = start %IP%
cmd_timeout = 100
stop_command = stop %IP%
[nostop]
sequence = 5
command = only-start %IP%
`;

/** A store holding exactly the given journal text, parsed as the file store parses it. */
class TextStore extends MemoryStateStore {
  constructor(private readonly text: string) {
    super();
  }
  override load(): { state: JournalState; warnings: string[] } {
    const r = parseJournal(this.text);
    assert.ok('state' in r, 'error' in r ? r.error : '');
    return { state: r.state, warnings: r.warnings };
  }
}

async function restart(text: string) {
  const t = harness(CONF, { state: new TextStore(text) });
  await t.d.start();
  await settle();
  await t.d.shutdown();
  return t;
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
  assert.equal(t.state.saved.stops.length, 0, 'the stop that ran leaves the journal');
  assert.doesNotMatch(JSON.stringify(t.state.saved), /pwned/);
});

test('a pending stop for a door that is gone, or has no stop command, does not run', async () => {
  const t = await restart(
    JSON.stringify({
      version: 2,
      grants: [],
      stops: [
        { id: 1, door: 'removed', address: '192.0.2.7', due: 0 },
        { id: 2, door: 'nostop', address: '192.0.2.8', due: 0 },
        { id: 3, door: 'cmd', address: '2001:db8::9', due: 0 },
      ],
    }),
  );
  assert.deepEqual(t.runner.commands, ['stop 2001:db8::9']);
  for (const [door, addr] of [
    ['removed', '192.0.2.7'],
    ['nostop', '192.0.2.8'],
  ] as const) {
    assert.ok(
      t.logger.lines.some((l) => l.includes('dropped') && l.includes(addr) && l.includes(door)),
      `no drop line for ${door}: ${t.logger.lines.join(' | ')}`,
    );
  }
});

test('journal warnings are logged by the daemon, and the good entries still run', async () => {
  const t = await restart(
    JSON.stringify({
      version: 2,
      grants: [],
      stops: [
        { id: 1, door: 'cmd', address: 'nope', due: 0 },
        { id: 2, door: 'cmd', address: '192.0.2.9', due: 0 },
      ],
    }),
  );
  assert.deepEqual(t.runner.commands, ['stop 192.0.2.9']);
  assert.ok(
    t.logger.lines.includes('warning: stop 0 skipped: bad address "nope"'),
    t.logger.lines.join(' | '),
  );
});
