import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findProfile, parseProfiles } from '../../src/client/profile.js';
import { formatProblem } from '../../src/core/errors.js';

const GOOD = `# knock profiles
Host web
    Address   203.0.113.7
    Sequence  7000,8000:udp 9000
    Delay     100
    Open      tcp/22
    Family    inet6
    Tries     5
    Wait_Time 40
    Repeat    2

host spa-box
    address = 198.51.100.9
    SPA_Key_File = ~/.config/knock/box.key
    SPA_HMAC_Key_File = box.hmac
    SPA_HMAC_Digest = sha512
    SPA_Port = 62201
    Open = tcp/22

Host otp
    Address otp.example.org
    TOTP_Secret_File otp.secret
    Sequence_Length 4
    Port_Range 20000 - 29999
    TOTP_Step 60
    Protocol udp
`;

test('profiles: every key, ssh_config spellings (Key value, Key = value, any case)', () => {
  const f = parseProfiles(GOOD, 'hosts');
  assert.deepEqual(f.problems, []);
  assert.deepEqual([...f.profiles.keys()], ['web', 'spa-box', 'otp']);
  const web = f.profiles.get('web');
  assert.equal(web?.address, '203.0.113.7');
  assert.deepEqual(web?.sequence, ['7000', '8000:udp', '9000']);
  assert.deepEqual(web?.open, { proto: 'tcp', port: 22 });
  assert.equal(web?.delayMs, 100);
  assert.equal(web?.family, 6);
  assert.equal(web?.tries, 5);
  assert.equal(web?.waitSeconds, 40);
  assert.equal(web?.repeat, 2);
  assert.equal(web?.where, 'hosts:2');
  const spa = f.profiles.get('spa-box');
  assert.deepEqual(spa?.spa, {
    keyFile: '~/.config/knock/box.key',
    hmacKeyFile: 'box.hmac',
    digest: 'sha512',
    port: 62201,
  });
  assert.equal(spa?.repeat, 1);
  const otp = f.profiles.get('otp');
  assert.deepEqual(otp?.totp, {
    secretFile: 'otp.secret',
    length: 4,
    portMin: 20000,
    portMax: 29999,
    stepSeconds: 60,
    alg: 'sha1',
  });
  assert.equal(otp?.protocol, 'udp');
  assert.equal(otp?.open, undefined);
});

test('profiles: a name first, else the one profile with that Address', () => {
  const f = parseProfiles(GOOD, 'hosts');
  assert.equal(findProfile(f, 'web')?.name, 'web');
  assert.equal(findProfile(f, '198.51.100.9')?.name, 'spa-box');
  assert.equal(findProfile(f, '192.0.2.1'), undefined);
  const twice = parseProfiles(
    'Host a\n Address 10.0.0.1\n Sequence 1\nHost b\n Address 10.0.0.1\n Sequence 2\n',
    'h',
  );
  assert.equal(findProfile(twice, '10.0.0.1'), undefined, 'ambiguous address matches nothing');
});

test('profiles: every problem at once, as file:line quoting the value', () => {
  const bad = `Address 10.0.0.1
Host a
    Address 10.0.0.1
    Sequence 1,2
    Delay soon
    Open tcp/0
    Protocol sctp
    Colour blue
    Family 5
    just-words
Host b
    Address 10.0.0.2
Host c
    Address 10.0.0.3
    Sequence 1
    TOTP_Secret_File s
Host d
    Address 10.0.0.4
    TOTP_Secret_File s
    Sequence_Length 6
    Port_Range 100-105
Host e
    Address 10.0.0.5
    SPA_Key_File k
Host a
    Sequence 3
Host bad name
`;
  const msgs = parseProfiles(bad, 'hosts').problems.map(formatProblem);
  const expect = [
    "hosts:1: 'Address' before any Host line",
    "hosts:8: unknown key 'Colour'",
    "hosts:10: expected 'Key value', got 'just-words'",
    "hosts:25: Host 'a' again",
    "hosts:27: bad host name 'bad name'",
    "hosts:5: delay 'soon' is not a whole number 0-600000",
    'hosts:6: port 0 out of range 1-65535',
    "hosts:7: protocol 'sctp' is not tcp or udp",
    "hosts:9: family '5' is not any, 4 (inet) or 6 (inet6)",
    "hosts:11: Host 'b' needs exactly one of Sequence, SPA_Key_File or TOTP_Secret_File",
    "hosts:15: Host 'c' needs exactly one of Sequence, SPA_Key_File or TOTP_Secret_File",
    'hosts:19: d: port range 100-105 is too small for 6 knocks',
    'hosts:24: SPA needs both SPA_Key_File and SPA_HMAC_Key_File',
    "hosts:25: Host 'a' has no Address",
  ];
  for (const e of expect) assert.ok(msgs.includes(e), `missing: ${e}\ngot:\n${msgs.join('\n')}`);
  // A refused TOTP or SPA setting is not reported a second time as a missing way to knock.
  assert.equal(msgs.length, expect.length, msgs.join('\n'));
});
