/** What the knock machine emits, and the address helpers its packet path uses. Pure. */
import type { Door, Knock } from '../config.js';
import { parseIPv4, parseIPv6 } from '../ip.js';
import { formatWords } from '../ip.js';
import type { Packet } from './decode.js';
import type { AttemptTable } from './attempts.js';

export interface Attempt {
  src: string;
  family: 4 | 6;
  /** Number of knocks matched so far (1-based stage of the last one). */
  stage: number;
  /** Time of the first knock, in ms. */
  start: number;
}

export type KnockEvent =
  | { kind: 'stage'; door: Door; src: string; stage: number }
  | { kind: 'open'; door: Door; doorIndex: number; src: string; family: 4 | 6 }
  | { kind: 'timeout'; door: Door; src: string; stage: number }
  /** Debug only: a wrong knock ended an attempt (knockd logs nothing). */
  | { kind: 'reset'; door: Door; src: string; stage: number }
  /** Debug only: a TCP knock whose flags do not match the door. */
  | { kind: 'flags'; door: Door; src: string }
  /** Debug only: a retransmission of the knock just matched. */
  | { kind: 'duplicate'; door: Door; src: string; stage: number }
  /** Debug only: the attempt table was full; `src` lost its stage-1 attempt (or never got one). */
  | { kind: 'evicted'; door: Door; src: string };

export type Emit = (e: KnockEvent) => void;

/**
 * What the machine emits: a KnockEvent whose `src` is formatted from the
 * address words on first read (then kept), so an event nobody prints costs
 * one small object and no string.
 */
export class LazyEvent {
  private text: string;
  constructor(
    readonly kind: KnockEvent['kind'],
    readonly door: Door,
    readonly doorIndex: number,
    readonly stage: number,
    readonly family: 4 | 6,
    text: string,
    private readonly w0: number,
    private readonly w1: number,
    private readonly w2: number,
    private readonly w3: number,
  ) {
    this.text = text;
  }

  get src(): string {
    if (this.text === '') this.text = formatWords(this.family, this.w0, this.w1, this.w2, this.w3);
    return this.text;
  }

  /** A number standing for the source (sourceKey). */
  get srcKey(): number {
    return sourceKey(this.family, this.text, this.w0, this.w1, this.w2, this.w3);
  }

  toJSON(): object {
    return { kind: this.kind, door: this.door, src: this.src, stage: this.stage };
  }
}

/**
 * A number standing for a source, for counting distinct sources without
 * formatting them: the IPv4 address itself, or a hash of the words (IPv6, or
 * an address known only as `text`, whose words are a hash of it).
 */
export function sourceKey(
  family: number,
  text: string,
  w0: number,
  w1: number,
  w2: number,
  w3: number,
): number {
  if (family === 4 && text === '') return w0;
  let h = Math.imul(w0 ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ w1 ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ w2 ^ (h >>> 13), 0x85ebca6b);
  return Math.imul(h ^ w3 ^ (h >>> 16), 0xc2b2ae35) ^ (h >>> 15);
}

/** An address as key words (kind 4 or 6), or kind -1 when the text is not an address. */
export function addressWords(text: string): { kind: number; w: Int32Array } {
  const w = new Int32Array(4);
  const b4 = parseIPv4(text);
  if (b4 !== null) {
    w[0] = (b4[0]! << 24) | (b4[1]! << 16) | (b4[2]! << 8) | b4[3]!;
    return { kind: 4, w };
  }
  const b6 = parseIPv6(text);
  if (b6 === null) return { kind: -1, w };
  for (let i = 0; i < 4; i++)
    w[i] = (b6[4 * i]! << 24) | (b6[4 * i + 1]! << 16) | (b6[4 * i + 2]! << 8) | b6[4 * i + 3]!;
  return { kind: 6, w };
}

export function sameDst(kind: number, w: Int32Array, pkt: Packet): boolean {
  return (
    kind === pkt.family &&
    w[0] === pkt.d0 &&
    (kind === 4 || (w[1] === pkt.d1 && w[2] === pkt.d2 && w[3] === pkt.d3))
  );
}

export function matches(k: Knock | undefined, pkt: Packet): boolean {
  return k !== undefined && k.port === pkt.dport && k.proto === pkt.proto;
}

/** Seeds the index hash; it moves attempts within the index, never changes what happens. */
export function randomSeed(): number {
  return (Math.random() * 0x100000000) | 0;
}

/** An event about attempt slot `a` of `t` (its address, not the packet's). */
export function slotEvent(
  t: AttemptTable,
  kind: KnockEvent['kind'],
  door: Door,
  i: number,
  a: number,
): KnockEvent {
  // A LazyEvent has every field of its kind's variant.
  return new LazyEvent(
    kind,
    door,
    i,
    t.stage(a),
    t.family(a),
    t.texts[a] as string,
    t.key(a, 0),
    t.key(a, 1),
    t.key(a, 2),
    t.key(a, 3),
  ) as unknown as KnockEvent;
}
