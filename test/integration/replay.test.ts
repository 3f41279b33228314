import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PcapFileSource } from '../../src/adapters/pcap-file.js';
import { frame, pcapFile } from '../helpers/frames.js';
import { harness } from '../fakes/harness.js';

const CONF = `[openSSH]
sequence = 7000,8000,9000
seq_timeout = 5
tcpflags = syn
command = /sbin/iptables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
command_6 = /sbin/ip6tables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
`;

function tmpFile(name: string, data: Buffer | string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-replay-'));
  const f = path.join(dir, name);
  fs.writeFileSync(f, data);
  return f;
}

async function replay(packets: { tsMs: number; data: Uint8Array }[], ipv4Only = false) {
  const file = tmpFile('k.pcap', pcapFile(1, packets));
  const t = harness(CONF, {
    settings: { ipv4Only },
    capture: { open: () => new PcapFileSource(file), addresses: () => [] },
  });
  await t.d.start();
  const status = t.d.control({ cmd: 'status' }) as {
    capture: { packets: number; skipped: number };
  };
  await t.d.shutdown();
  return { logger: t.logger, runner: t.runner, counters: status.capture };
}

const knock = (src: string, dst: string, dport: number, tsMs: number, extra = {}) => ({
  tsMs,
  data: frame({ src, dst, dport, ...extra }),
});

test('a pcap file replayed through the daemon opens and runs the expanded command', async () => {
  const { logger, runner } = await replay([
    knock('192.0.2.5', '192.0.2.1', 7000, 1000),
    knock('192.0.2.5', '192.0.2.1', 8000, 1100),
    knock('192.0.2.5', '192.0.2.1', 9000, 1200),
  ]);
  assert.deepEqual(runner.commands, [
    '/sbin/iptables -I INPUT -s 192.0.2.5 -p tcp --dport 22 -j ACCEPT',
  ]);
  assert.ok(logger.lines.includes('192.0.2.5: openSSH: OPEN SESAME'));
  assert.ok(
    logger.lines.includes(
      'openSSH: running command: /sbin/iptables -I INPUT -s 192.0.2.5 -p tcp --dport 22 -j ACCEPT',
    ),
  );
});

test('IPv6 knocks use command_6; -4 ignores them', async () => {
  const pkts = [7000, 8000, 9000].map((p, i) => knock('2001:db8::5', '2001:db8::1', p, 1000 + i));
  const v6 = await replay(pkts);
  assert.deepEqual(v6.runner.commands, [
    '/sbin/ip6tables -I INPUT -s 2001:db8::5 -p tcp --dport 22 -j ACCEPT',
  ]);
  const v4only = await replay(pkts, true);
  assert.deepEqual(v4only.runner.commands, []);
});

test('timestamps come from the capture: a slow sequence times out even in replay', async () => {
  const { runner, logger } = await replay([
    knock('192.0.2.5', '192.0.2.1', 7000, 1000),
    knock('192.0.2.5', '192.0.2.1', 8000, 2000),
    knock('192.0.2.5', '192.0.2.1', 9000, 6500),
  ]);
  assert.deepEqual(runner.commands, []);
  assert.ok(logger.lines.includes('192.0.2.5: openSSH: sequence timeout (stage 2)'));
});

test('garbage records in a pcap file are counted and skipped, never fatal', async () => {
  const junk = { tsMs: 1, data: new Uint8Array([1, 2, 3]) };
  const { counters, runner } = await replay([junk, junk, knock('192.0.2.5', '192.0.2.1', 7000, 2)]);
  assert.equal(counters.skipped, 2);
  assert.equal(counters.packets, 1);
  assert.deepEqual(runner.commands, []);
});
