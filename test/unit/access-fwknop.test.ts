/**
 * fwknop users' access.conf files load: the stanza forms of fwknop 2.6.10's
 * example access.conf and of its test suite (test/conf/*_access.conf),
 * written here as test data. Every man-page keyword is supported or refused
 * with a reason; fwknopd's leniencies are kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  destinationMatches,
  KEYWORDS,
  parseAccessConf,
  sourceMatches,
  type Stanza,
} from '../../src/core/spa/access.js';

const K = 'wzNP62oPPgEc+kXDPQLHPOayQBuNbYUTPP+QrErNDmg=';
const H =
  'Yh+xizBnl6FotC5ec7FanVGClRMlsOAPh2u6eovnerfBVKwaVKzjGoblFMHMc593TNyi0dWn4opLoTIV9q/ttg==';
const KEYS = `KEY_BASE64              ${K}\nHMAC_KEY_BASE64         ${H}\n`;

function load(text: string): { stanzas: Stanza[]; warnings: string[] } {
  const r = parseAccessConf(text, 'access.conf');
  if ('problems' in r) assert.fail(r.problems.map((p) => `${p.line}: ${p.message}`).join('\n'));
  return { stanzas: r.stanzas, warnings: r.warnings.map((w) => `${w.line}: ${w.message}`) };
}
function refused(text: string): string[] {
  const r = parseAccessConf(text, 'access.conf');
  assert.ok('problems' in r, `expected a refusal:\n${text}`);
  return 'problems' in r ? r.problems.map((p) => `${p.line}: ${p.message}`) : [];
}

test("fwknop's example access.conf: __CHANGEME__ keys are refused by name; filled in, it loads", () => {
  const example =
    '#\n# access.conf\n#\n#GPG_HOME_DIR           /homedir/path/.gnupg\n#GPG_DECRYPT_PW         __CHANGEME__\n\n' +
    'SOURCE              ANY\nKEY_BASE64          __CHANGEME__\nHMAC_KEY_BASE64     __CHANGEME__\n';
  assert.deepEqual(refused(example), [
    '8: KEY_BASE64 is still __CHANGEME__ (fwknop --key-gen makes keys)',
    '9: HMAC_KEY_BASE64 is still __CHANGEME__ (fwknop --key-gen makes keys)',
    '7: stanza has no KEY or KEY_BASE64',
    '7: stanza has no HMAC_KEY or HMAC_KEY_BASE64 (knockd-ts requires HMAC; ALLOW_NO_HMAC Y opts out)',
  ]);
  const { stanzas, warnings } = load(
    example.replace(/__CHANGEME__$/gm, K).replace(/HMAC_KEY_BASE64 .*/, `HMAC_KEY_BASE64 ${H}`),
  );
  assert.equal(stanzas.length, 1);
  assert.equal(stanzas[0]?.sources, 'any');
  assert.deepEqual(warnings, []);
});

test("fwknopd's leniencies: 'SOURCE: ANY;', values ending in ';', lines before SOURCE and unknown names warn", () => {
  const { stanzas, warnings } = load(
    `FW_ACCESS_TIMEOUT 10;\nKEY early\nSOURCE: ANY;\n${KEYS}FW_ACCESS_TIMEOUT   7;   # fwknopd.conf style\nOPEN_PORTS: tcp/22, udp/53;\nNOT_A_KEYWORD  Y\n`,
  );
  const [s] = stanzas;
  assert.equal(s?.sources, 'any');
  assert.equal(s?.fwAccessTimeout, 7);
  assert.deepEqual(s?.openPorts, [
    { proto: 'tcp', port: 22 },
    { proto: 'udp', port: 53 },
  ]);
  assert.deepEqual(warnings, [
    '1: FW_ACCESS_TIMEOUT before the first SOURCE line is ignored',
    "8: unknown variable 'NOT_A_KEYWORD' ignored",
  ]);
});

