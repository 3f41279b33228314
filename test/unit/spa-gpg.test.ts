/**
 * GPG SPA packets: gpg's status lines read as gpgme reports them, the
 * stanza's signer policy (fwknopd's process_sigs and handle_gpg_sigs), the
 * HMAC before any gpg run, replays that cost no run, and the bound on gpg
 * runs at once. gpg itself is the in-memory twin; the e2e test
 * (test/netns/t-spa-gpg.sh) runs the real one with the stock client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeSpaCrypto as c } from '../../src/adapters/spa-crypto.js';
import { parseAccessConf, type Stanza } from '../../src/core/spa/access.js';
import { ascii, b64nopad } from '../../src/core/spa/bytes.js';
import {
  decryptionProblem,
  parseGpgStatus,
  signerProblem,
  type StanzaGpg,
} from '../../src/core/spa/gpg.js';
import { evaluateSpa, ReplayCache, type SpaDecision } from '../../src/core/spa/policy.js';
import { precheck } from '../../src/core/spa/spa.js';
import { GpgRuns, MAX_GPG_RUNNING } from '../../src/daemon/spa-gpg.js';
import { MemoryGpg } from '../fakes/gpg-twin.js';

const NOW = 1_800_000_000;
const H = c.random(64);
const CLIENT = '364B9ECBF8E8A15E38E2B394C23061B28D108DBF';
const OTHER = '0123456789ABCDEF0123456789ABCDEF01234567';

/** gpg's status lines for a decrypted packet, signed (or not) as told. */
function status(sig?: { word?: string; fpr: string; primary?: string; trust?: string }): string {
  const l = ['ENC_TO 05190A79A0C93055 1 0', 'BEGIN_DECRYPTION', 'PLAINTEXT 62 0 '];
  if (sig !== undefined) {
    const word = sig.word ?? 'GOODSIG';
    l.push('NEWSIG', `${word} ${sig.fpr.slice(-16)} client <c@x>`);
    if (word !== 'BADSIG' && word !== 'ERRSIG')
      l.push(`VALIDSIG ${sig.fpr} 2026-11-25 ${NOW} 0 4 0 1 10 00 ${sig.primary ?? sig.fpr}`);
    l.push(sig.trust ?? 'TRUST_FULLY 0 pgp');
  }
  l.push('DECRYPTION_OKAY', 'GOODMDC', 'END_DECRYPTION');
  return l.map((x) => `[GNUPG:] ${x}\n`).join('');
}

/** The message fwknop encrypts: ENCODED:DIGEST. */
let serial = 0;
function plaintext(ts = NOW): Uint8Array {
  const rand = String(1_000_000_000_000_000 + serial++);
  const enc = `${rand.slice(-16)}:${b64nopad(ascii('root'))}:${ts}:3.0.0:1:${b64nopad(ascii('10.0.0.2,tcp/22'))}`;
  return ascii(`${enc}:${b64nopad(c.hash('sha256', ascii(enc)))}`);
}

/** A GPG-looking packet as the client sends it: 'hQ' cut, HMAC over the whole text appended. */
function packet(hmacKey: Uint8Array | null = H): { wire: Uint8Array; ct: Uint8Array } {
  const ct = c.random(700);
  ct[0] = 0x85;
  ct[1] = 0x0c; // base64 'hQ': the public-key session key packet header
  const full = b64nopad(ct);
  assert.ok(full.startsWith('hQ'));
  let wire = full.slice(2);
  if (hmacKey !== null) wire += b64nopad(c.hmac('sha256', hmacKey, ascii(full)));
  return { wire: ascii(wire), ct };
}

function stanzas(text: string): Stanza[] {
  const r = parseAccessConf(text, 'access.conf');
  if ('problems' in r) assert.fail(r.problems.map((p) => `${p.line}: ${p.message}`).join('\n'));
  return r.stanzas;
}
const HB = Buffer.from(H).toString('base64');
const STANZA = `SOURCE ANY\nHMAC_KEY_BASE64 ${HB}\nGPG_HOME_DIR /srv/gpg\nGPG_ALLOW_NO_PW Y\nGPG_REMOTE_ID 8D108DBF\nOPEN_PORTS tcp/22\n`;

async function run(
  wire: Uint8Array,
  ss: Stanza[],
  gpg: MemoryGpg,
  replay = new ReplayCache(),
  runs = new GpgRuns(gpg, c),
): Promise<SpaDecision> {
  const d = evaluateSpa(wire, '10.0.0.2', '10.0.0.1', ss, replay, NOW, c);
  if (d.ok || d.gpg === undefined) return d;
  return runs.decide(d.gpg, ss, replay, NOW, d.reason);
}

