import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseConfig,
  parseSequence,
  parseOneTimeFile,
  expandCommand,
  startCommandFor,
  stopCommandFor,
  type Config,
} from '../../src/core/config.js';

function ok(text: string): Config {
  const r = parseConfig(text, 'k.conf');
  if (!r.ok) assert.fail(r.problems.map((p) => `${p.line}: ${p.message}`).join('\n'));
  return r.config;
}
function problems(text: string): string[] {
  const r = parseConfig(text, 'k.conf');
  assert.equal(r.ok, false, 'expected errors');
  return r.ok ? [] : r.problems.map((p) => `${p.file}:${p.line}: ${p.message}`);
}

const DEBIAN = `[options]
\tUseSyslog

[openSSH]
\tsequence    = 7000,8000,9000
\tseq_timeout = 5
\tcommand     = /sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
\ttcpflags    = syn

[closeSSH]
\tsequence    = 9000,8000,7000
\tseq_timeout = 5
\tcommand     = /sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
\ttcpflags    = syn

[openHTTPS]
\tsequence    = 12345,54321,24680,13579
\tseq_timeout = 5
\tcommand     = /usr/local/sbin/knock_add -i -c INPUT -p tcp -d 443 -f %IP%
\ttcpflags    = syn
`;

test("Debian's stock /etc/knockd.conf parses with knockd's meaning", () => {
  const c = ok(DEBIAN);
  assert.equal(c.options.useSyslog, true);
  assert.deepEqual(
    c.doors.map((d) => d.name),
    ['openSSH', 'closeSSH', 'openHTTPS'],
  );
  const d = c.doors[0]!;
  assert.deepEqual(d.sequence, [
    { port: 7000, proto: 'tcp' },
    { port: 8000, proto: 'tcp' },
    { port: 9000, proto: 'tcp' },
  ]);
  assert.equal(d.seqTimeout, 5);
  assert.equal(d.cmdTimeout, 10, 'knockd default cmd_timeout');
  assert.equal(d.tcpFlags.set, 0x02);
  assert.equal(d.startCommand, '/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT');
});

test('defaults: seq_timeout 25, cmd_timeout 10, any tcp flags', () => {
  const d = ok('[a]\nsequence=1\n').doors[0]!;
  assert.equal(d.seqTimeout, 25);
  assert.equal(d.cmdTimeout, 10);
  assert.deepEqual(d.tcpFlags, { set: 0, clear: 0 });
});

test('keys are case-insensitive, values keep case, Timeout and Command are aliases', () => {
  const d = ok('[a]\nSeQuEnCe = 1:UDP, 2 ,3:tcp\nTIMEOUT=7\nCommand = Echo %IP%\nCommand_6 = x\n')
    .doors[0]!;
  assert.deepEqual(d.sequence, [
    { port: 1, proto: 'udp' },
    { port: 2, proto: 'tcp' },
    { port: 3, proto: 'tcp' },
  ]);
  assert.equal(d.seqTimeout, 7);
  assert.equal(d.startCommand, 'Echo %IP%');
  assert.equal(d.startCommand6, 'x');
});

test('section names are case-sensitive and untrimmed; only [options] is global', () => {
  const c = ok('[Options]\nsequence=5\n[ my door ]\nsequence=6\n');
  assert.deepEqual(
    c.doors.map((d) => d.name),
    ['Options', ' my door '],
  );
});

test('UseSyslog is valueless and accepted in door sections; UseSyslog = yes is an error', () => {
  assert.equal(ok('[a]\nsequence=1\nUseSyslog\n').options.useSyslog, true);
  assert.match(problems('[options]\nUseSyslog = yes\n')[0]!, /k\.conf:2: UseSyslog takes no value/);
});

test('tcpflags accumulate across lines, accept ! and spaces, and the last mention wins', () => {
  const d = ok('[a]\nsequence=1\ntcpflags=syn\ntcpflags=ack, !fin\ntcpflags=!ack\n').doors[0]!;
  assert.equal(d.tcpFlags.set, 0x02);
  assert.equal(d.tcpFlags.clear, 0x01 | 0x10);
});

test('no inline comments: text after # stays in the command', () => {
  assert.equal(
    ok('[a]\nsequence=1\ncommand = echo %IP% # x\n').doors[0]!.startCommand,
    'echo %IP% # x',
  );
});

