import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, type Door } from '../../src/core/config.js';
import { KnockMachine, type KnockEvent } from '../../src/core/knock/machine.js';
import { newPacket, type Packet } from '../../src/core/knock/decode.js';

function doors(text: string): Door[] {
  const r = parseConfig(text, 't');
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config.doors;
}

const TUTORIAL = doors(
  '[openSSH]\nsequence=7000,8000,9000\nseq_timeout=5\ntcpflags=syn\n' +
    '[closeSSH]\nsequence=9000,8000,7000\nseq_timeout=5\ntcpflags=syn\n',
);

function pkt(src: string, dport: number, opts: Partial<Packet> = {}): Packet {
  return { ...newPacket(), src, dst: '10.0.0.1', dport, flags: 0x02, ...opts };
}

function run(m: KnockMachine, steps: [Packet, number][]): KnockEvent[] {
  const out: KnockEvent[] = [];
  for (const [p, t] of steps) m.onPacket(p, t, (e) => out.push(e));
  return out;
}
const opens = (ev: KnockEvent[]) =>
  ev.filter((e) => e.kind === 'open').map((e) => `${e.src}:${e.door.name}`);

test('the tutorial sequence opens, with a Stage line per knock', () => {
  const m = new KnockMachine(TUTORIAL);
  const ev = run(m, [
    [pkt('a', 7000), 0],
    [pkt('a', 8000), 100],
    [pkt('a', 9000), 200],
  ]);
  assert.deepEqual(
    ev
      .filter((e) => e.kind === 'stage' && e.door.name === 'openSSH')
      .map((e) => (e.kind === 'stage' ? e.stage : 0)),
    [1, 2, 3],
  );
  assert.deepEqual(opens(ev), ['a:openSSH']);
  assert.equal(m.attemptCount(), 1, 'closeSSH attempt started by the last knock');
});

test('a wrong sequence port resets the attempt', () => {
  const m = new KnockMachine(TUTORIAL);
  const ev = run(m, [
    [pkt('a', 7000), 0],
    [pkt('a', 9000), 1], // wrong for openSSH (expects 8000)
    [pkt('a', 8000), 2],
    [pkt('a', 9000), 3],
  ]);
  assert.deepEqual(opens(ev), []);
  assert.ok(ev.some((e) => e.kind === 'reset' && e.door.name === 'openSSH'));
});

test('wrong TCP flags are ignored: neither advance nor reset', () => {
  const m = new KnockMachine(TUTORIAL);
  const ev = run(m, [
    [pkt('a', 7000), 0],
    [pkt('a', 8000, { flags: 0x10 }), 1], // ACK
    [pkt('a', 8000, { flags: 0x12 }), 2], // SYN+ACK: syn is set, so it counts
  ]);
  assert.ok(ev.some((e) => e.kind === 'flags'));
  const m2 = new KnockMachine(doors('[d]\nsequence=1,2\ntcpflags=syn,!ack\n'));
  const ev2 = run(m2, [
    [pkt('a', 1), 0],
    [pkt('a', 2, { flags: 0x12 }), 1], // has ack: ignored
    [pkt('a', 2, { flags: 0x02 }), 2],
  ]);
  assert.deepEqual(opens(ev2), ['a:d']);
});

test('seq_timeout runs from the first knock', () => {
  const m = new KnockMachine(TUTORIAL);
  const ev = run(m, [
    [pkt('a', 7000), 0],
    [pkt('a', 8000), 4000],
    [pkt('a', 9000), 5001],
  ]);
  assert.deepEqual(opens(ev), []);
  assert.ok(ev.some((e) => e.kind === 'timeout' && e.stage === 2));
});

test('tick expires idle attempts promptly (knockd logs timeouts only on a later packet)', () => {
  const m = new KnockMachine(TUTORIAL);
  run(m, [[pkt('a', 7000), 0]]);
  const ev: KnockEvent[] = [];
  m.tick(5000, (e) => ev.push(e));
  assert.equal(ev.length, 0);
  m.tick(5001, (e) => ev.push(e));
  assert.deepEqual(
    ev.map((e) => e.kind),
    ['timeout'],
  );
  assert.equal(m.attemptCount(), 0);
});

test('two clients knocking at once, interleaved, both open (knockd loses one)', () => {
  const m = new KnockMachine(TUTORIAL);
  const ev = run(m, [
    [pkt('a', 7000), 0],
    [pkt('b', 7000), 1],
    [pkt('a', 8000), 2],
    [pkt('b', 8000), 3],
    [pkt('a', 9000), 4],
    [pkt('b', 9000), 5],
  ]);
  assert.deepEqual(opens(ev), ['a:openSSH', 'b:openSSH']);
});

