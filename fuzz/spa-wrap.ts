/**
 * The fuzzer's only doors into the SPA verifier, taking the UDP payload
 * bytes as the daemon receives them (src/daemon/spa-service.ts passes them
 * to evaluateSpa unchanged). If the verifier's payload type changes again,
 * this is the one place to edit.
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
  // Destination unknown: only DESTINATION ANY stanzas (the default) apply.
  return evaluateSpa(payload, src, [], stanzas, replay, now, c);
}

/** The verifier alone, on the payload as text (no trim, no length-first check): the strict view. */
export function decodeSpaBytes(payload: Uint8Array, keys: SpaKeys, c: SpaCrypto): SpaResult {
  return decodeSpa(latin1(payload), keys, c);
}
