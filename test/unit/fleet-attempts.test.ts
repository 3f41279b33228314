/**
 * Shared attempts (issue #14 item 2): daemons on one in-memory group whose
 * attempt table is the step script's TypeScript twin. Knocks spread over the
 * members open all of them; local doors, wrong knocks, outages and a
 * spoofed first-knock flood behave as documented.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ATTEMPT_RATE } from '../../src/daemon/fleet-budget.js';
import { knockToken, stepAttempt, storedAfter } from '../../src/daemon/fleet-attempt-script.js';
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
[local]
  Sequence = 7001,8001,9001
  Open = tcp/80
`;

const SRC = '192.0.2.10';

/** Three daemons (s1, s2, s3) on one hub and one attempt store, on a shared clock. */
async function group(conf = CONF) {
  let t = 5_000_000;
  const clock = () => t;
  const hub = new FleetHub(clock);
  const store = new MemoryAttemptStore(clock);
  const members = ['s1', 's2', 's3'].map((host) => {
    const fleet = Object.assign(new MemoryFleet(hub, host), { attempts: store });
    return harness(conf, { fleet, clock });
  });
  for (const m of members) await m.d.start();
  const granted = (i: number, door = 'ssh', src = SRC) =>
    members[i]!.d.grants.table.get(door, src) !== undefined;
  return {
    hub,
    store,
    members,
    granted,
    advance: (ms: number) => (t += ms),
    stop: () => Promise.all(members.map((m) => m.d.shutdown())),
  };
}

const opens = (lines: string[]) => lines.filter((l) => l.includes('OPEN SESAME')).length;

test('the twin: next knock advances, a repeat changes nothing, a wrong knock resets or restarts', () => {
  const seq = [7000, 8000, 9000].map((p) => knockToken('tcp', p));
  const [a, b, c] = seq as [string, string, string];
  assert.equal(stepAttempt(0, a, seq), 1);
  assert.equal(stepAttempt(1, b, seq), 2);
  assert.equal(stepAttempt(2, c, seq), 3);
  assert.equal(storedAfter(3, 3), null, 'a complete attempt is not kept');
  assert.equal(stepAttempt(1, a, seq), 1, 'a retransmitted first knock');
  assert.equal(stepAttempt(2, b, seq), 2, 'a retransmitted second knock');
  assert.equal(stepAttempt(2, a, seq), 1, 'the first knock restarts');
  assert.equal(stepAttempt(1, c, seq), 0, 'a wrong knock resets');
  assert.equal(stepAttempt(0, b, seq), 0);
  assert.equal(stepAttempt(0, knockToken('udp', 7000), seq), 0, 'the protocol counts');
  assert.equal(stepAttempt(Number.NaN, a, seq), 1, 'a garbage stage is no attempt');
  assert.equal(stepAttempt(7, b, seq), 0);
});

test('knocks 1, 2, 3 on three servers open the shared door on all three', async () => {
  const g = await group();
  const [s1, s2, s3] = g.members as [
    ReturnType<typeof harness>,
    ReturnType<typeof harness>,
    ReturnType<typeof harness>,
  ];
  s1.knock(SRC, 7000);
  await settle(5);
  s2.knock(SRC, 8000);
  await settle(5);
  assert.ok(![0, 1, 2].some((i) => g.granted(i)), 'not open before the last knock');
  s3.knock(SRC, 9000);
  await settle(5);
  assert.deepEqual(
    [0, 1, 2].map((i) => g.granted(i)),
    [true, true, true],
  );
  assert.ok(
    s3.logger.lines.some((l) => l.includes(`${SRC}: ssh: sequence completed across the fleet`)),
  );
  assert.equal(opens(s3.logger.lines), 1, 'the server of the last knock opens it');
  assert.equal(g.store.stages.size, 0, 'the complete attempt is gone from the store');
  await g.stop();
});

test('local doors keep the local path: spread knocks open nothing and send no step', async () => {
  const g = await group();
  const before = g.store.steps;
  g.members[0]!.knock(SRC, 7001);
  g.members[1]!.knock(SRC, 8001);
  g.members[2]!.knock(SRC, 9001);
  await settle(5);
  assert.equal(g.store.steps, before);
  assert.ok(![0, 1, 2].some((i) => g.granted(i, 'local')));
  await g.stop();
});

test('a sequence on one server opens once (the local machine), not again from the store', async () => {
  const g = await group();
  const s1 = g.members[0]!;
  for (const p of [7000, 8000, 9000]) s1.knock(SRC, p);
  await settle(5);
  assert.deepEqual(
    [0, 1, 2].map((i) => g.granted(i)),
    [true, true, true],
  );
  assert.equal(opens(s1.logger.lines), 1);
  assert.ok(!s1.logger.lines.some((l) => l.includes('across the fleet')));
  assert.equal(g.store.stages.size, 0, 'the store saw it complete too');
  await g.stop();
});

