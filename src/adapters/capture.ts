/**
 * Capture sources: the libpcap addon (live) and classic pcap files (replay).
 * Both hand the daemon one frame at a time. The addon delivers records in
 * batches (see native/pcap/src/capture.cc): u32 ts_sec, u32 ts_usec,
 * u32 caplen, u32 wirelen, then caplen bytes padded to 4; the batch format
 * stays in this file.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import { interfaceAddresses } from './netif.js';
import { KnockError } from '../core/errors.js';
import type { CaptureOpener, CaptureSource, CaptureStats, FrameHandler } from '../daemon/ports.js';

type BatchHandler = (batch: Buffer, count: number, used: number) => void;

/** Calls `onFrame` for each whole record of a batch. */
export function forEachRecord(batch: Buffer, count: number, onFrame: FrameHandler): void {
  let p = 0;
  for (let i = 0; i < count && p + 16 <= batch.length; i++) {
    const sec = batch.readUInt32LE(p);
    const usec = batch.readUInt32LE(p + 4);
    const caplen = batch.readUInt32LE(p + 8);
    if (p + 16 + caplen > batch.length) return;
    onFrame(batch, p + 16, caplen, sec * 1000 + Math.floor(usec / 1000));
    p += 16 + ((caplen + 3) & ~3);
  }
}

interface NativeCapture {
  readonly linktype: number;
  setFilter(expr: string): void;
  start(onBatch: BatchHandler, onError: (m: string) => void): void;
  stats(): CaptureStats | null;
  close(): void;
}

export interface NativeModule {
  Capture: new (ifname: string, snaplen: number, bufferBytes: number) => NativeCapture;
  openlog(ident: string): void;
  /** Compiles a filter for a link type; returns the instruction count or throws. */
  compileFilter(linktype: number, snaplen: number, expr: string): number;
  syslog(msg: string): void;
  /** One datagram to systemd's notification socket; false when it failed. */
  sdNotify(socketPath: string, state: string): boolean;
}

let native: NativeModule | undefined;

/** Loads the libpcap addon on first use, so `knock` and `knockd -h` never need it. */
export function loadNative(): NativeModule {
  if (native !== undefined) return native;
  const here = path.dirname(fileURLToPath(import.meta.url));
  // dist/src/adapters -> repo root
  const root = path.resolve(here, '..', '..', '..');
  const file = path.join(root, 'native', 'pcap', 'build', 'Release', 'knockpcap.node');
  if (!fs.existsSync(file)) {
    throw new KnockError(
      'E_CAPTURE',
      `native capture module missing: ${file} (in a checkout: scripts/setup.sh; ` +
        'installed with npm: install libpcap-dev and a C++ compiler, then npm rebuild -g knockd-ts)',
    );
  }
  native = createRequire(import.meta.url)(file) as NativeModule;
  return native;
}

/** Kernel buffer sized for bursts (a spoofed flood must not crowd out knocks). */
export const CAPTURE_BUFFER = 6 * 1024 * 1024;

/** Wraps the addon: batches in, frames out. */
class LiveCapture implements CaptureSource {
  constructor(private readonly cap: NativeCapture) {}
  get linktype(): number {
    return this.cap.linktype;
  }
  setFilter(expr: string): void {
    this.cap.setFilter(expr);
  }
  start(onFrame: FrameHandler, onError: (message: string) => void): void {
    this.cap.start((batch, count) => forEachRecord(batch, count, onFrame), onError);
  }
  stats(): CaptureStats | null {
    return this.cap.stats();
  }
  close(): void {
    this.cap.close();
  }
}

/** Live capture with libpcap, loaded on first use. */
export const liveCapture: CaptureOpener = {
  open(iface: string, snaplen: number): CaptureSource {
    const mod = loadNative();
    try {
      return new LiveCapture(new mod.Capture(iface, snaplen, CAPTURE_BUFFER));
    } catch (e) {
      throw new KnockError('E_CAPTURE', (e as Error).message, { cause: e });
    }
  },
  addresses: interfaceAddresses,
};

/**
 * Reads a classic libpcap file (microsecond or nanosecond, either byte
 * order) and replays it as one batch per call to start(). The filter is
 * ignored: the core re-checks every packet anyway.
 */
export class PcapFileSource implements CaptureSource {
  readonly linktype: number;
  private readonly data: Buffer;
  private readonly le: boolean;
  private readonly nano: boolean;

  constructor(file: string) {
    this.data = fs.readFileSync(file);
    if (this.data.length < 24) throw new KnockError('E_IO', `${file}: not a pcap file (too short)`);
    const magic = this.data.readUInt32LE(0);
    if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) this.le = true;
    else if (this.data.readUInt32BE(0) === 0xa1b2c3d4 || this.data.readUInt32BE(0) === 0xa1b23c4d)
      this.le = false;
    else
      throw new KnockError(
        'E_IO',
        `${file}: not a classic pcap file (magic ${magic.toString(16)})`,
      );
    const m = this.le ? magic : this.data.readUInt32BE(0);
    this.nano = m === 0xa1b23c4d;
    this.linktype =
      (this.le ? this.data.readUInt32LE(20) : this.data.readUInt32BE(20)) & 0x0fffffff;
  }

  setFilter(): void {}

  /**
   * Re-encodes the file into batches of at most `batchBytes`. Like the live
   * capture, the yielded buffer is reused: copy it to keep it past the next step.
   */
  *batches(batchBytes = 256 * 1024): Generator<{ batch: Buffer; count: number; used: number }> {
    const d = this.data;
    const out = Buffer.alloc(batchBytes);
    let used = 0;
    let count = 0;
    let p = 24;
    while (p + 16 <= d.length) {
      const r32 = (o: number) => (this.le ? d.readUInt32LE(o) : d.readUInt32BE(o));
      const sec = r32(p);
      const frac = r32(p + 4);
      const incl = r32(p + 8);
      const orig = r32(p + 12);
      if (p + 16 + incl > d.length) break; // truncated file: stop at the last whole record
      const need = 16 + ((incl + 3) & ~3);
      if (need > batchBytes) {
        p += 16 + incl;
        continue;
      }
      if (used + need > batchBytes) {
        yield { batch: out, count, used };
        used = 0;
        count = 0;
      }
      out.writeUInt32LE(sec, used);
      out.writeUInt32LE(this.nano ? Math.floor(frac / 1000) : frac, used + 4);
      out.writeUInt32LE(incl, used + 8);
      out.writeUInt32LE(orig, used + 12);
      d.copy(out, used + 16, p + 16, p + 16 + incl);
      used += need;
      count++;
      p += 16 + incl;
    }
    if (count > 0) yield { batch: out, count, used };
  }

  start(onFrame: FrameHandler): void {
    for (const b of this.batches()) forEachRecord(b.batch, b.count, onFrame);
  }

  stats(): CaptureStats {
    return { received: 0, dropped: 0, ifdropped: 0 };
  }

  close(): void {}
}
