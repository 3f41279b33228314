import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode, newPacket, Skip, LINKTYPE, type Packet } from '../../src/core/knock/decode.js';
import { parseConfig } from '../../src/core/config.js';
import { KnockMachine, type KnockEvent } from '../../src/core/knock/machine.js';
import { frame } from '../helpers/frames.js';
import { parseAccessConf } from '../../src/core/spa/access.js';
import { ReplayCache } from '../../src/core/spa/policy.js';
import { parseJournal, serializeJournal } from '../../src/core/grants/journal.js';
import { TARGETS } from '../../fuzz/targets.js';
import { Rng } from '../../fuzz/rng.js';
import { evalSpa } from '../../fuzz/spa-wrap.js';
import { encodeSpa } from '../../src/core/spa/spa.js';
import { nodeSpaCrypto } from '../../src/adapters/spa-crypto.js';

const LINKTYPES = Object.values(LINKTYPE) as number[];

test('decoder: random bytes under every link type never throw and yield sane fields', () => {
  fc.assert(
    fc.property(fc.constantFrom(...LINKTYPES), fc.uint8Array({ maxLength: 200 }), (lt, bytes) => {
      const p = newPacket();
      const r = decode(lt, bytes, 0, bytes.length, p);
      if (r === Skip.OK) {
        assert.ok(p.family === 4 || p.family === 6);
        assert.ok(p.dport >= 0 && p.dport <= 65535);
        assert.ok(p.proto === 'tcp' || p.proto === 'udp');
      }
    }),
    { numRuns: 20000 },
  );
});

test('decoder: every truncation and every single-byte mutation of real frames is safe', () => {
  const specs = fc.record({
    v6: fc.boolean(),
    proto: fc.constantFrom('tcp' as const, 'udp' as const),
    dport: fc.integer({ min: 1, max: 65535 }),
    link: fc.constantFrom('eth' as const, 'sll' as const, 'sll2' as const, 'raw' as const),
    vlan: fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
    ext: fc.array(fc.constantFrom(0, 43, 60), { maxLength: 3 }),
  });
  fc.assert(
    fc.property(specs, fc.nat(), fc.nat(255), (s, pos, val) => {
      const lt = { eth: 1, sll: 113, sll2: 276, raw: 12 }[s.link];
      const b = frame({
        src: s.v6 ? 'fd00::2' : '10.0.0.2',
        dst: s.v6 ? 'fd00::1' : '10.0.0.1',
        proto: s.proto,
        dport: s.dport,
        link: s.link,
        ...(s.link === 'eth' && s.vlan !== undefined ? { vlan: s.vlan } : {}),
        ...(s.v6 ? { ext: s.ext } : {}),
      });
      const p = newPacket();
      assert.equal(decode(lt, b, 0, b.length, p), Skip.OK);
      assert.equal(p.dport, s.dport);
      for (let n = 0; n < b.length; n++) decode(lt, b, 0, n, newPacket());
      const m = Uint8Array.from(b);
      m[pos % m.length] = val;
      decode(lt, m, 0, m.length, newPacket());
    }),
    { numRuns: 3000 },
  );
});

/** Every field decode() may have written, with payloadOffset relative to the frame start. */
function packetFields(p: Packet, off: number): unknown[] {
  const po = p.payloadOffset === -1 ? 'unset' : p.payloadOffset - off;
  return [p.family, p.src, p.dst, p.proto, p.sport, p.dport, p.flags, po];
}

function untouchedPacket(): Packet {
  return { ...newPacket(), src: '?', dst: '?', payloadOffset: -1 };
}

