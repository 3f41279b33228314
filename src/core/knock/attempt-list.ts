/** The attempt table as a list, door by door (knockctl status). Pure; not on the packet path. */
import { NONE, type AttemptTable } from './attempts.js';
import type { Attempt } from './events.js';

export function listAttempts(
  t: AttemptTable,
  doorNames: readonly string[],
): { door: string; attempt: Attempt }[] {
  const out: { door: string; attempt: Attempt }[] = [];
  doorNames.forEach((door, i) => {
    // Stage-1 attempts first (creation order), then the ones further along.
    for (const l of [2 * i, 2 * i + 1])
      for (let a = t.head(l); a !== NONE; a = t.next(a))
        out.push({
          door,
          attempt: { src: t.textOf(a), family: t.family(a), stage: t.stage(a), start: t.start(a) },
        });
  });
  return out;
}