test('a wrong knock on another server ends the shared attempt; it times out from the first knock', async () => {
  const g = await group();
  const [s1, s2, s3] = g.members as [
    ReturnType<typeof harness>,
    ReturnType<typeof harness>,
    ReturnType<typeof harness>,
  ];
  s1.knock(SRC, 7000);
  await settle(5);
  s2.knock(SRC, 9000);
  await settle(5);
  s3.knock(SRC, 8000);
  await settle(5);
  s3.knock(SRC, 9000);
  await settle(5);
  assert.ok(![0, 1, 2].some((i) => g.granted(i)), 'reset by the wrong knock');

  s1.knock(SRC, 7000);
  await settle(5);
  g.advance(3000);
  s2.knock(SRC, 8000);
  await settle(5);
  g.advance(2500); // 5.5 s after the first knock: past seq_timeout = 5
  s3.knock(SRC, 9000);
  await settle(5);
  assert.ok(![0, 1, 2].some((i) => g.granted(i)), 'timed out');
  await g.stop();
});

test('Redis away: nothing is queued, a local sequence still opens locally', async () => {
  const g = await group();
  g.store.connected = false;
  g.hub.down();
  const s2 = g.members[1]!;
  for (const p of [7000, 8000, 9000]) s2.knock(SRC, p);
  await settle(5);
  assert.equal(g.store.steps, 0);
  assert.equal(s2.d.shared.queued, 0);
  assert.ok(g.granted(1));
  assert.ok(!g.granted(0) && !g.granted(2));
  await g.stop();
});

test('a refused script is logged once, and its return once', async () => {
  const g = await group();
  const s1 = g.members[0]!;
  g.store.refuse = "NOPERM User knockd has no permissions to run the 'evalsha' command";
  s1.knock(SRC, 7000);
  await settle(5);
  s1.knock('192.0.2.11', 7000);
  await settle(5);
  const refused = () => s1.logger.lines.filter((l) => l.includes('not kept in Redis')).length;
  assert.equal(refused(), 1);
  assert.equal(s1.d.shared.counters.failed, 2);
  g.store.refuse = null;
  s1.knock('192.0.2.12', 7000);
  await settle(5);
  assert.equal(s1.logger.lines.filter((l) => l.includes('kept in Redis again')).length, 1);
  await g.stop();
});

test('a spoofed first-knock flood is shed to the budget; a client spread over the group still opens', async () => {
  const g = await group();
  const [s1, s2, s3] = g.members as [
    ReturnType<typeof harness>,
    ReturnType<typeof harness>,
    ReturnType<typeof harness>,
  ];
  // 40,000 first knocks in 1 s from 10.99.0.0/16, with the client's sequence in the middle.
  const N = 40_000;
  for (let i = 0; i < N; i++) {
    s1.knock(`10.99.${(i * 7) & 255}.${i & 255}`, 7000);
    g.advance(1000 / N);
    if (i === N / 2) s1.knock(SRC, 7000);
    if (i === N / 2 + 100) s2.knock(SRC, 8000);
    if (i === N / 2 + 200) s3.knock(SRC, 9000);
    if (i % 4096 === 0) await settle(0);
  }
  await settle(20);
  const steps = g.store.steps;
  console.log(`flood: ${steps} steps, ${s1.d.shared.counters.shed} shed`);
  assert.equal(s1.d.metrics().fleet?.attempts?.shed, s1.d.shared.counters.shed);
  // At most a burst of one second plus one second of the rate.
  assert.ok(steps <= 2 * ATTEMPT_RATE + 2, `${steps} steps`);
  assert.ok(s1.d.shared.counters.shed >= N - 2 * ATTEMPT_RATE, `${s1.d.shared.counters.shed} shed`);
  assert.deepEqual(
    [0, 1, 2].map((i) => g.granted(i)),
    [true, true, true],
  );
  await g.stop();
});

test('budget: first knocks stop at the reserve, new prefixes at half of it, sources in progress use it all', async () => {
  const { FleetBudget, CONTINUE, MAYBE } = await import('../../src/daemon/fleet-budget.js');
  const t = 1_000_000;
  const b = new FleetBudget(t);
  let first = 0;
  // One prefix floods: it gets the burst down to the reserve (1/4), then nothing.
  while (b.takeFirst(0x0a6300, t)) first++;
  assert.equal(first, ATTEMPT_RATE - ATTEMPT_RATE / 4);
  // Each other prefix's first knock of the second still passes, down to half the reserve.
  let prefixes = 0;
  for (let p = 1; b.takeFirst(p, t); p++) prefixes++;
  assert.equal(prefixes, ATTEMPT_RATE / 8);
  assert.ok(!b.take(MAYBE, t), 'a later knock of an unknown source: no more');
  let cont = 0;
  while (b.take(CONTINUE, t)) cont++;
  assert.equal(cont, ATTEMPT_RATE / 8, 'a source in progress has the rest');
  // Refill at the rate; the prefixes seen are forgotten after a second.
  assert.ok(!b.takeFirst(0x0a6300, t + 10), '20 tokens are all under the reserve');
  assert.ok(b.take(CONTINUE, t + 10));
  assert.ok(b.takeFirst(0x0a6300, t + 1000), 'a second later');
});
