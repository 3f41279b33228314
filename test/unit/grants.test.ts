import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GrantTable, type Grant } from '../../src/core/grants/grants.js';
import { parsePortList } from '../../src/core/port.js';
import { renderIptables, renderNft, datestop, safeName } from '../../src/core/grants/render.js';
import { parseRequest } from '../../src/core/control.js';
import { parseConfig } from '../../src/core/config.js';
import { NftablesFirewall } from '../../src/adapters/firewall.js';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough, Writable } from 'node:stream';

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
    ['veth-s'],
  );
  assert.ok(text.startsWith('table inet knockd\ndelete table inet knockd\ntable inet knockd {\n'));
  assert.match(text, /elements = \{ 192\.0\.2\.5 \. tcp \. 22 timeout 30s500ms \}/);
  assert.match(text, /elements = \{ 2001:db8::5 \. udp \. 53 timeout 30s500ms \}/);
  assert.match(text, /elements = \{ tcp \. 22 \}/);
  assert.match(text, /ct state established,related accept\n\t\tip saddr/);
  assert.match(text, /\n\t\tiifname \{ "veth-s" \} meta l4proto \. th dport @guarded drop\n/);
  assert.doesNotMatch(renderNft([g({ expires: now })], [], now, ['veth-s']), /elements/);
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
    'add element inet knockd grants4 { 192.0.2.5 . tcp . 22 timeout 30s500ms }; delete element inet knockd grants4 { 192.0.2.5 . tcp . 22 }; add element inet knockd grants4 { 192.0.2.5 . tcp . 22 timeout 30s500ms }',
  );
  assert.equal(nftGrantLine(g({ expires: now }), now), null);
  assert.equal(
    nftRevokeLine(g({ address: '2001:db8::5', family: 6 })),
    'add element inet knockd grants6 { 2001:db8::5 . tcp . 22 timeout 1ms }; delete element inet knockd grants6 { 2001:db8::5 . tcp . 22 }',
  );
});

test('a second open for one (door, source) with other ports keeps every port, so a revoke closes all', async () => {
  const { nftGrantLine, nftRevokeLine } = await import('../../src/core/grants/render.js');
  const t = new GrantTable();
  const tcp22 = { proto: 'tcp', port: 22 } as const;
  const tcp80 = { proto: 'tcp', port: 80 } as const;
  t.upsert(g({ door: 'SPA', ports: [tcp22], expires: 1000 }));
  assert.equal(t.upsert(g({ door: 'SPA', ports: [tcp80], expires: 2000 })), 'refreshed');
  const stored = t.get('SPA', '192.0.2.5');
  assert.deepEqual(stored?.ports, [tcp22, tcp80], 'the grant holds both ports');
  assert.equal(stored?.expires, 2000, 'the latest open sets the expiry of all of them');
  // The fast path refreshes, and later removes, every port of the stored grant.
  assert.match(nftGrantLine(stored!, 0) ?? '', /tcp \. 22 timeout 2s.*tcp \. 80 timeout 2s/);
  const gone = t.revoke('192.0.2.5');
  assert.deepEqual(gone[0]?.ports, [tcp22, tcp80]);
  assert.match(
    nftRevokeLine(gone[0]!),
    /delete element .* tcp \. 22 \}.*delete element .* tcp \. 80 \}/,
  );
  assert.equal(t.size, 0);
  assert.equal(t.get('SPA', '192.0.2.5'), undefined);
});

test('the nft guard never drops on loopback, and drops nowhere without an interface', () => {
  const guard = [{ proto: 'tcp', port: 22 } as const];
  assert.match(
    renderNft([], guard, 0, ['lo', 'eth0', 'wg0']),
    /\n\t\tiifname \{ "eth0", "wg0" \} meta l4proto \. th dport @guarded drop\n/,
  );
  for (const ifs of [[], ['lo']]) assert.doesNotMatch(renderNft([], guard, 0, ifs), /drop/);
});

test('huge timeouts: nft durations stay parseable, xt_time datestop is clamped to 2038', async () => {
  const { nftDuration, nftGrantLine } = await import('../../src/core/grants/render.js');
  assert.equal(nftDuration(30_500), '30s500ms');
  assert.equal(nftDuration(0.2), '1ms');
  // nft rejects a bare `100000000ms`: the same span in units.
  assert.equal(nftDuration(100_000_000), '1d3h46m40s');
  assert.equal(nftDuration(999_999_999_000), '11574d1h46m39s');
  const now = Date.UTC(2026, 10, 25, 12, 0, 0);
  assert.match(
    nftGrantLine(g({ expires: now + 3 * 86_400_000 }), now, false) ?? '',
    / timeout 3d \}$/,
  );
  assert.equal(datestop(Date.UTC(2040, 0, 1)), '2038-01-19T03:14:07');
  assert.match(
    renderIptables([g({ expires: now + 999_999_999_000 })], 4, now),
    /--datestop 2038-01-19T03:14:07 -j ACCEPT/,
  );
});

