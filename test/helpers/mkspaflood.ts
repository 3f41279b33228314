/**
 * Writes a pcap of spoofed UDP datagrams for the hostile-SPA test: COUNT
 * frames from distinct sources in a private test prefix (10.99.0.0/16), to
 * DST:PORT, addressed to DSTMAC, each carrying SIZE bytes of spaces and a
 * final 'x' (the whitespace run that once cost quadratic time). The frames
 * never leave the test's veth.
 * usage: mkspaflood OUT DSTMAC DST PORT COUNT SIZE
 */
import fs from 'node:fs';
import { parseIPv4 } from '../../src/core/ip.js';
import { pcapFile } from './frames.js';

const [out, mac, dst, portText, countText, sizeText] = process.argv.slice(2);
const d4 = parseIPv4(dst ?? '');
if (out === undefined || mac === undefined || d4 === null || sizeText === undefined) {
  process.stderr.write('usage: mkspaflood OUT DSTMAC DST PORT COUNT SIZE\n');
  process.exit(64);
}
const port = Number(portText);
const count = Math.min(Number(countText), 65_536);
const size = Math.min(Number(sizeText), 1472);
const macBytes = mac.split(':').map((h) => parseInt(h, 16));

function ipChecksum(h: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += (h[i]! << 8) | h[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

const packets = [];
for (let i = 0; i < count; i++) {
  const f = new Uint8Array(14 + 20 + 8 + size);
  f.set(macBytes, 0);
  f.set([2, 0, 0, 0, 0, 2, 0x08, 0x00], 6);
  const ip = f.subarray(14, 34);
  const total = 20 + 8 + size;
  ip.set([0x45, 0, total >> 8, total & 0xff, 0, 0, 0, 0, 64, 17]);
  ip.set([10, 99, (i >> 8) & 255, i & 255], 12);
  ip.set(d4, 16);
  const sum = ipChecksum(ip);
  ip[10] = sum >> 8;
  ip[11] = sum & 0xff;
  const sport = 1024 + (i % 60_000);
  // UDP checksum 0: none (allowed over IPv4).
  f.set([sport >> 8, sport & 0xff, port >> 8, port & 0xff, (8 + size) >> 8, (8 + size) & 0xff], 34);
  f.fill(0x20, 42);
  f[f.length - 1] = 0x78;
  packets.push({ tsMs: i, data: f });
}
fs.writeFileSync(out, pcapFile(1, packets));
