/**
 * Writes a pcap of spoofed SYNs for flood tests and benchmarks: COUNT frames
 * from distinct sources in a private test prefix (10.99.0.0/16 and up),
 * to DST:PORT, addressed to DSTMAC. The frames never leave the test's veth.
 * usage: mkflood OUT DSTMAC DST PORT COUNT [random-ports]
 */
import fs from 'node:fs';
import { frame, pcapHeader, writeRecordHeader } from './frames.js';

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
fs.writeSync(fd, pcapHeader(1));
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
  writeRecordHeader(r, 0, i, f.length);
  chunks.push(r, Buffer.from(f));
  if (chunks.length >= 8192) fs.writeSync(fd, Buffer.concat(chunks.splice(0)));
}
fs.writeSync(fd, Buffer.concat(chunks));
fs.closeSync(fd);
