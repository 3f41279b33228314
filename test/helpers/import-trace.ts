/**
 * Records every module a process loads, for tests about what a command
 * loads. `node --import <this file>`: on the main thread it registers itself
 * as module hooks; in the hooks thread its `resolve` appends each resolved
 * URL, one per line, to the file named by IMPORT_TRACE.
 */
import fs from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

type Resolved = { url: string };
type NextResolve = (specifier: string, context: unknown) => Promise<Resolved>;

if (isMainThread) register(import.meta.url);

export async function resolve(
  specifier: string,
  context: unknown,
  next: NextResolve,
): Promise<Resolved> {
  const r = await next(specifier, context);
  const out = process.env.IMPORT_TRACE;
  if (out !== undefined) fs.appendFileSync(out, `${r.url}\n`);
  return r;
}
