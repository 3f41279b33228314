/**
 * Warms the SPA verifier when SPA is configured. Without it the first packet
 * after a start or a reload pays V8's lazy compilation of the verifier and
 * node:crypto's first use of each algorithm: 4-6 ms measured, against
 * 0.4-0.6 ms for the packets after it (docs/performance.md, SPA-to-open).
 * One packet per kind of stanza (mode, HMAC digest) is built with that
 * stanza's keys and run through the whole policy against a copy of the
 * stanza that any address may use, with a replay cache of its own: the
 * daemon's replay cache, grants, counters and log are not touched, and a
 * failure here only means a colder first packet.
 *
 * The packet runs WARM_ROUNDS times, not once: a packet now and then never
 * makes V8 optimise the verifier, so each one ran its byte loops in the
 * interpreter (0.4-0.6 ms a packet, spaced 0.3-4 s apart); after 64 rounds
 * at start-up they take 0.2-0.25 ms, and stay there after seconds of idle
 * (measured with packets 0.3 s and 4 s apart). The rounds cost 20-40 ms of
 * CPU once per start or reload.
 */
import { encodeSpa, type SpaCrypto } from '../core/spa/spa.js';
import { evaluateSpa, ReplayCache } from '../core/spa/policy.js';
import type { Stanza } from '../core/spa/access.js';

/** Kinds of stanza warmed at most: each costs a few ms once per (re)configuration. */
const MAX_KINDS = 4;
/** Runs of the first kind's packet; later kinds share most of the code and run a quarter as many. */
export const WARM_ROUNDS = 64;

/** Returns how many kinds were warmed with a packet that verified (for tests). */
export function warmVerifier(stanzas: readonly Stanza[], c: SpaCrypto, nowSeconds: number): number {
  const kinds = new Set<string>();
  let verified = 0;
  for (const s of stanzas) {
    if (s.encKey === undefined || kinds.size >= MAX_KINDS) continue;
    const kind = `${s.mode} ${s.hmacKey === undefined ? '-' : s.hmacAlg}`;
    if (kinds.has(kind)) continue;
    kinds.add(kind);
    const keys = {
      encKey: s.encKey,
      ...(s.hmacKey === undefined ? {} : { hmacKey: s.hmacKey }),
      hmacAlg: s.hmacAlg,
      mode: s.mode,
    };
    try {
      const access = [{ proto: 'tcp' as const, port: 1 }];
      const m = { user: 'warm', timestamp: nowSeconds, allowIp: '127.0.0.1', access };
      const pkt = new TextEncoder().encode(encodeSpa(m, keys, c));
      const open: Stanza = { ...s, sources: 'any', destinations: 'any', restrictPorts: [] };
      delete open.openPorts;
      delete open.accessExpire;
      delete open.requireUsername;
      const rounds = kinds.size === 1 ? WARM_ROUNDS : WARM_ROUNDS / 4;
      for (let r = 0; r < rounds; r++) {
        // A fresh replay cache each round: the same packet runs the whole path again.
        const d = evaluateSpa(
          pkt,
          '127.0.0.1',
          '127.0.0.1',
          [open],
          new ReplayCache(),
          nowSeconds,
          c,
        );
        if (!d.ok) break;
        if (r === 0) verified++;
      }
    } catch {
      // Nothing depends on the warm-up.
    }
  }
  return verified;
}
