import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PcapFileSource } from '../../src/adapters/pcap-file.js';

/** A pcap file in either byte order and time unit, with records of the given sizes. */
function file(sizes: number[], opts: { be?: boolean; nano?: boolean; cut?: number } = {}): string {
  const w = (b: Buffer, v: number, o: number) =>
    opts.be ? b.writeUInt32BE(v >>> 0, o) : b.writeUInt32LE(v >>> 0, o);
  const head = Buffer.alloc(24);
  w(head, opts.nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w(head, 1, 20);
  const parts = [head];
  sizes.forEach((n, i) => {
    const r = Buffer.alloc(16 + n, i & 0xff);
    w(r, 1000 + i, 0);
    w(r, opts.nano ? 250_000_000 : 250_000, 4);
    w(r, n, 8);
    w(r, n, 12);
    parts.push(r);
  });
  let data = Buffer.concat(parts);
  if (opts.cut !== undefined) data = data.subarray(0, data.length - opts.cut);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-pcapfile-'));
  const f = path.join(dir, 'f.pcap');
  fs.writeFileSync(f, data);
  return f;
}

function frames(f: string) {
  const out: { len: number; ts: number; fill: number; whole: boolean }[] = [];
  new PcapFileSource(f).start((buf, off, caplen, ts) => {
    const body = buf.subarray(off, off + caplen);
    out.push({ len: caplen, ts, fill: body[0] ?? -1, whole: body.every((b) => b === body[0]) });
  });
  return out;
}

test('every record arrives whole, in order, across chunk boundaries, in both byte orders and time units', () => {
  // 54-byte frames straddle the 1 MiB chunk boundary many times; the 300 KB
  // one is bigger than a chunk's remainder; 0-byte records are legal.
  const sizes = [...Array.from({ length: 40_000 }, () => 54), 300_000, 0, 61, 1500];
  for (const opts of [{}, { be: true }, { nano: true }, { be: true, nano: true }]) {
    const got = frames(file(sizes, opts));
    assert.equal(got.length, sizes.length, JSON.stringify(opts));
    got.forEach((g, i) => {
      assert.equal(g.len, sizes[i]);
      assert.equal(g.ts, (1000 + i) * 1000 + 250);
      if (g.len > 0)
        assert.ok(g.whole && g.fill === (i & 0xff), `record ${i} ${JSON.stringify(opts)}`);
    });
  }
});

test('a truncated last record ends the file; the ones before it are read', () => {
  const got = frames(file([60, 60, 60], { cut: 10 }));
  assert.equal(got.length, 2);
  assert.equal(frames(file([60], { cut: 70 })).length, 0); // only part of a record header
});

test('a record length beyond any snaplen is a clear error, not an allocation', () => {
  const f = file([60]);
  const b = fs.readFileSync(f);
  b.writeUInt32LE(0x7fffffff, 24 + 8);
  fs.writeFileSync(f, b);
  assert.throws(() => frames(f), { code: 'E_IO', message: /corrupt file/ });
});

test('the first timestamp, and files that are not pcap', () => {
  assert.equal(new PcapFileSource(file([60, 60])).firstTimestamp(), 1_000_250);
  assert.equal(new PcapFileSource(file([])).firstTimestamp(), null);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-pcapfile-'));
  fs.writeFileSync(path.join(dir, 'x'), 'not a capture file at all, just text');
  assert.throws(() => new PcapFileSource(path.join(dir, 'x')), { code: 'E_IO', message: /magic/ });
  assert.throws(() => new PcapFileSource(path.join(dir, 'missing')), { code: 'E_IO' });
});
