/**
 * What a verified SPA packet is allowed to do: fwknopd's policy pipeline
 * (first stanza that passes wins) plus a bounded replay cache. Pure: the
 * time is an argument and the result is a decision, logged by the daemon.
 */
import { samePort, type PortSpec } from '../port.js';
import { sourceMatches, type Stanza } from './access.js';
import { decodeSpa, precheck, b64nopad, type SpaCrypto } from './spa.js';

export const MAX_SPA_AGE = 120;

/**
 * Digests of accepted packets, each kept only as long as a packet with that
 * timestamp could still pass the age check: older ones are rejected anyway,
 * so the cache is bounded by the packet rate times twice the window.
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();

  constructor(private readonly window = MAX_SPA_AGE) {}

  has(digest: string): boolean {
    return this.seen.has(digest);
  }

  /** Remembers a digest until `until` (epoch seconds). */
  add(digest: string, until: number): void {
    this.seen.set(digest, until);
  }

  prune(now: number): void {
    for (const [d, until] of this.seen) if (until < now) this.seen.delete(d);
  }

  entries(): [string, number][] {
    return [...this.seen];
  }

  get size(): number {
    return this.seen.size;
  }

  get windowSeconds(): number {
    return this.window;
  }
}

export type SpaDecision =
  | {
      ok: true;
      address: string;
      ports: PortSpec[];
      seconds: number;
      stanza: number;
      user: string;
    }
  | { ok: false; reason: string };

/**
 * @param src the packet's source address; @param now epoch seconds.
 */
export function evaluateSpa(
  payload: string,
  src: string,
  stanzas: readonly Stanza[],
  replay: ReplayCache,
  now: number,
  c: SpaCrypto,
): SpaDecision {
  const pre = precheck(payload);
  if (pre !== null) return { ok: false, reason: pre };
  const candidates = stanzas.map((s, i) => ({ s, i })).filter(({ s }) => sourceMatches(s, src));
  if (candidates.length === 0)
    return { ok: false, reason: `no access.conf stanza for source ${src}` };
  const digest = b64nopad(c.hash('sha256', new TextEncoder().encode(payload)));
  if (replay.has(digest)) return { ok: false, reason: 'replayed packet' };
  let last = 'no stanza accepted the packet';
  for (const { s, i } of candidates) {
    if (s.accessExpire !== undefined && now > s.accessExpire) {
      last = `stanza at line ${s.line} has expired`;
      continue;
    }
    if (s.encKey === undefined) continue;
    const r = decodeSpa(
      payload,
      {
        encKey: s.encKey,
        ...(s.hmacKey === undefined ? {} : { hmacKey: s.hmacKey }),
        hmacAlg: s.hmacAlg,
        mode: s.mode,
      },
      c,
    );
    if (!r.ok) {
      last = r.reason;
      continue;
    }
    const m = r.message;
    // Authentic: burn it now, before the policy checks, as fwknopd does.
    replay.add(digest, m.timestamp + replay.windowSeconds);
    if (Math.abs(now - m.timestamp) > replay.windowSeconds)
      return { ok: false, reason: `packet is ${now - m.timestamp} s old` };
    if (m.allowIp === '0.0.0.0' && s.requireSourceAddress)
      return { ok: false, reason: '0.0.0.0 when REQUIRE_SOURCE_ADDRESS is set' };
    if (s.requireUsername !== undefined && m.user !== s.requireUsername) {
      last = `username '${m.user}' is not '${s.requireUsername}'`;
      continue;
    }
    if (m.type !== 1 && m.type !== 3) {
      last = `message type ${m.type} is not supported (access requests only)`;
      continue;
    }
    const restricted = m.access.find((a) => s.restrictPorts.some((r2) => samePort(r2, a)));
    if (restricted !== undefined) {
      last = `${restricted.proto}/${restricted.port} is in RESTRICT_PORTS`;
      continue;
    }
    const open = s.openPorts;
    const outside =
      open === undefined ? undefined : m.access.find((a) => !open.some((o) => samePort(o, a)));
    if (outside !== undefined) {
      last = `${outside.proto}/${outside.port} is not in OPEN_PORTS`;
      continue;
    }
    const seconds =
      m.timeout !== undefined && m.timeout > 0
        ? Math.min(m.timeout, s.maxFwTimeout)
        : s.fwAccessTimeout;
    return {
      ok: true,
      address: m.allowIp === '0.0.0.0' ? src : m.allowIp,
      ports: m.access,
      seconds,
      stanza: i,
      user: m.user,
    };
  }
  return { ok: false, reason: last };
}
