import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseJournal,
  serializeJournal,
  type JournalState,
} from '../../src/core/grants/journal.js';
import type { Grant } from '../../src/core/grants/grants.js';

const grant = (over: Partial<Grant> = {}): Grant => ({
  door: 'openSSH',
  address: '192.0.2.5',
  family: 4,
  ports: [{ proto: 'tcp', port: 22 }],
  expires: 1_795_623_663_000,
  ...over,
});
const DIGEST = '5Ge766VhygocDlaKWbh61j+rKGw0i+Tl6vLxvntmgNA';

function parsed(text: string): { state: JournalState; warnings: string[] } {
  const r = parseJournal(text);
  assert.ok('state' in r, `rejected whole: ${'error' in r ? r.error : ''}`);
  return r as { state: JournalState; warnings: string[] };
}

test('journal round-trips grants, stops (id, door, address, due), replay and used TOTP steps', () => {
  const state: JournalState = {
    grants: [grant(), grant({ address: '2001:db8::5', family: 6, door: 'v6' })],
    stops: [
      { id: 3, door: 'cmd', address: '192.0.2.7', due: 5 },
      { id: 4, door: 'cmd', address: '2001:db8::7', due: 6 },
    ],
    replay: [[DIGEST, 1795623663]],
    totp: [['otp', 59_000_000]],
  };
  const text = serializeJournal(state);
  assert.match(text, /^\{"version":2,/);
  const r = parsed(text);
  assert.deepEqual(r.state, state);
  assert.deepEqual(r.warnings, []);
});

test('serialize writes only the known fields (no command text reaches the file)', () => {
  const stop = { id: 1, door: 'cmd', address: '192.0.2.7', due: 5 };
  const text = serializeJournal({
    grants: [{ ...grant(), extra: 'x' } as Grant],
    stops: [{ ...stop, command: 'touch /tmp/pwned' } as typeof stop],
  });
  assert.doesNotMatch(text, /command|pwned|extra/);
});

test('one bad stop is skipped and reported; the other pending stops survive', () => {
  const text = JSON.stringify({
    version: 1,
    grants: [],
    stops: [
      { id: 1, door: 'cmd', address: '192.0.2.7', command: 'stop 192.0.2.7', due: 10 },
      { id: 2, door: 'cmd', address: 'not-an-ip', command: 'stop x', due: 10 },
      { id: 3, door: 'cmd', address: '192.0.2.9', command: 'stop 192.0.2.9', due: 10 },
    ],
  });
  const r = parsed(text);
  assert.deepEqual(
    r.state.stops.map((s) => s.id),
    [1, 3],
  );
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, /^stop 1 skipped: bad address "not-an-ip"$/);
});

test('one bad grant or replay entry is skipped and reported; the rest load', () => {
  const text = JSON.stringify({
    version: 2,
    grants: [
      grant(),
      { ...grant(), address: '192.0.2.5 ; rm -rf /' },
      { ...grant(), family: 6 },
      { ...grant(), ports: [] },
      { ...grant(), ports: [{ proto: 'tcp', port: 70000 }] },
      { ...grant(), expires: -1 },
      { ...grant(), door: 7 },
      'junk',
      grant({ address: '192.0.2.6' }),
    ],
    stops: [],
    replay: [
      [DIGEST, 1],
      ['short', 1],
      [DIGEST, 'x'],
    ],
  });
  const r = parsed(text);
  assert.deepEqual(
    r.state.grants.map((g) => g.address),
    ['192.0.2.5', '192.0.2.6'],
  );
  assert.deepEqual(r.state.replay, [[DIGEST, 1]]);
  assert.deepEqual(
    r.warnings.map((w) => w.replace(/:.*/, '')),
    [
      'grant 1 skipped',
      'grant 2 skipped',
      'grant 3 skipped',
      'grant 4 skipped',
      'grant 5 skipped',
      'grant 6 skipped',
      'grant 7 skipped',
      'replay entry 1 skipped',
      'replay entry 2 skipped',
    ],
  );
  assert.match(r.warnings[0]!, /bad address "192\.0\.2\.5 ; rm -rf \/"/);
});

