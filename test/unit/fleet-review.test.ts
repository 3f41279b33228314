/**
 * The security review of shared attempts (issue #14): regression tests for
 * what it found. A slow Redis (connected, replies late) must not let steps
 * queued long ago complete a sequence now, past Seq_Timeout; a password
 * with '@' in the Fleet URL must not reach a log line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { COMMAND_OPTIONS } from '../../src/adapters/fleet.js';
import { RedisAttempts } from '../../src/adapters/fleet-attempts.js';
import { fleetKeys } from '../../src/daemon/fleet-wire.js';
import { redactFleetUrl } from '../../src/core/config-options.js';
import type { FleetAttemptStore, FleetKnock } from '../../src/daemon/ports.js';
import { harness, settle } from '../fakes/harness.js';
import { MemoryAttemptStore } from '../fakes/fleet-attempts.js';
import { FleetHub, MemoryFleet } from '../fakes/twins.js';

const CONF = `[options]
  Firewall = nftables
[ssh]
  Sequence = 7000,8000,9000
  Seq_Timeout = 5
  Open = tcp/22
  Open_Timeout = 30
  Share = yes
`;

const SRC = '192.0.2.10';

/** A store whose replies wait until `release` (a Redis that is slow but connected). */
class SlowStore implements FleetAttemptStore {
  connected = true;
  held = true;
  private waiting: (() => void)[] = [];
  readonly sent: FleetKnock[] = [];
  constructor(private readonly inner: MemoryAttemptStore) {}
  async step(knocks: readonly FleetKnock[]): Promise<number[]> {
    if (this.held) await new Promise<void>((r) => this.waiting.push(r));
    this.sent.push(...knocks);
    return this.inner.step(knocks);
  }
  release(): void {
    this.held = false;
    for (const r of this.waiting.splice(0)) r();
  }
}

async function slowMember(t: { after(fn: () => Promise<void>): void }) {
  let now = 5_000_000;
  const clock = () => now;
  const store = new SlowStore(new MemoryAttemptStore(clock));
  const fleet = Object.assign(new MemoryFleet(new FleetHub(clock), 's1'), { attempts: store });
  const m = harness(CONF, { fleet, clock });
  await m.d.start();
  t.after(() => m.d.shutdown());
  return { m, store, advance: (ms: number) => (now += ms) };
}

test('a slow Redis: steps queued longer than Seq_Timeout are not sent, so they complete nothing later', async (t) => {
  const { m, store, advance } = await slowMember(t);
  m.knock('192.0.2.99', 7000); // another source's step: the pipeline in flight that hangs
  await settle(5);
  m.knock(SRC, 7000);
  m.knock(SRC, 8000); // queued behind it (the local attempt is at stage 2)
  await settle(5);
  advance(60_000); // a minute later, far past Seq_Timeout = 5
  m.d.tick();
  m.knock(SRC, 9000);
  await settle(5);
  store.release();
  await settle(20);
  assert.equal(
    m.d.grants.table.get('ssh', SRC),
    undefined,
    'knocks 1 and 2 a minute before knock 3 open nothing (Seq_Timeout = 5)',
  );
  assert.ok(!m.logger.lines.some((l) => l.includes('across the fleet')));
  assert.ok(
    !store.sent.some((k) => k.source === SRC && k.token !== 't9000'),
    'the stale steps were shed, not written',
  );
  assert.ok(m.d.shared.counters.shed >= 2, 'and counted as shed');
});

test('a slow Redis: a step sent late gets the time left of its Seq_Timeout, not a fresh one', async (t) => {
  const { m, store, advance } = await slowMember(t);
  m.knock('192.0.2.99', 7000);
  await settle(5);
  m.knock(SRC, 7000);
  await settle(5);
  advance(3000);
  store.release();
  await settle(20);
  const k = store.sent.find((x) => x.source === SRC);
  assert.ok(k !== undefined, 'a step 3 s old (of 5) is still sent');
  assert.ok(k.timeoutMs <= 2000 && k.timeoutMs > 0, `its TTL is what is left: ${k.timeoutMs} ms`);
});

