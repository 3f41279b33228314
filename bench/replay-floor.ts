/**
 * The floor under `knockd -r` on bench/replay.sh's file: the least a
 * JavaScript loop can do with it and still be a knock daemon's core. It
 * walks the records, decodes Ethernet/IPv4/TCP with no checks beyond the
 * ones that pick the packet, and keeps one door's stage-1 attempts in a
 * FIFO of 100,000 indexed by src/core/knock's own place and unplace (hash
 * and slot side by side, backward-shift deletion): per flood packet a
 * failed lookup, the oldest attempt's removal and the new one's entry. No
 * second door, no log limiter, no events, no IPv6, no expiry. Not the
 * daemon: a measuring stick for how far ours is from what Node can do here.
 * usage: node dist/bench/replay-floor.js FILE.pcap   (prints JSON, ns per packet per run)
 */
import fs from 'node:fs';
import { place, unplace } from '../src/core/knock/attempt-index.js';

const CAP = 100_000;
const SLOTS = 131_072;
const MASK = 2 * SLOTS - 1;
const SEED = 0x2545f491;

const b = fs.readFileSync(process.argv[2] ?? '');
if (b.readUInt32LE(0) !== 0xa1b2c3d4) throw new Error('not a little-endian microsecond pcap');
const index = new Int32Array(4 * SLOTS);
const keys = new Int32Array(SLOTS);
const hashes = new Int32Array(SLOTS);
const stages = new Int32Array(SLOTS);
const starts = new Float64Array(SLOTS);

function u32le(o: number): number {
  return ((b[o + 3]! << 24) | (b[o + 2]! << 16) | (b[o + 1]! << 8) | b[o]!) >>> 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function find(h: number, key: number): number {
  for (let i = h & MASK; ; i = (i + 1) & MASK) {
    const a = index[2 * i + 1] as number;
    if (a === -1 || (index[2 * i] === h && keys[a] === key)) return a;
  }
}

/** One pass over the file; returns [packets, opens]. */
function run(): [number, number] {
  index.fill(-1);
  let oldest = 0;
  let count = 0;
  let packets = 0;
  let opens = 0;
  for (let p = 24; p + 16 <= b.length; packets++) {
    const caplen = u32le(p + 8);
    const f = p + 16;
    p = f + caplen;
    // Ethernet, IPv4, TCP, SYN without ACK; the rest is not a knock.
    if (b[f + 12] !== 8 || b[f + 13] !== 0 || b[f + 23] !== 6) continue;
    const t = f + 14 + ((b[f + 14] as number) & 15) * 4;
    if (((b[t + 13] as number) & 0x12) !== 0x02) continue;
    const src = (b[f + 26]! << 24) | (b[f + 27]! << 16) | (b[f + 28]! << 8) | b[f + 29]!;
    const port = (b[t + 2]! << 8) | b[t + 3]!;
    const h = fmix(src ^ SEED);
    let a = find(h, src);
    if (a !== -1) {
      // The door is 7000, 8000, 9000.
      if (port !== 7000 + 1000 * (stages[a] as number)) continue;
      const stage = (stages[a] as number) + 1;
      stages[a] = stage;
      if (stage === 3) opens++;
      continue;
    }
    if (port !== 7000) continue;
    if (count < CAP) a = count++;
    else {
      a = oldest;
      oldest = (oldest + 1) % CAP;
      unplace(index, MASK, hashes[a] as number, a);
    }
    keys[a] = src;
    hashes[a] = h;
    stages[a] = 1;
    starts[a] = u32le(f - 16);
    place(index, MASK, h, a);
  }
  return [packets, opens];
}

const ns: number[] = [];
let result: [number, number] = [0, 0];
for (let r = 0; r < Number(process.env.REPEAT ?? 4); r++) {
  const u = process.cpuUsage();
  result = run();
  const d = process.cpuUsage(u);
  ns.push(Math.round(((d.user + d.system) * 1000) / result[0]));
}
process.stdout.write(
  `${JSON.stringify({ test: 'replay-floor', packets: result[0], opens: result[1], ns_per_packet: ns })}\n`,
);