test('decoder: a frame cut to any length decodes the same alone and inside a garbage-padded buffer', () => {
  // An out-of-bounds Uint8Array read returns undefined (0 in bit arithmetic),
  // so a missing length check does not throw: it reads zeros from an
  // exact-length buffer and garbage from a larger one. Comparing the two
  // catches every read past `off + len`.
  const specs = fc.record({
    v6: fc.boolean(),
    proto: fc.constantFrom('tcp' as const, 'udp' as const),
    dport: fc.integer({ min: 1, max: 65535 }),
    flags: fc.nat(255),
    lt: fc.constantFrom(...LINKTYPES),
    vlan: fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
    ext: fc.array(fc.constantFrom(0, 43, 44, 51, 60), { maxLength: 3 }),
    options: fc.integer({ min: 0, max: 10 }),
  });
  const nonzero = (n: number) =>
    fc.uint8Array({ minLength: n, maxLength: n }).map((b) => b.map((x) => 1 + (x % 255)));
  fc.assert(
    fc.property(
      specs,
      fc.integer({ min: 0, max: 16 }).chain((n) => nonzero(n)),
      nonzero(64),
      fc.option(fc.tuple(fc.nat(), fc.nat(255)), { nil: undefined }),
      (s, front, back, mutation) => {
        let ip = frame({
          src: s.v6 ? 'fd00::2' : '10.0.0.2',
          dst: s.v6 ? 'fd00::1' : '10.0.0.1',
          proto: s.proto,
          dport: s.dport,
          flags: s.flags,
          link: 'raw',
          ...(s.v6 ? { ext: s.ext } : {}),
        });
        if (!s.v6 && s.options > 0) {
          // IPv4 options: the header grows past 20 bytes (IHL > 5).
          const o = new Uint8Array(ip.length + s.options * 4);
          o.set(ip.subarray(0, 20), 0);
          o.fill(1, 20, 20 + s.options * 4); // NOP options
          o.set(ip.subarray(20), 20 + s.options * 4);
          o[0] = 0x45 + s.options;
          o[2] = o.length >> 8;
          o[3] = o.length & 0xff;
          ip = o;
        }
        const et = s.v6 ? [0x86, 0xdd] : [0x08, 0x00];
        const link: Record<number, number[]> = {
          [LINKTYPE.ETHERNET]:
            s.vlan === undefined
              ? [...new Array<number>(12).fill(2), ...et]
              : [...new Array<number>(12).fill(2), 0x81, 0x00, 0, s.vlan, ...et],
          [LINKTYPE.LINUX_SLL]: [...new Array<number>(14).fill(0), ...et],
          [LINKTYPE.LINUX_SLL2]: [...et, ...new Array<number>(18).fill(0)],
          [LINKTYPE.NULL]: [s.v6 ? 10 : 2, 0, 0, 0],
        };
        const b = Uint8Array.from([...(link[s.lt] ?? []), ...ip]);
        if (mutation !== undefined) b[mutation[0] % b.length] = mutation[1];
        const big = new Uint8Array(front.length + b.length + back.length);
        big.set(front, 0);
        big.set(b, front.length);
        big.set(back, front.length + b.length);
        for (let n = 0; n <= b.length; n++) {
          const alone = untouchedPacket();
          const padded = untouchedPacket();
          const r1 = decode(s.lt, b.slice(0, n), 0, n, alone);
          const r2 = decode(s.lt, big, front.length, n, padded);
          assert.deepEqual(
            [r2, ...packetFields(padded, front.length)],
            [r1, ...packetFields(alone, 0)],
            `linktype ${s.lt}, first ${n} of ${b.length} bytes`,
          );
        }
        // A length past the end of the buffer is refused before anything is read.
        assert.equal(decode(s.lt, b, 0, b.length + 1, untouchedPacket()), Skip.TRUNCATED);
        assert.equal(decode(s.lt, big, front.length, -1, untouchedPacket()), Skip.TRUNCATED);
      },
    ),
    { numRuns: 3000 },
  );
});

test('config parser: random text never throws and every problem has a line in range', () => {
  const lineArb = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom(
      '[options]',
      '[door]',
      '[]',
      'UseSyslog',
      'sequence = 1,2,3',
      'tcpflags=syn,!ack',
    ),
    fc
      .tuple(
        fc.constantFrom(
          'sequence',
          'seq_timeout',
          'tcpflags',
          'target',
          'command',
          'logfile',
          'cmd_timeout',
        ),
        fc.string({ maxLength: 20 }),
      )
      .map(([k, v]) => `${k} = ${v}`),
  );
  fc.assert(
    fc.property(fc.array(lineArb, { maxLength: 30 }), (lines) => {
      const text = lines.join('\n');
      const r = parseConfig(text, 'f');
      if (!r.ok) {
        for (const p of r.problems)
          assert.ok(p.line >= 1 && p.line <= lines.length + 1, JSON.stringify(p));
      } else {
        for (const d of r.config.doors) {
          for (const k of d.sequence) assert.ok(k.port >= 1 && k.port <= 65535);
          assert.ok(d.sequence.length > 0 || d.oneTimeSequences !== undefined);
        }
      }
    }),
    { numRuns: 5000 },
  );
});