test('regression knockd#4 (list head loss): a completed attempt does not drop another source', () => {
  const m = new KnockMachine(TUTORIAL);
  const ev = run(m, [
    [pkt('x', 7000), 0],
    [pkt('y', 7000), 1],
    [pkt('x', 8000), 2],
    [pkt('x', 9000), 3],
    [pkt('y', 8000), 4],
    [pkt('y', 9000), 5],
  ]);
  assert.deepEqual(opens(ev), ['x:openSSH', 'y:openSSH']);
});

test('a retransmitted SYN of the knock just matched does not reset', () => {
  const m = new KnockMachine(TUTORIAL);
  const ev = run(m, [
    [pkt('a', 7000), 0],
    [pkt('a', 7000), 1000],
    [pkt('a', 8000), 1100],
    [pkt('a', 8000), 2100],
    [pkt('a', 8000), 3100],
    [pkt('a', 9000), 3200],
  ]);
  assert.deepEqual(opens(ev), ['a:openSSH']);
});

test('repeated ports in a sequence still advance', () => {
  const m = new KnockMachine(doors('[d]\nsequence=5,5,6\n'));
  assert.deepEqual(
    opens(
      run(m, [
        [pkt('a', 5), 0],
        [pkt('a', 5), 1],
        [pkt('a', 6), 2],
      ]),
    ),
    ['a:d'],
  );
});

test('doors sharing a prefix progress in parallel; the diverging knock decides', () => {
  const m = new KnockMachine(doors('[A]\nsequence=1,2,3\n[B]\nsequence=1,2,4\n'));
  const ev = run(m, [
    [pkt('a', 1), 0],
    [pkt('a', 2), 1],
    [pkt('a', 4), 2],
  ]);
  assert.deepEqual(opens(ev), ['a:B']);
});

test('closeSSH right after openSSH works (knockd needs a pause)', () => {
  const m = new KnockMachine(TUTORIAL);
  const ev = run(
    m,
    [7000, 8000, 9000, 9000, 8000, 7000].map(
      (port, i) => [pkt('a', port), i * 10] as [Packet, number],
    ),
  );
  assert.deepEqual(opens(ev), ['a:openSSH', 'a:closeSSH']);
});

test('UDP and protocol: a TCP knock on a UDP port does not count', () => {
  const m = new KnockMachine(doors('[u]\nsequence=1:udp,2:udp\n'));
  const ev = run(m, [
    [pkt('a', 1, { proto: 'udp', flags: 0 }), 0],
    [pkt('a', 2), 1],
    [pkt('a', 1, { proto: 'udp', flags: 0 }), 2],
    [pkt('a', 2, { proto: 'udp', flags: 0 }), 3],
  ]);
  assert.deepEqual(opens(ev), ['a:u']);
});

test('Target doors match the target address only; others match local addresses only', () => {
  const m = new KnockMachine(doors('[t]\nsequence=1\ntarget=192.0.2.7\n[l]\nsequence=1\n'));
  m.setLocalAddresses(new Set(['10.0.0.1']));
  const ev = run(m, [
    [pkt('a', 1, { dst: '192.0.2.7' }), 0],
    [pkt('b', 1, { dst: '10.0.0.1' }), 1],
    [pkt('c', 1, { dst: '10.9.9.9' }), 2],
  ]);
  assert.deepEqual(opens(ev), ['a:t', 'b:l']);
});

test('one-time sequences: setSequence clears progress; disabled doors never open', () => {
  const m = new KnockMachine(doors('[o]\nsequence=1,2\n'));
  run(m, [[pkt('a', 1), 0]]);
  m.setSequence(0, [
    { port: 3, proto: 'tcp' },
    { port: 4, proto: 'tcp' },
  ]);
  assert.equal(m.attemptCount(), 0);
  assert.deepEqual(opens(run(m, [[pkt('a', 2), 1]])), []);
  assert.deepEqual(
    opens(
      run(m, [
        [pkt('a', 3), 2],
        [pkt('a', 4), 3],
      ]),
    ),
    ['a:o'],
  );
  m.disableDoor(0);
  assert.deepEqual(
    opens(
      run(m, [
        [pkt('a', 3), 4],
        [pkt('a', 4), 5],
      ]),
    ),
    [],
  );
});

test('the family of the knock is carried to the open event', () => {
  const m = new KnockMachine(doors('[d]\nsequence=1,2\n'));
  const ev = run(m, [
    [pkt('fd00::2', 1, { family: 6, dst: 'fd00::1' }), 0],
    [pkt('fd00::2', 2, { family: 6, dst: 'fd00::1' }), 1],
  ]);
  const o = ev.find((e) => e.kind === 'open');
  assert.equal(o?.kind === 'open' ? o.family : 0, 6);
});