test('a Redis that answers at once is sent every step, with its full Seq_Timeout', async (t) => {
  const { m, store } = await slowMember(t);
  store.release();
  for (const p of [7000, 8000]) m.knock(SRC, p);
  await settle(5);
  assert.deepEqual(
    store.sent.map((k) => [k.token, k.timeoutMs]),
    [
      ['t7000', 5000],
      ['t8000', 5000],
    ],
  );
});

test('the Fleet URL: a password with @ (or any text before the last @) is never printed', () => {
  for (const url of [
    'redis://:p@ssw0rd@h:6379/0',
    'rediss://user:p@ssw0rd@h:6380/1',
    'REDIS://:p@ssw0rd@h',
    'redis://:pa/ssw0rd@h', // refused by the config, then quoted in its error
    'redis:/:p@ssw0rd@h', // a typo in the scheme
  ]) {
    const out = redactFleetUrl(url);
    assert.ok(!out.includes('ssw0rd'), `${url} -> ${out}`);
    assert.ok(out.endsWith('@h') || /@h[:/]/.test(out), `the host stays readable: ${out}`);
  }
  assert.equal(redactFleetUrl('rediss://:pw@h:6380/2'), 'rediss://:***@h:6380/2');
  assert.equal(redactFleetUrl('rediss://u:pw@h:6380/2'), 'rediss://u:***@h:6380/2');
  assert.equal(redactFleetUrl('redis://h:6379/0'), 'redis://h:6379/0');
});

/**
 * A proxy on a unix socket in front of redis-server that can stop passing
 * what the client sends (a path that drops packets) and cut the client off.
 */
function proxy(target: string, at: string) {
  let hold = false;
  const clients = new Set<net.Socket>();
  const srv = net.createServer((c) => {
    clients.add(c);
    const up = net.connect(target);
    c.on('data', (b) => {
      if (!hold) up.write(b);
    });
    up.on('data', (b) => c.write(b));
    const end = () => {
      clients.delete(c);
      c.destroy();
      up.destroy();
    };
    c.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  });
  return {
    listen: () => new Promise<void>((r) => srv.listen(at, r)),
    blackhole: (on: boolean) => (hold = on),
    cut: () => {
      for (const c of clients) c.destroy();
    },
    close: () => {
      for (const c of clients) c.destroy();
      srv.close();
    },
  };
}

const haveRedis = spawnSync('redis-server', ['--version']).status === 0;

test(
  'a step sent but unanswered when the connection drops is not resent after the reconnect',
  { skip: !haveRedis },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-review-'));
    const sock = path.join(dir, 'r.sock');
    const proc = spawn(
      'redis-server',
      ['--port', '0', '--unixsocket', sock, '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: 'ignore' },
    );
    const p = proxy(sock, path.join(dir, 'p.sock'));
    const admin = new Redis({ path: sock, lazyConnect: true });
    const r = new Redis({
      path: path.join(dir, 'p.sock'),
      lazyConnect: true,
      retryStrategy: () => 50,
      ...COMMAND_OPTIONS,
    });
    r.on('error', () => {});
    t.after(() => {
      r.disconnect();
      admin.disconnect();
      p.close();
      proc.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await settle(20);
    await p.listen();
    await admin.connect();
    await r.connect();
    const keys = fleetKeys('t');
    const store = new RedisAttempts(r, keys.attempt, () => r.status === 'ready');
    const seq = ['t7000', 't8000', 't9000'];
    const knock = { door: 'd', source: SRC, sequence: seq, timeoutMs: 5000 };
    assert.deepEqual(await store.step([{ ...knock, token: 't7000' }]), [1], 'the path works');
    await admin.del(keys.attempt(SRC, 'd'));

    p.blackhole(true);
    const late = store.step([{ ...knock, token: 't7000' }]).then(
      (v) => `answered ${JSON.stringify(v)}`,
      (e: Error) => `failed: ${e.message}`,
    );
    await settle(50);
    p.blackhole(false);
    p.cut(); // the stalled connection ends; ioredis reconnects 50 ms later
    const outcome = await Promise.race([late, settle(1000).then(() => 'still waiting')]);
    for (let i = 0; i < 50 && r.status !== 'ready'; i++) await settle(20);
    await settle(100);
    assert.match(outcome, /^failed/, 'the step in flight fails with the connection');
    assert.equal(
      await admin.exists(keys.attempt(SRC, 'd')),
      0,
      'and is not written after the reconnect',
    );
  },
);
