import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { localStamp } from '../../src/core/time.js';
import { frame, pcapFile } from '../helpers/frames.js';

const KNOCKD = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../src/cli/knockd.js',
);
const T0 = Date.UTC(2024, 0, 2, 3, 4, 5);

function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-replay-cli-'));
  const conf = path.join(dir, 'knockd.conf');
  fs.writeFileSync(
    conf,
    `[options]
  StateDir = ${dir}/state
  LogFile = ${dir}/knockd.log
[openSSH]
  sequence = 7000,8000,9000
  seq_timeout = 5
  tcpflags = syn
  command = touch ${dir}/opened-%IP%
[closeSSH]
  sequence = 9000,8000,7000
  seq_timeout = 5
  tcpflags = syn
  command = touch ${dir}/closed-%IP%
`,
  );
  const pkts: { tsMs: number; data: Uint8Array }[] = [];
  let t = T0;
  const add = (src: string, dport: number, extra = {}) =>
    pkts.push({ tsMs: (t += 100), data: frame({ src, dst: '192.0.2.1', dport, ...extra }) });
  for (const p of [7000, 8000, 9000]) add('192.0.2.5', p);
  for (let i = 1; i <= 5; i++) add(`10.9.0.${i}`, 7000); // spoofed first knocks
  for (const p of [7000, 8000, 9000]) add('198.51.100.7', p);
  add('192.0.2.9', 22); // not a knock
  add('192.0.2.9', 7000, { vlan: 7, proto: 'udp' }); // UDP: no door
  const pcap = path.join(dir, 'k.pcap');
  fs.writeFileSync(pcap, pcapFile(1, pkts));
  return { dir, conf, pcap };
}

const knockd = (...args: string[]) =>
  execFileSync(process.execPath, [KNOCKD, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });

test('knockd -r replays a capture: summary counts, packet timestamps, and no command without --apply', () => {
  const { dir, conf, pcap } = setup();
  const out = knockd('-c', conf, '-r', pcap);
  const lines = out.trim().split('\n');
  assert.match(out, /^replay: 13 packets \(13 decoded, 0 skipped\) in [\d.]+ s: \d+ packets\/s$/m);
  // openSSH: 3 + 5 + 3 knocks; closeSSH: its first knock (9000) from each full sequence.
  assert.ok(lines.includes('replay: knocks by door: openSSH 11, closeSSH 2'), out);
  assert.ok(lines.includes('replay: opens by door: openSSH 2, closeSSH 0'), out);
  assert.ok(
    lines.includes('replay: dry run: 2 command(s) and 0 firewall change(s) not made (use --apply)'),
    out,
  );
  // The third packet is the OPEN: its capture time stamps the line.
  const stamp = localStamp(new Date(T0 + 300), true);
  assert.ok(lines.includes(`[${stamp}] 192.0.2.5: openSSH: OPEN SESAME`), out);
  const files = fs.readdirSync(dir);
  assert.deepEqual(
    files.filter((f) => f.startsWith('opened-') || f.startsWith('closed-')),
    [],
  );
  assert.ok(!files.includes('state'), 'the journal was not written');
  assert.ok(!files.includes('knockd.log'), 'the log file was not written');
});

test('knockd -r --apply runs the commands', () => {
  const { dir, conf, pcap } = setup();
  const out = knockd('-c', conf, '-r', pcap, '--apply');
  assert.match(out, /^replay: --apply: commands and firewall changes were made$/m);
  const opened = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('opened-'))
    .sort();
  assert.deepEqual(opened, ['opened-192.0.2.5', 'opened-198.51.100.7']);
});

test('--apply alone is a usage error', () => {
  const { conf } = setup();
  assert.throws(
    () => knockd('-c', conf, '--apply'),
    (e: { status: number }) => e.status === 64,
  );
});

test('knockd -r runs the once-a-second work on capture time: an abandoned attempt times out when the clock passes it', () => {
  const { dir, conf } = setup();
  // One first knock, then 8 s of capture time with only non-knock traffic: the
  // timeout line must appear, stamped within a second of the expiry (5 s + the tick).
  const pkts = [{ tsMs: T0, data: frame({ src: '192.0.2.5', dst: '192.0.2.1', dport: 7000 }) }];
  for (let s = 1; s <= 8; s++)
    pkts.push({
      tsMs: T0 + s * 1000 + 500,
      data: frame({ src: '192.0.2.9', dst: '192.0.2.1', dport: 22 }),
    });
  const pcap = path.join(dir, 'idle.pcap');
  fs.writeFileSync(pcap, pcapFile(1, pkts));
  const out = knockd('-c', conf, '-r', pcap);
  const line = out.split('\n').find((l) => l.includes('192.0.2.5: openSSH: sequence timeout'));
  assert.ok(line, out);
  const stamp = line.slice(1, line.indexOf(']'));
  const expected = [6, 7].map((s) => localStamp(new Date(T0 + s * 1000), true));
  assert.ok(expected.includes(stamp), `${stamp} not in ${expected.join(', ')}`);
});

test('a record corrupt part-way through the file ends knockd -r with a clear error (exit 74), not a crash', () => {
  const { dir, conf } = setup();
  const k = (dport: number, i: number) => ({
    tsMs: T0 + i,
    data: frame({ src: '192.0.2.5', dst: '192.0.2.1', dport }),
  });
  const data = pcapFile(1, [k(7000, 0), k(8000, 1), k(9000, 2)]);
  const third = 24 + 2 * (16 + k(7000, 0).data.length);
  data.writeUInt32LE(0x7fffffff, third + 8); // its length: far beyond any snaplen
  const pcap = path.join(dir, 'corrupt.pcap');
  fs.writeFileSync(pcap, data);
  let err: { status: number; stderr: string; stdout: string } | undefined;
  try {
    knockd('-c', conf, '-r', pcap);
  } catch (e) {
    err = e as typeof err;
  }
  assert.equal(err?.status, 74, err?.stderr);
  assert.match(err?.stderr ?? '', /^knockd: .*corrupt\.pcap: record of \d+ bytes: corrupt file\n$/);
  assert.match(
    err?.stdout ?? '',
    /192\.0\.2\.5: openSSH: Stage 2/,
    'the records before it were replayed',
  );
});
