/** The SPA packet as the stock fwknop client builds it: for knock --spa and for tests. Pure. */
import { formatPorts, type PortSpec } from '../port.js';
import { ascii, b64nopad, concat } from './bytes.js';
import {
  bytesToKey,
  passphrase,
  SPA_PREFIX,
  type DigestAlg,
  type SpaCrypto,
  type SpaKeys,
} from './spa.js';

/** Builds a packet as the stock fwknop client does (Rijndael, optional HMAC). */
export function encodeSpa(
  m: {
    user: string;
    timestamp: number;
    allowIp: string;
    access: PortSpec[];
    timeout?: number;
  },
  keys: SpaKeys,
  c: SpaCrypto,
  digestAlg: DigestAlg = 'sha256',
): string {
  let rand = '';
  for (const b of c.random(16)) rand += String(b % 10);
  const type = m.timeout !== undefined && m.timeout > 0 ? 3 : 1;
  const msg = `${m.allowIp},${formatPorts(m.access)}`;
  let encoded = `${rand}:${b64nopad(ascii(m.user))}:${m.timestamp}:3.0.0:${type}:${b64nopad(ascii(msg))}`;
  if (type === 3) encoded += `:${m.timeout}`;
  const pt = ascii(`${encoded}:${b64nopad(c.hash(digestAlg, ascii(encoded)))}`);
  const padLen = 16 - (pt.length % 16);
  const padded = concat(pt, new Uint8Array(padLen).fill(padLen));
  const salt = c.random(8);
  const { key, iv } = bytesToKey(c, passphrase(keys), salt);
  const mode = keys.mode === undefined || keys.mode === 'legacy' ? 'cbc' : keys.mode;
  const ct = c.aes(false, mode, key, iv, padded);
  if (ct === null) throw new Error('encryption failed');
  const full = b64nopad(concat(ascii('Salted__'), salt, ct));
  let wire = full.slice(SPA_PREFIX.length);
  if (keys.hmacKey !== undefined)
    wire += b64nopad(c.hmac(keys.hmacAlg ?? 'sha256', keys.hmacKey, ascii(full)));
  return wire;
}
