import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseConfig } from '../../src/core/config.js';
import { KnockMachine, type KnockEvent } from '../../src/core/knock/machine.js';
import { decode, LINKTYPE, newPacket, Skip } from '../../src/core/knock/decode.js';
import { frame } from '../helpers/frames.js';

const CONF =
  '[A]\nsequence=1,2,3\nseq_timeout=3\n[B]\nsequence=1,2,4\nseq_timeout=5\ntarget=192.0.2.1\n' +
  '[C]\nsequence=5,1\nseq_timeout=2\ntarget=fd00::1\n[D]\nsequence=6\n';
const SRCS = [
  '10.0.0.1',
  '10.0.0.2',
  '255.255.255.254',
  'fd00::2',
  '2001:db8::ffff:0:1',
  '::ffff:1.2.3.4',
];
const DSTS = { 4: ['192.0.2.1', '192.0.2.7'], 6: ['fd00::1', 'fd00::9'] };

const show = (e: KnockEvent) => `${e.kind} ${e.door.name} ${e.src} ${'stage' in e ? e.stage : ''}`;

test('decoded packets (address words) and text packets drive the machine alike, event text included', () => {
  const doors = parseConfig(CONF, 'w');
  assert.ok(doors.ok);
  const step = fc.record({
    src: fc.nat(SRCS.length - 1),
    dst: fc.nat(1),
    port: fc.integer({ min: 1, max: 7 }),
    dt: fc.nat(900),
    tick: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }), fc.array(step, { maxLength: 80 }), (cap, steps) => {
      const words = new KnockMachine(doors.config.doors, cap);
      const text = new KnockMachine(doors.config.doors, cap);
      const pkt = newPacket();
      let now = 0;
      for (const s of steps) {
        now += s.dt;
        const a: string[] = [];
        const b: string[] = [];
        if (s.tick) {
          words.tick(now, (e) => a.push(show(e)));
          text.tick(now, (e) => b.push(show(e)));
        } else {
          const src = SRCS[s.src] as string;
          const fam = src.includes(':') ? 6 : 4;
          const dst = DSTS[fam][s.dst] as string;
          const f = frame({ src, dst, dport: s.port });
          assert.equal(decode(LINKTYPE.ETHERNET, f, 0, f.length, pkt), Skip.OK);
          assert.equal(pkt.words, true);
          words.onPacket(pkt, now, (e) => a.push(show(e)));
          const t = {
            ...newPacket(),
            src: pkt.src,
            dst: pkt.dst,
            family: pkt.family,
            dport: s.port,
            flags: pkt.flags,
          };
          text.onPacket(t, now, (e) => b.push(show(e)));
        }
        assert.deepEqual(a, b);
        const view = (m: KnockMachine) =>
          m
            .attempts()
            .map((x) => `${x.door} ${x.attempt.src} ${x.attempt.family} ${x.attempt.stage}`)
            .sort();
        assert.deepEqual(view(words), view(text));
      }
    }),
    { numRuns: 500 },
  );
});

test('a decoded packet formats its addresses only when read, and a fresh decode forgets the old text', () => {
  const pkt = newPacket();
  const f1 = frame({ src: '198.51.100.7', dst: '192.0.2.1', dport: 7000 });
  decode(LINKTYPE.ETHERNET, f1, 0, f1.length, pkt);
  assert.equal(pkt.src, '198.51.100.7');
  const f2 = frame({ src: 'fd00::2', dst: 'fd00::1', dport: 7000 });
  decode(LINKTYPE.ETHERNET, f2, 0, f2.length, pkt);
  assert.equal(pkt.src, 'fd00::2');
  assert.equal(pkt.dst, 'fd00::1');
});
