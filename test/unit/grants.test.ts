import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GrantTable, type Grant } from '../../src/core/grants/grants.js';
import { parsePortList } from '../../src/core/port.js';
import { renderIptables, renderNft, datestop, safeName } from '../../src/core/grants/render.js';
import { parseRequest } from '../../src/core/control.js';
import { parseConfig } from '../../src/core/config.js';

const g = (over: Partial<Grant> = {}): Grant => ({
  door: 'openSSH',
  address: '192.0.2.5',
  family: 4,
  ports: [{ proto: 'tcp', port: 22 }],
  expires: Date.UTC(2026, 10, 25, 12, 0, 30, 500),
  ...over,
});

test('Open/Close port lists: tcp/N and udp/N, deduplicated, strict', () => {
  assert.deepEqual(parsePortList('tcp/22, UDP/60001,tcp/22'), {
    ports: [
      { proto: 'tcp', port: 22 },
      { proto: 'udp', port: 60001 },
    ],
  });
  for (const bad of ['', '22', 'tcp/0', 'tcp/70000', 'icmp/1', 'tcp/22,'])
    assert.ok('error' in parsePortList(bad), bad);
});

test('Open and Close need a Firewall backend; Open_Timeout defaults to 30', () => {
  const r = parseConfig('[d]\nsequence=1\nopen=tcp/22\n', 'f');
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.problems[0]!.message, /need 'Firewall = iptables' or 'nftables'/);
  const ok = parseConfig('[options]\nfirewall=nftables\n[d]\nsequence=1\nopen=tcp/22\n', 'f');
  assert.ok(ok.ok);
  assert.equal(ok.ok ? ok.config.doors[0]!.openTimeout : 0, 30);
  assert.equal(parseConfig('[options]\nfirewall=ufw\n', 'f').ok, false);
});

test('a repeated grant refreshes instead of adding; close removes only the named ports', () => {
  const t = new GrantTable();
  assert.equal(
    t.upsert(
      g({
        ports: [
          { proto: 'tcp', port: 22 },
          { proto: 'udp', port: 53 },
        ],
      }),
    ),
    'new',
  );
  assert.equal(
    t.upsert(
      g({
        expires: 5,
        ports: [
          { proto: 'tcp', port: 22 },
          { proto: 'udp', port: 53 },
        ],
      }),
    ),
    'refreshed',
  );
  assert.equal(t.size, 1);
  assert.equal(t.all()[0]!.expires, 5);
  const changed = t.revokePorts('192.0.2.5', [{ proto: 'tcp', port: 22 }]);
  assert.deepEqual(changed[0]!.ports, [{ proto: 'tcp', port: 22 }]);
  assert.deepEqual(t.all()[0]!.ports, [{ proto: 'udp', port: 53 }]);
  t.revokePorts('192.0.2.5', [{ proto: 'udp', port: 53 }]);
  assert.equal(t.size, 0, 'a grant with no ports left is gone');
});

test('expiry and revoke by address and door', () => {
  const t = new GrantTable();
  t.upsert(g({ expires: 100 }));
  t.upsert(g({ door: 'web', expires: 200 }));
  t.upsert(g({ address: '192.0.2.6', expires: 300 }));
  assert.deepEqual(
    t.expire(100).map((x) => x.door),
    ['openSSH'],
  );
  assert.equal(t.revoke('192.0.2.5', 'nope').length, 0);
  assert.equal(t.revoke('192.0.2.5').length, 1);
  assert.equal(t.size, 1);
});

test('iptables rendering: our chain flushed and refilled, datestop and comment on every rule', () => {
  const now = Date.UTC(2026, 10, 25, 12, 0, 0);
  const text = renderIptables(
    [
      g(),
      g({ address: '2001:db8::5', family: 6 }),
      g({ address: '192.0.2.9', expires: now - 1 }),
      g({ door: 'we"ird door' }),
    ],
    4,
    now,
  );
  assert.equal(
    text,
    [
      '*filter',
      ':KNOCKD - [0:0]',
      '-A KNOCKD -s 192.0.2.5/32 -p tcp -m tcp --dport 22 -m comment --comment "knockd door=openSSH expires=2026-11-25T12:00:30Z" -m time --datestop 2026-11-25T12:00:30 -j ACCEPT',
      '-A KNOCKD -s 192.0.2.5/32 -p tcp -m tcp --dport 22 -m comment --comment "knockd door=we_ird_door expires=2026-11-25T12:00:30Z" -m time --datestop 2026-11-25T12:00:30 -j ACCEPT',
      'COMMIT',
      '',
    ].join('\n'),
  );
  assert.match(
    renderIptables([g({ address: '2001:db8::5', family: 6 })], 6, now),
    /-s 2001:db8::5\/128 /,
  );
  assert.equal(datestop(Date.UTC(2026, 0, 2, 3, 4, 5, 999)), '2026-01-02T03:04:05');
  assert.equal(safeName('a b;c'), 'a_b_c');
});

