/** Opening the fleet of [options], with its password file. */
import fs from 'node:fs';
import os from 'node:os';
import type { FleetOptions } from '../core/config.js';
import type { Clock, Logger } from '../daemon/ports.js';
import { RedisFleet } from './fleet.js';

/**
 * The fleet of [options]: reads Fleet_Password_File (one line: `password`
 * or `username password`; it must not be readable by group or others).
 * Fleet_CA is read too (PEM). Throws with the file's name when either cannot be used.
 */
export function openFleet(o: FleetOptions, logger: Logger, now: Clock): RedisFleet {
  let auth: { username?: string; password?: string } = {};
  if (o.passwordFile !== undefined) {
    let text: string;
    try {
      const st = fs.statSync(o.passwordFile);
      if ((st.mode & 0o077) !== 0)
        throw new Error(`mode ${(st.mode & 0o777).toString(8)} lets others read it; chmod 600`);
      text = fs.readFileSync(o.passwordFile, 'utf8').trim();
    } catch (e) {
      throw new Error(`Fleet_Password_File '${o.passwordFile}': ${(e as Error).message}`);
    }
    const parts = text.split(/\s+/);
    auth =
      parts.length >= 2
        ? { username: parts[0] as string, password: parts.slice(1).join(' ') }
        : { password: text };
  }
  let ca: string | undefined;
  if (o.ca !== undefined) {
    try {
      ca = fs.readFileSync(o.ca.path, 'utf8');
      if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    } catch (e) {
      throw new Error(`Fleet_CA '${o.ca.path}': ${(e as Error).message}`);
    }
  }
  return new RedisFleet({
    url: o.url,
    ...(ca === undefined ? {} : { ca }),
    group: o.name,
    host: o.host ?? os.hostname(),
    ...auth,
    logger,
    now,
  });
}