test('test-suite forms: default_access.conf and the SOURCE match files need ALLOW_NO_HMAC (named in the message)', () => {
  const dflt =
    'SOURCE                 ANY\nKEY                    fwknoptest\nFW_ACCESS_TIMEOUT      3\n';
  assert.deepEqual(refused(dflt), [
    '1: stanza has no HMAC_KEY or HMAC_KEY_BASE64 (knockd-ts requires HMAC; ALLOW_NO_HMAC Y opts out)',
  ]);
  const multi = load(
    'SOURCE                  4.3.2.0/24, 127.0.0.0/24, 23.43.0.0/16, 10.10.10.10\nKEY                     fwknoptest\nFW_ACCESS_TIMEOUT       3\nALLOW_NO_HMAC Y\n',
  ).stanzas[0];
  assert.ok(multi);
  for (const a of ['127.0.0.1', '4.3.2.200', '23.43.99.1', '10.10.10.10'])
    assert.ok(sourceMatches(multi, a), a);
  for (const a of ['10.10.10.11', '4.3.3.1', '::1']) assert.ok(!sourceMatches(multi, a), a);
  const mask = load(`SOURCE 192.0.2.0/255.255.255.0\n${KEYS}`).stanzas[0];
  assert.ok(mask && sourceMatches(mask, '192.0.2.77') && !sourceMatches(mask, '192.0.3.1'));
  assert.deepEqual(refused(`SOURCE 192.0.2.0/255.0.255.0\n${KEYS}`), [
    "1: SOURCE: bad address list '192.0.2.0/255.0.255.0'",
  ]);
});

test('DESTINATION: the five test-suite forms, IPv6, and mismatches', () => {
  const forms: [string, string[], string[]][] = [
    ['ANY', ['127.0.0.1', '203.0.113.9', '2001:db8::1'], []],
    ['1.2.3.4, 127.0.0.1, 123.0.0.0/24', ['127.0.0.1', '1.2.3.4', '123.0.0.77'], ['127.0.0.2']],
    ['1.2.3.4, 123.0.0.0/24, 127.0.0.1/32', ['127.0.0.1'], ['127.0.0.2', '123.0.1.0']],
    ['1.2.3.4', ['1.2.3.4'], ['127.0.0.1']],
    ['1.2.3.4, 123.0.0.0/24', ['123.0.0.1'], ['127.0.0.1']],
    [
      '2001:db8:1::/48, 192.0.2.1',
      ['2001:db8:1:ffff::5', '192.0.2.1'],
      ['2001:db8:2::1', '::ffff:192.0.2.2'],
    ],
    ['::ffff:0:0/96', [], ['192.0.2.1']],
  ];
  for (const [dst, yes, no] of forms) {
    const s = load(`SOURCE ANY\nDESTINATION ${dst}\n${KEYS}FW_ACCESS_TIMEOUT 3\n`).stanzas[0];
    assert.ok(s);
    for (const a of yes) assert.ok(destinationMatches(s, a), `${dst} should hold ${a}`);
    for (const a of no) assert.ok(!destinationMatches(s, a), `${dst} should not hold ${a}`);
  }
  // An IPv4-mapped address is its IPv4 address.
  const s = load(`SOURCE ANY\nDESTINATION 192.0.2.0/24\n${KEYS}`).stanzas[0];
  assert.ok(s && destinationMatches(s, '::ffff:192.0.2.9'));
  assert.deepEqual(refused(`SOURCE ANY\nDESTINATION 10.0.0.0/33\n${KEYS}`), [
    "2: DESTINATION: bad address list '10.0.0.0/33'",
  ]);
  assert.deepEqual(refused(`SOURCE ANY\nDESTINATION fe80::1%eth0\n${KEYS}`), [
    "2: DESTINATION: bad address list 'fe80::1%eth0'",
  ]);
});