test('addresses read from the journal are canonicalised', () => {
  const text = JSON.stringify({
    version: 2,
    grants: [{ ...grant(), address: '2001:DB8:0:0:0:0:0:5', family: 6 }],
    stops: [{ id: 1, door: 'cmd', address: '2001:0DB8::0007', due: 1 }],
  });
  const r = parsed(text);
  assert.equal(r.state.grants[0]!.address, '2001:db8::5');
  assert.equal(r.state.stops[0]!.address, '2001:db8::7');
  assert.deepEqual(r.warnings, []);
  for (const bad of ['192.0.2.01', '192.0.2.256', '::1::2', ' 192.0.2.5', '192.0.2.5\n', '']) {
    const w = parsed(
      JSON.stringify({
        version: 2,
        grants: [],
        stops: [{ id: 1, door: 'cmd', address: bad, due: 1 }],
      }),
    );
    assert.equal(w.state.stops.length, 0, JSON.stringify(bad));
    assert.equal(w.warnings.length, 1, JSON.stringify(bad));
  }
});

test('a version 1 stop loads without its command', () => {
  const text = JSON.stringify({
    version: 1,
    grants: [],
    stops: [{ id: 5, door: 'cmd', address: '2001:db8::7', command: 'touch /tmp/pwned-v1', due: 9 }],
  });
  const r = parsed(text);
  assert.deepEqual(r.state.stops, [{ id: 5, door: 'cmd', address: '2001:db8::7', due: 9 }]);
  assert.ok(!('command' in r.state.stops[0]!), 'the command text is not carried');
});

test('stops need a positive integer id, unique ids, a door and a due time', () => {
  const stop = { id: 1, door: 'cmd', address: '192.0.2.7', due: 1 };
  const r = parsed(
    JSON.stringify({
      version: 2,
      grants: [],
      stops: [
        stop,
        { ...stop, id: 0 },
        { ...stop, id: 1.5 },
        { ...stop, id: '2' },
        { ...stop, id: 1 },
        { ...stop, id: 7, door: '' },
        { ...stop, id: 8, due: Infinity },
        { ...stop, id: 9, due: undefined },
      ],
    }),
  );
  assert.deepEqual(
    r.state.stops.map((s) => s.id),
    [1],
  );
  assert.equal(r.warnings.length, 7);
  assert.match(r.warnings[3]!, /duplicate id 1/);
});

test('a file that is not a journal at all is rejected whole', () => {
  for (const bad of [
    '',
    '{',
    '[]',
    'null',
    '{"version":3,"grants":[],"stops":[]}',
    '{"version":"1","grants":[],"stops":[]}',
    '{"grants":[],"stops":[]}',
  ]) {
    assert.ok('error' in parseJournal(bad), bad);
  }
});

test('a section that is not a list is reported and the others still load', () => {
  const r = parsed(
    JSON.stringify({
      version: 2,
      grants: 'x',
      stops: [{ id: 1, door: 'd', address: '192.0.2.1', due: 1 }],
    }),
  );
  assert.equal(r.state.stops.length, 1);
  assert.deepEqual(r.warnings, ['grants is not a list; ignored']);
  // replay is optional (version 1 journals may lack it).
  assert.deepEqual(parsed('{"version":1,"grants":[],"stops":[]}').warnings, []);
});

test('warnings are bounded: a journal full of junk gives a summary, not a flood', () => {
  const stops = Array.from({ length: 1000 }, (_, i) => ({ id: i + 1, door: 'd', address: 'x' }));
  const r = parsed(JSON.stringify({ version: 2, grants: [], stops }));
  assert.equal(r.state.stops.length, 0);
  // MAX_JOURNAL_WARNINGS (20) itemised, then one summary line.
  assert.equal(r.warnings.length, 21);
  assert.equal(r.warnings.at(-1), '980 more bad journal entries skipped');
});
