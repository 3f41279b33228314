/**
 * GPG SPA packets at run time: the gpg runs a packet that passed its HMAC
 * needs, bounded. A GPG packet costs a process, so:
 * - at most MAX_GPG_RUNNING packets are with gpg at once; the rest are
 *   dropped (and counted by the caller), so a flood spawns nothing more;
 * - a ciphertext already decrypted (its digest burned), refused for its
 *   signer, or with gpg right now is a replay and costs nothing;
 * - one packet runs gpg once per distinct (gpg, keyring, passphrase), one
 *   run after another, however many stanzas it passed the HMAC of.
 */
import { admitGpg, type GpgOutput } from '../core/spa/policy-gpg.js';
import type { Burned, GpgPending, ReplayCache, SpaDecision } from '../core/spa/policy.js';
import type { SpaCrypto } from '../core/spa/spa.js';
import type { Stanza } from '../core/spa/stanza.js';
import type { GpgResult, SpaGpg } from './ports.js';

export const MAX_GPG_RUNNING = 4;
/**
 * Ciphertexts refused for their signer, remembered so that a copy costs no
 * process. Apart from the replay cache, which fails closed when full and so
 * holds key holders' packets only: anyone with the HMAC key can make these
 * (the server's key is public). The oldest is forgotten first; a forgotten
 * one sent again costs a run and is refused again.
 */
export const MAX_GPG_REFUSED = 4096;

export class GpgRuns {
  private running = 0;
  /** Ciphertext digests with gpg now. */
  private readonly inflight = new Set<string>();
  /** Ciphertext digests refused for their signer, oldest first. */
  private readonly refused = new Set<string>();

  constructor(
    private readonly gpg: SpaGpg,
    private readonly crypto: SpaCrypto,
    private readonly max = MAX_GPG_RUNNING,
  ) {}

  get active(): number {
    return this.running;
  }

  /**
   * Decides a GPG packet: a rejection at once when it is refused before gpg
   * runs, otherwise the decision once gpg has spoken. Never rejects.
   */
  decide(
    p: GpgPending,
    stanzas: readonly Stanza[],
    replay: ReplayCache,
    now: number,
    fallback: string,
  ): SpaDecision | Promise<SpaDecision> {
    if (this.inflight.has(p.digest)) return { ok: false, reason: 'replayed packet (with gpg now)' };
    if (this.refused.has(p.digest)) return { ok: false, reason: 'replayed packet' };
    if (this.running >= this.max)
      return { ok: false, reason: `GPG busy (${this.max} packets with gpg): dropped` };
    this.running++;
    this.inflight.add(p.digest);
    return this.tries(p, stanzas, replay, now, fallback).finally(() => {
      this.running--;
      this.inflight.delete(p.digest);
    });
  }

  private async tries(
    p: GpgPending,
    stanzas: readonly Stanza[],
    replay: ReplayCache,
    now: number,
    fallback: string,
  ): Promise<SpaDecision> {
    const runs = new Map<string, Promise<GpgResult>>();
    const burned: Burned = {};
    let last = fallback;
    let bySigner = false;
    for (const t of p.tries) {
      const g = stanzas[t.stanza]?.gpg;
      if (g === undefined) continue;
      const key = JSON.stringify([g.exe, g.homeDir, g.passphrase ?? null]);
      let run = runs.get(key);
      if (run === undefined) {
        run = this.gpg.decrypt({
          exe: g.exe,
          homeDir: g.homeDir,
          ...(g.passphrase === undefined ? {} : { passphrase: g.passphrase }),
          ciphertext: t.ciphertext,
        });
        runs.set(key, run);
      }
      const r = await run;
      if (!r.ok) {
        last = r.reason;
        continue;
      }
      const out: GpgOutput = { status: r.status, plaintext: r.plaintext };
      const d = admitGpg(p, t, out, stanzas, replay, now, this.crypto, burned);
      if (!('skip' in d)) return d;
      last = d.skip;
      bySigner ||= d.signer === true;
    }
    if (bySigner && !replay.has(p.digest)) {
      this.refused.add(p.digest);
      for (const old of this.refused) {
        if (this.refused.size <= MAX_GPG_REFUSED) break;
        this.refused.delete(old);
      }
    }
    return { ok: false, reason: last };
  }
}
