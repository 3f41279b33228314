/**
 * Warms the SPA verifier when SPA is configured. Without it the first packet
 * after a start or a reload pays V8's lazy compilation of the verifier and
 * node:crypto's first use of each algorithm: 4-6 ms measured, against
 * 0.4-0.6 ms for the packets after it (docs/performance.md, SPA-to-open).
 * One packet per kind of stanza (mode, HMAC digest) is built with that
 * stanza's keys and run through the whole policy, against the configured
 * stanzas themselves, from an address the stanza admits, with a replay cache
 * of its own: the daemon's replay cache, grants, counters and log are not
 * touched, and a failure here only means a colder first packet.
 *
 * The real stanza objects, not edited copies: V8 optimises the verifier for
 * the objects it has seen, and a copy with other properties (the warm-up
 * used to widen SOURCE and delete OPEN_PORTS on one) has another shape, so
 * the first real packet threw the optimised code away ("wrong map").
 *
 * A packet now and then never makes V8 optimise the verifier, so it would
 * run as baseline code, its working set cold after idle. The first kind's
 * packet runs WARM_ROUNDS times at once (later kinds a quarter as often),
 * then, if the caller asks, BACKGROUND_ROUNDS more in slices between other
 * work, until V8 has optimised it: a packet after idle then verified in
 * about 0.21 ms instead of 0.33 (in process, measured in docs/performance.md).
 */
import { encodeSpa, type SpaCrypto } from '../core/spa/spa.js';
import { evaluateSpa, ReplayCache } from '../core/spa/policy.js';
import type { Stanza } from '../core/spa/access.js';
import type { Cidr } from '../core/spa/cidr.js';
import { formatIPv4, formatIPv6 } from '../core/ip.js';
import type { PortSpec } from '../core/port.js';

/** Kinds of stanza warmed at most: each costs a few ms once per (re)configuration. */
const MAX_KINDS = 4;
/** Runs of the first kind's packet at once; later kinds share most of the code and run a quarter as many. */
export const WARM_ROUNDS = 64;
/** Runs after those, in the background, of the first kind's packet. */
export const BACKGROUND_ROUNDS = 1024;
/** Runs per background slice at most. */
const SLICE = 32;
/**
 * A background slice stops after this many ms, so packets wait no longer;
 * and the background rounds stop for good when one round alone takes longer
 * three times (hundreds of stanzas before the warmed one: each round tries
 * their HMACs; once could be a pause for garbage collection).
 */
const SLICE_MS = 4;
/** The rounds at configure time stop after this many ms (each kind still verifies once). */
const AT_ONCE_MS = 50;

/** One packet the verifier can run again and again. */
interface Warm {
  pkt: Uint8Array;
  src: string;
  dst: string;
}

/** An address in the list: the first entry's own address (a CIDR holds it whatever its host bits). */
function addressOf(list: Cidr[] | 'any'): string | undefined {
  if (list === 'any') return '127.0.0.1';
  const c = list[0];
  if (c === undefined) return undefined;
  return c.family === 4 ? formatIPv4(c.addr, 0) : formatIPv6(c.addr, 0);
}

/** A port the stanza grants: its first OPEN_PORTS entry, or one RESTRICT_PORTS leaves. */
function portFor(s: Stanza): PortSpec | undefined {
  if (s.openPorts !== undefined) return s.openPorts[0];
  for (const proto of ['tcp', 'udp'] as const) {
    const taken = new Set(s.restrictPorts.filter((r) => r.proto === proto).map((r) => r.port));
    for (let port = 1; port < 65536; port++) if (!taken.has(port)) return { proto, port };
  }
  return undefined;
}

function packetFor(s: Stanza, c: SpaCrypto, now: number): Warm | undefined {
  const src = addressOf(s.sources);
  const dst = addressOf(s.destinations);
  const port = portFor(s);
  if (s.encKey === undefined || src === undefined || dst === undefined || port === undefined)
    return undefined;
  const keys = {
    encKey: s.encKey,
    ...(s.hmacKey === undefined ? {} : { hmacKey: s.hmacKey }),
    hmacAlg: s.hmacAlg,
    mode: s.mode,
  };
  const m = {
    user: s.requireUsername ?? 'warm',
    timestamp: now,
    // The message carries an IPv4 address; 0.0.0.0 asks for the packet's source.
    allowIp: src.includes(':') ? '0.0.0.0' : src,
    access: [port],
  };
  return { pkt: new TextEncoder().encode(encodeSpa(m, keys, c)), src, dst };
}

/**
 * Returns how many kinds were warmed with a packet that verified (for
 * tests), and the background rounds still to run, if any: each call of
 * `more()` runs one slice and says whether another is due.
 * @param clock milliseconds, for the time bounds only (SLICE_MS, AT_ONCE_MS).
 */
export function warmVerifier(
  stanzas: readonly Stanza[],
  c: SpaCrypto,
  nowSeconds: number,
  clock: () => number,
): { verified: number; more?: () => boolean } {
  const kinds = new Set<string>();
  let verified = 0;
  let first: Warm | undefined;
  /**
   * Runs `w` up to `rounds` times, until the clock passes `until`; gives the
   * rounds run, or -1 as soon as one does not verify.
   */
  const run = (w: Warm, rounds: number, until: number): number => {
    let r = 0;
    while (r < rounds) {
      // A fresh replay cache each round: the same packet runs the whole path again.
      const d = evaluateSpa(w.pkt, w.src, w.dst, stanzas, new ReplayCache(), nowSeconds, c);
      if (!d.ok) return -1;
      r++;
      if (clock() > until) break;
    }
    return r;
  };
  const atOnce = clock() + AT_ONCE_MS;
  for (const s of stanzas) {
    if (s.encKey === undefined || kinds.size >= MAX_KINDS) continue;
    const kind = `${s.mode} ${s.hmacKey === undefined ? '-' : s.hmacAlg}`;
    if (kinds.has(kind)) continue;
    kinds.add(kind);
    try {
      const w = packetFor(s, c, nowSeconds);
      if (w === undefined || run(w, 1, Infinity) < 0) continue;
      verified++;
      const rest = (kinds.size === 1 ? WARM_ROUNDS : WARM_ROUNDS / 4) - 1;
      if (run(w, rest, atOnce) >= 0 && verified === 1) first = w;
    } catch {
      // Nothing depends on the warm-up.
    }
  }
  if (first === undefined) return { verified };
  const w = first;
  let left = BACKGROUND_ROUNDS;
  let slow = 0;
  const more = (): boolean => {
    const start = clock();
    try {
      const n = run(w, Math.min(SLICE, left), start + SLICE_MS);
      if (n === 1 && left > 1 && clock() - start > SLICE_MS) slow++;
      left = n < 0 || slow >= 3 ? 0 : left - n;
    } catch {
      left = 0;
    }
    return left > 0;
  };
  return { verified, more };
}
