/** The addresses that count as "us" for doors without a Target. Pure. */
import { addressWords, sameDst } from './events.js';
import type { Packet } from './decode.js';

export class LocalAddresses {
  private text: ReadonlySet<string> = new Set();
  private words: { kind: number; w: Int32Array }[] = [];

  /** An empty set means "whatever the capture filter let through". */
  set(addrs: ReadonlySet<string>): void {
    this.text = addrs;
    this.words = [...addrs].map(addressWords).filter((x) => x.kind !== -1);
  }

  /** Whether the packet's destination is one of ours, compared as words. */
  has(pkt: Packet): boolean {
    if (this.text.size === 0) return true;
    if (!pkt.words) return this.text.has(pkt.dst);
    for (const l of this.words) if (sameDst(l.kind, l.w, pkt)) return true;
    return false;
  }
}
