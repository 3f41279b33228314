/**
 * The control protocol: one JSON object per line each way. Requests are
 * validated here, so the daemon only ever sees well-formed ones: addresses
 * in canonical text (canonicalIP, the form grants and journal use), door
 * names non-empty, and only the fields of the command.
 */
import { canonicalIP } from './ip.js';

export type ControlRequest =
  | { cmd: 'status' }
  | { cmd: 'grants'; fleet?: true }
  | { cmd: 'revoke'; address: string; door?: string }
  | { cmd: 'grant'; address: string; door: string };

export const MAX_REQUEST_BYTES = 4096;

export function parseRequest(line: string): ControlRequest | { error: string } {
  if (line.length > MAX_REQUEST_BYTES) return { error: 'request too long' };
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { error: 'request is not JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { error: 'request is not an object' };
  const r = raw as Record<string, unknown>;
  const addr = () => {
    if (typeof r.address !== 'string') return null;
    return canonicalIP(r.address)?.text ?? null;
  };
  const isDoor = (v: unknown): v is string => typeof v === 'string' && v !== '';
  switch (r.cmd) {
    case 'status':
      return { cmd: r.cmd };
    case 'grants':
      // fleet: the group's grants from Redis (knockctl grants --fleet).
      if (r.fleet !== undefined && r.fleet !== true)
        return { error: `fleet must be true, got ${JSON.stringify(r.fleet)}` };
      return r.fleet === true ? { cmd: 'grants', fleet: true } : { cmd: 'grants' };
    case 'revoke': {
      const a = addr();
      if (a === null)
        return { error: `revoke needs an IP address, got ${JSON.stringify(r.address)}` };
      if (r.door !== undefined && !isDoor(r.door))
        return { error: `door must be a door name, got ${JSON.stringify(r.door)}` };
      return isDoor(r.door)
        ? { cmd: 'revoke', address: a, door: r.door }
        : { cmd: 'revoke', address: a };
    }
    case 'grant': {
      const a = addr();
      if (a === null)
        return { error: `grant needs an IP address, got ${JSON.stringify(r.address)}` };
      if (!isDoor(r.door))
        return { error: `grant needs a door name, got ${JSON.stringify(r.door) ?? 'none'}` };
      return { cmd: 'grant', address: a, door: r.door };
    }
    default:
      return { error: `unknown command ${JSON.stringify(r.cmd)}` };
  }
}
