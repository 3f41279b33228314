/**
 * The step script on a real redis-server agrees with its TypeScript twin on
 * every (stored stage, knock, sequence) of a table, TTL included; and the
 * README's ACL lets a group's user run it. The server is started here, by
 * pid, on a unix socket in a temp directory (no TCP port); skipped when
 * redis-server is not installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { RedisAttempts } from '../../src/adapters/fleet-attempts.js';
import { knockToken, stepAttempt, storedAfter } from '../../src/daemon/fleet-attempt-script.js';
import { fleetKeys } from '../../src/daemon/fleet-wire.js';

const have = spawnSync('redis-server', ['--version']).status === 0;

async function server(): Promise<{ sock: string; proc: ChildProcess; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-redis-'));
  const sock = path.join(dir, 'r.sock');
  const proc = spawn(
    'redis-server',
    ['--port', '0', '--unixsocket', sock, '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(fs.existsSync(sock), 'redis-server did not start');
  return { sock, proc, dir };
}

const keys = fleetKeys('t');
const T = (p: number) => knockToken('tcp', p);
const SEQS = [
  [T(7000), T(8000), T(9000)],
  [T(7000), T(7000), T(8000)],
  [T(7000), knockToken('udp', 7000), T(7000), T(9000)],
  [T(7000), T(8000)],
];
const TOKENS = [T(7000), T(8000), T(9000), knockToken('udp', 7000), T(1)];
/** What the key holds before the step: nothing, a stage, or garbage a hostile Redis could hold. */
const STORED: (string | null)[] = [null, '0', '1', '2', '3', '4', '1.5', '-1', 'x', '1e400'];
const PRIOR_TTL = 100_000;
const TIMEOUT = 5000;