test('CMD_CYCLE: the test-suite forms load (NONE, one stanza per key), the incomplete ones are refused', () => {
  const cyc = (open: string, close: string, timer?: number) =>
    `SOURCE                  ANY\n${KEYS}CMD_CYCLE_OPEN          ${open}\nCMD_CYCLE_CLOSE         ${close}\n` +
    (timer === undefined ? '' : `CMD_CYCLE_TIMER         ${timer}\n`);
  const a = load(cyc('/usr/bin/touch /tmp/$IP', '/usr/bin/touch /tmp/2$IP', 1)).stanzas[0];
  assert.deepEqual(a?.cycle, {
    open: '/usr/bin/touch /tmp/$IP',
    close: '/usr/bin/touch /tmp/2$IP',
    timer: 1,
  });
  const none = load(cyc('/usr/bin/touch /tmp/$SRC', 'NONE')).stanzas[0];
  assert.deepEqual(none?.cycle, { open: '/usr/bin/touch /tmp/$SRC', timer: 1 });
  const multi = load(
    cyc('/usr/bin/touch /tmp/$SRC_default_key', '/usr/bin/touch /tmp/2$DST_default_key', 1) +
      cyc('/usr/bin/touch /tmp/$SRC_key2', '/usr/bin/touch /tmp/2$DST_key2', 10).replace(
        K,
        'pP+EpgUa18sI/+NwxJSzj6V/QymNTEhSrP/k2Co91ng=',
      ),
  ).stanzas;
  assert.deepEqual(
    multi.map((s) => [s.id, s.cycle?.timer]),
    [
      ['SOURCE ANY #1', 1],
      ['SOURCE ANY #2', 10],
    ],
  );
  assert.deepEqual(refused(cyc('/bin/true', '/bin/true')), [
    '1: CMD_CYCLE_CLOSE needs CMD_CYCLE_TIMER',
  ]);
  assert.deepEqual(refused(`SOURCE ANY\n${KEYS}CMD_CYCLE_CLOSE /bin/true\nCMD_CYCLE_TIMER 3\n`), [
    '1: CMD_CYCLE_CLOSE without CMD_CYCLE_OPEN',
  ]);
  assert.deepEqual(refused(cyc('/bin/true', '/bin/true', 0)), [
    "6: CMD_CYCLE_TIMER must be 1..8388608 seconds, got '0'",
  ]);
  assert.deepEqual(refused(cyc(`/bin/echo ${'x'.repeat(260)}`, 'NONE')), [
    '4: CMD_CYCLE_OPEN is longer than 255 characters',
  ]);
});

