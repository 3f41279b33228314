/**
 * Packet decoder. Accepts any bytes: every length is checked before a field
 * is read, and the result is a reason code, never an exception. It fills a
 * caller-owned Packet and allocates nothing: addresses are stored as 32-bit
 * words, and their text is formatted only when something reads `src`/`dst`.
 */
import { formatWords } from '../ip.js';
import type { Proto } from '../port.js';

export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 12,
  RAW_OPENBSD: 14,
  RAW_PCAP: 101,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

export function linktypeSupported(lt: number): boolean {
  return (Object.values(LINKTYPE) as number[]).includes(lt);
}

export interface Packet {
  family: 4 | 6;
  /** Source address text. For a decoded packet it is formatted on first read. */
  src: string;
  dst: string;
  /**
   * True when s0..s3/d0..d3 hold the addresses (the decoder sets them);
   * false when only the text is known (a Packet built by hand, as in tests).
   */
  words: boolean;
  /** Address words, big-endian, as int32: IPv4 in s0 (s1..s3 = 0), IPv6 in s0..s3. */
  s0: number;
  s1: number;
  s2: number;
  s3: number;
  d0: number;
  d1: number;
  d2: number;
  d3: number;
  proto: Proto;
  sport: number;
  dport: number;
  /** TCP flag byte (FIN 0x01 ... URG 0x20); 0 for UDP. */
  flags: number;
  /** Bytes of transport payload seen in the capture (may be cut by snaplen). */
  payloadOffset: number;
}

/**
 * The Packet the decoder fills. `src`/`dst` are accessors: the decoder
 * clears them ('' = not formatted yet) and the first read formats the words,
 * so a packet nobody logs never builds a string. A spread copy
 * (`{ ...newPacket(), src: 'a' }`) has plain fields and `words` false.
 */
class DecodedPacket implements Packet {
  family: 4 | 6 = 4;
  words = false;
  s0 = 0;
  s1 = 0;
  s2 = 0;
  s3 = 0;
  d0 = 0;
  d1 = 0;
  d2 = 0;
  d3 = 0;
  proto: Proto = 'tcp';
  sport = 0;
  dport = 0;
  flags = 0;
  payloadOffset = 0;
  private srcText = '';
  private dstText = '';

  get src(): string {
    if (this.srcText === '' && this.words)
      this.srcText = formatWords(this.family, this.s0, this.s1, this.s2, this.s3);
    return this.srcText;
  }
  set src(v: string) {
    this.srcText = v;
  }
  get dst(): string {
    if (this.dstText === '' && this.words)
      this.dstText = formatWords(this.family, this.d0, this.d1, this.d2, this.d3);
    return this.dstText;
  }
  set dst(v: string) {
    this.dstText = v;
  }
}

export function newPacket(): Packet {
  return new DecodedPacket();
}

/** Why a frame was not a knock candidate. OK means `out` is filled. */
export const enum Skip {
  OK = 0,
  TRUNCATED = 1,
  NOT_IP = 2,
  NOT_TCP_UDP = 3,
  FRAGMENT = 4,
  BAD_HEADER = 5,
  LINKTYPE = 6,
}

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_VLAN = 0x8100;
const ETH_QINQ = 0x88a8;

function u16(b: Uint8Array, o: number): number {
  return ((b[o] as number) << 8) | (b[o + 1] as number);
}

/** Big-endian 32 bits as an int32 (a small integer to V8: no heap number). */
function u32(b: Uint8Array, o: number): number {
  return (
    ((b[o] as number) << 24) |
    ((b[o + 1] as number) << 16) |
    ((b[o + 2] as number) << 8) |
    (b[o + 3] as number)
  );
}

/** Decode one frame of `len` captured bytes starting at `off`. */
export function decode(
  linktype: number,
  b: Uint8Array,
  off: number,
  len: number,
  out: Packet,
): Skip {
  const end = off + len;
  if (end > b.length || len < 0) return Skip.TRUNCATED;
  let p = off;
  let ethertype: number;
  switch (linktype) {
    case LINKTYPE.ETHERNET:
      if (len < 14) return Skip.TRUNCATED;
      ethertype = u16(b, p + 12);
      p += 14;
      break;
    case LINKTYPE.LINUX_SLL:
      if (len < 16) return Skip.TRUNCATED;
      ethertype = u16(b, p + 14);
      p += 16;
      break;
    case LINKTYPE.LINUX_SLL2:
      if (len < 20) return Skip.TRUNCATED;
      ethertype = u16(b, p);
      p += 20;
      break;
    case LINKTYPE.NULL: {
      // BSD loopback: 4-byte address family in host byte order.
      if (len < 4) return Skip.TRUNCATED;
      const af = (b[p] as number) !== 0 ? (b[p] as number) : (b[p + 3] as number);
      p += 4;
      ethertype =
        af === 2 ? ETH_IPV4 : af === 10 || af === 24 || af === 28 || af === 30 ? ETH_IPV6 : 0;
      break;
    }
    case LINKTYPE.RAW:
    case LINKTYPE.RAW_OPENBSD:
    case LINKTYPE.RAW_PCAP:
      if (len < 1) return Skip.TRUNCATED;
      ethertype = (b[p] as number) >> 4 === 6 ? ETH_IPV6 : ETH_IPV4;
      break;
    case LINKTYPE.IPV4:
      ethertype = ETH_IPV4;
      break;
    case LINKTYPE.IPV6:
      ethertype = ETH_IPV6;
      break;
    default:
      return Skip.LINKTYPE;
  }
  // 802.1Q / 802.1ad tags (knockd drops these frames): at most two.
  for (let tags = 0; (ethertype === ETH_VLAN || ethertype === ETH_QINQ) && tags < 2; tags++) {
    if (end - p < 4) return Skip.TRUNCATED;
    ethertype = u16(b, p + 2);
    p += 4;
  }
  if (ethertype === ETH_IPV4) return decodeIPv4(b, p, end, out);
  if (ethertype === ETH_IPV6) return decodeIPv6(b, p, end, out);
  return Skip.NOT_IP;
}