test("gpg's status lines: decryption, the first signature, its fingerprints and validity", () => {
  const st = parseGpgStatus(status({ fpr: CLIENT }));
  assert.equal(decryptionProblem(st), null);
  assert.deepEqual(st.sigs, [
    {
      status: 'good',
      keyId: 'C23061B28D108DBF',
      fpr: CLIENT,
      primary: CLIENT,
      created: NOW,
      validity: 4,
    },
  ]);
  const tampered = status({ fpr: CLIENT }).replace('GOODMDC', 'BADMDC\n[GNUPG:] DECRYPTION_FAILED');
  assert.equal(decryptionProblem(parseGpgStatus(tampered)), 'GPG decryption failed');
  assert.equal(
    decryptionProblem(
      parseGpgStatus('[GNUPG:] NEED_PASSPHRASE_SYM 9 3 2\n[GNUPG:] DECRYPTION_OKAY\n'),
    ),
    'GPG packet asks for a passphrase (symmetric encryption)',
  );
  assert.equal(
    decryptionProblem(parseGpgStatus('[GNUPG:] DECRYPTION_OKAY\n')),
    'GPG packet is not encrypted to a public key',
  );
  // Free text (a user ID) never becomes a field.
  const evil = parseGpgStatus(`[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG zz VALIDSIG ${OTHER}\n`);
  assert.deepEqual(evil.sigs, [{ status: 'good', keyId: '', validity: 0 }]);
});

test('the signer policy: GPG_REMOTE_ID (8, 16, 40 digits), GPG_FINGERPRINT_ID, trust, GPG_REQUIRE_SIG', () => {
  const g = (over: Partial<StanzaGpg>): StanzaGpg => ({
    homeDir: '/h',
    exe: '/usr/bin/gpg',
    requireSig: true,
    ignoreSigError: false,
    remoteIds: [],
    fingerprints: [],
    ...over,
  });
  const good = parseGpgStatus(status({ fpr: CLIENT }));
  assert.equal(signerProblem(g({ remoteIds: ['8D108DBF'] }), good), null);
  assert.equal(signerProblem(g({ remoteIds: ['1234AAAA', 'C23061B28D108DBF'] }), good), null);
  assert.equal(signerProblem(g({ remoteIds: [CLIENT] }), good), null);
  assert.equal(
    signerProblem(g({ remoteIds: ['1234AAAA'] }), good),
    `GPG signer 8D108DBF is not in GPG_REMOTE_ID`,
  );
  assert.equal(signerProblem(g({ fingerprints: [CLIENT] }), good), null);
  assert.equal(
    signerProblem(g({ fingerprints: [OTHER] }), good),
    `GPG signer ${CLIENT} is not in GPG_FINGERPRINT_ID`,
  );
  // Both lists set: both must match, as fwknopd checks one then the other.
  assert.match(
    signerProblem(g({ fingerprints: [CLIENT], remoteIds: ['1234AAAA'] }), good) ?? '',
    /GPG_REMOTE_ID/,
  );
  // A signing subkey: its fingerprint or the primary key's.
  const sub = parseGpgStatus(status({ fpr: OTHER, primary: CLIENT }));
  assert.equal(signerProblem(g({ remoteIds: ['8D108DBF'] }), sub), null);
  const unsigned = parseGpgStatus(status());
  assert.equal(
    signerProblem(g({ remoteIds: ['8D108DBF'] }), unsigned),
    'GPG packet is not signed (GPG_REQUIRE_SIG)',
  );
  assert.equal(signerProblem(g({ requireSig: false }), unsigned), null);
  const untrusted = parseGpgStatus(status({ fpr: CLIENT, trust: 'TRUST_UNDEFINED 0 pgp' }));
  assert.equal(
    signerProblem(g({ remoteIds: ['8D108DBF'] }), untrusted),
    `GPG signer ${CLIENT} is not trusted in the keyring`,
  );
  assert.equal(
    signerProblem(g({ remoteIds: ['8D108DBF'], ignoreSigError: true }), untrusted),
    null,
  );
  // A signature that does not verify names a key it may not come from:
  // never accepted, GPG_IGNORE_SIG_VERIFY_ERROR or not.
  for (const word of ['BADSIG', 'ERRSIG']) {
    const st = parseGpgStatus(status({ word, fpr: CLIENT }));
    for (const ignoreSigError of [false, true])
      assert.match(
        signerProblem(g({ remoteIds: ['8D108DBF'], ignoreSigError }), st) ?? '',
        /does not verify/,
      );
  }
  const expired = parseGpgStatus(status({ word: 'EXPKEYSIG', fpr: CLIENT }));
  assert.match(signerProblem(g({ remoteIds: ['8D108DBF'] }), expired) ?? '', /not valid/);
  assert.equal(signerProblem(g({ remoteIds: ['8D108DBF'], ignoreSigError: true }), expired), null);
});

