/**
 * Time-based knock sequences, shared by the client and the daemon so both
 * compute the same ports: RFC 6238's HMAC step (HMAC over the 8-byte
 * big-endian step counter, step 30 s by default) whose output is read as
 * 16-bit big-endian draws, each mapped into the port range by rejection
 * sampling. A draw in the incomplete top bucket (v >= 65536 - 65536 % n) is
 * rejected instead of being reduced modulo n, so every port of the range is
 * exactly equally likely; a port already in the sequence is rejected too,
 * because a repeat of the knock just matched is ignored by the daemon.
 * When the first HMAC runs out of draws, further output is
 * HMAC(secret, counter || block) for block = 1, 2, ...
 * Pure: the HMAC primitive and the clock are inputs.
 */
import { base32 } from 'rfc4648';
import type { PortSpec, Proto } from '../port.js';
import { isPort } from '../port.js';

export type TotpAlg = 'sha1' | 'sha256' | 'sha512';

/** An HMAC primitive (node:crypto's in the adapters). */
export type TotpHmac = (alg: TotpAlg, key: Uint8Array, data: Uint8Array) => Uint8Array;

export interface TotpParams {
  /** Sequence_Length: knocks per sequence, 1-32. */
  readonly length: number;
  /** The inclusive port range the knocks are drawn from. */
  readonly portMin: number;
  readonly portMax: number;
  readonly proto: Proto;
  readonly alg: TotpAlg;
  /** RFC 6238's X, the step in seconds. */
  readonly stepSeconds: number;
}

export const TOTP_DEFAULTS: TotpParams = {
  length: 3,
  portMin: 10000,
  portMax: 60000,
  proto: 'tcp',
  alg: 'sha1',
  stepSeconds: 30,
};

/** At most this many HMAC blocks per sequence; see checkTotpParams for why it is never reached. */
const MAX_BLOCKS = 256;

/**
 * Sequences must be at least this hard to guess: a blind guess costs its
 * knocks, and 2^40 guesses of 3 knocks take weeks at 2 M packets/s (the
 * default, 3 knocks from 10000-60000, has 46.8 bits; 2 knocks, 31 bits,
 * would take a scan about 20 minutes).
 */
export const MIN_SEQUENCE_BITS = 40;

/** log2 of the number of sequences: ordered, no port twice. */
export function sequenceBits(p: TotpParams): number {
  const n = p.portMax - p.portMin + 1;
  let bits = 0;
  for (let i = 0; i < p.length; i++) bits += Math.log2(n - i);
  return bits;
}

/** A door's parameters that a scan would beat, as a message; null when strong enough. */
export function weakTotpParams(p: TotpParams): string | null {
  const bits = sequenceBits(p);
  return bits >= MIN_SEQUENCE_BITS
    ? null
    : `${p.length} knocks from ${p.portMin}-${p.portMax} make ${bits.toFixed(1)} bits, fewer than ${MIN_SEQUENCE_BITS}: a scan would find the sequence (more knocks or a wider port range)`;
}

/**
 * Null when the parameters are usable, else a message. The range must hold
 * at least twice as many ports as the sequence has knocks, so each draw is
 * accepted with probability above 1/4 and MAX_BLOCKS (2,560 or more draws
 * for at most 32 knocks) is out of reach in practice. Strength is
 * weakTotpParams' to judge.
 */
export function checkTotpParams(p: TotpParams): string | null {
  if (!Number.isInteger(p.length) || p.length < 1 || p.length > 32)
    return `Sequence_Length ${p.length} is not 1-32`;
  if (!isPort(p.portMin) || !isPort(p.portMax) || p.portMin > p.portMax)
    return `port range ${p.portMin}-${p.portMax} is not within 1-65535`;
  if (p.portMax - p.portMin + 1 < 2 * p.length)
    return `port range ${p.portMin}-${p.portMax} is too small for ${p.length} knocks`;
  if (!Number.isInteger(p.stepSeconds) || p.stepSeconds < 1)
    return `TOTP step ${p.stepSeconds} is not a whole number of seconds`;
  if (!['sha1', 'sha256', 'sha512'].includes(p.alg)) return `unknown TOTP algorithm '${p.alg}'`;
  return null;
}