test('machine: a stream that never contains the final knock of a door never opens it', () => {
  const r = parseConfig('[d]\nsequence=7000,8000,9000:udp\nseq_timeout=5\n', 'f');
  assert.ok(r.ok);
  const doors = r.ok ? r.config.doors : [];
  const pktArb = fc.record({
    src: fc.constantFrom('a', 'b', 'c'),
    dport: fc.constantFrom(7000, 8000, 9000, 1),
    proto: fc.constantFrom('tcp' as const, 'udp' as const),
    flags: fc.nat(63),
    dt: fc.nat(3000),
  });
  fc.assert(
    fc.property(fc.array(pktArb, { maxLength: 60 }), (pkts) => {
      const m = new KnockMachine(doors);
      let now = 0;
      const ev: KnockEvent[] = [];
      for (const p of pkts) {
        now += p.dt;
        // Never the final knock (9000/udp); everything else goes.
        if (p.dport === 9000 && p.proto === 'udp') continue;
        m.onPacket(
          { ...newPacket(), src: p.src, dst: 'x', dport: p.dport, proto: p.proto, flags: p.flags },
          now,
          (e) => ev.push(e),
        );
        m.tick(now, (e) => ev.push(e));
      }
      assert.equal(ev.filter((e) => e.kind === 'open').length, 0);
      assert.ok(m.attemptCount() <= 3, 'at most one attempt per source and door');
    }),
    { numRuns: 3000 },
  );
});

test('machine: a sequence knocked in order within seq_timeout always opens, whatever other sources do', () => {
  const r = parseConfig('[d]\nsequence=7000,8000,9000\nseq_timeout=5\n', 'f');
  const doors = r.ok ? r.config.doors : [];
  const noise = fc.array(
    fc.record({ src: fc.constantFrom('n1', 'n2'), dport: fc.constantFrom(7000, 8000, 9000, 5) }),
    { maxLength: 20 },
  );
  fc.assert(
    fc.property(noise, noise, (n1, n2) => {
      const m = new KnockMachine(doors);
      const ev: KnockEvent[] = [];
      let now = 0;
      const send = (src: string, dport: number) =>
        m.onPacket({ ...newPacket(), src, dst: 'x', dport, flags: 2 }, (now += 10), (e) =>
          ev.push(e),
        );
      send('me', 7000);
      for (const p of n1) send(p.src, p.dport);
      send('me', 8000);
      for (const p of n2) send(p.src, p.dport);
      send('me', 9000);
      assert.ok(ev.some((e) => e.kind === 'open' && e.src === 'me'));
    }),
    { numRuns: 2000 },
  );
});

// Reproducers for fuzz findings in files this test does not own (docs/security.md).
// Open ones are `todo` until the fix lands: drop the option then, and they must pass.
// F2 and F4 were fixed on main before this merged; they stay as regression tests.
// SPA goes through fuzz/spa-wrap.ts, the one place that knows evaluateSpa's payload type.
const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