test('a GPG packet: HMAC first (no gpg run on a mismatch), then gpg, then the signer, then the policy', async () => {
  const gpg = new MemoryGpg();
  const ss = stanzas(STANZA);
  const p = packet();
  gpg.answer(p.ct, { ok: true, status: status({ fpr: CLIENT }), plaintext: plaintext() });
  const d = await run(p.wire, ss, gpg);
  assert.ok(d.ok, JSON.stringify(d));
  assert.deepEqual(
    [d.address, d.ports, d.user],
    ['10.0.0.2', [{ proto: 'tcp', port: 22 }], 'root'],
  );
  assert.deepEqual(
    gpg.requests.map((r) => [r.exe, r.homeDir, r.passphrase]),
    [['/usr/bin/gpg', '/srv/gpg', undefined]],
  );
  // A wrong HMAC key: rejected before any process.
  const bad = packet(c.random(64));
  assert.deepEqual(await run(bad.wire, ss, gpg), { ok: false, reason: 'HMAC mismatch' });
  assert.equal(gpg.requests.length, 1);
  // Signed by someone else, unsigned, an old message: rejected after gpg.
  for (const [st, pt, reason] of [
    [status({ fpr: OTHER }), plaintext(), 'GPG signer 01234567 is not in GPG_REMOTE_ID'],
    [status(), plaintext(), 'GPG packet is not signed (GPG_REQUIRE_SIG)'],
    [status({ fpr: CLIENT }), plaintext(NOW - 500), 'packet is 500 s old'],
  ] as const) {
    const q = packet();
    gpg.answer(q.ct, { ok: true, status: st, plaintext: pt });
    assert.deepEqual(await run(q.wire, ss, gpg), { ok: false, reason });
  }
  // The 'hQ' put back by an attacker: a replay attempt, refused up front.
  assert.equal(
    precheck(`hQ${Buffer.from(p.wire).toString()}`),
    'starts with the GPG prefix hQ (replay attempt)',
  );
});

test('GPG packets need HMAC as Rijndael ones do, unless ALLOW_NO_HMAC Y', () => {
  const r = parseAccessConf(STANZA.replace(/HMAC_KEY_BASE64 .*\n/, ''), 'access.conf');
  assert.ok('problems' in r);
  const ss = stanzas(`${STANZA.replace(/HMAC_KEY_BASE64 .*\n/, '')}ALLOW_NO_HMAC Y\n`);
  const d = evaluateSpa(packet(null).wire, '10.0.0.2', '10.0.0.1', ss, new ReplayCache(), NOW, c);
  assert.ok(!d.ok && d.gpg?.tries.length === 1);
});

test('a replayed GPG packet costs no gpg run, whether the first was accepted or not', async () => {
  const gpg = new MemoryGpg();
  const ss = stanzas(STANZA);
  const replay = new ReplayCache();
  // One GpgRuns, as in the daemon: it remembers the packets refused for their signer.
  const runs = new GpgRuns(gpg, c);
  for (const st of [status({ fpr: CLIENT }), status({ fpr: OTHER })]) {
    const p = packet();
    gpg.answer(p.ct, { ok: true, status: st, plaintext: plaintext() });
    await run(p.wire, ss, gpg, replay, runs);
    const n = gpg.requests.length;
    assert.deepEqual(await run(p.wire, ss, gpg, replay, runs), {
      ok: false,
      reason: 'replayed packet',
    });
    // Trailing whitespace does not make it new.
    const spaced = new Uint8Array([...p.wire, 0x0a]);
    assert.deepEqual(await run(spaced, ss, gpg, replay, runs), {
      ok: false,
      reason: 'replayed packet',
    });
    assert.equal(gpg.requests.length, n);
  }
});

test('one gpg run per packet and keyring, however many stanzas pass the HMAC', async () => {
  const gpg = new MemoryGpg();
  const second = STANZA.replace('8D108DBF', '1234AAAA');
  const ss = stanzas(second + STANZA);
  const p = packet();
  gpg.answer(p.ct, { ok: true, status: status({ fpr: CLIENT }), plaintext: plaintext() });
  const d = await run(p.wire, ss, gpg);
  assert.ok(d.ok && d.stanza === 1, JSON.stringify(d));
  assert.equal(gpg.requests.length, 1);
});

