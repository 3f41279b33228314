import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { parseConfig } from '../../src/core/config.js';
import { KnockMachine } from '../../src/core/knock/machine.js';
import {
  parseBase32Secret,
  sequenceFor,
  TOTP_DEFAULTS,
  type TotpHmac,
} from '../../src/core/knock/totp.js';
import {
  parseJournal,
  serializeJournal,
  type JournalState,
} from '../../src/core/grants/journal.js';
import { MAX_BURNED, TotpDoors } from '../../src/daemon/totp-doors.js';
import { MemoryStateStore } from '../fakes/twins.js';
import { harness, settle } from '../fakes/harness.js';

// A sniffed time-based sequence must stay used up: across a restart (the
// journal) and across a reload after the clock stepped back (review T1, T2).
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const CONF = `[options]\nFirewall = nftables\n[otp]\nSequence_Secret = ${SECRET}\nOpen = tcp/22\nOpen_Timeout = 30\n`;
const hmac: TotpHmac = (alg, key, data) =>
  new Uint8Array(crypto.createHmac(alg, key).update(data).digest());
const KEY = parseBase32Secret(SECRET) as Uint8Array;
const ports = (step: number) => sequenceFor(KEY, step, TOTP_DEFAULTS, hmac).map((k) => k.port);

/** The journal as the daemon writes and reads it: through its text. */
class TextStateStore extends MemoryStateStore {
  text = '';
  override load(): { state: JournalState; warnings: string[] } {
    if (this.text === '') return { state: { grants: [], stops: [] }, warnings: [] };
    const r = parseJournal(this.text);
    assert.ok('state' in r);
    return r;
  }
  override save(state: JournalState): void {
    this.text = serializeJournal(state);
  }
}

test('a used time-based sequence stays shut after a restart (the journal keeps it)', async () => {
  let now = 30_000 * 1000 + 1_000; // 1 s into step 1000
  const clock = () => now;
  const state = new TextStateStore();
  const seq = ports(1000);
  const first = harness(CONF, { clock, state });
  await first.d.start();
  try {
    for (const p of seq) first.knock('198.51.100.1', p);
    await settle();
    assert.deepEqual(
      first.d.grants.table.all().map((g) => g.address),
      ['198.51.100.1'],
    );
  } finally {
    await first.d.shutdown();
  }
  assert.match(state.text, /"totp":\[\["otp",1000\]\]/);
  for (const [later, src] of [
    [5_000, '203.0.113.66'],
    [40_000, '203.0.113.77'], // step 1001: step 1000 is still the previous, live one
  ] as const) {
    now += later;
    const again = harness(CONF, { clock, state });
    await again.d.start();
    try {
      for (const p of seq) again.knock(src, p);
      await settle();
      assert.ok(
        !again.d.grants.table.all().some((g) => g.address === src),
        `the replay from ${src} opened after a restart`,
      );
    } finally {
      await again.d.shutdown(); // a failure must not leave the daemon's timers running
    }
  }
});

test('a reload after the clock stepped back gives no slot a step it has left behind', () => {
  const r = parseConfig(`[t]\nSequence_Secret = ${SECRET}\n`, 'k.conf');
  assert.ok(r.ok);
  const doors = r.ok ? r.config.doors : [];
  let now = 30_000 * 1000 + 5; // step 1000
  const t = new TotpDoors(hmac, () => now);
  const m = new KnockMachine(t.build(doors));
  t.burn(0, m); // step 1000 opened (slot A)
  for (let i = 0; i < 3; i++) {
    now += 30_000;
    t.rotate(m); // the used step is pruned once both slots are past it
  }
  now -= 90_000; // the clock steps back to step 1000
  t.rotate(m);
  m.setDoors(t.build(doors)); // SIGHUP
  t.applyBurned(m);
  const old = ports(1000).join(',');
  t.doors.forEach((d, i) => {
    const live = d.sequence.map((k) => k.port).join(',') === old && m.isEnabled(i);
    assert.ok(!live, `slot ${i} holds step 1000's sequence again`);
  });
});

test('the journal keeps time-based steps, refuses bad ones, and restore is bounded', () => {
  const text = serializeJournal({ grants: [], stops: [], totp: [['otp', 1000]] });
  const ok = parseJournal(text);
  assert.ok('state' in ok);
  assert.deepEqual(ok.state.totp, [['otp', 1000]]);
  const bad = parseJournal(
    JSON.stringify({
      version: 2,
      grants: [],
      stops: [],
      totp: [['', 1], ['x', -1], ['x', 1.5], ['x', '7'], [7, 1], ['x', 1, 2], 'x', ['ok', 3]],
    }),
  );
  assert.ok('state' in bad);
  assert.deepEqual(bad.state.totp, [['ok', 3]]);
  assert.equal(bad.warnings.length, 7);
  // A journal from before time-based doors has no totp list: no warning.
  const older = parseJournal(JSON.stringify({ version: 2, grants: [], stops: [], replay: [] }));
  assert.ok('state' in older);
  assert.deepEqual(older.warnings, []);

  const r = parseConfig(`[t]\nSequence_Secret = ${SECRET}\n`, 'k.conf');
  const t = new TotpDoors(hmac, () => 30_000 * 1000);
  const m = new KnockMachine(t.build(r.ok ? r.config.doors : []));
  const many = Array.from({ length: MAX_BURNED + 10 }, (_, i): [string, number] => ['gone', i]);
  t.restore([...many, ['t', 1000]], m);
  assert.equal(t.entries().length, MAX_BURNED);
  assert.equal(m.isEnabled(0), false, 'the restored step is shut');
});
