/**
 * Writes a pcap of spoofed SYNs for flood tests and benchmarks: COUNT frames
 * from distinct sources in a private test prefix (10.99.0.0/16 and up),
 * to DST:PORT, addressed to DSTMAC. The frames never leave the test's veth.
 * usage: mkflood OUT DSTMAC DST PORT COUNT [random-ports]
 */
import fs from 'node:fs';
import { frame } from './frames.js';

const [out, mac, dst, portText, countText, mode] = process.argv.slice(2);
if (
  out === undefined ||
  mac === undefined ||
  dst === undefined ||
  portText === undefined ||
  countText === undefined
) {
  process.stderr.write('usage: mkflood OUT DSTMAC DST PORT COUNT [random-ports]\n');
  process.exit(64);
}
const count = Number(countText);
const macBytes = mac.split(':').map((h) => parseInt(h, 16));
const fd = fs.openSync(out, 'w');
const h = Buffer.alloc(24);
h.writeUInt32LE(0xa1b2c3d4, 0);
h.writeUInt16LE(2, 4);
h.writeUInt16LE(4, 6);
h.writeUInt32LE(65535, 16);
h.writeUInt32LE(1, 20);
fs.writeSync(fd, h);
let seed = 12345;
const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
const chunks: Buffer[] = [];
for (let i = 0; i < count; i++) {
  // 10.99.0.0 onwards: 65,536 sources per /16, then 10.100.0.0, ...
  const src = `10.${99 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  const dport = mode === 'random-ports' ? 1024 + (rnd() % 64000) : Number(portText);
  const f = frame({ src, dst, dport, sport: 1024 + (i % 60000) });
  f.set(macBytes, 0);
  const r = Buffer.alloc(16);
  r.writeUInt32LE(Math.floor(i / 1000), 0);
  r.writeUInt32LE((i % 1000) * 1000, 4);
  r.writeUInt32LE(f.length, 8);
  r.writeUInt32LE(f.length, 12);
  chunks.push(r, Buffer.from(f));
  if (chunks.length >= 8192) fs.writeSync(fd, Buffer.concat(chunks.splice(0)));
}
fs.writeSync(fd, Buffer.concat(chunks));
fs.closeSync(fd);
