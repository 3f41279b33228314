/**
 * Live capture with the libpcap addon (pcap files: pcap-file.ts).
 * Both hand the daemon one frame at a time. The addon delivers records in
 * batches (see native/pcap/src/capture.cc): u32 ts_sec, u32 ts_usec,
 * u32 caplen, u32 wirelen, then caplen bytes padded to 4; the batch format
 * stays in this file.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import { addonPath } from './addon.js';
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
  const file = addonPath('pcap', 'knockpcap.node');
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