test('the Lua step and its TypeScript twin agree, TTL included', { skip: !have }, async () => {
  const { sock, proc, dir } = await server();
  const r = new Redis({ path: sock, lazyConnect: true });
  try {
    await r.connect();
    const store = new RedisAttempts(r, keys.attempt, () => true);
    let cases = 0;
    for (const seq of SEQS)
      for (const stored of STORED)
        for (const token of TOKENS) {
          const key = keys.attempt('192.0.2.1', 'd');
          if (stored === null) await r.del(key);
          else await r.set(key, stored, 'PX', PRIOR_TTL);
          const [got] = await store.step([
            { door: 'd', source: '192.0.2.1', token, sequence: seq, timeoutMs: TIMEOUT },
          ]);
          const before = stored === null ? 0 : Number(stored);
          const want = stepAttempt(before, token, seq);
          const what = `seq ${seq.join(',')} stored ${stored} knock ${token}`;
          assert.equal(got, want, what);
          const kept = storedAfter(want, seq.length);
          const value = await r.get(key);
          assert.equal(value, kept === null ? null : String(kept), `${what}: value`);
          if (kept !== null) {
            const ttl = await r.pttl(key);
            const norm =
              Number.isInteger(before) && before >= 1 && before < seq.length ? before : 0;
            const restarted = want === 1 && norm !== 1;
            if (restarted) assert.ok(ttl > 0 && ttl <= TIMEOUT, `${what}: ttl ${ttl} restarts`);
            else assert.ok(ttl > TIMEOUT, `${what}: ttl ${ttl} kept`);
          }
          cases++;
        }
    assert.equal(cases, SEQS.length * STORED.length * TOKENS.length);

    // One pipeline keeps the order of its steps.
    await r.del(keys.attempt('192.0.2.2', 'd'));
    const seq = SEQS[0] as string[];
    const k = (token: string) => ({
      door: 'd',
      source: '192.0.2.2',
      token,
      sequence: seq,
      timeoutMs: TIMEOUT,
    });
    assert.deepEqual(
      await store.step([k(T(7000)), k(T(8000)), k(T(8000)), k(T(9000))]),
      [1, 2, 2, 3],
    );

    // The README's ACL for a group's user: the script runs with +eval +evalsha, not without.
    const acl = (extra: string[]) => [
      'ACL',
      'SETUSER',
      'knockd-t',
      'reset',
      'on',
      '>pw',
      '~knockd:t:*',
      '&knockd:t:*',
      '+@read',
      '+@write',
      '+@pubsub',
      '+scan',
      '+ping',
      ...extra,
      '-@dangerous',
    ];
    await r.call(...(acl(['+eval', '+evalsha']) as [string, ...string[]]));
    const u = new Redis({
      path: sock,
      username: 'knockd-t',
      password: 'pw',
      lazyConnect: true,
      enableReadyCheck: false,
    });
    await u.connect();
    const us = new RedisAttempts(u, keys.attempt, () => true);
    assert.deepEqual(await us.step([k(T(7000))]), [1]);
    await r.call(...(acl([]) as [string, ...string[]]));
    await assert.rejects(us.step([k(T(8000))]), /NOPERM|permission/i);
    u.disconnect();
  } finally {
    r.disconnect();
    proc.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'a shared Close is stored with the grant (CLOSE_LUA): a daemon that starts later reads it',
  { skip: !have },
  async () => {
    const { sock, proc, dir } = await server();
    const { RedisFleet } = await import('../../src/adapters/fleet.js');
    const { MemoryLogger } = await import('../fakes/twins.js');
    const mk = (host: string) =>
      new RedisFleet({ url: sock, group: 'c', host, logger: new MemoryLogger(), now: Date.now });
    const seen: unknown[] = [];
    const a = mk('h1');
    const b = mk('h2');
    const until = async (ok: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 100 && !(await ok()); i++) await new Promise((r) => setTimeout(r, 20));
    };
    try {
      a.start({ onRemote: () => {} });
      await until(() => a.status().connected);
      a.publish({ op: 'open', door: 'web', address: '192.0.2.40', ttlMs: 60_000 });
      await until(async () => (await a.grants()).length === 1);
      a.publish({ op: 'close', address: '192.0.2.40', ports: [{ proto: 'tcp', port: 80 }] });
      a.publish({ op: 'close', address: '192.0.2.40', ports: [{ proto: 'udp', port: 53 }] });
      await until(async () => (await a.grants())[0]?.closed?.length === 2);
      const [g] = await a.grants();
      assert.deepEqual(g?.closed, [
        { proto: 'tcp', port: 80 },
        { proto: 'udp', port: 53 },
      ]);
      assert.ok((g?.ttlMs ?? 0) > 50_000, 'the TTL is kept');
      b.start({ onRemote: (op) => seen.push(op) });
      await until(() => seen.length > 0);
      assert.deepEqual(seen[0], {
        op: 'open',
        door: 'web',
        address: '192.0.2.40',
        ttlMs: (seen[0] as { ttlMs: number }).ttlMs,
        closed: g?.closed,
      });
      // A malformed closed list fails closed: the grant is not read at all.
      const r = new Redis({ path: sock });
      const key = fleetKeys('c').grant('192.0.2.41', 'web');
      await r.set(
        key,
        JSON.stringify({
          v: 1,
          door: 'web',
          address: '192.0.2.41',
          host: 'x',
          from: 'y',
          closed: 'tcp/99999',
        }),
        'PX',
        60_000,
      );
      assert.equal((await a.grants()).filter((x) => x.address === '192.0.2.41').length, 0);
      r.disconnect();
    } finally {
      await a.close();
      await b.close();
      proc.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'a Redis whose ACL refuses the Close script still takes the grants around it (logged once)',
  { skip: !have },
  async () => {
    const { sock, proc, dir } = await server();
    const { RedisFleet } = await import('../../src/adapters/fleet.js');
    const { MemoryLogger } = await import('../fakes/twins.js');
    const admin = new Redis({ path: sock });
    // The ACL of earlier releases: no eval, no evalsha.
    await admin.call(
      'ACL',
      'SETUSER',
      'old',
      'on',
      '>pw',
      '~knockd:o:*',
      '&knockd:o:*',
      '+@read',
      '+@write',
      '+@pubsub',
      '+scan',
      '+ping',
      '-@dangerous',
    );
    const logger = new MemoryLogger();
    const f = new RedisFleet({
      url: sock,
      group: 'o',
      host: 'h1',
      username: 'old',
      password: 'pw',
      logger,
      now: Date.now,
    });
    const until = async (ok: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 100 && !(await ok()); i++) await new Promise((r) => setTimeout(r, 20));
    };
    try {
      f.start({ onRemote: () => {} });
      await until(() => f.status().connected);
      f.publish({ op: 'open', door: 'web', address: '192.0.2.50', ttlMs: 60_000 });
      f.publish({ op: 'close', address: '192.0.2.50', ports: [{ proto: 'tcp', port: 80 }] });
      f.publish({ op: 'close', address: '192.0.2.50', ports: [{ proto: 'tcp', port: 81 }] });
      f.publish({ op: 'open', door: 'web', address: '192.0.2.51', ttlMs: 60_000 });
      await until(async () => (await f.grants()).length === 2);
      assert.deepEqual((await f.grants()).map((g) => g.address).sort(), [
        '192.0.2.50',
        '192.0.2.51',
      ]);
      assert.equal(f.status().queued, 0, 'nothing held back');
      assert.equal(
        logger.lines.filter((l) => l.includes('did not store a shared Close')).length,
        1,
      );
    } finally {
      await f.close();
      admin.disconnect();
      proc.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