/** RFC 6238 T: the step index at `unixMs` (T0 = 0). */
export function stepIndex(unixMs: number, stepSeconds: number): number {
  return Math.floor(unixMs / 1000 / stepSeconds);
}

/** Seconds until the step after the one at `unixMs` begins. */
export function secondsLeft(unixMs: number, stepSeconds: number): number {
  return stepSeconds - ((unixMs / 1000) % stepSeconds);
}

function counterBytes(step: number, block: number): Uint8Array {
  const b = new Uint8Array(block === 0 ? 8 : 12);
  const v = new DataView(b.buffer);
  v.setUint32(0, Math.floor(step / 2 ** 32));
  v.setUint32(4, step >>> 0);
  if (block > 0) v.setUint32(8, block);
  return b;
}

/** RFC 6238 / RFC 4226: HMAC(secret, T as 8 bytes big-endian). */
export function totpHmac(hmac: TotpHmac, alg: TotpAlg, secret: Uint8Array, step: number) {
  return hmac(alg, secret, counterBytes(step, 0));
}

/** RFC 4226's dynamic truncation to a `digits`-digit code (for the RFC's test vectors). */
export function truncateCode(mac: Uint8Array, digits: number): string {
  const off = (mac[mac.length - 1] as number) & 0x0f;
  const bin =
    (((mac[off] as number) & 0x7f) << 24) |
    ((mac[off + 1] as number) << 16) |
    ((mac[off + 2] as number) << 8) |
    (mac[off + 3] as number);
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/**
 * One 16-bit draw mapped into `n` values (1 <= n <= 65536) without bias:
 * the offset 0..n-1, or null when the draw falls in the incomplete top
 * bucket and must be replaced by the next one.
 */
export function drawOffset(v: number, n: number): number | null {
  const limit = 65536 - (65536 % n);
  return v < limit ? v % n : null;
}

/**
 * The sequence for step `step`: `length` distinct ports of the range.
 * Throws on parameters checkTotpParams rejects.
 */
export function sequenceFor(
  secret: Uint8Array,
  step: number,
  p: TotpParams,
  hmac: TotpHmac,
): PortSpec[] {
  const bad = checkTotpParams(p);
  if (bad !== null) throw new Error(bad);
  const n = p.portMax - p.portMin + 1;
  const ports: number[] = [];
  for (let block = 0; ports.length < p.length; block++) {
    if (block >= MAX_BLOCKS) throw new Error('TOTP: HMAC output exhausted');
    const mac = hmac(p.alg, secret, counterBytes(step, block));
    for (let i = 0; i + 1 < mac.length && ports.length < p.length; i += 2) {
      const off = drawOffset(((mac[i] as number) << 8) | (mac[i + 1] as number), n);
      if (off === null) continue;
      const port = p.portMin + off;
      if (!ports.includes(port)) ports.push(port);
    }
  }
  return ports.map((port) => ({ proto: p.proto, port }));
}

/**
 * A base32 secret as authenticator apps show it (rfc4648's loose mode: lower
 * case, missing padding, 0/1 for O/L; blanks removed first). Returns the
 * bytes, or a message. RFC 4226 asks for at least 128 bits.
 */
export function parseBase32Secret(text: string): Uint8Array | string {
  let bytes: Uint8Array;
  try {
    bytes = base32.parse(text.replace(/\s+/g, ''), { loose: true });
  } catch {
    return 'TOTP secret is not base32';
  }
  if (bytes.length < 16) return `TOTP secret has ${bytes.length * 8} bits; need 128 or more`;
  return bytes;
}