test('every fwknopd 2.6.10 man-page keyword is supported or refused with why and what instead', () => {
  const manPage = (
    'SOURCE DESTINATION OPEN_PORTS RESTRICT_PORTS KEY KEY_BASE64 HMAC_KEY HMAC_KEY_BASE64 FW_ACCESS_TIMEOUT ' +
    '%include %include_folder ENCRYPTION_MODE HMAC_DIGEST_TYPE ACCESS_EXPIRE ACCESS_EXPIRE_EPOCH ENABLE_CMD_EXEC ' +
    'ENABLE_CMD_SUDO_EXEC CMD_EXEC_USER CMD_SUDO_EXEC_USER CMD_EXEC_GROUP CMD_SUDO_EXEC_GROUP CMD_CYCLE_OPEN ' +
    'CMD_CYCLE_CLOSE CMD_CYCLE_TIMER SUDO_EXE REQUIRE_USERNAME REQUIRE_SOURCE_ADDRESS REQUIRE_SOURCE FORCE_NAT ' +
    'FORCE_SNAT FORCE_MASQUERADE FORWARD_ALL DISABLE_DNAT GPG_DECRYPT_ID GPG_DECRYPT_PW GPG_ALLOW_NO_PW ' +
    'GPG_REQUIRE_SIG GPG_DISABLE_SIG GPG_IGNORE_SIG_VERIFY_ERROR GPG_REMOTE_ID GPG_FINGERPRINT_ID GPG_HOME_DIR GPG_EXE MAX_FW_TIMEOUT'
  ).split(' ');
  for (const k of manPage) assert.ok(k in KEYWORDS, `${k} has no entry in the keyword table`);
  // Each refused keyword says why and what to use instead.
  const refusedOnes = [
    [
      'ENABLE_CMD_EXEC Y',
      /^4: ENABLE_CMD_EXEC Y is not supported: a command message \(fwknop -C\) runs text the client chose, as root by default; use CMD_CYCLE_OPEN with a fixed command$/,
    ],
    ['ENABLE_CMD_SUDO_EXEC Y', /not supported: .*use CMD_CYCLE_OPEN/],
    ['FORCE_NAT 192.0.2.5 22', /FORCE_NAT is not supported: .*no NAT backend; use CMD_CYCLE_OPEN/],
    ['FORCE_SNAT 192.0.2.5', /FORCE_SNAT is not supported: .*use CMD_CYCLE_OPEN/],
    ['FORCE_MASQUERADE Y', /FORCE_MASQUERADE Y is not supported: .*use CMD_CYCLE_OPEN/],
    ['FORWARD_ALL Y', /FORWARD_ALL Y is not supported: .*no FORWARD backend; use CMD_CYCLE_OPEN/],
    [
      '%include /etc/fwknop/more.conf',
      /%include is not supported: .*concatenate the included files into the file SPA_Access names/,
    ],
  ] as const;
  for (const [line, re] of refusedOnes) {
    const msgs = refused(`SOURCE ANY\n${KEYS}${line}\n`);
    assert.ok(
      msgs.some((m) => re.test(m)),
      `${line}: ${msgs.join(' | ')}`,
    );
  }
  // Harmless values load: N for the Y-refused switches, and the exec users are warnings.
  const { warnings } = load(
    `SOURCE ANY\n${KEYS}ENABLE_CMD_EXEC N\nENABLE_CMD_SUDO_EXEC N\nFORCE_MASQUERADE N\nFORWARD_ALL N\nDISABLE_DNAT Y\nCMD_EXEC_USER nobody\nSUDO_EXE /usr/bin/sudo\n`,
  );
  assert.deepEqual(warnings, [
    '9: CMD_EXEC_USER is ignored: command messages (fwknop -C) are never run',
    '10: SUDO_EXE is ignored: command messages (fwknop -C) are never run',
  ]);
});

test('SOURCE and DESTINATION of either family; ANY anywhere in a list', () => {
  const s = load(`SOURCE 2001:db8::/32, 198.51.100.7\n${KEYS}`).stanzas[0];
  assert.ok(s && sourceMatches(s, '2001:db8:5::9') && sourceMatches(s, '198.51.100.7'));
  assert.ok(!sourceMatches(s, '2001:db9::1'));
  const any = load(`SOURCE 10.0.0.1, ANY\n${KEYS}`).stanzas[0];
  assert.equal(any?.sources, 'any');
});

test("a key with text after ';' is refused, never silently shortened; a trailing ';' is fwknopd's terminator", () => {
  const msg =
    "2: KEY has text after ';': fwknopd cuts the value there, which would shorten the key; choose a key without ';' (KEY_BASE64 encodes any bytes)";
  assert.deepEqual(refused('SOURCE ANY\nKEY abc;def\nALLOW_NO_HMAC Y\n'), [
    msg,
    '1: stanza has no KEY or KEY_BASE64',
  ]);
  assert.deepEqual(refused(`SOURCE ANY\nKEY_BASE64 ${K};x\nHMAC_KEY_BASE64 ${H}\n`), [
    msg.replace('KEY has', 'KEY_BASE64 has'),
    '1: stanza has no KEY or KEY_BASE64',
  ]);
  const [s] = load('SOURCE ANY\nKEY abcdef;\nALLOW_NO_HMAC Y\n').stanzas;
  assert.equal(Buffer.from(s?.encKey ?? []).toString(), 'abcdef');
});