test('every error in one run, each as file:line with the bad value', () => {
  const errs = problems(
    [
      'stray = 1', // 1
      '[options]', // 2
      'logfile', // 3
      'Bogus = 1', // 4
      '[door]', // 5
      'sequence = 0,8000', // 6
      'sequence = -1', // 7
      'sequence = abc', // 8
      'sequence = 70000', // 9
      'sequence = 1:icmp', // 10
      'tcpflags = syn,sny', // 11
      'seq_timeout = 5s', // 12
      'cmd_timeout = abc', // 13
      'target = not-an-ip', // 14
      '[]', // 15
      '[empty]', // 16
    ].join('\n'),
  );
  const expected = [
    /^k\.conf:1: all directives must belong to a section: 'stray = 1'/,
    /^k\.conf:3: syntax error: 'logfile'/,
    /^k\.conf:4: unknown directive 'Bogus' in \[options\]/,
    /^k\.conf:6: door 'door': port 0 out of range/,
    /^k\.conf:7: door 'door': bad port '-1'/,
    /^k\.conf:8: door 'door': bad port 'abc'/,
    /^k\.conf:9: door 'door': port 70000 out of range/,
    /^k\.conf:10: door 'door': unknown protocol 'icmp'/,
    /^k\.conf:11: door 'door': unrecognized tcp flag 'sny'/,
    /^k\.conf:12: door 'door': seq_timeout must be a whole number of seconds, got '5s'/,
    /^k\.conf:13: door 'door': cmd_timeout must be a whole number of seconds, got 'abc'/,
    /^k\.conf:14: door 'door': target 'not-an-ip' is not an IP address/,
    /^k\.conf:15: bad section name/,
    /^k\.conf:16: door 'empty' has an empty knock sequence/,
  ];
  assert.equal(errs.length, expected.length, errs.join('\n'));
  expected.forEach((re, i) => assert.match(errs[i]!, re));
});

test('a door key in [options] and an option key in a door are errors with a hint', () => {
  const errs = problems('[options]\nsequence=1\n[a]\nsequence=1\nlogfile=/x\n');
  assert.match(errs[0]!, /:2: .*belongs in a door section/);
  assert.match(errs[1]!, /:5: .*belongs in \[options\]/);
});

test('sequences: at most 32 knocks; empty is an error; stray text after the protocol is an error', () => {
  assert.ok('knocks' in parseSequence(Array.from({ length: 32 }, (_, i) => i + 1).join(',')));
  assert.ok('error' in parseSequence(Array.from({ length: 33 }, (_, i) => i + 1).join(',')));
  assert.ok('error' in parseSequence(''));
  assert.ok('error' in parseSequence('1:tcp:x'));
  assert.ok('error' in parseSequence('1,,2'));
});

test('target is canonicalised like inet_ntop prints it', () => {
  assert.equal(
    ok('[a]\nsequence=1\ntarget=2001:DB8:0:0:0:0:0:1\n').doors[0]!.target,
    '2001:db8::1',
  );
  assert.equal(ok('[a]\nsequence=1\ntarget=192.0.2.9\n').doors[0]!.target, '192.0.2.9');
});

test('duplicate sections give two doors; one_time_sequences alone is a sequence source', () => {
  const c = ok('[a]\nsequence=1\n[a]\none_time_sequences=/tmp/x\n');
  assert.equal(c.doors.length, 2);
  assert.deepEqual(c.doors[1]!.oneTimeSequences, { path: '/tmp/x', line: 4 });
});

test('%IP% expansion and the *_6 fallbacks', () => {
  const d = ok('[a]\nsequence=1\nstart_command=a %IP% %IP%\nstop_command=b\nstop_command_6=\n')
    .doors[0]!;
  assert.equal(expandCommand(d.startCommand!, '::1'), 'a ::1 ::1');
  assert.equal(startCommandFor(d, 6), 'a %IP% %IP%', 'v6 falls back to the v4 command');
  assert.equal(stopCommandFor(d, 4), 'b');
  assert.equal(stopCommandFor(d, 6), '', 'an explicit empty *_6 disables it');
});

test('one-time sequences file: skips comments, blanks and bad lines, reports byte offsets', () => {
  const text = '# header\n\n #used\n 1000,2000\nbad line\n3000:udp,4000\n';
  const r = parseOneTimeFile(new TextEncoder().encode(text));
  assert.deepEqual(
    r.usable.map((u) => [u.line, u.offset, u.knocks.length]),
    [
      [4, text.indexOf(' 1000'), 2],
      [6, text.indexOf('3000'), 2],
    ],
  );
  assert.equal(r.skipped.length, 1);
});

test('CRLF files parse (trailing \\r is whitespace)', () => {
  const d = ok('[a]\r\nsequence = 1,2\r\n').doors[0]!;
  assert.equal(d.sequence.length, 2);
});

