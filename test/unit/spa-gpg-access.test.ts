/**
 * access.conf GPG stanzas as fwknopd 2.6.10 reads them: the forms of its
 * test suite (test/conf/gpg*_access.conf), written here as test data with
 * GPG_HOME_DIR made absolute (a relative one is refused, with why).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAccessConf, type Stanza } from '../../src/core/spa/access.js';

const H =
  'Yh+xizBnl6FotC5ec7FanVGClRMlsOAPh2u6eovnerfBVKwaVKzjGoblFMHMc593TNyi0dWn4opLoTIV9q/ttg==';
/** fwknop's test suite names its keyrings relative to its working directory. */
const abs = (t: string) => t.replace(/GPG_HOME_DIR(\s+)conf\//g, 'GPG_HOME_DIR$1/etc/fwknop/');

function load(text: string): { stanzas: Stanza[]; warnings: string[] } {
  const r = parseAccessConf(abs(text), 'access.conf');
  if ('problems' in r) assert.fail(r.problems.map((p) => `${p.line}: ${p.message}`).join('\n'));
  return { stanzas: r.stanzas, warnings: r.warnings.map((w) => `${w.line}: ${w.message}`) };
}
function refused(text: string): string[] {
  const r = parseAccessConf(text, 'access.conf');
  assert.ok('problems' in r, `expected a refusal:\n${text}`);
  return 'problems' in r ? r.problems.map((p) => `${p.line}: ${p.message}`) : [];
}

const GPG_HMAC = `SOURCE                      ANY
FW_ACCESS_TIMEOUT           3
HMAC_DIGEST_TYPE            sha256
HMAC_KEY_BASE64             ${H}
GPG_HOME_DIR                conf/server-gpg
GPG_DECRYPT_ID              361BBAD4
GPG_DECRYPT_PW              fwknoptest
GPG_REMOTE_ID               6A3FAD56, 1234AAAA, 5678BBBB
`;

test('gpg_hmac_access.conf: a GPG-only stanza with HMAC loads, signatures required', () => {
  const { stanzas, warnings } = load(GPG_HMAC);
  assert.deepEqual(warnings, []);
  const s = stanzas[0];
  assert.equal(s?.encKey, undefined);
  assert.deepEqual(s?.gpg, {
    passphrase: 'fwknoptest',
    decryptId: '361BBAD4',
    homeDir: '/etc/fwknop/server-gpg',
    exe: '/usr/bin/gpg',
    requireSig: true,
    ignoreSigError: false,
    remoteIds: ['6A3FAD56', '1234AAAA', '5678BBBB'],
    fingerprints: [],
  });
});

test('gpg_no_pw_hmac, gpg_no_pw_fpr (with HMAC), multi_gpg: GPG_ALLOW_NO_PW, fingerprints, ID lists', () => {
  const noPw = load(
    GPG_HMAC.replace('GPG_DECRYPT_PW              fwknoptest', 'GPG_ALLOW_NO_PW             Y'),
  ).stanzas[0];
  assert.equal(noPw?.gpg?.passphrase, undefined);
  assert.ok(noPw?.gpg !== undefined && !('passphrase' in noPw.gpg));
  const fpr = load(
    `SOURCE ANY\nHMAC_KEY_BASE64 ${H}\nFW_ACCESS_TIMEOUT 3\nGPG_HOME_DIR conf/server-gpg-no-pw\nGPG_DECRYPT_ID 361BBAD4\nGPG_ALLOW_NO_PW Y\nGPG_FINGERPRINT_ID 00CC95F05BC146B6AC4038C9E36F443C6A3FAD56\n`,
  ).stanzas[0];
  assert.deepEqual(fpr?.gpg?.fingerprints, ['00CC95F05BC146B6AC4038C9E36F443C6A3FAD56']);
  assert.deepEqual(fpr?.gpg?.remoteIds, []);
  // multi_gpg_access.conf: a KEY for Rijndael too, and GPG_DECRYPT_ID as a list (informational).
  const multi = load(
    `SOURCE ANY\nKEY fwknoptest\nHMAC_KEY_BASE64 ${H}\nFW_ACCESS_TIMEOUT 3\nGPG_HOME_DIR conf/server-gpg\nGPG_DECRYPT_ID 12341234, DEADBEEF, 361BBAD4, 43214321\nGPG_DECRYPT_PW fwknoptest\nGPG_REMOTE_ID 6A3FAD56\n`,
  ).stanzas[0];
  assert.ok(multi?.encKey !== undefined && multi.gpg !== undefined);
  assert.equal(multi.gpg.decryptId, '12341234, DEADBEEF, 361BBAD4, 43214321');
});

test('gpg_access.conf (no HMAC): refused as any stanza without HMAC; loads with ALLOW_NO_HMAC Y', () => {
  const text = `SOURCE                  ANY\nKEY                     fwknoptest\nFW_ACCESS_TIMEOUT       3\nGPG_HOME_DIR            /etc/fwknop/server-gpg\nGPG_DECRYPT_ID          361BBAD4\nGPG_DECRYPT_PW          fwknoptest\nGPG_REMOTE_ID           6A3FAD56\n`;
  assert.deepEqual(refused(text), [
    '1: stanza has no HMAC_KEY or HMAC_KEY_BASE64 (knockd-ts requires HMAC; ALLOW_NO_HMAC Y opts out)',
  ]);
  assert.ok(load(`${text}ALLOW_NO_HMAC Y\n`).stanzas[0]?.gpg);
});

test('signature switches: GPG_DISABLE_SIG, both set (fwknopd checks), neither list', () => {
  const base = `SOURCE ANY\nHMAC_KEY_BASE64 ${H}\nGPG_HOME_DIR /etc/fwknop/server-gpg-no-pw\nGPG_DECRYPT_ID 361BBAD4\nGPG_ALLOW_NO_PW Y\n`;
  // gpg_no_sig_verify_access.conf
  const off = load(`${base}GPG_REMOTE_ID AAAAAAAA\nGPG_DISABLE_SIG Y\n`);
  assert.equal(off.stanzas[0]?.gpg?.requireSig, false);
  assert.deepEqual(off.warnings, ['3: GPG_DISABLE_SIG Y: GPG packets are accepted unsigned']);
  // GPG_REQUIRE_SIG N alone does not turn checks off in fwknopd: only GPG_DISABLE_SIG does.
  assert.equal(
    load(`${base}GPG_REMOTE_ID AAAAAAAA\nGPG_REQUIRE_SIG N\n`).stanzas[0]?.gpg?.requireSig,
    true,
  );
  // gpg_no_sig_no_fpr_access.conf
  const both = load(
    `${base}GPG_DISABLE_SIG Y\nGPG_REQUIRE_SIG Y\nGPG_FINGERPRINT_ID 00CC95F05BC146B6AC4038C9E36F443C6A3FAD56\n`,
  );
  assert.equal(both.stanzas[0]?.gpg?.requireSig, true);
  assert.deepEqual(both.warnings, [
    '3: GPG_REQUIRE_SIG and GPG_DISABLE_SIG are both set: signatures are checked',
  ]);
  // gpg_no_pw_no_fpr_access.conf: fwknopd exits ("Must have either sig ID's or fingerprints").
  assert.deepEqual(refused(base), [
    '3: a GPG stanza needs GPG_REMOTE_ID or GPG_FINGERPRINT_ID (the signers it accepts), or GPG_DISABLE_SIG Y',
  ]);
});

test('refused with file:line and why: relative paths, bad IDs, __CHANGEME__, a passphrase equal to the HMAC key', () => {
  assert.deepEqual(refused(GPG_HMAC), [
    "5: GPG_HOME_DIR must be an absolute path, got 'conf/server-gpg'",
  ]);
  assert.deepEqual(refused(abs(GPG_HMAC).replace('1234AAAA', 'alice')), [
    "8: GPG_REMOTE_ID: 'alice' is not 8, 16, 40 hex digits",
  ]);
  assert.deepEqual(refused(`${abs(GPG_HMAC)}GPG_FINGERPRINT_ID 6A3FAD56\n`), [
    "9: GPG_FINGERPRINT_ID: '6A3FAD56' is not 40, 64 hex digits",
  ]);
  assert.deepEqual(refused(`${abs(GPG_HMAC)}GPG_EXE gpg\n`), [
    "9: GPG_EXE must be an absolute path, got 'gpg'",
  ]);
  assert.deepEqual(refused(abs(GPG_HMAC).replace('fwknoptest', '__CHANGEME__')), [
    '7: GPG_DECRYPT_PW is still __CHANGEME__',
    '1: stanza has no KEY, KEY_BASE64, GPG_DECRYPT_PW or GPG_ALLOW_NO_PW Y',
  ]);
  const same = `SOURCE ANY\nHMAC_KEY sekrit-key\nGPG_HOME_DIR /g\nGPG_DECRYPT_PW sekrit-key\nGPG_REMOTE_ID 6A3FAD56\n`;
  assert.deepEqual(refused(same), ['3: GPG_DECRYPT_PW and HMAC_KEY must differ']);
});

test('GPG_* without GPG_DECRYPT_PW or GPG_ALLOW_NO_PW: ignored with a warning, as fwknopd ignores them', () => {
  const { stanzas, warnings } = load(
    `SOURCE ANY\nKEY_BASE64 wzNP62oPPgEc+kXDPQLHPOayQBuNbYUTPP+QrErNDmg=\nHMAC_KEY_BASE64 ${H}\nGPG_REMOTE_ID 1234ABCD\nGPG_ALLOW_NO_PW N\n`,
  );
  assert.equal(stanzas[0]?.gpg, undefined);
  assert.deepEqual(warnings, [
    '4: GPG_* ignored: without GPG_DECRYPT_PW or GPG_ALLOW_NO_PW Y no GPG packet is decrypted',
  ]);
});
