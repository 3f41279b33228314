/**
 * A grant change as nf_tables netlink messages: the set element adds and
 * deletes that `nftGrantLine` and `nftRevokeLine` (render.ts) spell as text,
 * encoded as the kernel reads them. The nftables backend sends these
 * straight to the kernel (native/nft, `batch`): no parser and no cache dump
 * before each change, which is what libnftables spends most of a one-element
 * run on. Pure: bytes out, no socket, no clock.
 *
 * The caller (the addon) wraps the messages in one batch (BATCH_BEGIN ..
 * BATCH_END, so one atomic transaction) and numbers them; here every
 * nlmsg_seq is 0. Every message asks for an ACK, so the kernel answers each
 * one exactly once.
 *
 * Key layout (checked against `nft --debug=netlink`): each part of the
 * concatenation `addr . inet_proto . inet_service` takes a 4-byte register:
 * the address (4 or 16 bytes), the protocol byte and 3 zero bytes, the port
 * in network order and 2 zero bytes.
 */
import { parseIPv4, parseIPv6 } from '../ip.js';
import { NFT_TABLE } from './render.js';
import type { Grant } from './grants.js';

// linux/netlink.h, linux/netfilter/nfnetlink.h, linux/netfilter/nf_tables.h
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NFPROTO_INET = 1;
const NLA_F_NESTED = 0x8000;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_TIMEOUT = 4;
const NFTA_DATA_VALUE = 1;

/** Netlink headers are in host order. */
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * One set element message with a blank key (and timeout, for an add): the
 * bytes every change of that kind and family shares, and where its
 * variable parts go. Built once; a change copies it and fills them in, so
 * the encoding is a few copies, not an attribute walk per packet.
 */
interface Template {
  bytes: Buffer;
  keyAt: number;
  timeoutAt: number;
}

function template(family: 4 | 6, add: boolean): Template {
  const keyLen = (family === 4 ? 4 : 16) + 8;
  const table = `${NFT_TABLE}\0`;
  const set = `grants${family}\0`;
  const pad = (n: number) => (n + 3) & ~3;
  const len = 20 + pad(4 + table.length) + pad(4 + set.length) + 12 + 4 + keyLen + (add ? 12 : 0);
  const b = Buffer.alloc(len);
  const u16 = (at: number, v: number) => (LE ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  if (LE) b.writeUInt32LE(len, 0);
  else b.writeUInt32BE(len, 0);
  u16(4, (NFNL_SUBSYS_NFTABLES << 8) | (add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM));
  u16(6, NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE : 0));
  b[16] = NFPROTO_INET;
  let at = 20;
  const attr = (type: number, size: number, text?: string) => {
    u16(at, 4 + size);
    u16(at + 2, type);
    if (text !== undefined) b.write(text, at + 4, 'latin1');
    const body = at + 4;
    at += pad(4 + size);
    return body;
  };
  const nest = (type: number, size: number) => {
    u16(at, 4 + size);
    u16(at + 2, type | NLA_F_NESTED);
    at += 4;
  };
  attr(NFTA_SET_ELEM_LIST_TABLE, table.length, table);
  attr(NFTA_SET_ELEM_LIST_SET, set.length, set);
  const elem = 4 + 4 + keyLen + (add ? 12 : 0);
  nest(NFTA_SET_ELEM_LIST_ELEMENTS, 4 + elem);
  nest(NFTA_LIST_ELEM, elem);
  nest(NFTA_SET_ELEM_KEY, 4 + keyLen);
  const keyAt = attr(NFTA_DATA_VALUE, keyLen);
  const timeoutAt = add ? attr(NFTA_SET_ELEM_TIMEOUT, 8) : -1;
  return { bytes: b, keyAt, timeoutAt };
}

const TEMPLATES = {
  4: { add: template(4, true), del: template(4, false) },
  6: { add: template(6, true), del: template(6, false) },
} as const;
const PROTO = { tcp: 6, udp: 17 } as const;

type Step = [t: Template, key: Uint8Array, timeoutMs: number];

/** The set key of one grant port (its layout: see the top of this file). */
function key(addr: Uint8Array, proto: keyof typeof PROTO, port: number): Uint8Array {
  const k = new Uint8Array(addr.length + 8);
  k.set(addr, 0);
  k[addr.length] = PROTO[proto];
  k[addr.length + 4] = port >> 8;
  k[addr.length + 5] = port & 0xff;
  return k;
}

function encode(steps: Step[]): Buffer {
  let len = 0;
  for (const [t] of steps) len += t.bytes.length;
  const out = Buffer.allocUnsafe(len);
  let at = 0;
  for (const [t, k, timeout] of steps) {
    t.bytes.copy(out, at);
    out.set(k, at + t.keyAt);
    if (t.timeoutAt >= 0) {
      // NLA_U64, network order, in ms; a grant's timeout is far below 2^53.
      out.writeUInt32BE(Math.floor(timeout / 0x100000000), at + t.timeoutAt);
      out.writeUInt32BE(timeout >>> 0, at + t.timeoutAt + 4);
    }
    at += t.bytes.length;
  }
  return out;
}

/**
 * The messages for one change, in the order the text lines give them:
 * the revoke (add with a 1 ms timeout, so the delete cannot fail, then
 * delete) before the open (add; for a refresh add, delete, add, since
 * before Linux 6.12 a plain re-add keeps the old expiry). Null when there
 * is nothing to send or an address does not parse (the caller then takes
 * the text path, which reports it).
 */
export function nftChangeMessages(
  change: { close?: Grant; open?: Grant; refresh?: boolean },
  now: number,
): Buffer | null {
  const steps: Step[] = [];
  if (change.close !== undefined) {
    const g = change.close;
    const addr = g.family === 4 ? parseIPv4(g.address) : parseIPv6(g.address);
    if (addr === null) return null;
    const t = TEMPLATES[g.family];
    for (const p of g.ports) {
      const k = key(addr, p.proto, p.port);
      steps.push([t.add, k, 1], [t.del, k, 0]);
    }
  }
  if (change.open !== undefined) {
    const g = change.open;
    const left = Math.ceil(g.expires - now);
    const addr = g.family === 4 ? parseIPv4(g.address) : parseIPv6(g.address);
    if (addr === null) return null;
    const t = TEMPLATES[g.family];
    for (const p of left > 0 ? g.ports : []) {
      const k = key(addr, p.proto, p.port);
      steps.push([t.add, k, left]);
      if (change.refresh ?? true) steps.push([t.del, k, 0], [t.add, k, left]);
    }
  }
  return steps.length === 0 ? null : encode(steps);
}
