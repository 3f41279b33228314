/**
 * Regression tests from the adversarial review of GPG SPA: what a sender
 * who holds a stanza's HMAC key but no signing key the stanza lists can do
 * to everyone else. gpg is the in-memory twin (test/fakes/gpg-twin.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeSpaCrypto as c } from '../../src/adapters/spa-crypto.js';
import { parseAccessConf, type Stanza } from '../../src/core/spa/access.js';
import { ascii, b64nopad } from '../../src/core/spa/bytes.js';
import {
  evaluateSpa,
  FUTURE_CAP,
  REPLAY_CAP,
  ReplayCache,
  type SpaDecision,
} from '../../src/core/spa/policy.js';
import { GpgRuns, MAX_GPG_REFUSED } from '../../src/daemon/spa-gpg.js';
import { MemoryGpg } from '../fakes/gpg-twin.js';

const NOW = 1_800_000_000;
const H = c.random(64);
const CLIENT = '364B9ECBF8E8A15E38E2B394C23061B28D108DBF';
const OTHER = '0123456789ABCDEF0123456789ABCDEF01234567';
const STANZA = `SOURCE ANY\nHMAC_KEY_BASE64 ${Buffer.from(H).toString('base64')}\nGPG_HOME_DIR /srv/gpg\nGPG_ALLOW_NO_PW Y\nGPG_REMOTE_ID 8D108DBF\nOPEN_PORTS tcp/22\n`;

/** gpg's status lines for a packet it decrypted, signed by `fpr` (unsigned: undefined). */
function status(fpr?: string): string {
  const l = ['ENC_TO 05190A79A0C93055 1 0', 'BEGIN_DECRYPTION', 'PLAINTEXT 62 0 '];
  if (fpr !== undefined)
    l.push(
      'NEWSIG',
      `GOODSIG ${fpr.slice(-16)} someone <s@x>`,
      `VALIDSIG ${fpr} 2026-11-25 ${NOW} 0 4 0 1 10 00 ${fpr}`,
      'TRUST_FULLY 0 pgp',
    );
  l.push('DECRYPTION_OKAY', 'GOODMDC', 'END_DECRYPTION');
  return l.map((x) => `[GNUPG:] ${x}\n`).join('');
}

let serial = 0;
function plaintext(ts: number): Uint8Array {
  const rand = String(1_000_000_000_000_000 + serial++);
  const enc = `${rand.slice(-16)}:${b64nopad(ascii('root'))}:${ts}:3.0.0:1:${b64nopad(ascii('10.0.0.2,tcp/22'))}`;
  return ascii(`${enc}:${b64nopad(c.hash('sha256', ascii(enc)))}`);
}

/** A GPG packet as the client sends it ('hQ' cut, HMAC appended); gpg's twin told what it holds. */
function packet(gpg: MemoryGpg, st: string, pt: Uint8Array): Uint8Array {
  const ct = c.random(700);
  ct[0] = 0x85;
  ct[1] = 0x0c;
  const full = b64nopad(ct);
  gpg.answer(ct, { ok: true, status: st, plaintext: pt });
  return ascii(full.slice(2) + b64nopad(c.hmac('sha256', H, ascii(full))));
}

function stanzas(text: string): Stanza[] {
  const r = parseAccessConf(text, 'access.conf');
  if ('problems' in r) assert.fail(r.problems.map((p) => `${p.line}: ${p.message}`).join('\n'));
  return r.stanzas;
}

async function send(
  wire: Uint8Array,
  ss: Stanza[],
  runs: GpgRuns,
  replay: ReplayCache,
): Promise<SpaDecision> {
  const d = evaluateSpa(wire, '10.0.0.2', '10.0.0.1', ss, replay, NOW, c);
  if (d.ok || d.gpg === undefined) return d;
  return runs.decide(d.gpg, ss, replay, NOW, d.reason);
}