function decodeIPv4(b: Uint8Array, p: number, end: number, out: Packet): Skip {
  if (end - p < 20) return Skip.TRUNCATED;
  const vihl = b[p] as number;
  if (vihl >> 4 !== 4) return Skip.BAD_HEADER;
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < 20) return Skip.BAD_HEADER;
  if (end - p < ihl) return Skip.TRUNCATED;
  const totalLen = u16(b, p + 2);
  if (totalLen < ihl) return Skip.BAD_HEADER;
  // Only the first fragment carries the transport header.
  if ((u16(b, p + 6) & 0x1fff) !== 0) return Skip.FRAGMENT;
  const proto = b[p + 9] as number;
  if (proto !== 6 && proto !== 17) return Skip.NOT_TCP_UDP;
  out.family = 4;
  out.words = true;
  out.s0 = u32(b, p + 12);
  out.s1 = out.s2 = out.s3 = 0;
  out.d0 = u32(b, p + 16);
  out.d1 = out.d2 = out.d3 = 0;
  out.src = '';
  out.dst = '';
  // Ethernet padding may follow a short datagram; trust the IP length.
  const l4end = Math.min(end, p + totalLen);
  return decodeL4(b, p + ihl, l4end, proto, out);
}

function decodeIPv6(b: Uint8Array, p: number, end: number, out: Packet): Skip {
  if (end - p < 40) return Skip.TRUNCATED;
  if ((b[p] as number) >> 4 !== 6) return Skip.BAD_HEADER;
  const payloadLen = u16(b, p + 4);
  let next = b[p + 6] as number;
  const src = p + 8;
  const dst = p + 24;
  const l4limit = Math.min(end, p + 40 + payloadLen);
  let q = p + 40;
  // Skip extension headers (knockd cannot); bounded so a chain cannot loop.
  for (let hops = 0; hops < 8; hops++) {
    if (next === 6 || next === 17) {
      out.family = 6;
      out.words = true;
      out.s0 = u32(b, src);
      out.s1 = u32(b, src + 4);
      out.s2 = u32(b, src + 8);
      out.s3 = u32(b, src + 12);
      out.d0 = u32(b, dst);
      out.d1 = u32(b, dst + 4);
      out.d2 = u32(b, dst + 8);
      out.d3 = u32(b, dst + 12);
      out.src = '';
      out.dst = '';
      return decodeL4(b, q, l4limit, next, out);
    }
    if (next === 0 || next === 43 || next === 60) {
      if (l4limit - q < 8) return Skip.TRUNCATED;
      const hlen = ((b[q + 1] as number) + 1) * 8;
      next = b[q] as number;
      q += hlen;
    } else if (next === 44) {
      if (l4limit - q < 8) return Skip.TRUNCATED;
      if ((u16(b, q + 2) & 0xfff8) !== 0) return Skip.FRAGMENT;
      next = b[q] as number;
      q += 8;
    } else if (next === 51) {
      if (l4limit - q < 8) return Skip.TRUNCATED;
      const hlen = ((b[q + 1] as number) + 2) * 4;
      next = b[q] as number;
      q += hlen;
    } else {
      return Skip.NOT_TCP_UDP;
    }
  }
  return Skip.BAD_HEADER;
}

function decodeL4(b: Uint8Array, p: number, end: number, proto: number, out: Packet): Skip {
  if (proto === 6) {
    if (end - p < 14) return Skip.TRUNCATED;
    out.proto = 'tcp';
    out.sport = u16(b, p);
    out.dport = u16(b, p + 2);
    out.flags = (b[p + 13] as number) & 0x3f;
    const doff = ((b[p + 12] as number) >> 4) * 4;
    if (doff < 20) return Skip.BAD_HEADER;
    out.payloadOffset = p + doff;
    return Skip.OK;
  }
  if (end - p < 8) return Skip.TRUNCATED;
  out.proto = 'udp';
  out.sport = u16(b, p);
  out.dport = u16(b, p + 2);
  out.flags = 0;
  out.payloadOffset = p + 8;
  return Skip.OK;
}
