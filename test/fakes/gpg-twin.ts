/** In-memory twin of SpaGpg: answers from a table, counts runs, can hold them. */
import type { GpgRequest, GpgResult, SpaGpg } from '../../src/daemon/ports.js';

const key = (b: Uint8Array) => Buffer.from(b).toString('hex');

export class MemoryGpg implements SpaGpg {
  readonly requests: GpgRequest[] = [];
  private readonly answers = new Map<string, GpgResult>();
  /** Runs waiting for `release` while `hold` is set. */
  readonly held: (() => void)[] = [];
  hold = false;

  /** What gpg reports for this ciphertext. */
  answer(ciphertext: Uint8Array, r: GpgResult): void {
    this.answers.set(key(ciphertext), r);
  }

  decrypt(req: GpgRequest): Promise<GpgResult> {
    this.requests.push(req);
    const r = this.answers.get(key(req.ciphertext)) ?? { ok: false, reason: 'no such packet' };
    if (!this.hold) return Promise.resolve(r);
    return new Promise((resolve) => this.held.push(() => resolve(r)));
  }

  release(): void {
    for (const f of this.held.splice(0)) f();
  }
}
