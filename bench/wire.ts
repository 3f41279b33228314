/**
 * The latency benchmarks' samples as the client's wire saw them: from a
 * trigger (the SPA datagram, or the last knock's SYN) leaving the client to
 * the first SYN-ACK from port 22 coming back, both stamped by the kernel in
 * a capture on the client's veth (tcpdump, nanosecond stamps). This leaves
 * out what the client program adds around the measurement (its send call, and
 * noticing a completed connect at most one poll interval late) and keeps what
 * a connect sees: the port is open once the server answers a SYN. The poll's
 * own interval still counts (a SYN leaves at most one interval after the
 * open).
 * usage: node dist/bench/wire.js FILE.pcap spa|knock   (prints JSON: samples in ms)
 */
import fs from 'node:fs';

const [file = '', kind = 'spa'] = process.argv.slice(2);
const b = fs.readFileSync(file);
if (b.readUInt32LE(0) !== 0xa1b23c4d)
  throw new Error(`${file}: not a little-endian nanosecond pcap`);
/** The open sequence; its reverse (the close) must not count as a trigger. */
const OPEN = [7000, 8000, 9000];
const recent = [0, 0, 0];
const samples: number[] = [];
let t0 = -1;
let base = -1;
for (let at = 24; at + 16 <= b.length;) {
  const sec = b.readUInt32LE(at);
  const ns = b.readUInt32LE(at + 4);
  const caplen = b.readUInt32LE(at + 8);
  const p = at + 16;
  at = p + caplen;
  if (base < 0) base = sec;
  const t = (sec - base) * 1e3 + ns / 1e6;
  // Ethernet, IPv4 only (the benchmarks knock on the server's IPv4 address).
  if (caplen < 14 + 20 + 4 || b.readUInt16BE(p + 12) !== 0x0800) continue;
  const ip = p + 14;
  const l4 = ip + (b[ip]! & 0x0f) * 4;
  const proto = b[ip + 9];
  const sport = b.readUInt16BE(l4);
  const dport = b.readUInt16BE(l4 + 2);
  if (kind === 'spa' && proto === 17 && dport === 62201) t0 = t;
  if (proto !== 6 || caplen < l4 - p + 14) continue;
  const flags = b[l4 + 13]!;
  const syn = (flags & 0x02) !== 0;
  const ack = (flags & 0x10) !== 0;
  if (kind === 'knock' && syn && !ack && OPEN.includes(dport)) {
    recent.shift();
    recent.push(dport);
    if (recent.every((port, i) => port === OPEN[i])) t0 = t;
  }
  if (sport === 22 && syn && ack && t0 >= 0) {
    samples.push(t - t0);
    t0 = -1;
  }
}
process.stdout.write(`${JSON.stringify({ wire_samples: samples })}\n`);
