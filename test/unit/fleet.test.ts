/** Shared grants (issue #14): wire format, queue bounds, and grant keepers joined by an in-memory fleet. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, type Door } from '../../src/core/config.js';
import { parseRequest } from '../../src/core/control.js';
import { parseFleetUrl, redactFleetUrl } from '../../src/core/config-options.js';
import { parsePortList } from '../../src/core/port.js';
import { GrantKeeper } from '../../src/daemon/grant-keeper.js';
import { FleetQueue, MAX_QUEUE } from '../../src/daemon/fleet-queue.js';
import {
  decodeMessage,
  decodeStored,
  encodeMessage,
  MAX_OPS,
} from '../../src/daemon/fleet-wire.js';
import { FleetHub, MemoryFirewall, MemoryFleet, MemoryLogger } from '../fakes/twins.js';

const CONF = `[options]
  Firewall = nftables
  Fleet = redis://10.88.0.1:6379/0
  Fleet_Name = web
[ssh]
  Sequence = 7000,8000,9000
  Open = tcp/22
  Open_Timeout = 30
  Share = yes
[local]
  Sequence = 7001,8001
  Open = tcp/80
[shut]
  Sequence = 9999
  Close = tcp/22
  Share = yes
`;

function doors(text = CONF): Door[] {
  const r = parseConfig(text, 't.conf');
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
  return r.config.doors;
}

/** One daemon's grant keeper on the hub, with its own doors and firewall. */
function member(hub: FleetHub, host: string, text = CONF) {
  const ds = doors(text);
  const fw = new MemoryFirewall();
  fw.fast = true;
  const fleet = new MemoryFleet(hub, host);
  const logger = new MemoryLogger();
  const k = new GrantKeeper(
    fw,
    logger,
    hub.now,
    () => {},
    fleet,
    (n) => ds.find((d) => d.name === n),
  );
  k.startFleet();
  const ports = (address: string) =>
    k.table
      .all()
      .filter((g) => g.address === address)
      .flatMap((g) => g.ports.map((p) => `${g.door}:${p.proto}/${p.port}`))
      .sort();
  return { k, fw, fleet, logger, ds, ports };
}

const tcp22 = [{ proto: 'tcp' as const, port: 22 }];

