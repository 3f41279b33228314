import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseConfig, type Door } from '../../src/core/config.js';
import { KnockMachine, type KnockEvent } from '../../src/core/knock/machine.js';
import { newPacket } from '../../src/core/knock/decode.js';

/**
 * The naive reference: one flat list, linear scans, eviction by sorting.
 * Obviously right and obviously slow; the machine must agree with it.
 */
interface Ref {
  door: number;
  src: string;
  stage: number;
  start: number;
  order: number;
}
class Model {
  list: Ref[] = [];
  private order = 0;
  constructor(
    private readonly doors: Door[],
    private readonly cap: number,
  ) {}
  private remove(r: Ref) {
    this.list = this.list.filter((x) => x !== r);
  }
  onPacket(src: string, port: number, now: number): string[] {
    const opens: string[] = [];
    this.doors.forEach((d, i) => {
      const seq = d.sequence;
      const hit = (k: number) => seq[k] !== undefined && seq[k]!.port === port;
      let a = this.list.find((x) => x.door === i && x.src === src);
      if (a !== undefined && now - a.start > d.seqTimeout * 1000) {
        this.remove(a);
        a = undefined;
      }
      if (a !== undefined) {
        if (hit(a.stage)) {
          a.stage++;
          if (a.stage >= seq.length) {
            this.remove(a);
            opens.push(`${src}:${i}`);
          }
          return;
        }
        if (hit(a.stage - 1)) return;
        this.remove(a);
      }
      if (!hit(0)) return;
      if (seq.length === 1) {
        opens.push(`${src}:${i}`);
        return;
      }
      if (this.list.length >= this.cap) {
        const fresh = this.list
          .filter((x) => x.stage === 1)
          .sort((x, y) => x.start - y.start || x.door - y.door || x.order - y.order);
        if (fresh[0] === undefined) return;
        this.remove(fresh[0]);
      }
      this.list.push({ door: i, src, stage: 1, start: now, order: this.order++ });
    });
    return opens;
  }
  tick(now: number) {
    this.list = this.list.filter((x) => now - x.start <= this.doors[x.door]!.seqTimeout * 1000);
  }
}

const CONF =
  '[A]\nsequence=1,2,3\nseq_timeout=3\n[B]\nsequence=1,2,4\nseq_timeout=5\n[C]\nsequence=5,1\nseq_timeout=2\n[D]\nsequence=6\n';

test('the bounded attempt table agrees with a naive reference model, and never exceeds its cap', () => {
  const r = parseConfig(CONF, 'm');
  assert.ok(r.ok);
  const doors = r.ok ? r.config.doors : [];
  const step = fc.oneof(
    {
      weight: 9,
      arbitrary: fc.record({
        src: fc.integer({ min: 0, max: 7 }),
        port: fc.integer({ min: 1, max: 7 }),
        dt: fc.nat(700),
      }),
    },
    { weight: 1, arbitrary: fc.record({ tick: fc.constant(true), dt: fc.nat(1500) }) },
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.array(step, { maxLength: 120 }),
      (cap, steps) => {
        const m = new KnockMachine(doors, cap);
        const model = new Model(doors, cap);
        let now = 0;
        for (const s of steps) {
          now += s.dt;
          const ev: KnockEvent[] = [];
          if ('tick' in s) {
            m.tick(now, (e) => ev.push(e));
            model.tick(now);
          } else {
            const src = `10.0.0.${s.src}`;
            m.onPacket({ ...newPacket(), src, dst: 'x', dport: s.port, flags: 2 }, now, (e) =>
              ev.push(e),
            );
            const want = model.onPacket(src, s.port, now);
            const got = ev
              .filter((e) => e.kind === 'open')
              .map((e) => `${e.src}:${e.kind === 'open' ? e.doorIndex : ''}`);
            assert.deepEqual(got, want);
          }
          assert.ok(m.attemptCount() <= cap, 'cap exceeded');
          const mine = m
            .attempts()
            .map(({ door, attempt }) => `${door}/${attempt.src}/${attempt.stage}`)
            .sort();
          const theirs = model.list.map((x) => `${doors[x.door]!.name}/${x.src}/${x.stage}`).sort();
          assert.deepEqual(mine, theirs);
          assert.equal(m.attemptCount(), model.list.length);
        }
      },
    ),
    { numRuns: 3000 },
  );
});

test('a spoofed first-knock flood cannot push out a client that is mid-sequence', () => {
  const r = parseConfig('[d]\nsequence=7000,8000,9000\nseq_timeout=5\n', 'f');
  const doors = r.ok ? r.config.doors : [];
  const m = new KnockMachine(doors, 1000);
  const ev: KnockEvent[] = [];
  const send = (src: string, port: number, t: number) =>
    m.onPacket({ ...newPacket(), src, dst: 'x', dport: port, flags: 2 }, t, (e) => ev.push(e));
  send('203.0.113.9', 7000, 0);
  send('203.0.113.9', 8000, 1);
  for (let i = 0; i < 200_000; i++)
    send(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 7000, 2 + i / 100);
  assert.equal(m.attemptCount(), 1000);
  send('203.0.113.9', 9000, 2000);
  assert.ok(ev.some((e) => e.kind === 'open' && e.src === '203.0.113.9'));
});