test('MaxAttempts and CommandKillTimeout are whole numbers in [options]', () => {
  const c = ok('[options]\nMaxAttempts = 500\nCommandKillTimeout = 0\n[a]\nsequence=1\n');
  assert.equal(c.options.maxAttempts, 500);
  assert.equal(c.options.commandKillTimeout, 0);
  const errs = problems('[options]\nMaxAttempts = 0\nCommandKillTimeout = 5s\n[a]\nsequence=1\n');
  assert.match(errs[0]!, /:2: MaxAttempts must be at least 1/);
  assert.match(errs[1]!, /:3: CommandKillTimeout must be a whole number of seconds, got '5s'/);
});

test('timeouts are bounded: setTimeout keeps at most 2^31-1 ms, Open_Timeout at most a day', () => {
  // The largest accepted values parse.
  const c = ok(
    '[options]\nCommandKillTimeout = 2147483\nFirewall = nftables\n' +
      '[a]\nsequence=1\nseq_timeout = 2147483\ncmd_timeout = 2147483\nopen = tcp/22\nopen_timeout = 86400\n',
  );
  assert.equal(c.options.commandKillTimeout, 2147483);
  assert.equal(c.doors[0]!.seqTimeout, 2147483);
  assert.equal(c.doors[0]!.cmdTimeout, 2147483);
  assert.equal(c.doors[0]!.openTimeout, 86400);
  // One more (or a value too long for 9 digits) is an error naming file:line and the value.
  const errs = problems(
    [
      '[options]', // 1
      'CommandKillTimeout = 2147484', // 2
      'Firewall = nftables', // 3
      '[a]', // 4
      'sequence = 1', // 5
      'seq_timeout = 2147484', // 6
      'cmd_timeout = 2147484', // 7
      'cmd_timeout = 99999999999999', // 8
      'open = tcp/22', // 9
      'open_timeout = 86401', // 10
    ].join('\n'),
  );
  const expected = [
    /^k\.conf:2: CommandKillTimeout must be at most 2147483, got '2147484'/,
    /^k\.conf:6: door 'a': seq_timeout must be at most 2147483, got '2147484'/,
    /^k\.conf:7: door 'a': cmd_timeout must be at most 2147483, got '2147484'/,
    /^k\.conf:8: door 'a': cmd_timeout must be at most 2147483, got '99999999999999'/,
    /^k\.conf:10: door 'a': open_timeout must be at most 86400, got '86401'/,
  ];
  assert.equal(errs.length, expected.length, errs.join('\n'));
  expected.forEach((re, i) => assert.match(errs[i]!, re));
});

test('Guard_Interfaces: a list of interface names, never loopback, nftables only', () => {
  const c = ok(
    '[options]\nFirewall = nftables\nGuard_Interfaces = eth0, wg0,eth0\n[a]\nsequence=1\n',
  );
  assert.deepEqual(c.options.guardInterfaces, ['eth0', 'wg0']);
  assert.equal(ok('[a]\nsequence=1\n').options.guardInterfaces, undefined);
  const errs = problems(
    [
      '[options]', // 1
      'Firewall = nftables', // 2
      'Guard_Interfaces = eth0, lo', // 3
      'Guard_Interfaces = eth0,"x" ', // 4
      'Guard_Interfaces = eth0,,eth1', // 5
      'Guard_Interfaces = averyveryverylongname', // 6
      '[a]',
      'sequence = 1',
    ].join('\n'),
  );
  const expected = [
    /^k\.conf:3: Guard_Interfaces: loopback is never guarded .*got 'eth0, lo'/,
    /^k\.conf:4: Guard_Interfaces: '"x"' is not an interface name/,
    /^k\.conf:5: Guard_Interfaces: '' is not an interface name in 'eth0,,eth1'/,
    /^k\.conf:6: Guard_Interfaces: 'averyveryverylongname' is not an interface name/,
  ];
  assert.equal(errs.length, expected.length, errs.join('\n'));
  expected.forEach((re, i) => assert.match(errs[i]!, re));
  assert.match(
    problems('[options]\nFirewall = iptables\nGuard_Interfaces = eth0\n[a]\nsequence=1\n')[0]!,
    /^k\.conf:3: Guard_Interfaces needs 'Firewall = nftables'/,
  );
});

test('a line without = is quoted by its first word only: the rest may be a secret (review T5)', () => {
  const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
  const got = problems(`[otp]\nSequence_Secret  ${secret}\nsequence 7000,8000,9000\n`);
  assert.match(
    got[0] ?? '',
    /^k\.conf:2: syntax error: 'Sequence_Secret \.\.\.' is not 'key = value'/,
  );
  assert.match(got[1] ?? '', /^k\.conf:3: syntax error: 'sequence \.\.\.'/);
  assert.ok(!got.join('\n').includes(secret) && !got.join('\n').includes('7000'), got.join('\n'));
});
