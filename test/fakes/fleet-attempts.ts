/** The group's attempt table in memory: the step script's TypeScript twin with TTL deadlines. */
import { stepAttempt, storedAfter } from '../../src/daemon/fleet-attempt-script.js';
import type { FleetAttemptStore, FleetKnock } from '../../src/daemon/ports.js';

export class MemoryAttemptStore implements FleetAttemptStore {
  readonly stages = new Map<string, { stage: number; deadline: number }>();
  connected = true;
  /** Set to make steps fail (a Redis that refuses the script). */
  refuse: string | null = null;
  steps = 0;
  batches = 0;
  constructor(private readonly now: () => number) {}

  step(knocks: readonly FleetKnock[]): Promise<number[]> {
    if (!this.connected) return Promise.reject(new Error('fleet: Redis is unreachable'));
    if (this.refuse !== null) return Promise.reject(new Error(this.refuse));
    this.batches++;
    const now = this.now();
    return Promise.resolve(
      knocks.map((k) => {
        this.steps++;
        const key = `${k.source}/${k.door}`;
        const e = this.stages.get(key);
        const stored = e !== undefined && e.deadline > now ? e.stage : 0;
        const s = stepAttempt(stored, k.token, k.sequence);
        const keep = storedAfter(s, k.sequence.length);
        if (keep === null) this.stages.delete(key);
        // The TTL starts with a new stage 1 and is kept while the attempt advances.
        else if (s === 1 && stored !== 1)
          this.stages.set(key, { stage: 1, deadline: now + k.timeoutMs });
        else if (e !== undefined) this.stages.set(key, { stage: keep, deadline: e.deadline });
        return s;
      }),
    );
  }
}
