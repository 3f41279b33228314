/** Bytes and fwknop's base64 (no '=' padding), with no regex on packet data. Pure. */

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Character code to 6-bit value, -1 outside the alphabet. */
const B64_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < B64.length; i++) B64_VALUE[B64.charCodeAt(i)] = i;
export const b64value = (code: number): number => (code < 256 ? (B64_VALUE[code] ?? -1) : -1);

/** Standard base64 with every '=' removed, as fwknop writes it. */
export function b64nopad(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = ((b[i] ?? 0) << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    out += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]!;
    if (i + 1 < b.length) out += B64[(n >> 6) & 63]!;
    if (i + 2 < b.length) out += B64[n & 63]!;
  }
  return out;
}

/**
 * Lenient decode (stops at '=', padding optional), as fwknop decodes its
 * keys; null on a character outside the alphabet. For trusted text only
 * (access.conf keys): several texts decode to the same bytes.
 */
export function b64decode(s: string): Uint8Array | null {
  const eq = s.indexOf('=');
  const b = asciiOrNull(eq < 0 ? s : s.slice(0, eq));
  return b === null ? null : decodeBits(b, false);
}

/**
 * Strict decode of packet data: unpadded standard base64 exactly as fwknop
 * writes it, so that one byte string has exactly one text. Rejects '=' and
 * anything after it, a length that is 1 mod 4, and non-zero bits left over
 * in the last character.
 */
export function b64decodeCanonical(s: string): Uint8Array | null {
  const b = asciiOrNull(s);
  return b === null ? null : decodeBits(b, true);
}

/** b64decodeCanonical of text held as its ASCII bytes (the packet as received). */
export function b64decodeCanonicalBytes(b: Uint8Array): Uint8Array | null {
  return decodeBits(b, true);
}

function decodeBits(t: Uint8Array, strict: boolean): Uint8Array | null {
  if (t.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((t.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < t.length; i++) {
    const v = B64_VALUE[t[i]!]!;
    if (v < 0) return null;
    acc = ((acc << 6) | v) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  // Leftover bits (2 or 4) belong to no byte; canonical text has them zero.
  if (strict && (acc & ((1 << bits) - 1)) !== 0) return null;
  return out.subarray(0, o);
}

/** The bytes of ASCII text; null when a character is outside ASCII (never base64). */
export function asciiOrNull(s: string): Uint8Array | null {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch > 0x7f) return null;
    out[i] = ch;
  }
  return out;
}

// Plain loops: these run on every packet, and the iterator and spread forms
// cost about ten times as much for a 1500-byte packet.
export function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** Latin-1 text of bytes: one call per 4 KiB (an argument list stays small), no string per byte. */
export function text(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i += 4096)
    out += String.fromCharCode.apply(null, b.subarray(i, i + 4096) as unknown as number[]);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
