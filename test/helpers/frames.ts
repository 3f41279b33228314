/** Builds test frames (Ethernet, cooked, raw; IPv4/IPv6; TCP/UDP) and pcap files. */
import { parseIPv4, parseIPv6 } from '../../src/core/ip.js';

export interface FrameSpec {
  src: string;
  dst: string;
  proto?: 'tcp' | 'udp';
  sport?: number;
  dport: number;
  flags?: number;
  vlan?: number;
  /** IPv6 extension headers to insert before the transport header (next-header values). */
  ext?: number[];
  link?: 'eth' | 'sll' | 'sll2' | 'raw';
  /** IPv4 fragment offset (8-byte units). */
  fragOffset?: number;
}

function l4(spec: FrameSpec): Uint8Array {
  const proto = spec.proto ?? 'tcp';
  const sport = spec.sport ?? 40000;
  if (proto === 'tcp') {
    const b = new Uint8Array(20);
    b[0] = sport >> 8;
    b[1] = sport & 0xff;
    b[2] = spec.dport >> 8;
    b[3] = spec.dport & 0xff;
    b[12] = 5 << 4;
    b[13] = spec.flags ?? 0x02;
    b[14] = 0xff;
    b[15] = 0xff;
    return b;
  }
  const b = new Uint8Array(9);
  b[0] = sport >> 8;
  b[1] = sport & 0xff;
  b[2] = spec.dport >> 8;
  b[3] = spec.dport & 0xff;
  b[5] = 9;
  return b;
}

export function ipPacket(spec: FrameSpec): Uint8Array {
  const payload = l4(spec);
  const protoNum = (spec.proto ?? 'tcp') === 'tcp' ? 6 : 17;
  const s4 = parseIPv4(spec.src);
  if (s4 !== null) {
    const d4 = parseIPv4(spec.dst);
    if (d4 === null) throw new Error('mixed families');
    const b = new Uint8Array(20 + payload.length);
    b[0] = 0x45;
    const total = b.length;
    b[2] = total >> 8;
    b[3] = total & 0xff;
    const frag = spec.fragOffset ?? 0;
    b[6] = (frag >> 8) & 0x1f;
    b[7] = frag & 0xff;
    b[8] = 64;
    b[9] = protoNum;
    b.set(s4, 12);
    b.set(d4, 16);
    b.set(payload, 20);
    return b;
  }
  const s6 = parseIPv6(spec.src);
  const d6 = parseIPv6(spec.dst);
  if (s6 === null || d6 === null) throw new Error(`bad address ${spec.src}`);
  const ext = spec.ext ?? [];
  const extBytes = new Uint8Array(ext.length * 8);
  ext.forEach((_, i) => {
    // next header of this extension header is the following one (or the transport)
    extBytes[i * 8] = ext[i + 1] ?? protoNum;
    extBytes[i * 8 + 1] = 0; // (0 + 1) * 8 bytes
  });
  const b = new Uint8Array(40 + extBytes.length + payload.length);
  b[0] = 0x60;
  const plen = extBytes.length + payload.length;
  b[4] = plen >> 8;
  b[5] = plen & 0xff;
  b[6] = ext[0] ?? protoNum;
  b[7] = 64;
  b.set(s6, 8);
  b.set(d6, 24);
  b.set(extBytes, 40);
  b.set(payload, 40 + extBytes.length);
  return b;
}

export function frame(spec: FrameSpec): Uint8Array {
  const ip = ipPacket(spec);
  const v6 = spec.src.includes(':');
  const ethertype = v6 ? 0x86dd : 0x0800;
  const link = spec.link ?? 'eth';
  if (link === 'raw') return ip;
  if (link === 'sll') {
    const h = new Uint8Array(16);
    h[14] = ethertype >> 8;
    h[15] = ethertype & 0xff;
    return concat(h, ip);
  }
  if (link === 'sll2') {
    const h = new Uint8Array(20);
    h[0] = ethertype >> 8;
    h[1] = ethertype & 0xff;
    return concat(h, ip);
  }
  const tag =
    spec.vlan === undefined ? new Uint8Array(0) : new Uint8Array([0x81, 0x00, 0, spec.vlan]);
  const eth = new Uint8Array(14);
  eth.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2], 0);
  if (tag.length > 0) {
    eth[12] = 0x81;
    eth[13] = 0x00;
    const inner = new Uint8Array([0, spec.vlan ?? 0, ethertype >> 8, ethertype & 0xff]);
    return concat(eth, concat(inner, ip));
  }
  eth[12] = ethertype >> 8;
  eth[13] = ethertype & 0xff;
  return concat(eth, ip);
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The 24-byte header of a classic little-endian microsecond pcap file. */
export function pcapHeader(linktype: number): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(65535, 16);
  h.writeUInt32LE(linktype, 20);
  return h;
}

/** Writes a 16-byte pcap record header for `len` bytes captured at `tsMs` into `b` at `off`. */
export function writeRecordHeader(b: Buffer, off: number, tsMs: number, len: number): void {
  b.writeUInt32LE(Math.floor(tsMs / 1000), off);
  b.writeUInt32LE((tsMs % 1000) * 1000, off + 4);
  b.writeUInt32LE(len, off + 8);
  b.writeUInt32LE(len, off + 12);
}

/** A classic little-endian microsecond pcap file. */
export function pcapFile(linktype: number, packets: { tsMs: number; data: Uint8Array }[]): Buffer {
  const parts: Buffer[] = [pcapHeader(linktype)];
  for (const p of packets) {
    const r = Buffer.alloc(16);
    writeRecordHeader(r, 0, p.tsMs, p.data.length);
    parts.push(r, Buffer.from(p.data));
  }
  return Buffer.concat(parts);
}