/** A stand-in for `nft -i`: records what it reads; can stall (a full pipe) and die. */
class FakeNft extends EventEmitter {
  static next = 100;
  readonly pid = FakeNft.next++;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly lines: string[] = [];
  stalled = false;
  private held: (() => void) | null = null;
  readonly stdin = new Writable({
    highWaterMark: 64,
    write: (chunk: Buffer, _enc, cb: () => void) => {
      this.lines.push(String(chunk));
      if (this.stalled) this.held = cb;
      else cb();
    },
  });
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.exitCode !== null || this.signalCode !== null) return false;
    this.die(null, signal);
    return true;
  }
  die(code: number | null, signal: NodeJS.Signals | null): void {
    this.exitCode = code;
    this.signalCode = signal;
    setImmediate(() => this.emit('exit', code, signal));
  }
  unstall(): void {
    this.stalled = false;
    const cb = this.held;
    this.held = null;
    cb?.();
  }
}

function fakeNftables() {
  const spawned: FakeNft[] = [];
  const errors: string[] = [];
  const calls: string[] = [];
  const fw = new NftablesFirewall({
    guardInterfaces: ['veth-s'],
    // These tests are of the coprocess; the library would touch this host's ruleset.
    apply: 'process',
    exec: async (file, args) => {
      calls.push(
        `${file} ${args.join(' ')} (coprocesses alive: ${spawned.filter((c) => c.exitCode === null && c.signalCode === null).length})`,
      );
      return { code: 0, stdout: '', stderr: '' };
    },
    spawnNft: () => {
      const c = new FakeNft();
      spawned.push(c);
      return c as unknown as ChildProcessWithoutNullStreams;
    },
  });
  fw.onError = (m) => errors.push(m);
  return { fw, spawned, errors, calls };
}
const tick = () => new Promise((r) => setImmediate(r));

test('nft coprocess death is reported once (for a full sync) and the next change starts a new one', async () => {
  const { fw, spawned, errors } = fakeNftables();
  const now = Date.UTC(2026, 10, 25, 12, 0, 0);
  assert.equal(fw.update({ open: g() }, now), true);
  assert.equal(spawned.length, 1);
  spawned[0]!.die(null, 'SIGKILL');
  spawned[0]!.stdin.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  await tick();
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0]!, /nft coprocess \(pid \d+\) .*re-applied by a full sync/);
  assert.equal(fw.update({ open: g({ address: '192.0.2.6' }) }, now), true);
  assert.equal(spawned.length, 2, 'restarted lazily, at the next change');
  assert.match(spawned[1]!.lines.join(''), /192\.0\.2\.6/);
  await tick();
  assert.equal(errors.length, 1, 'the dead one is not reported again');
});

test('nft coprocess backpressure: a full pipe sends changes to full syncs until it drains', async () => {
  const { fw, spawned } = fakeNftables();
  const now = Date.UTC(2026, 10, 25, 12, 0, 0);
  assert.equal(fw.update({ open: g() }, now), true);
  await tick();
  spawned[0]!.stalled = true;
  // The line that fills the pipe is queued in order; the next change is refused.
  assert.equal(fw.update({ open: g({ address: '192.0.2.6' }) }, now), true);
  assert.equal(fw.update({ open: g({ address: '192.0.2.7' }) }, now), false);
  assert.doesNotMatch(spawned[0]!.lines.join(''), /192\.0\.2\.7/);
  spawned[0]!.unstall();
  await tick();
  assert.equal(fw.update({ open: g({ address: '192.0.2.9' }) }, now), true);
});

test('a full sync first retires the coprocess, so a line it had not applied cannot land after it', async () => {
  const { fw, spawned, errors, calls } = fakeNftables();
  const now = Date.UTC(2026, 10, 25, 12, 0, 0);
  fw.update({ open: g() }, now);
  await fw.sync([], now);
  assert.equal(spawned[0]!.signalCode, 'SIGKILL');
  assert.deepEqual(calls, ['nft -f - (coprocesses alive: 0)']);
  assert.equal(spawned.length, 2, 'a fresh coprocess is started after the sync');
  await tick();
  assert.deepEqual(errors, [], 'retiring is not a death');
});
