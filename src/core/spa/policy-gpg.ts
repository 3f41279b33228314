/**
 * The second half of a GPG packet's evaluation (the first is evaluateSpa):
 * what gpg reported for one stanza's try, through the stanza's signature
 * policy and the shared checks. Pure: gpg's output comes in as data.
 */
import { decryptionProblem, parseGpgStatus, signatureAgeProblem, signerProblem } from './gpg.js';
import {
  admit,
  type Burned,
  type GpgPending,
  type GpgTry,
  type ReplayCache,
  type SpaDecision,
} from './policy.js';
import { decodePlain, type SpaCrypto } from './spa.js';
import type { Stanza } from './stanza.js';

/** What one gpg run reported: its --status-fd text and what it wrote on stdout. */
export interface GpgOutput {
  status: string;
  plaintext: Uint8Array;
}

/**
 * One try's verdict. The ciphertext digest is burned once the signer passed
 * the stanza's policy (a replay then costs no process), never before: the
 * replay cache fails closed when full, so only a key holder may take room
 * in it. Anyone with the HMAC key can encrypt to the server's public key;
 * the daemon remembers those refusals apart, in a cache that forgets
 * (GpgRuns). `skip` sends the packet on to the next try, as fwknopd's
 * stanza loop does.
 */
export function admitGpg(
  p: GpgPending,
  t: GpgTry,
  out: GpgOutput,
  stanzas: readonly Stanza[],
  replay: ReplayCache,
  now: number,
  c: SpaCrypto,
  burned: Burned,
): SpaDecision | { skip: string; signer?: true } {
  const s = stanzas[t.stanza];
  if (s?.gpg === undefined) return { skip: 'stanza has no GPG settings' };
  const st = parseGpgStatus(out.status);
  const problem = decryptionProblem(st);
  if (problem !== null) return { skip: problem };
  const signer =
    signerProblem(s.gpg, st) ?? signatureAgeProblem(s.gpg, st, now, replay.windowSeconds);
  if (signer !== null) return { skip: signer, signer: true };
  const r = decodePlain(out.plaintext, c);
  const ts = r.ok ? r.message.timestamp : now;
  if (!replay.add(p.digest, ts + replay.windowSeconds, ts > now + replay.windowSeconds))
    return { ok: false, reason: 'replay cache full' };
  if (!r.ok) return { skip: r.reason };
  return admit(s, t.stanza, r.message, { source: p.source, dst: t.dst }, replay, now, c, burned);
}
