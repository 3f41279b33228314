/**
 * The SPA verifier's code (the policy, the warm-up, the GPG path), imported
 * on demand: a configuration without SPA never loads it. The daemon imports
 * it at its first configuration with SPA on, and `knockd --check` imports it
 * too, so an install that lacks it fails the check instead of the start.
 */
import { KnockError } from '../core/errors.js';

export interface VerifierModules {
  evaluateSpa: typeof import('../core/spa/policy.js').evaluateSpa;
  warmVerifier: typeof import('./spa-warm.js').warmVerifier;
  GpgRuns: typeof import('./spa-gpg.js').GpgRuns;
}

/** Rejects with an E_SPA KnockError that carries the import's own message. */
export async function importVerifier(): Promise<VerifierModules> {
  const [{ evaluateSpa }, { warmVerifier }, { GpgRuns }] = await Promise.all([
    import('../core/spa/policy.js'),
    import('./spa-warm.js'),
    import('./spa-gpg.js'),
  ]).catch((e: unknown) => {
    // A broken install: reported like any SPA start-up failure, with its cause.
    throw new KnockError('E_SPA', `SPA: cannot load the verifier: ${(e as Error).message}`);
  });
  return { evaluateSpa, warmVerifier, GpgRuns };
}
