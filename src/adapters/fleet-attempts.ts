/**
 * Shared attempts on Redis: one EVALSHA of the step script per knock
 * (defined once with defineCommand; ioredis sends EVAL the first time on a
 * connection and EVALSHA after), a batch per pipeline. What comes back is
 * untrusted: anything but an integer stage in [0, length] counts as 0.
 */
import type { Redis } from 'ioredis';
import { STEP_LUA } from '../daemon/fleet-attempt-script.js';
import type { FleetAttemptStore, FleetKnock } from '../daemon/ports.js';

type Stepper = {
  knockdStep(key: string, token: string, timeoutMs: number, ...sequence: string[]): unknown;
};

export class RedisAttempts implements FleetAttemptStore {
  constructor(
    private readonly cmd: Redis,
    /** The key of (source, door)'s attempt. */
    private readonly key: (source: string, door: string) => string,
    private readonly isConnected: () => boolean,
  ) {
    cmd.defineCommand('knockdStep', { numberOfKeys: 1, lua: STEP_LUA });
  }

  get connected(): boolean {
    return this.isConnected();
  }

  async step(knocks: readonly FleetKnock[]): Promise<number[]> {
    const pipe = this.cmd.pipeline();
    const p = pipe as unknown as Stepper;
    for (const k of knocks)
      p.knockdStep(this.key(k.source, k.door), k.token, k.timeoutMs, ...k.sequence);
    const res = (await pipe.exec()) ?? [];
    const err = res.find(([e]) => e !== null)?.[0];
    if (err) throw err;
    return knocks.map((k, i) => {
      const v = res[i]?.[1];
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= k.sequence.length
        ? v
        : 0;
    });
  }
}
