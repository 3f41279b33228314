/** Walks over the attempt table's lists. Pure. */
import { NONE, type AttemptTable } from './attempts.js';
import type { Attempt } from './events.js';

/** The attempt table as a list, door by door (knockctl status; not on the packet path). */
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

/** The door whose oldest stage-1 attempt (list 2*door) is the oldest of all; -1 when none. */
export function oldestFreshDoor(t: AttemptTable, doors: number): number {
  let victim = -1;
  let oldest = NONE;
  for (let i = 0; i < doors; i++) {
    const first = t.head(2 * i);
    if (first !== NONE && (oldest === NONE || t.start(first) < t.start(oldest))) {
      oldest = first;
      victim = i;
    }
  }
  return victim;
}
