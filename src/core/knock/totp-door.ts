/** A door's Sequence_* directives (time-based sequences), checked as a whole once the file is read. Pure. */
import type { Door } from '../config.js';
import { parseSeconds, SEQ_MAX } from './door-config.js';
import {
  checkTotpParams,
  parseBase32Secret,
  TOTP_DEFAULTS,
  weakTotpParams,
  type TotpParams,
} from './totp.js';

/**
 * Sequence_Secret and its parameters, in any order; the whole is checked
 * once the file is read (checkTotpDoor).
 */
export function applyTotpDirective(
  door: Door,
  key: string,
  value: string,
  line: number,
): string | null {
  const t = (door.totp ??= { secret: new Uint8Array(0), params: { ...TOTP_DEFAULTS }, line });
  const p = t.params as { -readonly [K in keyof TotpParams]: TotpParams[K] };
  if (key === 'SEQUENCE_SECRET') {
    const s = parseBase32Secret(value);
    if (typeof s === 'string') {
      t.badSecret = true; // reported here, not again as missing
      return `Sequence_Secret: ${s}`;
    }
    t.secret = s;
    t.line = line;
  } else if (key === 'SEQUENCE_LENGTH') {
    const n = parseSeconds('Sequence_Length', value, 1, SEQ_MAX);
    if (typeof n === 'string') return n.replace('a whole number of seconds', 'a whole number');
    p.length = n;
  } else if (key === 'SEQUENCE_STEP') {
    const n = parseSeconds('Sequence_Step', value, 1, 86_400);
    if (typeof n === 'string') return n;
    p.stepSeconds = n;
  } else if (key === 'SEQUENCE_PORTS') {
    const m = /^(\d{1,5})-(\d{1,5})$/.exec(value);
    if (m === null) return `Sequence_Ports must be LOW-HIGH (e.g. 10000-60000), got '${value}'`;
    p.portMin = Number(m[1]);
    p.portMax = Number(m[2]);
  } else {
    const a = value.toLowerCase().replace('-', '');
    if (a !== 'sha1' && a !== 'sha256' && a !== 'sha512')
      return `Sequence_Algorithm must be sha1, sha256 or sha512, got '${value}'`;
    p.alg = a;
  }
  return null;
}

/** A time-based door: a secret, usable parameters, and no fixed sequence beside it. */
export function checkTotpDoor(door: Door): string | null {
  const t = door.totp;
  if (t === undefined || t.badSecret === true) return null;
  if (t.secret.length === 0) return `door '${door.name}': Sequence_* needs a Sequence_Secret`;
  if (door.sequence.length > 0 || door.oneTimeSequences !== undefined)
    return `door '${door.name}': Sequence_Secret and a fixed Sequence or One_Time_Sequences exclude each other`;
  const bad = checkTotpParams(t.params) ?? weakTotpParams(t.params);
  return bad === null ? null : `door '${door.name}': ${bad}`;
}