test('packets whose signer the stanza refuses take no room in the replay cache: they cannot lock out key holders', async () => {
  const gpg = new MemoryGpg();
  const ss = stanzas(STANZA);
  const replay = new ReplayCache();
  const runs = new GpgRuns(gpg, c);
  // HMAC key, no listed signing key: signed by another key or not at all,
  // dated far ahead (kept until then) or now (kept 240 s), as many as the
  // cache holds.
  for (let i = 0; i < REPLAY_CAP; i++) {
    const st = status(i % 2 === 0 ? OTHER : undefined);
    const ts = i < FUTURE_CAP ? NOW + 10 ** 8 : NOW + 120;
    const d = await send(packet(gpg, st, plaintext(ts)), ss, runs, replay);
    assert.ok(!d.ok);
  }
  // The listed key holder still gets in; one whose clock runs far ahead is
  // refused for its age, not because the cache is full.
  const d = await send(packet(gpg, status(CLIENT), plaintext(NOW)), ss, runs, replay);
  assert.ok(d.ok, JSON.stringify(d));
  const ahead = await send(packet(gpg, status(CLIENT), plaintext(NOW + 10 ** 6)), ss, runs, replay);
  assert.deepEqual(ahead, { ok: false, reason: `packet is ${-(10 ** 6)} s old` });
  // Two entries per packet of the key holder (its ciphertext, its message), none else.
  assert.equal(replay.size, 4);
});

test('a refused GPG packet sent again still costs no gpg run', async () => {
  const gpg = new MemoryGpg();
  const ss = stanzas(STANZA);
  const replay = new ReplayCache();
  const runs = new GpgRuns(gpg, c);
  const wire = packet(gpg, status(OTHER), plaintext(NOW));
  assert.deepEqual(await send(wire, ss, runs, replay), {
    ok: false,
    reason: 'GPG signer 01234567 is not in GPG_REMOTE_ID',
  });
  assert.equal(gpg.requests.length, 1);
  for (let i = 0; i < 3; i++)
    assert.deepEqual(await send(wire, ss, runs, replay), {
      ok: false,
      reason: 'replayed packet',
    });
  assert.equal(gpg.requests.length, 1);
  // That memory is bounded: past MAX_GPG_REFUSED the oldest is forgotten,
  // and sent again it costs one run and is refused again.
  for (let i = 0; i < MAX_GPG_REFUSED; i++)
    await send(packet(gpg, status(OTHER), plaintext(NOW)), ss, runs, replay);
  const n = gpg.requests.length;
  assert.deepEqual(await send(wire, ss, runs, replay), {
    ok: false,
    reason: 'GPG signer 01234567 is not in GPG_REMOTE_ID',
  });
  assert.equal(gpg.requests.length, n + 1);
  assert.equal(replay.size, 0);
});

/**
 * gpg 2.2.40's status lines (verbatim but for the key IDs) for messages a
 * sender with the HMAC key and the server's public key builds around a
 * signature by the listed key over an empty document: the plaintext is the
 * sender's own, unsigned. gpg says GOODSIG for that signature all the same.
 */
const SPLICED: Record<string, string[]> = {
  'a bare signature after the encrypted message': [
    'BEGIN_DECRYPTION',
    'DECRYPTION_INFO 2 9 0',
    'PLAINTEXT 62 0 ',
    'PLAINTEXT_LENGTH 107',
    'DECRYPTION_OKAY',
    'GOODMDC',
    'END_DECRYPTION',
    'NEWSIG',
    `GOODSIG ${CLIENT.slice(-16)} A <a@t>`,
    `VALIDSIG ${CLIENT} 2026-11-26 1795653141 0 4 0 1 10 00 ${CLIENT}`,
    'TRUST_FULLY 0 pgp',
  ],
  'a signed message after the encrypted one': [
    'BEGIN_DECRYPTION',
    'DECRYPTION_INFO 2 9 0',
    'PLAINTEXT 62 0 ',
    'PLAINTEXT_LENGTH 107',
    'DECRYPTION_OKAY',
    'GOODMDC',
    'END_DECRYPTION',
    'ERROR proc_pkt.plaintext 89_BAD_DATA',
    'NEWSIG',
    `GOODSIG ${CLIENT.slice(-16)} A <a@t>`,
    `VALIDSIG ${CLIENT} 2026-11-26 1795653141 0 4 0 1 10 00 ${CLIENT}`,
    'TRUST_FULLY 0 pgp',
  ],
  'a second, signed plaintext inside': [
    'BEGIN_DECRYPTION',
    'DECRYPTION_INFO 2 9 0',
    'PLAINTEXT 62 0 ',
    'PLAINTEXT_LENGTH 107',
    'ERROR proc_pkt.plaintext 89_BAD_DATA',
    'NEWSIG',
    `GOODSIG ${CLIENT.slice(-16)} A <a@t>`,
    `VALIDSIG ${CLIENT} 2026-11-26 1795653141 0 4 0 1 10 00 ${CLIENT}`,
    'TRUST_FULLY 0 pgp',
    'DECRYPTION_OKAY',
    'GOODMDC',
    'END_DECRYPTION',
  ],
  // Reads as a real packet's report but for the signature's time: the
  // plaintext, then a compressed packet holding only the bare signature.
  'a bare signature after the plaintext, inside': [
    'BEGIN_DECRYPTION',
    'DECRYPTION_INFO 2 9 0',
    'PLAINTEXT 62 0 ',
    'PLAINTEXT_LENGTH 107',
    'NEWSIG',
    `GOODSIG ${CLIENT.slice(-16)} A <a@t>`,
    `VALIDSIG ${CLIENT} 2026-11-26 ${NOW - 3600} 0 4 0 1 10 00 ${CLIENT}`,
    'TRUST_FULLY 0 pgp',
    'DECRYPTION_OKAY',
    'GOODMDC',
    'END_DECRYPTION',
  ],
};

