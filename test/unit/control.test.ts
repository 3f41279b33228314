import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_REQUEST_BYTES, parseRequest } from '../../src/core/control.js';

test('every address in a request is canonicalised before the daemon sees it', () => {
  const cases: [string, string][] = [
    ['192.0.2.1', '192.0.2.1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::FFFF:192.0.2.1', '::ffff:192.0.2.1'],
    ['0:0:0:0:0:0:0:1', '::1'],
  ];
  for (const [given, canon] of cases) {
    for (const cmd of ['revoke', 'grant']) {
      const r = parseRequest(JSON.stringify({ cmd, address: given, door: 'd' }));
      assert.ok(!('error' in r), `${cmd} ${given}: ${'error' in r ? r.error : ''}`);
      assert.equal('address' in r ? r.address : null, canon, `${cmd} ${given}`);
    }
  }
});

test('a request yields only the known fields', () => {
  assert.deepEqual(
    parseRequest(
      '{"cmd":"grant","address":"192.0.2.1","door":"x","command":"rm -rf /","__proto__":{"admin":true}}',
    ),
    { cmd: 'grant', address: '192.0.2.1', door: 'x' },
  );
  assert.deepEqual(parseRequest('{"cmd":"status","address":"junk"}'), { cmd: 'status' });
  assert.deepEqual(parseRequest('{"cmd":"revoke","address":"192.0.2.1"}'), {
    cmd: 'revoke',
    address: '192.0.2.1',
  });
});

test('bad addresses are refused with a reply that quotes them', () => {
  for (const bad of [
    '192.0.2.01',
    '192.0.2.256',
    '192.0.2',
    '192.0.2.1/32',
    ' 192.0.2.1',
    '192.0.2.1\n',
    '192.0.2.1; reboot',
    '$(reboot)',
    'fe80::1%eth0',
    '1::2::3',
    '',
    'localhost',
  ]) {
    for (const cmd of ['revoke', 'grant']) {
      const r = parseRequest(JSON.stringify({ cmd, address: bad, door: 'd' }));
      assert.ok('error' in r, `${cmd} accepted ${JSON.stringify(bad)}`);
      assert.ok(r.error.includes(JSON.stringify(bad)), r.error);
    }
  }
  for (const bad of [1, null, true, ['192.0.2.1'], { a: 1 }]) {
    const r = parseRequest(JSON.stringify({ cmd: 'revoke', address: bad }));
    assert.ok('error' in r, JSON.stringify(bad));
  }
  assert.ok('error' in parseRequest('{"cmd":"revoke"}'));
});

test('bad doors, commands and framings are refused', () => {
  for (const bad of [
    '{"cmd":"grant","address":"192.0.2.1"}',
    '{"cmd":"grant","address":"192.0.2.1","door":7}',
    '{"cmd":"grant","address":"192.0.2.1","door":""}',
    '{"cmd":"revoke","address":"192.0.2.1","door":null}',
    '{"cmd":"revoke","address":"192.0.2.1","door":""}',
    '{"cmd":"shutdown"}',
    '{"cmd":["status"]}',
    '{}',
    '[]',
    'null',
    '"status"',
    'nope',
    `{"cmd":"status","pad":"${'x'.repeat(MAX_REQUEST_BYTES)}"}`,
  ]) {
    assert.ok('error' in parseRequest(bad), bad.slice(0, 80));
  }
});
