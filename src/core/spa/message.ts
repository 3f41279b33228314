/** The decrypted SPA message: fwknop's colon-separated fields, each checked. Pure. */
import { parseIPv4, formatIPv4 } from '../ip.js';
import { parsePortSpec } from '../port.js';
import { ascii, b64decodeCanonical, text } from './bytes.js';
import {
  DIGEST_BY_LEN,
  type DigestAlg,
  type SpaCrypto,
  type SpaMessage,
  type SpaResult,
} from './spa.js';

const fail = (reason: string): SpaResult => ({ ok: false, reason });

/** True when `s` is min..max ASCII digits. */
export function digits(s: string, min: number, max: number): boolean {
  if (s.length < min || s.length > max) return false;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch < 0x30 || ch > 0x39) return false;
  }
  return true;
}

function printableUser(u: string): boolean {
  if (u.length === 0) return false;
  for (let i = 0; i < u.length; i++) {
    const ch = u.charCodeAt(i);
    if (ch < 0x20 || ch > 0x7e || '"/\\[]:;|=,+*?<>'.includes(u[i]!)) return false;
  }
  return true;
}

/**
 * @param pt the decrypted message as text; @param bytes the same as bytes,
 * when the caller has them (the digest is taken over them).
 */
export function parseEncoded(pt: string, c: SpaCrypto, bytes?: Uint8Array): SpaResult {
  let colons = 0;
  for (let i = 0; i < pt.length; i++) if (pt.charCodeAt(i) === 0x3a) colons++;
  if (colons < 6) return fail('too few fields');
  const cut = pt.lastIndexOf(':');
  const encoded = pt.slice(0, cut);
  const digest = pt.slice(cut + 1);
  const algs = DIGEST_BY_LEN[digest.length];
  if (algs === undefined) return fail(`unknown digest length ${digest.length}`);
  // Compared as bytes: the strict decode gives one byte string per text, so
  // the bytes match exactly when the text is the digest's base64.
  const want = b64decodeCanonical(digest);
  const data = bytes === undefined ? ascii(encoded) : bytes.subarray(0, cut);
  const digestAlg =
    want === null ? undefined : algs.find((a: DigestAlg) => c.equal(c.hash(a, data), want));
  if (digestAlg === undefined) return fail('inner digest mismatch');
  const f = encoded.split(':');
  const [rand, userB64, ts, version, typeText, msgB64, ...rest] = f as [
    string,
    string,
    string,
    string,
    string,
    string,
    ...string[],
  ];
  if (!digits(rand, 16, 16)) return fail('bad random field');
  const userBytes = userB64.length <= 64 ? b64decodeCanonical(userB64) : null;
  const user = userBytes === null ? '' : text(userBytes);
  if (!printableUser(user)) return fail('bad username');
  if (!digits(ts, 1, 12)) return fail('bad timestamp');
  if (version.length === 0 || version.length > 8) return fail('bad version');
  if (!digits(typeText, 1, 2) || Number(typeText) > 6) return fail('bad message type');
  const type = Number(typeText);
  const maxRest = type === 0 || type === 1 ? 2 : type === 4 || type === 6 ? 4 : 3;
  if (rest.length > maxRest) return fail('too many fields for the message type');
  const msgBytes = msgB64.length <= 256 ? b64decodeCanonical(msgB64) : null;
  if (msgBytes === null) return fail('bad message field');
  const msg = text(msgBytes);
  const comma = msg.indexOf(',');
  const ipText = comma < 0 ? '' : msg.slice(0, comma);
  // Plain dotted-quad decimal only, as fwknop's client writes it. A leading
  // zero is rejected, not read: inet_aton and iptables read 010 as octal 8,
  // so such text would name different hosts to different readers, and
  // 00.0.0.0 would slip past the REQUIRE_SOURCE_ADDRESS check for 0.0.0.0.
  const ip = parseIPv4(ipText);
  if (ip === null) return fail(`bad allow IP '${ipText}'`);
  const allowIp = formatIPv4(ip, 0);
  const out: SpaMessage = {
    rand,
    user,
    timestamp: Number(ts),
    version,
    type,
    allowIp,
    access: [],
    digestAlg,
  };
  const body = msg.slice(comma + 1);
  if (type === 0) {
    if (body === '') return fail('empty command');
    out.command = body;
  } else {
    for (const spec of body.split(',')) {
      // fwknop writes the protocol in lower case; anything else is not its packet.
      const p = spec.startsWith('tcp/') || spec.startsWith('udp/') ? parsePortSpec(spec) : null;
      if (p === null || 'error' in p) return fail(`bad access spec '${spec}'`);
      out.access.push(p);
    }
  }
  let i = 0;
  if (type === 2 || type === 4 || type === 5 || type === 6) {
    const natBytes = rest[i] === undefined ? null : b64decodeCanonical(rest[i]!);
    const nat = natBytes === null ? '' : text(natBytes);
    const comma2 = nat.indexOf(',');
    const host = nat.slice(0, comma2);
    const port = nat.slice(comma2 + 1);
    if (
      comma2 <= 0 ||
      !digits(port, 1, 5) ||
      Number(port) < 1 ||
      Number(port) > 65535 ||
      [...host].some((ch) => ' \t\n\v\f\r,/?"\'\\'.includes(ch))
    )
      return fail('bad NAT field');
    out.nat = { host, port: Number(port) };
    i++;
  }
  if (type === 3 || type === 4 || type === 6) {
    const t = rest[rest.length - 1];
    if (t === undefined || rest.length <= i || !digits(t, 1, 5) || Number(t) > 65536)
      return fail('bad client timeout');
    out.timeout = Number(t);
  }
  return { ok: true, message: out };
}
