/**
 * What a verified SPA packet is allowed to do: fwknopd's policy pipeline
 * (first stanza that passes wins) plus a bounded replay cache. Pure: the
 * time is an argument and the result is a decision, logged by the daemon.
 */
import { canonicalIP } from '../ip.js';
import { samePort, type PortSpec } from '../port.js';
import { destinationMatches, MAX_GRANT_SECONDS, sourceMatches, type Stanza } from './access.js';
import { ciphertextDigest, isGpgSized, unwrapGpg } from './gpg.js';
import {
  decryptSpa,
  spaText,
  unwrapBytes,
  b64nopad,
  type SpaCrypto,
  type SpaMessage,
} from './spa.js';
import type { ReplayCache } from './replay-cache.js';

export { MAX_SPA_AGE, ReplayCache, REPLAY_CAP, FUTURE_CAP } from './replay-cache.js';

const UTF8 = new TextEncoder();

export type SpaAccepted = {
  ok: true;
  address: string;
  ports: PortSpec[];
  seconds: number;
  stanza: number;
  user: string;
  /** The packet's destination that matched the stanza's DESTINATION ('' when unknown). */
  dst: string;
  /** The packet's (canonical) source address, fwknopd's $PKT_SRC. */
  pktSrc: string;
  /** The packet's timestamp (epoch seconds), for $TIMEOUT. */
  timestamp: number;
  /** The client's timeout capped by MAX_FW_TIMEOUT, or undefined when it sent none. */
  clientTimeout?: number;
};

/** A stanza whose HMAC passed on a GPG-sized packet: gpg must run before it can decide. */
export interface GpgTry {
  stanza: number;
  /** The binary OpenPGP message (the HMAC-checked text with 'hQ' back, decoded). */
  ciphertext: Uint8Array;
  /** Where the packet is going, as the stanza's DESTINATION matched it. */
  dst: string;
}

/** The rest of a GPG packet's evaluation: continued by admitGpg (policy-gpg.ts). */
export interface GpgPending {
  tries: GpgTry[];
  source: string;
  /** The digest of the ciphertext, checked and burned like a message digest. */
  digest: string;
}

export type SpaDecision =
  | SpaAccepted
  | {
      ok: false;
      reason: string;
      /** Set when only gpg can decide: the stanzas to try, in order. */
      gpg?: GpgPending;
    };

/**
 * The packet's source as canonical text, or null. IPv4-mapped IPv6 (a dual
 * stack socket's view of an IPv4 sender) becomes IPv4. An address with a
 * zone (fe80::1%eth0) is refused: a grant names an address, not a link, so
 * dropping the zone would open the address on every interface.
 */
export function canonicalSource(src: string): string | null {
  if (src.includes('%')) return null;
  const ip = canonicalIP(src);
  if (ip === null) return null;
  if (ip.family === 6 && ip.text.startsWith('::ffff:') && ip.text.includes('.'))
    return ip.text.slice('::ffff:'.length);
  return ip.text;
}

/** The digest this packet burned, if any: a later stanza sees it in the cache, and that is this packet, not a replay. */
export interface Burned {
  digest?: string;
}

/**
 * The checks after a stanza authenticated and decrypted the message, shared
 * by both encryptions: replay (burned here, as fwknopd does, before the
 * policy), age, source address, user, type, ports. `skip` sends the packet
 * on to the next stanza, as fwknopd's loop does.
 */
export function admit(
  s: Stanza,
  i: number,
  m: SpaMessage,
  pkt: { source: string; dst: string },
  replay: ReplayCache,
  now: number,
  c: SpaCrypto,
  burned: Burned,
): SpaDecision | { skip: string } {
  // The replay digest covers the decrypted message, not the text or the
  // ciphertext: any spelling that decrypts to the same message (a base64
  // variant, an unchecked header bit, a changed padding byte under a
  // stream mode) is the same packet. A client never sends one message twice:
  // each carries 16 random digits and its timestamp.
  const digest = b64nopad(c.hash('sha256', UTF8.encode(JSON.stringify(m))));
  if (digest !== burned.digest && replay.has(digest))
    return { ok: false, reason: 'replayed packet' };
  // Authentic: burn it now, before the policy checks, as fwknopd does.
  const ahead = m.timestamp > now + replay.windowSeconds;
  if (!replay.add(digest, m.timestamp + replay.windowSeconds, ahead))
    return { ok: false, reason: 'replay cache full' };
  burned.digest = digest;
  if (Math.abs(now - m.timestamp) > replay.windowSeconds)
    return { ok: false, reason: `packet is ${now - m.timestamp} s old` };
  if (m.allowIp === '0.0.0.0' && s.requireSourceAddress)
    return { ok: false, reason: '0.0.0.0 when REQUIRE_SOURCE_ADDRESS is set' };
  if (s.requireUsername !== undefined && m.user !== s.requireUsername)
    return { skip: `username '${m.user}' is not '${s.requireUsername}'` };
  if (m.type !== 1 && m.type !== 3)
    return { skip: `message type ${m.type} is not supported (access requests only)` };
  const restricted = m.access.find((a) => s.restrictPorts.some((r2) => samePort(r2, a)));
  if (restricted !== undefined)
    return { skip: `${restricted.proto}/${restricted.port} is in RESTRICT_PORTS` };
  const open = s.openPorts;
  const outside =
    open === undefined ? undefined : m.access.find((a) => !open.some((o) => samePort(o, a)));
  if (outside !== undefined)
    return { skip: `${outside.proto}/${outside.port} is not in OPEN_PORTS` };
  const clientTimeout =
    m.timeout !== undefined && m.timeout > 0 ? Math.min(m.timeout, s.maxFwTimeout) : undefined;
  const seconds = clientTimeout ?? s.fwAccessTimeout;
  return {
    ok: true,
    // Both are canonical: decryption canonicalises the allow IP.
    address: m.allowIp === '0.0.0.0' ? pkt.source : m.allowIp,
    ports: m.access,
    // access.conf bounds both timeouts; the cap keeps any grant expiry sane.
    seconds: Math.min(seconds, MAX_GRANT_SECONDS),
    stanza: i,
    user: m.user,
    dst: pkt.dst,
    pktSrc: pkt.source,
    timestamp: m.timestamp,
    ...(clientTimeout === undefined ? {} : { clientTimeout }),
  };
}

