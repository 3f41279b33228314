/**
 * The flood's fast path (KnockMachine.quietFirstKnock wired to
 * EventLog.quietFirstKnock, as the daemon wires them) must log exactly what
 * the plain path logs: the same lines, the same suppression summaries, the
 * same counts, while making no event object for a suppressed first knock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/core/config.js';
import { decode, newPacket, Skip, type Packet } from '../../src/core/knock/decode.js';
import { KnockMachine, type KnockEvent } from '../../src/core/knock/machine.js';
import { LogLimiter } from '../../src/core/ratelimit.js';
import { EventLog } from '../../src/daemon/event-log.js';
import { FakeResolver, MemoryLogger } from '../fakes/twins.js';
import { frame } from '../helpers/frames.js';

const r = parseConfig(
  '[openSSH]\nsequence=7000,8000,9000\nseq_timeout=5\ntcpflags=syn\n' +
    '[closeSSH]\nsequence=9000,8000,7000\nseq_timeout=5\ntcpflags=syn\n' +
    '[one]\nsequence=7000:udp\n',
  't',
);
assert.ok(r.ok);
const DOORS = r.ok ? r.config.doors : [];

/** A flood of first knocks from many sources (IPv4, IPv6, text) with some full sequences. */
function* packets(): Generator<[Packet, number]> {
  const pkt = newPacket();
  for (let i = 0; i < 30_000; i++) {
    const now = 1_000_000 + i * 3; // 333 packets per second: the limiter both passes and drops
    const legit = i % 100 < 3;
    const port = legit ? [7000, 8000, 9000][i % 100]! : i % 7 === 0 ? 9000 : 7000;
    const src = legit
      ? `203.0.113.${(i / 100) & 0xff}`
      : i % 5 === 0
        ? `2001:db8::${(i % 4000).toString(16)}`
        : `10.1.${(i >> 8) & 0xff}.${i & 0xff}`;
    if (i % 11 === 0) {
      // A packet built by hand: its address is known only as text.
      yield [{ ...newPacket(), src, dst: '10.0.0.1', dport: port, flags: 2 }, now];
      continue;
    }
    const dst = src.includes(':') ? '2001:db8::1' : '10.0.0.1';
    const f = frame({ src, dst, dport: port });
    assert.equal(decode(1, Buffer.from(f), 0, f.length, pkt), Skip.OK);
    yield [pkt, now];
    if (i % 997 === 0) {
      const u = frame({ src, dst, dport: 7000, proto: 'udp' });
      assert.equal(decode(1, Buffer.from(u), 0, u.length, pkt), Skip.OK);
      yield [pkt, now];
    }
  }
}

function run(quiet: boolean) {
  let now = 0;
  const logger = new MemoryLogger();
  const log = new EventLog(logger, () => now, new FakeResolver(), false);
  const m = new KnockMachine(DOORS, 500, 1234);
  m.debugEvents = false;
  if (quiet) m.quietFirstKnock = (door, src) => log.quietFirstKnock(door, src);
  let firstKnockObjects = 0;
  const emit = (e: KnockEvent) => {
    if (e.kind === 'stage' && e.stage === 1) firstKnockObjects++;
    log.log(e);
  };
  const summaries: string[] = [];
  let lastTick = 0;
  for (const [p, t] of packets()) {
    now = t;
    m.onPacket(p, t, emit);
    if (t - lastTick >= 1000) {
      lastTick = t;
      m.tick(t, emit);
      if (t % 10_000 < 3) summaries.push(...log.summaries());
    }
  }
  summaries.push(...log.summaries());
  return {
    lines: logger.lines,
    summaries,
    knocks: [...log.knocks],
    opens: [...log.opens],
    suppressed: log.knockLimiter.suppressedTotal,
    firstKnockObjects,
  };
}

test('quiet first knocks: the same lines, summaries and counts as the plain path, and no object for a dropped one', () => {
  const plain = run(false);
  const quiet = run(true);
  assert.ok(plain.suppressed > 10_000, `${plain.suppressed} lines suppressed`);
  assert.ok(plain.lines.some((l) => l.endsWith('OPEN SESAME')));
  assert.ok(plain.lines.some((l) => /Stage 1$/.test(l)));
  assert.ok(plain.summaries.some((l) => / stage lines from \d+ sources suppressed$/.test(l)));
  assert.deepEqual(quiet.lines, plain.lines);
  assert.deepEqual(quiet.summaries, plain.summaries);
  assert.deepEqual(quiet.knocks, plain.knocks);
  assert.deepEqual(quiet.opens, plain.opens);
  assert.equal(quiet.suppressed, plain.suppressed);
  // Only first knocks whose line is printed became objects.
  const printed = quiet.lines.filter((l) => /Stage 1$/.test(l)).length;
  assert.equal(quiet.firstKnockObjects, printed);
  assert.ok(plain.firstKnockObjects > printed + 10_000);
});

test('LogLimiter.check passes when allow() would, takes no token, and counts a drop as allow() does', () => {
  const a = new LogLimiter(2, 3);
  const b = new LogLimiter(2, 3);
  for (let i = 0; i < 40; i++) {
    const now = i * 100;
    const viaAllow = a.allow('d', i % 6, now);
    const viaCheck = b.check('d', i % 6, now) && b.allow('d', i % 6, now);
    assert.equal(viaCheck, viaAllow, `packet ${i}`);
  }
  assert.ok(a.suppressedTotal > 0);
  assert.deepEqual(b.drain(), a.drain());
});
