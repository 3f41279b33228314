import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKnockArgs, parseKnockctlArgs, parseKnockdArgs } from '../../src/cli/args.js';
import { KnockError } from '../../src/core/errors.js';

const usage = (f: () => unknown, msg: RegExp) =>
  assert.throws(
    f,
    (e: unknown) => e instanceof KnockError && e.code === 'E_USAGE' && msg.test(e.message),
  );

const obj = (m: Map<string, string | true>) => Object.fromEntries(m);

test('knockd: bundled flags, attached and separate values, long forms, --', () => {
  const forms: [string[], Record<string, string | true>, string[]][] = [
    [['-vD'], { verbose: true, debug: true }, []],
    [['-ieth0'], { interface: 'eth0' }, []],
    [['-i', 'eth0'], { interface: 'eth0' }, []],
    [['--interface=eth0'], { interface: 'eth0' }, []],
    [['--interface', 'eth0'], { interface: 'eth0' }, []],
    [['-vDieth0'], { verbose: true, debug: true, interface: 'eth0' }, []],
    [
      ['-vDi', 'eth0', '-c/etc/k.conf'],
      { verbose: true, debug: true, interface: 'eth0', config: '/etc/k.conf' },
      [],
    ],
    [
      ['-d4l', '-p', '/run/k.pid', '-g', '/var/log/k'],
      {
        daemon: true,
        'only-ip-v4': true,
        lookup: true,
        pidfile: '/run/k.pid',
        logfile: '/var/log/k',
      },
      [],
    ],
    [
      ['--check', '--spa-access=/a', '--spa-port', '1'],
      { check: true, 'spa-access': '/a', 'spa-port': '1' },
      [],
    ],
    [['-V'], { version: true }, []],
    [['-h'], { help: true }, []],
    // getopt takes the next word as the value, whatever it looks like.
    [['-i', '-v'], { interface: '-v' }, []],
    [['-i', '--'], { interface: '--' }, []],
    // "--" ends options; options may follow operands (GNU getopt).
    [['-v', '--', '-D', 'x'], { verbose: true }, ['-D', 'x']],
    [['extra', '-v'], { verbose: true }, ['extra']],
    // The last of a repeated option wins.
    [['-i', 'a', '--interface=b'], { interface: 'b' }, []],
    // Unique prefixes of long names, as getopt_long takes them.
    [['--inter=eth0', '--verb'], { interface: 'eth0', verbose: true }, []],
    [['--conf', 'x.conf'], { config: 'x.conf' }, []],
  ];
  for (const [argv, opts, operands] of forms) {
    const p = parseKnockdArgs(argv);
    assert.deepEqual(obj(p.opts), opts, argv.join(' '));
    assert.deepEqual(p.operands, operands, argv.join(' '));
  }
});

test('knockd: unknown flags, missing values and values to flags are usage errors', () => {
  usage(() => parseKnockdArgs(['-x']), /invalid option -- 'x'/);
  usage(() => parseKnockdArgs(['-vx']), /invalid option -- 'x'/);
  usage(() => parseKnockdArgs(['-u']), /invalid option -- 'u'/);
  usage(() => parseKnockdArgs(['--nope']), /unrecognized option '--nope'/);
  usage(() => parseKnockdArgs(['--nope=1']), /unrecognized option '--nope'/);
  usage(() => parseKnockdArgs(['-i']), /option requires an argument -- 'i'/);
  usage(() => parseKnockdArgs(['-vi']), /option requires an argument -- 'i'/);
  usage(() => parseKnockdArgs(['--interface']), /option '--interface' requires an argument/);
  usage(() => parseKnockdArgs(['--verbose=yes']), /option '--verbose' doesn't allow an argument/);
  // --spa matches --spa-access and --spa-port: ambiguous, as getopt_long says.
  usage(() => parseKnockdArgs(['--spa=x']), /ambiguous.*--spa-access.*--spa-port/);
  // A long-only option has no short letter, even if its name starts with it.
  usage(() => parseKnockdArgs(['-s']), /invalid option -- 's'/);
});

test('knock: knock 0.8 flags and ours', () => {
  const forms: [string[], Record<string, string | true>, string[]][] = [
    [
      ['-uv4', 'host', '1', '2:udp'],
      { udp: true, verbose: true, ipv4: true },
      ['host', '1', '2:udp'],
    ],
    [['-d100', 'h', '1'], { delay: '100' }, ['h', '1']],
    [['-d', '100', 'h', '1'], { delay: '100' }, ['h', '1']],
    [['--delay=100', 'h', '1'], { delay: '100' }, ['h', '1']],
    [['--delay', '100', 'h', '1'], { delay: '100' }, ['h', '1']],
    // knock 0.8 takes "-5" as the delay and then refuses it as negative.
    [['-d', '-5', 'h', '1'], { delay: '-5' }, ['h', '1']],
    [['h', '1', '-6'], { ipv6: true }, ['h', '1']],
    [['--', 'h', '-1'], {}, ['h', '-1']],
    [['-vV'], { verbose: true, version: true }, []],
    [
      ['--spa', '--key-file', 'k', '--hmac-key-file=h', 'srv', 'tcp/22'],
      { spa: true, 'key-file': 'k', 'hmac-key-file': 'h' },
      ['srv', 'tcp/22'],
    ],
  ];
  for (const [argv, opts, operands] of forms) {
    const p = parseKnockArgs(argv);
    assert.deepEqual(obj(p.opts), opts, argv.join(' '));
    assert.deepEqual(p.operands, operands, argv.join(' '));
  }
  usage(() => parseKnockArgs(['-x', 'h', '1']), /invalid option -- 'x'/);
  usage(() => parseKnockArgs(['-d']), /option requires an argument -- 'd'/);
  usage(() => parseKnockArgs(['--udp=1']), /doesn't allow an argument/);
  usage(() => parseKnockArgs(['--bogus', 'h']), /unrecognized option '--bogus'/);
  // -i is knockd's, not knock's.
  usage(() => parseKnockArgs(['-ieth0']), /invalid option -- 'i'/);
});

test('knockctl: -s, -j, --json, --socket=', () => {
  let p = parseKnockctlArgs(['-js/run/x.sock', 'status']);
  assert.deepEqual(obj(p.opts), { json: true, socket: '/run/x.sock' });
  assert.deepEqual(p.operands, ['status']);
  p = parseKnockctlArgs(['revoke', '--socket=/s', '203.0.113.7', '--json', '--', '-door']);
  assert.deepEqual(obj(p.opts), { json: true, socket: '/s' });
  assert.deepEqual(p.operands, ['revoke', '203.0.113.7', '-door']);
  usage(() => parseKnockctlArgs(['-x', 'status']), /invalid option -- 'x'/);
  usage(() => parseKnockctlArgs(['status', '-s']), /requires an argument/);
});