test('config: Fleet, Fleet_Name, Fleet_Password_File, Fleet_Host and Share parse; bad values are errors', () => {
  const r = parseConfig(
    `${CONF.replace('Fleet_Name = web', 'Fleet_Name = web\n  Fleet_Password_File = /etc/knockd/redis.pw\n  Fleet_Host = s1')}`,
    't.conf',
  );
  assert.ok(r.ok);
  assert.deepEqual(r.config.options.fleet, {
    url: 'redis://10.88.0.1:6379/0',
    line: 3,
    name: 'web',
    passwordFile: '/etc/knockd/redis.pw',
    host: 's1',
  });
  assert.equal(r.config.doors[0]?.share, true);
  assert.equal(r.config.doors[1]?.share, undefined);
  const bad = (text: string, re: RegExp) => {
    const b = parseConfig(text, 't.conf');
    assert.ok(!b.ok && b.problems.some((p) => re.test(p.message)), JSON.stringify(b));
  };
  bad(CONF.replace('redis://10.88.0.1:6379/0', 'http://x'), /Fleet must be redis/);
  bad(CONF.replace('Fleet_Name = web', 'Fleet_Name = a b'), /Fleet_Name must be/);
  bad(CONF.replace('Share = yes', 'Share = maybe'), /Share must be yes or no, got 'maybe'/);
  bad(CONF.replace('  Fleet = redis://10.88.0.1:6379/0\n', ''), /need 'Fleet = redis/);
  bad(CONF.replace('Firewall = nftables', 'LogFile = /dev/null'), /Fleet needs 'Firewall/);
  // The password never reaches a message.
  bad(CONF.replace('redis://10.88.0.1:6379/0', 'redis://u:s3cret@h:99999'), /u:\*\*\*@/);
  assert.equal(redactFleetUrl('rediss://:pw@h:6380/2'), 'rediss://:***@h:6380/2');
  assert.deepEqual(parseFleetUrl('rediss://:pw@[fd00::1]:6380/2'), {
    tls: true,
    host: '[fd00::1]',
    port: 6380,
    db: 2,
  });
});

test('control: grants --fleet is a request; fleet takes only true', () => {
  assert.deepEqual(parseRequest('{"cmd":"grants","fleet":true}'), { cmd: 'grants', fleet: true });
  assert.deepEqual(parseRequest('{"cmd":"grants"}'), { cmd: 'grants' });
  assert.ok('error' in parseRequest('{"cmd":"grants","fleet":"yes"}'));
});

test('wire: a message round-trips; malformed changes are dropped and counted, oversize messages rejected', () => {
  const ports = (parsePortList('tcp/22,udp/53') as { ports: typeof tcp22 }).ports;
  const text = encodeMessage({
    from: 'a1',
    host: 's1',
    ops: [
      { op: 'open', door: 'ssh', address: '192.0.2.7', ttlMs: 30_000 },
      { op: 'revoke', address: '2001:db8::7' },
      { op: 'close', address: '192.0.2.7', ports },
    ],
  });
  const d = decodeMessage(text);
  assert.ok(!('error' in d));
  assert.equal(d.bad, 0);
  assert.deepEqual(d.msg.ops[2], { op: 'close', address: '192.0.2.7', ports });
  const hostile = JSON.stringify({
    v: 1,
    from: 'x',
    host: 'evil',
    ops: [
      { op: 'open', door: 'ssh', address: '192.0.2.007', ttlMs: 1000 }, // not canonical
      { op: 'open', door: 'ssh', address: '::FFFF:1.2.3.4', ttlMs: 1000 },
      { op: 'open', door: 'ssh', address: '192.0.2.7', ttlMs: 1e12 }, // beyond Open_Timeout's cap
      { op: 'open', door: 'ssh', address: '192.0.2.7', ttlMs: 1000, ports: 'tcp/1-65535' },
      { op: 'drop-table' },
    ],
  });
  const h = decodeMessage(hostile);
  assert.ok(!('error' in h));
  assert.equal(h.bad, 4);
  // Extra fields (ports) never survive decoding: an open names only a door.
  assert.deepEqual(h.msg.ops, [{ op: 'open', door: 'ssh', address: '192.0.2.7', ttlMs: 1000 }]);
  const many = Array.from({ length: MAX_OPS + 1 }, () => ({ op: 'revoke', address: '192.0.2.1' }));
  assert.ok('error' in decodeMessage(JSON.stringify({ v: 1, from: 'x', host: 'y', ops: many })));
  assert.ok('error' in decodeMessage('x'.repeat(70_000)));
  assert.equal(
    decodeStored('{"v":1,"door":"ssh","address":"10.0.0.01","host":"h","from":"f"}'),
    null,
  );
});

test('queue: bounded, coalescing, in order, and an open that ran out is not resurrected', () => {
  const q = new FleetQueue(3);
  assert.ok(q.push({ op: 'open', door: 'ssh', address: '192.0.2.1', ttlMs: 1000 }, 0));
  assert.ok(q.push({ op: 'revoke', address: '192.0.2.1' }, 0));
  assert.ok(q.push({ op: 'open', door: 'ssh', address: '192.0.2.2', ttlMs: 5000 }, 0));
  // Full: a new key is dropped, a refresh of a waiting key is not (and moves to the end).
  assert.equal(q.push({ op: 'open', door: 'ssh', address: '192.0.2.3', ttlMs: 5000 }, 0), false);
  assert.ok(q.push({ op: 'open', door: 'ssh', address: '192.0.2.1', ttlMs: 1000 }, 500));
  assert.equal(q.dropped, 1);
  assert.equal(q.size, 3);
  // At 1200: the .1 open (deadline 1500) has 300 ms left; .2 has 3800.
  assert.deepEqual(q.take(10, 1200), [
    { op: 'revoke', address: '192.0.2.1' },
    { op: 'open', door: 'ssh', address: '192.0.2.2', ttlMs: 3800 },
    { op: 'open', door: 'ssh', address: '192.0.2.1', ttlMs: 300 },
  ]);
  q.push({ op: 'open', door: 'ssh', address: '192.0.2.9', ttlMs: 1000 }, 0);
  assert.deepEqual(q.take(10, 1000), [], 'expired while waiting: dropped');
});

test("fleet: an open of a shared door reaches every member with the door's own ports; unshared doors stay local", () => {
  let now = 1_000_000;
  const hub = new FleetHub(() => now);
  const [a, b, c] = ['s1', 's2', 's3'].map((h) => member(hub, h)) as ReturnType<typeof member>[];
  a!.k.open('ssh', '192.0.2.7', tcp22, 30, true);
  a!.k.open('local', '192.0.2.7', [{ proto: 'tcp', port: 80 }], 30, false);
  a!.k.open('SPA', '192.0.2.8', [{ proto: 'tcp', port: 443 }], 30);
  assert.deepEqual(a!.ports('192.0.2.7'), ['local:tcp/80', 'ssh:tcp/22']);
  for (const m of [b!, c!]) {
    assert.deepEqual(m.ports('192.0.2.7'), ['ssh:tcp/22']);
    assert.deepEqual(m.ports('192.0.2.8'), []);
    assert.equal(m.k.originOf('ssh', '192.0.2.7'), 's1');
    assert.deepEqual(m.fw.updates.at(-1)?.open?.ports, tcp22, 'the firewall got the change');
    assert.ok(m.logger.lines.some((l) => /open tcp\/22 .*from fleet host s1/.test(l)));
    assert.equal(m.fleet.published.length, 0, 'a remote change is never re-published');
  }
  assert.equal(a!.fleet.published.length, 1);
  assert.equal(a!.k.originOf('ssh', '192.0.2.7'), undefined);
  // Expiry is local on each member: Open_Timeout (30 s) later it is gone everywhere.
  now += 30_001;
  for (const m of [a!, b!, c!]) {
    m.k.tick();
    assert.deepEqual(
      m.ports('192.0.2.7').filter((p) => p.startsWith('ssh')),
      [],
    );
  }
});

test("fleet: a hostile fleet opens only what this host's shared doors allow, for no longer than their Open_Timeout", () => {
  const now = 1_000_000;
  const hub = new FleetHub(() => now);
  const b = member(hub, 's2');
  const h = (op: Parameters<typeof b.k.applyRemote>[0]) => b.k.applyRemote(op, 'evil');
  assert.equal(
    h({ op: 'open', door: 'local', address: '192.0.2.9', ttlMs: 1000 }),
    false,
    'not shared',
  );
  assert.equal(
    h({ op: 'open', door: 'nope', address: '192.0.2.9', ttlMs: 1000 }),
    false,
    'no such door',
  );
  assert.equal(
    h({ op: 'open', door: 'shut', address: '192.0.2.9', ttlMs: 1000 }),
    false,
    'no Open',
  );
  assert.equal(h({ op: 'open', door: 'ssh', address: '192.0.2.09', ttlMs: 1000 }), false);
  assert.equal(b.k.fleetCounters.rejected, 4);
  assert.equal(b.k.table.size, 0);
  assert.ok(h({ op: 'open', door: 'ssh', address: '192.0.2.9', ttlMs: 86_400_000 }));
  const g = b.k.table.get('ssh', '192.0.2.9');
  assert.deepEqual(g?.ports, tcp22);
  assert.equal(g?.expires, now + 30_000, "capped at the door's Open_Timeout");
  // A remote revoke cannot touch a grant of an unshared door.
  b.k.open('local', '192.0.2.9', [{ proto: 'tcp', port: 80 }], 30);
  h({ op: 'revoke', address: '192.0.2.9' });
  assert.deepEqual(b.ports('192.0.2.9'), ['local:tcp/80']);
  // Nor can it shorten a live grant: an older open arriving late changes nothing.
  b.k.open('ssh', '192.0.2.10', tcp22, 30, true);
  assert.equal(h({ op: 'open', door: 'ssh', address: '192.0.2.10', ttlMs: 1000 }), false);
  assert.equal(b.k.table.get('ssh', '192.0.2.10')?.expires, now + 30_000);
});

test('fleet: knockctl revoke and a shared Close door act group-wide', () => {
  const now = 1_000_000;
  const hub = new FleetHub(() => now);
  const [a, b, c] = ['s1', 's2', 's3'].map((h) => member(hub, h)) as ReturnType<typeof member>[];
  a!.k.open('ssh', '192.0.2.7', tcp22, 30, true);
  b!.k.open('ssh', '192.0.2.8', tcp22, 30, true);
  assert.equal(hub.grants.size, 2);
  c!.k.revoke('192.0.2.7', undefined, 'revoked by admin', true);
  for (const m of [a!, b!, c!]) assert.deepEqual(m.ports('192.0.2.7'), []);
  assert.equal(hub.grants.size, 1, 'deleted from the store too (late joiners do not see it)');
  // The Close door on s2 closes tcp/22 for .8 on all three.
  b!.k.closePorts('192.0.2.8', tcp22, 'closed by knock', true);
  for (const m of [a!, b!, c!]) assert.deepEqual(m.ports('192.0.2.8'), []);
  assert.equal(hub.grants.size, 0);
  assert.ok(a!.logger.lines.some((l) => /close tcp\/22 \(closed by fleet host s2\)/.test(l)));
});

test('fleet: Redis away: local knocks open locally; when it returns live grants are published, expired ones not', () => {
  let now = 1_000_000;
  const hub = new FleetHub(() => now);
  const a = member(hub, 's1');
  const b = member(hub, 's2');
  hub.down();
  b.k.open('ssh', '192.0.2.20', tcp22, 30, true);
  b.k.open('ssh', '192.0.2.21', tcp22, 5, true);
  assert.deepEqual(b.ports('192.0.2.20'), ['ssh:tcp/22'], 'works locally');
  assert.deepEqual(a.ports('192.0.2.20'), []);
  assert.equal(b.fleet.queued, 2);
  now += 10_000; // the 5 s grant ran out during the outage
  b.k.tick();
  hub.up();
  assert.deepEqual(a.ports('192.0.2.20'), ['ssh:tcp/22']);
  assert.equal(
    a.k.table.get('ssh', '192.0.2.20')?.expires,
    1_000_000 + 30_000,
    'with the time it has left',
  );
  assert.deepEqual(a.ports('192.0.2.21'), [], 'not resurrected');
  assert.equal([...hub.grants.values()].filter((g) => g.address === '192.0.2.21').length, 0);
});

test('fleet: a daemon that joins (or restarts) late reads the live grants', () => {
  let now = 1_000_000;
  const hub = new FleetHub(() => now);
  const a = member(hub, 's1');
  a.k.open('ssh', '192.0.2.30', tcp22, 30, true);
  now += 12_000;
  const late = member(hub, 's3');
  assert.deepEqual(late.ports('192.0.2.30'), ['ssh:tcp/22']);
  assert.equal(late.k.table.get('ssh', '192.0.2.30')?.expires, 1_000_000 + 30_000);
});

test('fleet: a flood of distinct opens during an outage stays within the queue bound', () => {
  const now = 1_000_000;
  const hub = new FleetHub(() => now);
  const a = member(hub, 's1');
  const b = member(hub, 's2');
  hub.down();
  const n = MAX_QUEUE + 1000;
  for (let i = 0; i < n; i++)
    a.k.open('ssh', `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, tcp22, 30, true);
  assert.equal(a.fleet.queued, MAX_QUEUE);
  assert.equal(a.fleet.dropped, 1000);
  const before = hub.writes;
  hub.up();
  assert.equal(hub.writes - before, 1, 'one batched write, not one per grant');
  assert.equal(b.k.table.size, MAX_QUEUE);
});

test('openFleet: Fleet_Password_File must be private; "user password" or "password"', async () => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { openFleet } = await import('../../src/adapters/fleet.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleet-'));
  const pw = path.join(dir, 'pw');
  const logger = new MemoryLogger();
  const opts = { url: 'redis://192.0.2.1:6379/0', line: 1, name: 'g', passwordFile: pw };
  try {
    fs.writeFileSync(pw, 'knockd-g s3cret\n', { mode: 0o644 });
    fs.chmodSync(pw, 0o644);
    assert.throws(() => openFleet(opts, logger, Date.now), /Fleet_Password_File '.*pw': mode 644/);
    fs.chmodSync(pw, 0o600);
    const f = openFleet({ ...opts, host: 'web1' }, logger, Date.now);
    assert.equal(f.status().url, 'redis://192.0.2.1:6379/0');
    assert.equal(f.status().connected, false, 'nothing connects before start');
    await f.close();
    assert.throws(
      () => openFleet({ ...opts, passwordFile: path.join(dir, 'none') }, logger, Date.now),
      /Fleet_Password_File .*ENOENT/,
    );
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});

test('config: Fleet_CA needs an absolute path and rediss://; openFleet reads it as PEM', async () => {
  const tls = CONF.replace('redis://10.88.0.1:6379/0', 'rediss://10.88.0.1:6380/0');
  const r = parseConfig(
    tls.replace('Fleet_Name = web', 'Fleet_Name = web\n  Fleet_CA = /etc/knockd/ca.pem'),
    't.conf',
  );
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.config.options.fleet?.ca, { path: '/etc/knockd/ca.pem', line: 5 });
  const bad = (text: string, re: RegExp) => {
    const b = parseConfig(text, 't.conf');
    assert.ok(!b.ok && b.problems.some((p) => re.test(p.message)), JSON.stringify(b));
  };
  bad(
    tls.replace('Fleet_Name = web', 'Fleet_Name = web\n  Fleet_CA = ca.pem'),
    /Fleet_CA needs an absolute path, got 'ca.pem'/,
  );
  bad(
    CONF.replace('Fleet_Name = web', 'Fleet_Name = web\n  Fleet_CA = /etc/ca.pem'),
    /Fleet_CA needs a TLS URL/,
  );

  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { openFleet } = await import('../../src/adapters/fleet.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleet-ca-'));
  const ca = path.join(dir, 'ca.pem');
  const opts = { url: 'rediss://192.0.2.1:6380/0', line: 1, name: 'g', ca: { path: ca, line: 2 } };
  try {
    assert.throws(
      () => openFleet(opts, new MemoryLogger(), Date.now),
      /Fleet_CA '.*ca.pem': .*ENOENT/,
    );
    fs.writeFileSync(ca, 'not a certificate\n');
    assert.throws(() => openFleet(opts, new MemoryLogger(), Date.now), /no PEM certificate/);
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});

test('fleet: a shared Close of one port is stored: a daemon that joins late opens the rest only', () => {
  let now = 1_000_000;
  const hub = new FleetHub(() => now);
  const WEB = CONF.replace('Open = tcp/22\n', 'Open = tcp/22,tcp/80\n');
  const a = member(hub, 's1', WEB);
  const b = member(hub, 's2', WEB);
  const tcp80 = [{ proto: 'tcp' as const, port: 80 }];
  a.k.open('ssh', '192.0.2.40', [...tcp22, ...tcp80], 30, true);
  assert.deepEqual(b.ports('192.0.2.40'), ['ssh:tcp/22', 'ssh:tcp/80']);
  a.k.closePorts('192.0.2.40', tcp80, 'closed by knock', true);
  assert.deepEqual(a.ports('192.0.2.40'), ['ssh:tcp/22']);
  assert.deepEqual(b.ports('192.0.2.40'), ['ssh:tcp/22'], 'live members close it at once');
  now += 5000;
  const late = member(hub, 's3', WEB);
  assert.deepEqual(late.ports('192.0.2.40'), ['ssh:tcp/22'], 'the late member never opens tcp/80');
  assert.ok(
    !late.fw.updates.some((u) => u.open?.ports.some((p) => p.port === 80)),
    'not even for a moment',
  );
  // A member that still holds the whole grant (it missed the Close) loses the port at its next read.
  const stale = member(hub, 's4', WEB);
  stale.k.open('ssh', '192.0.2.40', [...tcp22, ...tcp80], 30);
  stale.fleet.reconnect();
  assert.deepEqual(stale.ports('192.0.2.40'), ['ssh:tcp/22']);
  // A new open (a new knock) opens everything again, and is stored without the closed list.
  b.k.open('ssh', '192.0.2.40', [...tcp22, ...tcp80], 30, true);
  const later = member(hub, 's5', WEB);
  assert.deepEqual(later.ports('192.0.2.40'), ['ssh:tcp/22', 'ssh:tcp/80']);
});