test('F2: without HMAC, a base64-equivalent encoding of an accepted SPA packet is refused as a replay', () => {
  const key = new Uint8Array(32).fill(7);
  const r = parseAccessConf(
    `SOURCE ANY\nKEY_BASE64 ${Buffer.from(key).toString('base64')}\nALLOW_NO_HMAC Y\n`,
    'a',
  );
  assert.ok('stanzas' in r);
  const stanzas = 'stanzas' in r ? r.stanzas : [];
  const now = 1_800_000_000;
  const msg = {
    user: 'alice',
    timestamp: now,
    allowIp: '0.0.0.0',
    access: [{ proto: 'tcp' as const, port: 22 }],
  };
  const pkt = encodeSpa(msg, { encKey: key }, nodeSpaCrypto);
  const replay = new ReplayCache();
  assert.ok(evalSpa(bytes(pkt), '198.51.100.1', stanzas, replay, now, nodeSpaCrypto).ok);
  for (const variant of [pkt, `${pkt}=AAAA`, `${pkt}=`]) {
    const d = evalSpa(bytes(variant), '203.0.113.66', stanzas, replay, now, nodeSpaCrypto);
    assert.equal(d.ok, false, `${JSON.stringify(variant.slice(-8))} was accepted again`);
  }
});

test('F6: without HMAC, changing the "Salted__" bits in the first character does not replay an accepted packet', () => {
  const key = new Uint8Array(32).fill(9);
  const r = parseAccessConf(
    `SOURCE ANY\nKEY_BASE64 ${Buffer.from(key).toString('base64')}\nALLOW_NO_HMAC Y\n`,
    'a',
  );
  const stanzas = 'stanzas' in r ? r.stanzas : [];
  const now = 1_800_000_000;
  const msg = {
    user: 'alice',
    timestamp: now,
    allowIp: '0.0.0.0',
    access: [{ proto: 'tcp' as const, port: 22 }],
  };
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const pkt = encodeSpa(msg, { encKey: key }, nodeSpaCrypto);
  const replay = new ReplayCache();
  assert.ok(evalSpa(bytes(pkt), '198.51.100.1', stanzas, replay, now, nodeSpaCrypto).ok);
  // The first character holds 4 bits of the header's last byte and 2 bits of the salt;
  // flipping its top bit changes only the header, which decryption never reads.
  const variant = B64[B64.indexOf(pkt[0]!) ^ 0x20]! + pkt.slice(1);
  const d = evalSpa(bytes(variant), '203.0.113.66', stanzas, replay, now, nodeSpaCrypto);
  assert.equal(d.ok, false, `${variant.slice(0, 4)}... (was ${pkt.slice(0, 4)}...) accepted again`);
});

test('F3: access.conf parsing is linear in a run of whitespace inside a value', () => {
  const t0 = process.hrtime.bigint();
  parseAccessConf(
    `SOURCE ANY\nKEY abc\nALLOW_NO_HMAC Y\nOPEN_PORTS tcp${'\t'.repeat(8000)}x\n`,
    'a',
  );
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.ok(ms < 100, `${ms.toFixed(0)} ms for 8000 tabs`);
});

test('F4: a journal that loads can be written back and loaded again', () => {
  const stop = { id: 1, door: 'ssh', address: '10.0.0.2', due: 5 };
  const text = JSON.stringify({ version: 1, grants: [], stops: [stop] }).replace(
    '"id":1',
    '"id":1e400',
  );
  const r = parseJournal(text);
  if ('state' in r) assert.ok('state' in parseJournal(serializeJournal(r.state)), 're-read failed');
});

test('F5: a KEY or HMAC_KEY containing ";" is neither cut short nor emptied', () => {
  for (const [text, key] of [
    ['SOURCE ANY\nKEY ;secret\nALLOW_NO_HMAC Y\n', ';secret'],
    ['SOURCE ANY\nKEY abc;def\nALLOW_NO_HMAC Y\n', 'abc;def'],
  ] as const) {
    const r = parseAccessConf(text, 'a');
    // Either the key is taken whole or the file is refused; never a shorter key.
    if ('stanzas' in r) assert.equal(Buffer.from(r.stanzas[0]!.encKey!).toString(), key);
  }
});

test('F7: a no-HMAC packet whose last block differs but decrypts to the same message is a replay', () => {
  // Found by the final 2,000,000-input campaign (seed 20261125, spa-nohmac input 5816):
  // a stream-mode packet with a changed padding byte decrypts to the same message,
  // and the ciphertext digest let it through once more. The digest is now over the message.
  const id = TARGETS.findIndex((t) => t.name === 'spa-nohmac');
  const t = TARGETS[id]!;
  t.run(t.gen(Rng.for(20261125, id, 5816), 5816));
});