test('nft rendering: atomic table replace, elements with the time left, the guard drops the rest', () => {
  const now = Date.UTC(2026, 10, 25, 12, 0, 0);
  const text = renderNft(
    [g(), g({ address: '2001:db8::5', family: 6, ports: [{ proto: 'udp', port: 53 }] })],
    [{ proto: 'tcp', port: 22 }],
    now,
  );
  assert.ok(text.startsWith('table inet knockd\ndelete table inet knockd\ntable inet knockd {\n'));
  assert.match(text, /elements = \{ 192\.0\.2\.5 \. tcp \. 22 timeout 30500ms \}/);
  assert.match(text, /elements = \{ 2001:db8::5 \. udp \. 53 timeout 30500ms \}/);
  assert.match(text, /elements = \{ tcp \. 22 \}/);
  assert.match(text, /ct state established,related accept\n\t\tip saddr/);
  assert.match(text, /meta l4proto \. th dport @guarded drop/);
  assert.doesNotMatch(renderNft([g({ expires: now })], [], now), /elements/);
});

// The journal's tests live in journal.test.ts.

test('control requests are validated before the daemon sees them', () => {
  assert.deepEqual(parseRequest('{"cmd":"status"}'), { cmd: 'status' });
  assert.deepEqual(parseRequest('{"cmd":"revoke","address":"2001:DB8::1"}'), {
    cmd: 'revoke',
    address: '2001:db8::1',
  });
  assert.deepEqual(parseRequest('{"cmd":"grant","address":"192.0.2.1","door":"x"}'), {
    cmd: 'grant',
    address: '192.0.2.1',
    door: 'x',
  });
  for (const bad of [
    'nope',
    '[]',
    '{}',
    '{"cmd":"grant","address":"1.2.3.4"}',
    '{"cmd":"revoke","address":"a;b"}',
    '{"cmd":"shutdown"}',
    'x'.repeat(5000),
  ]) {
    assert.ok('error' in parseRequest(bad), bad);
  }
});

test('log limiter: a burst passes, a flood is counted per door with distinct sources', async () => {
  const { LogLimiter } = await import('../../src/core/ratelimit.js');
  const l = new LogLimiter(10, 5, 3);
  let passed = 0;
  for (let i = 0; i < 100; i++) if (l.allow('d', `s${i % 4}`, 0)) passed++;
  assert.equal(passed, 5);
  assert.ok(l.allow('other', 'x', 0), 'doors have separate buckets');
  assert.deepEqual(l.drain(), [{ door: 'd', lines: 95, sources: 3, saturated: true }]);
  assert.deepEqual(l.drain(), []);
  assert.ok(l.allow('d', 'x', 1000), 'tokens refill with time');
});

test('nft fast-path lines: one atomic batch each, refresh-safe and delete-safe', async () => {
  const { nftGrantLine, nftRevokeLine } = await import('../../src/core/grants/render.js');
  const now = Date.UTC(2026, 10, 25, 12, 0, 0);
  assert.equal(
    nftGrantLine(g(), now),
    'add element inet knockd grants4 { 192.0.2.5 . tcp . 22 timeout 30500ms }; delete element inet knockd grants4 { 192.0.2.5 . tcp . 22 }; add element inet knockd grants4 { 192.0.2.5 . tcp . 22 timeout 30500ms }',
  );
  assert.equal(nftGrantLine(g({ expires: now }), now), null);
  assert.equal(
    nftRevokeLine(g({ address: '2001:db8::5', family: 6 })),
    'add element inet knockd grants6 { 2001:db8::5 . tcp . 22 timeout 1ms }; delete element inet knockd grants6 { 2001:db8::5 . tcp . 22 }',
  );
});
