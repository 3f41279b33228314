/**
 * Command cycles (CMD_CYCLE_OPEN/CLOSE/TIMER): fwknopd's variables and argv
 * split, the scheduler with the SPA stanza as the door, the journaled close
 * that survives a restart, and DESTINATION in the SPA policy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { parseAccessConf, type Stanza } from '../../src/core/spa/access.js';
import { cycleArgv, substituteCycle, type CycleVars } from '../../src/core/spa/cycle.js';
import { evaluateSpa, ReplayCache } from '../../src/core/spa/policy.js';
import { encodeSpa } from '../../src/core/spa/spa.js';
import { parseJournal, serializeJournal } from '../../src/core/grants/journal.js';
import { nodeSpaCrypto as c } from '../../src/adapters/spa-crypto.js';
import { CommandScheduler, COOLDOWN_MS } from '../../src/daemon/commands.js';
import type { ArgvRunner, CommandRunner, RunResult } from '../../src/daemon/ports.js';
import { MemoryLogger } from '../fakes/twins.js';

const K = crypto.randomBytes(32).toString('base64');
const H = crypto.randomBytes(64).toString('base64');
const V: CycleVars = {
  ip: '10.0.0.2',
  pktSrc: '192.0.2.9',
  dst: '10.0.0.1',
  port: 22,
  proto: 'tcp',
  seconds: 30,
  timestamp: 1_790_000_000,
};

function stanzas(text: string): Stanza[] {
  const r = parseAccessConf(text, 'access.conf');
  if ('problems' in r) assert.fail(r.problems.map((p) => `${p.line}: ${p.message}`).join('\n'));
  return r.stanzas;
}

test("substitution: fwknopd's variables, prefix matching and order, as its test suite uses them", () => {
  const cases: [string, string][] = [
    ['/usr/bin/touch /tmp/$IP', '/usr/bin/touch /tmp/10.0.0.2'],
    ['/usr/bin/touch /tmp/$IP_$PORT_$PROTOTEST', '/usr/bin/touch /tmp/10.0.0.2_22_6TEST'],
    ['/usr/bin/touch /tmp/2$IP_$IP', '/usr/bin/touch /tmp/210.0.0.2_10.0.0.2'],
    ['/usr/bin/touch /tmp/$SRC_$PKT_SRC', '/usr/bin/touch /tmp/10.0.0.2_192.0.2.9'],
    ['/usr/bin/touch /tmp/2$DST$SRC', '/usr/bin/touch /tmp/210.0.0.110.0.0.2'],
    ['/bin/echo 1$TIMEOUT', '/bin/echo 11790000030'],
    ['/bin/echo 1$CLIENT_TIMEOUT1', '/bin/echo 1301'],
    ['/bin/echo $NOPE $', '/bin/echo NOPE '],
  ];
  for (const [t, want] of cases) assert.equal(substituteCycle(t, V), want, t);
  assert.equal(substituteCycle('x $PROTO', { ...V, proto: 'udp' }), 'x 17');
});

test('argv: whitespace split with no quoting (fwknopd strtoargv), a leading shell -c keeps its script whole', () => {
  assert.deepEqual(cycleArgv('  /usr/sbin/nft   add element inet t s { $IP }  ', V), [
    '/usr/sbin/nft',
    'add',
    'element',
    'inet',
    't',
    's',
    '{',
    '10.0.0.2',
    '}',
  ]);
  // No shell: quotes are ordinary characters, as in fwknopd.
  assert.deepEqual(cycleArgv(`/bin/echo 'a b'`, V), ['/bin/echo', "'a", "b'"]);
  assert.deepEqual(cycleArgv(`/bin/sh -c 'nft add element inet t s { $IP }; echo $PORT'`, V), [
    '/bin/sh',
    '-c',
    'nft add element inet t s { 10.0.0.2 }; echo 22',
  ]);
  assert.deepEqual(cycleArgv('bash -c echo $IP', V), ['bash', '-c', 'echo 10.0.0.2']);
});

class ArgvRecorder implements CommandRunner, ArgvRunner {
  readonly argvs: string[][] = [];
  run(): Promise<RunResult> {
    return Promise.reject(new Error('the shell runner must not be used for cycles'));
  }
  runArgv(argv: readonly string[]): Promise<RunResult> {
    this.argvs.push([...argv]);
    return Promise.resolve({ code: 0, signal: null, timedOut: false });
  }
}

function scheduler(ss: () => Stanza[], max = 16, realClock = false) {
  let now = 1_000_000;
  const runner = new ArgvRecorder();
  const logger = new MemoryLogger();
  const order: string[] = [];
  const s = new CommandScheduler(
    runner,
    logger,
    () => (realClock ? Date.now() : now),
    () => undefined,
    () => {
      order.push(`persist ${s.pending().length}`);
      return Promise.resolve();
    },
    max,
  );
  s.useCycles(
    {
      runArgv: (a) => {
        order.push(`run ${a.join(' ')}`);
        return runner.runArgv(a);
      },
    },
    (id) => ss().find((x) => x.id === id),
  );
  return { s, runner, logger, order, advance: (ms: number) => (now += ms) };
}
const settle = () => new Promise((r) => setTimeout(r, 5));

test('scheduler: open now, the close journaled before the open runs, run at its time from the config', async () => {
  let ss = stanzas(
    `SOURCE ANY\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\nCMD_CYCLE_OPEN /bin/echo open $IP $PORT\nCMD_CYCLE_CLOSE /bin/echo close $IP $CLIENT_TIMEOUT\nCMD_CYCLE_TIMER 5\n`,
  );
  const { s, runner, order } = scheduler(() => ss, 16, true);
  const st = ss[0];
  assert.ok(st);
  const t0 = Date.now();
  assert.equal(s.onCycle(st, { ...V, seconds: 1 }), true);
  await settle();
  assert.deepEqual(order.slice(0, 2), ['persist 1', 'run /bin/echo open 10.0.0.2 22']);
  const [p] = s.pending();
  assert.equal(p?.door, 'SOURCE ANY #1');
  assert.deepEqual(p?.cycle, { ...V, seconds: 1 });
  // The config changes before the close runs: the close comes from the new text.
  ss = stanzas(ssText('/bin/echo closed-now $IP'));
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(runner.argvs.length, 1, 'not before its time');
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(runner.argvs.at(-1), ['/bin/echo', 'closed-now', '10.0.0.2']);
  assert.ok(Date.now() - t0 >= 1000);
  assert.equal(s.pending().length, 0);
  await s.shutdown();
});

function ssText(close: string): string {
  return `SOURCE ANY\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\nCMD_CYCLE_OPEN /bin/echo open $IP\nCMD_CYCLE_CLOSE ${close}\nCMD_CYCLE_TIMER 5\n`;
}

test('scheduler: the stanza is the door (cooldown per source, MaxCommands), NONE journals nothing', async () => {
  const ss = stanzas(ssText('NONE'));
  const { s, runner } = scheduler(() => ss, 1);
  const st = ss[0];
  assert.ok(st);
  assert.equal(s.onCycle(st, V), true);
  assert.equal(s.onCycle(st, V), false, 'same source within the cooldown');
  assert.equal(s.onCycle(st, { ...V, ip: '10.0.0.3' }), false, 'MaxCommands 1 is busy');
  await settle();
  assert.equal(s.pending().length, 0, 'NONE: no close');
  assert.deepEqual(s.drainDropped(), [{ door: 'SPA SOURCE ANY #1', dropped: 2 }]);
  assert.ok(COOLDOWN_MS > 0);
  assert.deepEqual(runner.argvs, [['/bin/echo', 'open', '10.0.0.2']]);
  await s.shutdown();
});

test('journal: a pending close survives a restart as validated values; tampered values are skipped', async () => {
  const ss = stanzas(ssText('/bin/echo close $IP $DST'));
  const first = scheduler(() => ss);
  const st = ss[0];
  assert.ok(st);
  first.s.onCycle(st, { ...V, seconds: 3600 });
  await settle();
  const text = serializeJournal({ grants: [], stops: first.s.pending(), replay: [] });
  assert.ok(!text.includes('/bin/echo'), 'no command text on disk');
  // kill -9: nothing runs at shutdown; a new process restores the close.
  const parsed = parseJournal(text);
  assert.ok('state' in parsed);
  if (!('state' in parsed)) return;
  assert.deepEqual(parsed.warnings, []);
  const second = scheduler(() => ss);
  second.advance(3_600_000 + 1);
  second.s.restore(parsed.state.stops);
  await settle();
  assert.deepEqual(second.runner.argvs, [['/bin/echo', 'close', '10.0.0.2', '10.0.0.1']]);
  // Someone edits the journal to inject text: the entry is skipped, nothing runs it.
  for (const bad of [
    text.replace('"ip":"10.0.0.2"', '"ip":"10.0.0.2;reboot"'),
    text.replace('"dst":"10.0.0.1"', '"dst":"$(reboot)"'),
    text.replace('"port":22', '"port":"22 x"'),
    text.replace('"proto":"tcp"', '"proto":"icmp"'),
    text.replace('"pktSrc":"192.0.2.9"', '"pktSrc":7'),
  ]) {
    const r = parseJournal(bad);
    assert.ok(
      'state' in r &&
        r.state.stops.length === 0 &&
        /stop 0 skipped: bad cycle/.test(r.warnings[0] ?? ''),
      bad,
    );
  }
  await first.s.shutdown();
  await second.s.shutdown();
});

test('scheduler: a close whose stanza is gone after a reload is dropped and logged, not guessed', async () => {
  let ss = stanzas(ssText('/bin/echo close'));
  const { s, runner, logger } = scheduler(() => ss, 16, true);
  const st = ss[0];
  assert.ok(st);
  s.onCycle(st, { ...V, seconds: 1 });
  ss = [];
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal(runner.argvs.length, 1);
  assert.ok(logger.lines.some((l) => l.includes('pending CMD_CYCLE_CLOSE dropped')));
  await s.shutdown();
});

test('policy: DESTINATION picks the stanza by the packet destination (capture) or the local candidates (socket)', () => {
  const ss = stanzas(
    `SOURCE ANY\nDESTINATION 10.0.0.1, 2001:db8::1\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\nFW_ACCESS_TIMEOUT 5\n` +
      `SOURCE ANY\nDESTINATION 10.9.0.0/16\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\nFW_ACCESS_TIMEOUT 7\n`,
  );
  const keys = {
    encKey: new Uint8Array(Buffer.from(K, 'base64')),
    hmacKey: new Uint8Array(Buffer.from(H, 'base64')),
  };
  const now = 1_790_000_000;
  const pkt = () =>
    new Uint8Array(
      Buffer.from(
        encodeSpa(
          {
            user: 'u',
            timestamp: now,
            allowIp: '10.0.0.2',
            access: [{ proto: 'tcp', port: 22 }],
            timeout: 9,
          },
          keys,
          c,
        ),
        'latin1',
      ),
    );
  const replay = new ReplayCache();
  const a = evaluateSpa(pkt(), '10.0.0.2', '10.0.0.1', ss, replay, now, c);
  assert.ok(
    a.ok &&
      a.stanza === 0 &&
      a.dst === '10.0.0.1' &&
      a.pktSrc === '10.0.0.2' &&
      a.clientTimeout === 9,
  );
  const b = evaluateSpa(pkt(), '10.0.0.2', '10.9.3.4', ss, replay, now, c);
  assert.ok(b.ok && b.stanza === 1 && b.dst === '10.9.3.4');
  const v6 = evaluateSpa(pkt(), '10.0.0.2', '2001:db8::1', ss, replay, now, c);
  assert.ok(v6.ok && v6.stanza === 0);
  const miss = evaluateSpa(pkt(), '10.0.0.2', '10.0.0.77', ss, replay, now, c);
  assert.deepEqual(miss, {
    ok: false,
    reason: 'no access.conf stanza for 10.0.0.2 -> 10.0.0.77 (DESTINATION)',
  });
  // Socket mode: the candidates are the interface's addresses; one must be listed.
  const sock = evaluateSpa(pkt(), '10.0.0.2', ['fe80::1', '10.9.0.1'], ss, replay, now, c);
  assert.ok(sock.ok && sock.stanza === 1 && sock.dst === '10.9.0.1');
  assert.ok(!evaluateSpa(pkt(), '10.0.0.2', [], ss, replay, now, c).ok, 'unknown destination');
});

test('scheduler: a clean shutdown runs pending cycle closes at once', async () => {
  const ss = stanzas(ssText('/bin/echo close $IP'));
  const { s, runner } = scheduler(() => ss);
  const st = ss[0];
  assert.ok(st);
  s.onCycle(st, { ...V, seconds: 3600 });
  await s.shutdown();
  assert.deepEqual(runner.argvs, [
    ['/bin/echo', 'open', '10.0.0.2'],
    ['/bin/echo', 'close', '10.0.0.2'],
  ]);
  assert.equal(s.pending().length, 0);
});