test('a signature spliced beside the plaintext (not over it) does not vouch for it', async () => {
  const ss = stanzas(STANZA);
  for (const [what, lines] of Object.entries(SPLICED)) {
    const gpg = new MemoryGpg();
    const st = ['ENC_TO 94D1ED1F7C14C461 1 0', ...lines].map((l) => `[GNUPG:] ${l}\n`).join('');
    const d = await send(
      packet(gpg, st, plaintext(NOW)),
      ss,
      new GpgRuns(gpg, c),
      new ReplayCache(),
    );
    assert.equal(d.ok, false, `${what}: accepted`);
    assert.ok(!d.ok && /outside|more than one|error|s old/.test(d.reason), `${what}: ${d.reason}`);
  }
  // The client's own packet, as gpg reports it: the signature inside, after the plaintext.
  const gpg = new MemoryGpg();
  const d = await send(
    packet(gpg, status(CLIENT), plaintext(NOW)),
    ss,
    new GpgRuns(gpg, c),
    new ReplayCache(),
  );
  assert.ok(d.ok, JSON.stringify(d));
});

test('GPG_IGNORE_SIG_VERIFY_ERROR Y forgives trust and expiry, never a revoked key', async () => {
  const ss = stanzas(`${STANZA}GPG_IGNORE_SIG_VERIFY_ERROR Y\n`);
  // gpg 2.2.40's report for a packet signed by a key whose revocation the server imported.
  const signed = (word: string, trust: string) =>
    [
      'ENC_TO 94D1ED1F7C14C461 1 0',
      'BEGIN_DECRYPTION',
      'PLAINTEXT 62 0 ',
      'NEWSIG',
      `${word} ${CLIENT.slice(-16)} A <a@t>`,
      `VALIDSIG ${CLIENT} 2026-11-26 ${NOW} 0 4 0 1 10 00 ${CLIENT}`,
      ...(word === 'REVKEYSIG' ? ['KEYREVOKED'] : []),
      trust,
      'DECRYPTION_OKAY',
      'GOODMDC',
      'END_DECRYPTION',
    ]
      .map((l) => `[GNUPG:] ${l}\n`)
      .join('');
  const decide = async (st: string) => {
    const gpg = new MemoryGpg();
    return send(packet(gpg, st, plaintext(NOW)), ss, new GpgRuns(gpg, c), new ReplayCache());
  };
  assert.ok((await decide(signed('GOODSIG', 'TRUST_UNDEFINED 0 pgp'))).ok, 'untrusted');
  assert.ok((await decide(signed('EXPKEYSIG', 'TRUST_UNDEFINED 0 pgp'))).ok, 'expired');
  assert.deepEqual(await decide(signed('REVKEYSIG', 'TRUST_UNDEFINED 0 pgp')), {
    ok: false,
    reason: `GPG signer ${CLIENT} is revoked`,
  });
});
