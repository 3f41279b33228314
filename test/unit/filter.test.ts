import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildFilter } from '../../src/core/knock/filter.js';

const SEQ = [
  { port: 7000, proto: 'tcp' as const },
  { port: 8000, proto: 'udp' as const },
  { port: 9000, proto: 'tcp' as const },
];

test('the filter names every sequence port, the local addresses and the door flags', () => {
  const f = buildFilter(
    [{ sequence: SEQ, tcpFlags: { set: 2, clear: 16 } }],
    ['10.0.0.1', 'fd00::1'],
    false,
  );
  for (const s of [
    'tcp dst port 7000',
    'tcp dst port 9000',
    'udp dst port 8000',
    'dst host 10.0.0.1',
    'dst host fd00::1',
    'tcp[13] & 18 == 2',
    'vlan and',
  ]) {
    assert.ok(f.includes(s), `${s} in ${f}`);
  }
  assert.ok(!f.includes('tcp dst port 8000'));
});

test('Target doors filter on the target; -4 restricts to IPv4; no door means match nothing', () => {
  const f = buildFilter(
    [{ sequence: SEQ, tcpFlags: { set: 0, clear: 0 }, target: '192.0.2.7' }],
    ['10.0.0.1'],
    true,
  );
  assert.ok(f.includes('dst host 192.0.2.7'));
  assert.ok(f.startsWith('(ip and ('));
  assert.ok(!f.includes('ip6[6]'));
  assert.equal(buildFilter([], [], false), 'less 1');
});
