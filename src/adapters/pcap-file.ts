/**
 * Classic libpcap files (microsecond or nanosecond, either byte order) as a
 * capture source, for `knockd -r` and the benchmarks. The file is read in
 * chunks and every frame is handed over in place, where it lies in the
 * chunk: memory stays at one chunk whatever the file's size, and no frame is
 * copied. The filter is ignored: the core re-checks every packet anyway.
 */
import fs from 'node:fs';
import { KnockError } from '../core/errors.js';
import type { CaptureSource, CaptureStats, FrameHandler } from '../daemon/ports.js';

const HEADER = 24;
const RECORD = 16;
const CHUNK = 1 << 20;
/** Larger than any snaplen libpcap writes (262144); a bigger length means a corrupt file. */
const MAX_RECORD = 1 << 20;

export class PcapFileSource implements CaptureSource {
  readonly linktype: number;
  private readonly le: boolean;
  private readonly nano: boolean;
  private buf = Buffer.allocUnsafe(CHUNK);

  constructor(private readonly file: string) {
    const head = Buffer.alloc(HEADER);
    const fd = this.openFile();
    let n: number;
    try {
      n = fs.readSync(fd, head, 0, HEADER, 0);
    } finally {
      fs.closeSync(fd);
    }
    if (n < HEADER) throw new KnockError('E_IO', `${file}: not a pcap file (too short)`);
    const le = head.readUInt32LE(0);
    const be = head.readUInt32BE(0);
    if (le === 0xa1b2c3d4 || le === 0xa1b23c4d) this.le = true;
    else if (be === 0xa1b2c3d4 || be === 0xa1b23c4d) this.le = false;
    else
      throw new KnockError('E_IO', `${file}: not a classic pcap file (magic ${le.toString(16)})`);
    this.nano = (this.le ? le : be) === 0xa1b23c4d;
    this.linktype = (this.le ? head.readUInt32LE(20) : head.readUInt32BE(20)) & 0x0fffffff;
  }

  private openFile(): number {
    try {
      return fs.openSync(this.file, 'r');
    } catch (e) {
      throw new KnockError('E_IO', `${this.file}: ${(e as Error).message}`, { cause: e });
    }
  }

  setFilter(): void {}

  /** The capture time of the first record in ms, or null for an empty file. */
  firstTimestamp(): number | null {
    let first: number | null = null;
    this.walk((_b, _o, _c, ts) => (first = ts), 1);
    return first;
  }

  /**
   * Hands every whole record to `onFrame`, in file order, with its capture
   * time in ms. The buffer is reused: a frame is valid only during its call.
   * A truncated last record ends the walk, as tcpdump does.
   */
  start(onFrame: FrameHandler): void {
    this.walk(onFrame, Infinity);
  }

  /** The first `max` records to `onFrame`: the packet loop of `knockd -r`, so nothing in it allocates. */
  private walk(onFrame: FrameHandler, max: number): void {
    const fd = this.openFile();
    try {
      let pos = HEADER; // file offset of buf[end]
      let p = 0;
      let end = 0;
      const le = this.le;
      const div = this.nano ? 1_000_000 : 1000;
      let b = this.buf;
      for (let n = 0; n < max; n++) {
        // Invariant: buf[p, end) holds the unread bytes; refill until a whole
        // record is there (a header first, then the frame it announces).
        let caplen = end - p < RECORD ? -1 : u32(b, p + 8, le);
        while (caplen < 0 || end - p < RECORD + caplen) {
          const need = caplen < 0 ? RECORD : RECORD + caplen;
          if (need > RECORD + MAX_RECORD)
            throw new KnockError('E_IO', `${this.file}: record of ${need} bytes: corrupt file`);
          if (need > b.length) {
            const grown = Buffer.allocUnsafe(need);
            b.copy(grown, 0, p, end);
            this.buf = b = grown;
          } else b.copy(b, 0, p, end);
          end -= p;
          p = 0;
          const got = fs.readSync(fd, b, end, b.length - end, pos);
          pos += got;
          end += got;
          if (end < need) return; // end of file (or a truncated record)
          caplen = u32(b, 8, le);
        }
        const ts = u32(b, p, le) * 1000 + Math.floor(u32(b, p + 4, le) / div);
        onFrame(b, p + RECORD, caplen, ts);
        p += RECORD + caplen;
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  stats(): CaptureStats {
    return { received: 0, dropped: 0, ifdropped: 0 };
  }

  close(): void {}
}

function u32(b: Buffer, o: number, le: boolean): number {
  return le
    ? ((b[o + 3]! << 24) | (b[o + 2]! << 16) | (b[o + 1]! << 8) | b[o]!) >>> 0
    : ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
