/**
 * Offline throughput of the core: a large pcap of knock candidates (mostly
 * spoofed first knocks from distinct sources, some full sequences) read by
 * the pcap file source, decoded, and fed to the state machine, as the daemon
 * does with live batches. Prints JSON: packets, seconds, packets per second.
 * usage: [REPEAT=5] [BENCH_PCAP=file] node dist/bench/core.js [PACKETS]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { forEachRecord } from '../src/adapters/capture.js';
import { PcapFileSource } from '../src/adapters/pcap-file.js';
import { parseConfig } from '../src/core/config.js';
import { decode, newPacket, Skip } from '../src/core/knock/decode.js';
import { KnockMachine, type KnockEvent } from '../src/core/knock/machine.js';
import { frame, pcapHeader, writeRecordHeader } from '../test/helpers/frames.js';

const total = Number(process.argv[2] ?? 2_000_000);
const r = parseConfig(
  '[openSSH]\nsequence=7000,8000,9000\nseq_timeout=5\ntcpflags=syn\n[closeSSH]\nsequence=9000,8000,7000\nseq_timeout=5\ntcpflags=syn\n',
  'bench',
);
if (!r.ok) throw new Error('bench config');

// Build the file: templates are patched in place so building is fast.
// BENCH_PCAP=path keeps the file there (bench/replay.sh feeds it to knockd -r and tcpdump -r).
const keep = process.env.BENCH_PCAP;
const file = keep ?? path.join(os.tmpdir(), `knockd-bench-core-${process.pid}.pcap`);
const fd = fs.openSync(file, 'w');
fs.writeSync(fd, pcapHeader(1));
const tpl = Buffer.from(frame({ src: '10.99.0.0', dst: '10.77.0.1', dport: 7000 }));
const rec = Buffer.alloc(16 + tpl.length);
const chunk: Buffer[] = [];
const ports = [7000, 8000, 9000];
for (let i = 0; i < total; i++) {
  const legit = i % 1000 < 3; // every 1000 packets, one full sequence from one source
  const src = legit ? 0xcb007100 + ((i / 1000) & 0xff) : 0x0a630000 + (i % 1_000_000);
  const ts = Math.floor(i / 100); // 100,000 packets per second of capture time
  writeRecordHeader(rec, 0, ts, tpl.length);
  tpl.copy(rec, 16);
  rec.writeUInt32BE(src >>> 0, 16 + 14 + 12);
  rec.writeUInt16BE(legit ? (ports[i % 1000] as number) : 7000, 16 + 14 + 20 + 2);
  chunk.push(Buffer.from(rec));
  if (chunk.length === 65536) fs.writeSync(fd, Buffer.concat(chunk.splice(0)));
}
fs.writeSync(fd, Buffer.concat(chunk));
fs.closeSync(fd);

// The frames are read once and kept in memory in the live capture's batch
// format (capture.ts), so the runs below measure decode and machine only.
const batches: { batch: Buffer; count: number }[] = [];
{
  const BATCH = 256 * 1024;
  let out = Buffer.alloc(BATCH);
  let used = 0;
  let count = 0;
  new PcapFileSource(file).start((buf, off, caplen, ts) => {
    const need = 16 + ((caplen + 3) & ~3);
    if (used + need > BATCH) {
      batches.push({ batch: out.subarray(0, used), count });
      out = Buffer.alloc(BATCH);
      used = count = 0;
    }
    out.writeUInt32LE(Math.floor(ts / 1000), used);
    out.writeUInt32LE((ts % 1000) * 1000, used + 4);
    out.writeUInt32LE(caplen, used + 8);
    out.writeUInt32LE(caplen, used + 12);
    buf.copy(out, used + 16, off, off + caplen);
    used += need;
    count++;
  });
  if (count > 0) batches.push({ batch: out.subarray(0, used), count });
}
if (keep === undefined) fs.unlinkSync(file);
const pkt = newPacket();
// The machine is shared with other work: each measurement is repeated, the
// best and median runs are reported, and time is this process's CPU time
// (user + system), so being descheduled does not count against us.
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const REPEAT = Number(process.env.REPEAT ?? 5);
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { best: s[s.length - 1] as number, median: s[Math.floor(s.length / 2)] as number };
};

// The floor: the same records walked and decoded, no state machine.
const floor: number[] = [];
for (let r = 0; r < REPEAT; r++) {
  const d0 = cpu();
  let n = 0;
  for (const b of batches) {
    forEachRecord(b.batch, b.count, (buf, off, caplen) => {
      if (decode(1, buf, off, caplen, pkt) === Skip.OK) n++;
    });
  }
  floor.push(n / (cpu() - d0));
}

let m = new KnockMachine(r.config.doors, Number(process.env.CAP ?? 100000));
let opens = 0;
let decoded = 0;
const emit = (e: KnockEvent) => {
  if (e.kind === 'open') opens++;
};
const runs: number[] = [];
let secs = 0;
for (let rep = 0; rep < REPEAT; rep++) {
  m = new KnockMachine(r.config.doors, Number(process.env.CAP ?? 100000));
  // As the daemon runs without -D: no debug-only events, and under a flood
  // the event log suppresses first-knock lines with no event object made.
  m.debugEvents = false;
  m.quietFirstKnock = () => true;
  opens = 0;
  decoded = 0;
  const t0 = cpu();
  for (const b of batches) {
    forEachRecord(b.batch, b.count, (buf, off, caplen, ts) => {
      if (decode(1, buf, off, caplen, pkt) !== Skip.OK) return;
      decoded++;
      m.onPacket(pkt, ts, emit);
    });
  }
  secs = cpu() - t0;
  runs.push(total / secs);
}
const core = stats(runs);
const dec = stats(floor);
process.stdout.write(
  `${JSON.stringify({ packets: total, decoded, opens, seconds: Number(secs.toFixed(3)), pps: Math.round(core.best), median_pps: Math.round(core.median), decode_only_pps: Math.round(dec.best), repeats: REPEAT, attempts: m.attemptCount() })}\n`,
);
