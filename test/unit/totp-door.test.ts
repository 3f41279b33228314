import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { parseConfig } from '../../src/core/config.js';
import { KnockMachine } from '../../src/core/knock/machine.js';
import { sequenceFor, type TotpHmac } from '../../src/core/knock/totp.js';
import { TotpDoors } from '../../src/daemon/totp-doors.js';

const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const hmac: TotpHmac = (alg, key, data) =>
  new Uint8Array(crypto.createHmac(alg, key).update(data).digest());

test('Sequence_Secret: a bad secret, a fixed sequence beside it, or a bad range names the line', () => {
  const msgs = (text: string) => {
    const r = parseConfig(text, 'k.conf');
    return r.ok ? [] : r.problems.map((p) => `${p.line}: ${p.message}`);
  };
  assert.deepEqual(msgs(`[t]\nSequence_Secret = not*base32\n`), [
    "2: door 't': Sequence_Secret: TOTP secret is not base32",
  ]);
  assert.match(msgs(`[t]\nSequence_Secret = MFRGG===\n`)[0]!, /^2: .*need 128 or more/);
  assert.match(
    msgs(`[t]\nsequence = 1,2\nSequence_Secret = ${SECRET}\n`)[0]!,
    /^3: .*exclude each other/,
  );
  assert.match(
    msgs(`[t]\nSequence_Ports = 100-101\nSequence_Secret = ${SECRET}\n`)[0]!,
    /too small/,
  );
  assert.match(msgs(`[t]\nSequence_Length = 3\n`)[0]!, /needs a Sequence_Secret/);
  const ok = parseConfig(`[t]\nSequence_Secret = ${SECRET}\nSequence_Step = 10\n`, 'k.conf');
  assert.ok(ok.ok);
});

test('TOTP doors: current and previous step live, rotation keeps the live slot, a burned slot stays shut', () => {
  const r = parseConfig(`[a]\nsequence = 1\n[t]\nSequence_Secret = ${SECRET}\n`, 'k.conf');
  assert.ok(r.ok);
  const doors = r.ok ? r.config.doors : [];
  let now = 30_000 * 1000 + 5; // step 1000
  const t = new TotpDoors(hmac, () => now);
  const built = t.build(doors);
  assert.equal(built.length, 3, 'slot B is appended after the config doors');
  const params = doors[1]!.totp!.params;
  const seq = (s: number) => sequenceFor(doors[1]!.totp!.secret, s, params, hmac);
  const m = new KnockMachine(built);
  assert.deepEqual(m.sequenceOf(1), seq(1000), 'slot A holds the even step');
  assert.deepEqual(m.sequenceOf(2), seq(999), 'slot B the odd, previous one');
  assert.equal(t.msToNextStep(), 30_000 - 5);
  assert.equal(t.burn(0, m), false, 'a fixed door is never burned');
  assert.equal(t.burn(1, m), true);
  assert.equal(m.isEnabled(1), false);
  now += 30_000; // step 1001: slot B moves on, slot A (step 1000, burned) stays as it is
  assert.equal(t.rotate(m), true);
  assert.deepEqual(m.sequenceOf(2), seq(1001));
  assert.equal(m.isEnabled(1), false, 'the burned step stays shut while it is live');
  assert.equal(t.rotate(m), false, 'nothing changes within a step');
  now += 30_000; // step 1002: slot A gets a new step and opens again
  t.rotate(m);
  assert.deepEqual(m.sequenceOf(1), seq(1002));
  assert.equal(m.isEnabled(1), true);
});

test('TOTP doors: a used sequence stays shut across a reload and a clock stepped back (review R1)', () => {
  const r = parseConfig(`[t]\nSequence_Secret = ${SECRET}\n`, 'k.conf');
  assert.ok(r.ok);
  const doors = r.ok ? r.config.doors : [];
  let now = 30_000 * 1000 + 5; // step 1000, slot A (index 0)
  const t = new TotpDoors(hmac, () => now);
  const m = new KnockMachine(t.build(doors));
  t.burn(0, m);
  m.setDoors(t.build(doors)); // SIGHUP
  t.applyBurned(m);
  assert.equal(m.isEnabled(0), false, 'still used up after a reload');
  assert.equal(m.isEnabled(1), true);
  now -= 60_000; // the clock steps back two steps
  t.rotate(m);
  now += 60_000;
  t.rotate(m);
  assert.equal(m.isEnabled(0), false, 'still used up after the clock came back');
});

test('a time-based door a scan would beat is refused: fewer than 40 bits (review T3)', () => {
  const msgs = (extra: string) => {
    const r = parseConfig(`[t]\nSequence_Secret = ${SECRET}\n${extra}`, 'k.conf');
    return r.ok ? [] : r.problems.map((p) => p.message);
  };
  assert.match(
    msgs('Sequence_Length = 1\n')[0] ?? '',
    /1 knocks from 10000-60000 make 15\.6 bits, fewer than 40/,
  );
  assert.match(msgs('Sequence_Length = 2\n')[0] ?? '', /31\.2 bits/);
  assert.match(msgs('Sequence_Ports = 20000-20005\n')[0] ?? '', /6\.9 bits/);
  assert.deepEqual(msgs(''), [], 'the default, 3 knocks from 10000-60000 (46.8 bits), is fine');
  assert.equal(msgs('Sequence_Length = 2\nSequence_Ports = 1-65535\n').length, 1, '32 bits');
  assert.match(msgs('Sequence_Length = 4\nSequence_Ports = 20000-20999\n')[0] ?? '', /39\.9 bits/);
  assert.deepEqual(msgs('Sequence_Length = 5\nSequence_Ports = 20000-20999\n'), []);
});
