/**
 * SPA-to-open latency, run in the client namespace. Each round builds a
 * fresh packet with the stock fwknop client (--save-packet --test: built,
 * not sent, so the client's start-up is outside the measurement), waits
 * until port 22 is shut (the previous grant expired) and GAP_MS more (the
 * daemon's once-a-second expiry, with its log line and journal write, is
 * then behind us, as the close knock is in bench/latency.ts), then sends the packet
 * from an already connected UDP socket and polls port 22 (bench/poll.ts).
 * The sample is the time from just before the send to the first successful
 * connect.
 * usage: node dist/bench/spa-latency.js HOST ROUNDS PACKET_FILE KEY_B64 HMAC_KEY_B64 CLIENT_ADDR [GAP_MS]
 * (prints JSON: samples in ms, null for a round that never opened)
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { firstConnect, INTERVAL_MS, waitClosed } from './poll.js';

const [
  host = '10.77.0.1',
  roundsText = '50',
  file = '',
  key = '',
  hmac = '',
  me = '',
  gapText = '1200',
] = process.argv.slice(2);
const rounds = Number(roundsText);
const gap = Number(gapText);

function build(): Buffer {
  fs.rmSync(file, { force: true });
  execFileSync(
    'fwknop',
    [
      '--no-rc-file',
      '--no-save-args',
      '-A',
      'tcp/22',
      '-a',
      me,
      '-D',
      host,
      '--key-base64-rijndael',
      key,
      '--key-base64-hmac',
      hmac,
      '--save-packet',
      file,
      '--test',
    ],
    { stdio: 'ignore' },
  );
  return Buffer.from(fs.readFileSync(file, 'latin1').trim(), 'latin1');
}

const sock = dgram.createSocket('udp4');
// Nothing listens on the SPA port in capture mode: the ICMP unreachable that follows is expected.
sock.on('error', () => {});
await new Promise<void>((resolve) => sock.connect(62201, host, resolve));
const samples: (number | null)[] = [];
let stuck = 0;
for (let i = 0; i < rounds; i++) {
  const pkt = build();
  // The previous grant must be gone (FW_ACCESS_TIMEOUT 1), or the sample would be 0.
  if (!(await waitClosed(host, 22, 5000))) stuck++;
  await sleep(gap);
  const t0 = performance.now();
  sock.send(pkt);
  samples.push(await firstConnect(host, 22, t0, 3000));
}
sock.close();
process.stdout.write(`${JSON.stringify({ poll_ms: INTERVAL_MS, stuck_open: stuck, samples })}\n`);