/**
 * @param payload the UDP payload bytes exactly as received (any length:
 *   the length is checked before anything else looks at them).
 * @param src the packet's source address; @param now epoch seconds.
 * @param dst the packet's destination address, or, when it is not known
 *   (socket mode), the candidate local addresses: a stanza's DESTINATION
 *   matches when it holds one of them. An empty list matches only
 *   `DESTINATION ANY` (the default).
 * On success `address` is canonical IP text and `seconds` is at most
 * MAX_GRANT_SECONDS. A GPG-sized packet that no Rijndael key opens comes
 * back with `gpg`: the stanzas whose HMAC passed, for gpg to decide.
 */
export function evaluateSpa(
  payload: Uint8Array,
  src: string,
  dst: string | readonly string[],
  stanzas: readonly Stanza[],
  replay: ReplayCache,
  now: number,
  c: SpaCrypto,
): SpaDecision {
  const t = spaText(payload);
  if (!t.ok) return { ok: false, reason: t.reason };
  const source = canonicalSource(src);
  if (source === null)
    return { ok: false, reason: `source '${src}' is not a plain IP address (zones are refused)` };
  // Plain loops, not map/filter chains: V8's optimised code for the chains
  // met arrays of another shape and was thrown away ("wrong map"; checked
  // in test/unit/spa-warm.test.ts).
  const dsts: string[] = [];
  for (const d of typeof dst === 'string' ? [dst] : dst) {
    const c = canonicalSource(d);
    if (c !== null) dsts.push(c);
  }
  /** The destination a stanza accepts: '' for DESTINATION ANY with none known. */
  const dstFor = (s: Stanza): string | undefined =>
    s.destinations === 'any' ? (dsts[0] ?? '') : dsts.find((d) => destinationMatches(s, d));
  let bySource = 0;
  const candidates: { s: Stanza; i: number }[] = [];
  for (let i = 0; i < stanzas.length; i++) {
    const s = stanzas[i]!;
    if (!sourceMatches(s, source)) continue;
    bySource++;
    if (dstFor(s) !== undefined) candidates.push({ s, i });
  }
  if (bySource === 0) return { ok: false, reason: `no access.conf stanza for source ${source}` };
  if (candidates.length === 0)
    return {
      ok: false,
      reason: `no access.conf stanza for ${source} -> ${dsts.join(',') || 'unknown destination'} (DESTINATION)`,
    };
  let last = 'no stanza accepted the packet';
  const burned: Burned = {};
  const gpg = isGpgSized(t.text);
  const tries: GpgTry[] = [];
  for (const { s, i } of candidates) {
    if (s.accessExpire !== undefined && now > s.accessExpire) {
      last = `stanza at line ${s.line} has expired`;
      continue;
    }
    const hmac = s.hmacKey === undefined ? undefined : { key: s.hmacKey, alg: s.hmacAlg };
    if (gpg && s.gpg !== undefined) {
      const g = unwrapGpg(t.text, hmac, c);
      if (g.ok) tries.push({ stanza: i, ciphertext: g.ciphertext, dst: dstFor(s) ?? '' });
      else last = g.reason;
    }
    if (s.encKey === undefined) continue;
    const keys = {
      encKey: s.encKey,
      ...(hmac && { hmacKey: hmac.key }),
      hmacAlg: s.hmacAlg,
      mode: s.mode,
    };
    const u = unwrapBytes(t.bytes, keys, c);
    const r = u.ok ? decryptSpa(u.raw, keys, c) : u;
    if (!r.ok) {
      last = r.reason;
      continue;
    }
    const d = admit(s, i, r.message, { source, dst: dstFor(s) ?? '' }, replay, now, c, burned);
    if ('skip' in d) last = d.skip;
    else return d;
  }
  const first = tries[0];
  if (first === undefined) return { ok: false, reason: last };
  // Every try holds the same bytes: the HMAC only decides which stanzas may.
  const digest = ciphertextDigest(first.ciphertext, c);
  if (replay.has(digest)) return { ok: false, reason: 'replayed packet' };
  return { ok: false, reason: last, gpg: { tries, source, digest } };
}
