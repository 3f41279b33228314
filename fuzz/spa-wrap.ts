/**
 * The fuzzer's only doors into the SPA verifier, taking the UDP payload
 * bytes as the daemon receives them. evaluateSpa takes text today; when it
 * takes the payload bytes, `evalSpa` becomes a one-line pass-through (and
 * the trailing-whitespace trim below, which mirrors src/daemon/daemon.ts,
 * moves with it).
 */
import { evaluateSpa, type ReplayCache, type SpaDecision } from '../src/core/spa/policy.js';
import { decodeSpa, type SpaCrypto, type SpaKeys, type SpaResult } from '../src/core/spa/spa.js';
import type { Stanza } from '../src/core/spa/access.js';

export function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode(...b.subarray(i, i + 4096));
  return s;
}

/** The daemon's packet path: payload bytes in, decision out. */
export function evalSpa(
  payload: Uint8Array,
  src: string,
  stanzas: readonly Stanza[],
  replay: ReplayCache,
  now: number,
  c: SpaCrypto,
): SpaDecision {
  return evaluateSpa(latin1(payload).replace(/\s+$/, ''), src, stanzas, replay, now, c);
}

/** The verifier alone, without the daemon's trim: the strict view of one payload. */
export function decodeSpaBytes(payload: Uint8Array, keys: SpaKeys, c: SpaCrypto): SpaResult {
  return decodeSpa(latin1(payload), keys, c);
}
