/**
 * The capture loop: owns the capture handle, its snaplen and its kernel
 * filter. It opens capture, reopens it after an error (link down, interface
 * deleted) or when a reload needs another snaplen, follows address changes,
 * decodes every frame into one reused Packet and hands it on.
 */
import {
  decode,
  linktypeSupported,
  LINKTYPE,
  newPacket,
  Skip,
  type Packet,
} from '../core/knock/decode.js';
import { KnockError } from '../core/errors.js';
import type { CaptureOpener, CaptureSource, CaptureStats, Logger } from './ports.js';

export interface CaptureSettings {
  iface: string;
  ipv4Only: boolean;
}

export interface CaptureClient {
  /** The kernel filter for these local addresses and link type. */
  filter(addresses: string[], ethernet: boolean): string;
  /** Addresses changed: the knock machine must learn them. */
  onAddresses(addresses: string[]): void;
  /** A decoded packet; `pkt` is reused, `buf` valid only during the call. */
  onPacket(pkt: Packet, buf: Buffer, off: number, caplen: number, tsMs: number): void;
}

const REOPEN_MS = 1000;

export class CaptureLoop {
  private capture: CaptureSource | null = null;
  private addrs: string[] = [];
  private snaplen = 0;
  private reopenTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly pkt = newPacket();
  /** The open capture's link type, read once per frame without a detour through it. */
  private linktype: number = LINKTYPE.ETHERNET;
  readonly counters = { packets: 0, skipped: 0 };

  constructor(
    private readonly settings: CaptureSettings,
    private readonly opener: CaptureOpener,
    private readonly logger: Logger,
    private readonly client: CaptureClient,
  ) {}

  /** Opens capture; throws KnockError when it cannot (only at start-up). */
  start(snaplen: number): void {
    this.snaplen = snaplen;
    this.open(true);
  }

  /** A reload: reopen when the snaplen changed, else just refresh the filter. */
  reconfigure(snaplen: number): void {
    if (this.stopped) return;
    if (snaplen !== this.snaplen) {
      // A reopen already scheduled (after a capture error) would open a second handle.
      if (this.reopenTimer !== null) clearTimeout(this.reopenTimer);
      this.reopenTimer = null;
      this.snaplen = snaplen;
      this.logger.debug(`capture snaplen now ${snaplen}; reopening ${this.settings.iface}`);
      this.drop();
      try {
        this.open(false);
      } catch (e) {
        this.onError((e as Error).message);
      }
      return;
    }
    this.applyFilter();
  }

  /** Invariant: at most one handle is open; it is `this.capture`, set only once it runs. */
  private open(first: boolean): void {
    if (this.stopped) return;
    this.drop();
    const { iface, ipv4Only } = this.settings;
    const cap = this.opener.open(iface, this.snaplen);
    try {
      if (!linktypeSupported(cap.linktype))
        throw new KnockError('E_CAPTURE', `error: unsupported link-layer type: ${cap.linktype}`);
      if (first) this.logger.debug(`link type ${cap.linktype} detected`);
      this.addrs = this.opener.addresses(iface, ipv4Only);
      for (const a of this.addrs) this.logger.debug(`local IP: ${a}`);
      this.client.onAddresses(this.addrs);
      this.capture = cap;
      this.linktype = cap.linktype;
      this.applyFilter();
      cap.start(this.onFrame, (msg) => this.onError(msg));
    } catch (e) {
      this.capture = null;
      cap.close();
      throw e;
    }
  }

  private readonly onFrame = (buf: Buffer, off: number, caplen: number, ts: number): void => {
    const pkt = this.pkt;
    if (
      decode(this.linktype, buf, off, caplen, pkt) !== Skip.OK ||
      (this.settings.ipv4Only && pkt.family === 6)
    ) {
      this.counters.skipped++;
      return;
    }
    this.counters.packets++;
    this.client.onPacket(pkt, buf, off, caplen, ts);
  };

  private onError(msg: string): void {
    if (this.stopped) return;
    this.logger.log(`capture error on ${this.settings.iface}: ${msg}; retrying`);
    this.drop();
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    if (this.reopenTimer !== null || this.stopped) return;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = null;
      try {
        this.open(false);
        this.logger.log(`capture resumed on ${this.settings.iface}`);
      } catch (e) {
        this.logger.debug(`capture still unavailable: ${(e as Error).message}`);
        this.scheduleReopen();
      }
    }, REOPEN_MS);
  }

  /** Sets the kernel filter; on failure capture runs unfiltered (the core re-checks every packet). */
  applyFilter(): void {
    if (this.capture === null) return;
    const expr = this.client.filter(this.addrs, this.capture.linktype === LINKTYPE.ETHERNET);
    this.logger.debug(`adding pcap expression: ${expr}`);
    try {
      this.capture.setFilter(expr);
    } catch (e) {
      this.logger.error(
        `warning: cannot set capture filter (${(e as Error).message}); capturing unfiltered`,
      );
    }
  }

  /** Addresses are re-read so DHCP/PPP changes need no restart (knockd reads them once). */
  refreshAddresses(): void {
    if (this.capture === null) return;
    const { iface, ipv4Only } = this.settings;
    const now = this.opener.addresses(iface, ipv4Only);
    if (now.join(',') === this.addrs.join(',')) return;
    this.logger.log(`addresses of ${iface} changed: ${now.join(' ') || '(none)'}`);
    this.addrs = now;
    this.client.onAddresses(now);
    this.applyFilter();
  }

  get addresses(): readonly string[] {
    return this.addrs;
  }

  stats(): CaptureStats | null {
    return this.capture?.stats() ?? null;
  }

  private drop(): void {
    this.capture?.close();
    this.capture = null;
  }

  stop(): void {
    this.stopped = true;
    if (this.reopenTimer !== null) clearTimeout(this.reopenTimer);
    const st = this.capture?.stats();
    if (st != null) {
      this.logger.verbose(
        `capture: ${st.received} received, ${st.dropped} dropped by the kernel, ${st.ifdropped} by the interface; ` +
          `${this.counters.packets} decoded, ${this.counters.skipped} skipped`,
      );
    }
    this.drop();
  }
}
