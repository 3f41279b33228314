/**
 * One command run, logged as knockd logs it ("running command", a non-zero
 * exit status) plus what knockd does not say (could not start, timed out and
 * killed, killed by a signal), and counted. Never rejects.
 */
import { MSG } from '../core/logfmt.js';
import type { Logger, RunResult } from './ports.js';

export interface RunCounters {
  run: number;
  failed: number;
  killed: number;
}

export async function runLogged(
  logger: Logger,
  ran: RunCounters,
  door: string,
  cmd: string,
  run: () => Promise<RunResult>,
): Promise<void> {
  logger.log(MSG.running(door, cmd));
  ran.run++;
  let r;
  try {
    r = await run();
  } catch (e) {
    ran.failed++;
    logger.log(`${door}: command could not start: ${(e as Error).message}`);
    return;
  }
  if (r.timedOut) {
    ran.killed++;
    logger.log(`${door}: command timed out and was killed: ${cmd}`);
  } else if (r.code === null) {
    ran.killed++;
    logger.log(`${door}: command killed by signal ${r.signal ?? '?'}`);
  } else if (r.code !== 0) {
    ran.failed++;
    logger.log(MSG.nonZero(door, r.code));
  }
}