test(`at most ${MAX_GPG_RUNNING} packets with gpg at once: a flood is dropped, not queued`, async () => {
  const gpg = new MemoryGpg();
  gpg.hold = true;
  const ss = stanzas(STANZA);
  const replay = new ReplayCache();
  const runs = new GpgRuns(gpg, c);
  const pending: Promise<SpaDecision>[] = [];
  const results: SpaDecision[] = [];
  const first = packet();
  for (let i = 0; i < 50; i++) {
    const p = i === 0 ? first : packet();
    gpg.answer(p.ct, { ok: true, status: status({ fpr: CLIENT }), plaintext: plaintext() });
    const d = evaluateSpa(p.wire, '10.0.0.2', '10.0.0.1', ss, replay, NOW, c);
    assert.ok(!d.ok && d.gpg !== undefined);
    const r = runs.decide(d.gpg, ss, replay, NOW, d.reason);
    if (r instanceof Promise) pending.push(r);
    else results.push(r);
  }
  assert.equal(gpg.requests.length, MAX_GPG_RUNNING);
  assert.equal(runs.active, MAX_GPG_RUNNING);
  assert.equal(results.length, 50 - MAX_GPG_RUNNING);
  assert.match(results[0] && !results[0].ok ? results[0].reason : '', /^GPG busy/);
  gpg.release();
  await Promise.all(pending);
  assert.equal(runs.active, 0);
  // A copy of a packet still with gpg is a replay, and costs nothing.
  gpg.hold = true;
  const p = packet();
  gpg.answer(p.ct, { ok: true, status: status({ fpr: CLIENT }), plaintext: plaintext() });
  const d = evaluateSpa(p.wire, '10.0.0.2', '10.0.0.1', ss, replay, NOW, c);
  assert.ok(!d.ok && d.gpg !== undefined);
  const a = runs.decide(d.gpg, ss, replay, NOW, d.reason);
  assert.deepEqual(runs.decide(d.gpg, ss, replay, NOW, d.reason), {
    ok: false,
    reason: 'replayed packet (with gpg now)',
  });
  gpg.release();
  assert.ok((await a).ok);
});

test('the daemon side: an accepted GPG packet becomes a grant; a reload while gpg runs decides nothing', async () => {
  const { SpaService } = await import('../../src/daemon/spa-service.js');
  const { GrantKeeper } = await import('../../src/daemon/grant-keeper.js');
  const { LogLimiter } = await import('../../src/core/ratelimit.js');
  const { MemoryFirewall, MemoryLogger } = await import('../fakes/twins.js');
  const logger = new MemoryLogger();
  const keeper = new GrantKeeper(
    new MemoryFirewall(),
    logger,
    () => NOW * 1000,
    () => {},
  );
  const gpg = new MemoryGpg();
  let burns = 0;
  const binder = { bind: () => Promise.reject(new Error('no socket in this test')) };
  const spa = new SpaService(
    binder,
    c,
    keeper,
    logger,
    new LogLimiter(),
    () => NOW * 1000,
    () => burns++,
    () => false,
    gpg,
  );
  const settings = { stanzas: stanzas(STANZA), port: 62201, socket: false };
  await spa.configure(settings);
  const p = packet();
  gpg.answer(p.ct, { ok: true, status: status({ fpr: CLIENT }), plaintext: plaintext() });
  gpg.hold = true;
  spa.onPacket(p.wire, '10.0.0.2', '10.0.0.1');
  assert.equal(keeper.table.size, 0, 'nothing before gpg has spoken');
  gpg.release();
  await new Promise((r) => setImmediate(r));
  assert.equal(keeper.table.size, 1);
  assert.ok(logger.lines.some((l) => l.startsWith('10.0.0.2: SPA: accepted for 10.0.0.2')));
  assert.ok(burns > 0, 'the journal is told about the burned digests');
  const q = packet();
  gpg.answer(q.ct, { ok: true, status: status({ fpr: CLIENT }), plaintext: plaintext() });
  spa.onPacket(q.wire, '10.0.0.3', '10.0.0.1');
  await spa.configure({ ...settings, stanzas: stanzas(STANZA) });
  gpg.release();
  await new Promise((r) => setImmediate(r));
  assert.ok(
    logger.lines.includes('10.0.0.3: SPA: rejected (access.conf was reloaded while gpg ran)'),
  );
  assert.equal(keeper.table.size, 1);
  spa.close();
  await keeper.close();
});
