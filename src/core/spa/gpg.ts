/**
 * GPG-encrypted SPA packets (fwknop's asymmetric mode): which packets are
 * GPG, the HMAC check and unwrapping before any process is spent on them,
 * what gpg's machine-readable status lines say, and whether the signer is
 * one the stanza accepts. Pure: running gpg is an adapter's job
 * (adapters/spa-gpg.ts); this module only reads what it reported.
 *
 * fwknopd 2.6.10's semantics (server/incoming_spa.c, lib/fko_encryption.c,
 * lib/gpgme_funcs.c): a payload of 400 characters or more (HMAC included)
 * is GPG; the HMAC covers 'hQ' + the text; the signature check takes the
 * first signature only; GPG_FINGERPRINT_ID compares the whole fingerprint,
 * GPG_REMOTE_ID its last 8 hex digits.
 */
import { ascii, b64decodeCanonical, b64nopad, concat } from './bytes.js';
import {
  GPG_PREFIX,
  HMAC_B64_LEN,
  MIN_GNUPG_MSG_SIZE,
  type HmacAlg,
  type SpaCrypto,
} from './spa.js';

/** A stanza's GPG settings (GPG_* keywords), present when it decrypts GPG packets. */
export interface StanzaGpg {
  /** GPG_DECRYPT_PW; undefined with GPG_ALLOW_NO_PW Y: the key has no passphrase. */
  passphrase?: string;
  /** GPG_DECRYPT_ID: informational, as in fwknopd (gpg picks the secret key the packet names). */
  decryptId?: string;
  homeDir: string;
  exe: string;
  /** GPG_REQUIRE_SIG: on unless GPG_DISABLE_SIG Y (and GPG_REQUIRE_SIG not Y). */
  requireSig: boolean;
  ignoreSigError: boolean;
  /** GPG_REMOTE_ID entries: 8, 16 or 40 upper-case hex digits. */
  remoteIds: string[];
  /** GPG_FINGERPRINT_ID entries: 40 or 64 upper-case hex digits. */
  fingerprints: string[];
}

/** fwknopd's defaults: fwknopd.conf's GPG_HOME_DIR and the gpg it was built with. */
export const DEFAULT_GPG_HOME_DIR = '/root/.gnupg';
export const DEFAULT_GPG_EXE = '/usr/bin/gpg';

/** Whether fwknopd would take this payload (trailing whitespace cut) for a GPG packet. */
export function isGpgSized(text: string): boolean {
  return text.length >= MIN_GNUPG_MSG_SIZE;
}

export type GpgUnwrapped = { ok: true; ciphertext: Uint8Array } | { ok: false; reason: string };

/**
 * HMAC check (over 'hQ' + text, as the client computed it) and base64
 * decode: the binary OpenPGP message gpg will read. Linear in the packet.
 */
export function unwrapGpg(
  payload: string,
  hmac: { key: Uint8Array; alg: HmacAlg } | undefined,
  c: SpaCrypto,
): GpgUnwrapped {
  let ct = payload;
  if (hmac !== undefined) {
    const n = HMAC_B64_LEN[hmac.alg];
    if (payload.length - n < 36) return { ok: false, reason: 'too short for its HMAC' };
    ct = payload.slice(0, payload.length - n);
    const mac = ascii(payload.slice(payload.length - n));
    const want = ascii(b64nopad(c.hmac(hmac.alg, hmac.key, ascii(GPG_PREFIX + ct))));
    if (!c.equal(mac, want)) return { ok: false, reason: 'HMAC mismatch' };
  }
  // libfko re-checks the type on the HMAC-less text with the prefix back.
  if (!isGpgSized(GPG_PREFIX + ct)) return { ok: false, reason: 'too short for a GPG packet' };
  const raw = b64decodeCanonical(GPG_PREFIX + ct);
  if (raw === null) return { ok: false, reason: 'GPG data is not canonical base64' };
  return { ok: true, ciphertext: raw };
}

/**
 * The replay digest of a GPG ciphertext: checked before gpg runs, so a
 * replayed packet costs no process. Its own domain keeps it apart from the
 * message digests; it has their form, so the journal keeps it as one.
 */
export function ciphertextDigest(raw: Uint8Array, c: SpaCrypto): string {
  return b64nopad(c.hash('sha256', concat(ascii('knockd-ts gpg ciphertext\n'), raw)));
}

export type SigStatus = 'good' | 'bad' | 'expired-sig' | 'expired-key' | 'revoked-key' | 'error';

export interface GpgSig {
  status: SigStatus;
  /** The long key ID gpg named (16 hex), '' when it named none. */
  keyId: string;
  /** VALIDSIG: the signing (sub)key's fingerprint and the primary key's. */
  fpr?: string;
  primary?: string;
  /** VALIDSIG: when the signature was made (epoch seconds). */
  created?: number;
  /** gpgme's validity from the TRUST_* line: 0 unknown .. 5 ultimate; 3 is marginal. */
  validity: number;
}

export interface GpgStatus {
  /** DECRYPTION_OKAY without DECRYPTION_FAILED or BADMDC. */
  decrypted: boolean;
  /** ENC_TO seen: the message is encrypted to a public key. */
  publicKey: boolean;
  /** A symmetric (passphrase) layer was asked for: not a fwknop packet. */
  symmetric: boolean;
  /**
   * Why the message is not shaped as fwknop's (one encrypted message, one
   * plaintext, its signatures inside), or null. gpg verifies a signature
   * placed beside the plaintext (after the encrypted packet, or in a second
   * plaintext it refuses) over what that signature itself covers, and
   * reports it good: one over an empty document would vouch for any text.
   */
  malformed: string | null;
  sigs: GpgSig[];
}

const STATUS_BY_WORD: Readonly<Record<string, SigStatus>> = {
  GOODSIG: 'good',
  BADSIG: 'bad',
  EXPSIG: 'expired-sig',
  EXPKEYSIG: 'expired-key',
  REVKEYSIG: 'revoked-key',
  ERRSIG: 'error',
};
const VALIDITY: Readonly<Record<string, number>> = {
  TRUST_UNDEFINED: 1,
  TRUST_NEVER: 2,
  TRUST_MARGINAL: 3,
  TRUST_FULLY: 4,
  TRUST_ULTIMATE: 5,
};
const hex = (s: string | undefined, ...lens: number[]): s is string =>
  s !== undefined && lens.includes(s.length) && /^[0-9A-F]+$/.test(s);

/**
 * gpg's --status-fd output. Only keywords and hex fields are read; the
 * free text some lines carry (a user ID, a file name) is never used.
 */
export function parseGpgStatus(text: string): GpgStatus {
  const st: GpgStatus = {
    decrypted: false,
    publicKey: false,
    symmetric: false,
    malformed: null,
    sigs: [],
  };
  let okay = false;
  let failed = false;
  /** BEGIN_DECRYPTION seen, END_DECRYPTION not yet: inside the one encrypted message. */
  let inside = false;
  let begun = 0;
  let plaintexts = 0;
  const bad = (why: string) => (st.malformed ??= why);
  /** A signature or plaintext counts only inside the encrypted message, before it is done. */
  const placed = (what: string) => {
    if (!inside || okay || failed) bad(`GPG ${what} outside the encrypted message`);
  };
  let sig: GpgSig | undefined;
  const newSig = (): GpgSig => {
    sig = { status: 'error', keyId: '', validity: 0 };
    st.sigs.push(sig);
    return sig;
  };
  for (const line of text.split('\n')) {
    if (!line.startsWith('[GNUPG:] ')) continue;
    const [word = '', ...f] = line.slice(9).trimEnd().split(' ');
    const status = STATUS_BY_WORD[word];
    if (status !== undefined || word === 'NEWSIG') placed('signature');
    if (status !== undefined) {
      // gpg writes NEWSIG first; a GOODSIG without it still starts a record.
      const s = sig !== undefined && sig.keyId === '' ? sig : newSig();
      s.status = status;
      if (hex(f[0], 16, 40)) s.keyId = f[0];
      if (word === 'ERRSIG' && hex(f[6], 40, 64)) s.fpr = f[6];
    } else if (word === 'NEWSIG') newSig();
    else if (word === 'VALIDSIG' && sig !== undefined) {
      if (hex(f[0], 40, 64)) sig.fpr = f[0];
      if (hex(f[9], 40, 64)) sig.primary = f[9];
      if (/^[0-9]{1,12}$/.test(f[2] ?? '')) sig.created = Number(f[2]);
    } else if (word in VALIDITY && sig !== undefined) sig.validity = VALIDITY[word] ?? 0;
    else if (word === 'DECRYPTION_OKAY') okay = true;
    else if (word === 'DECRYPTION_FAILED' || word === 'BADMDC') failed = true;
    else if (word === 'ENC_TO') st.publicKey = true;
    else if (word === 'BEGIN_DECRYPTION') {
      inside = true;
      if (++begun > 1) bad('GPG packet holds more than one encrypted message');
    } else if (word === 'END_DECRYPTION') inside = false;
    else if (word === 'PLAINTEXT') {
      placed('plaintext');
      if (++plaintexts > 1) bad('GPG packet holds more than one plaintext');
    }
    // gpg's report of a fault it went on past (a second plaintext is
    // 'proc_pkt.plaintext'); gpgme fails the decryption on it.
    else if (word === 'ERROR') bad('gpg reported an error while decrypting');
    else if (word === 'NEED_PASSPHRASE_SYM') st.symmetric = true;
  }
  st.decrypted = okay && !failed;
  return st;
}

/** Whether gpg's report lets the packet through, before the signer is looked at. */
export function decryptionProblem(st: GpgStatus): string | null {
  if (st.malformed !== null) return st.malformed;
  if (st.symmetric) return 'GPG packet asks for a passphrase (symmetric encryption)';
  if (!st.publicKey) return 'GPG packet is not encrypted to a public key';
  if (!st.decrypted) return 'GPG decryption failed';
  return null;
}

/** The fingerprint gpgme reports for a signature: VALIDSIG's, else the key ID. */
const sigFpr = (s: GpgSig) => s.fpr ?? s.keyId;

/**
 * The stanza's signature policy over gpg's report (fwknopd's process_sigs
 * and handle_gpg_sigs): null when the signer is acceptable, else why not.
 *
 * Two deliberate differences: GPG_IGNORE_SIG_VERIFY_ERROR Y forgives trust
 * (an unsigned key) and expiry, but never a signature that does not verify
 * (BADSIG, ERRSIG: its key ID is only a claim, and fwknopd would match that
 * claim against GPG_REMOTE_ID) nor a revoked key.
 */
export function signerProblem(g: StanzaGpg, st: GpgStatus): string | null {
  if (!g.requireSig) return null;
  const s = st.sigs[0];
  if (s === undefined) return 'GPG packet is not signed (GPG_REQUIRE_SIG)';
  const verified = s.status !== 'bad' && s.status !== 'error' && s.fpr !== undefined;
  const who = sigFpr(s) || 'an unknown key';
  if (!verified) return `GPG signature by ${who} does not verify (${s.status})`;
  // Revocation is the key owner saying it must not be trusted (lost or
  // stolen): fwknopd forgives it too under the switch, we do not.
  if (s.status === 'revoked-key') return `GPG signer ${who} is revoked`;
  if (!g.ignoreSigError) {
    if (s.status !== 'good') return `GPG signature by ${who} is not valid (${s.status})`;
    if (s.validity < 3) return `GPG signer ${who} is not trusted in the keyring`;
  }
  const fprs = [sigFpr(s), s.primary ?? ''];
  if (g.fingerprints.length > 0 && !g.fingerprints.some((f) => fprs.includes(f)))
    return `GPG signer ${who} is not in GPG_FINGERPRINT_ID`;
  // fwknopd compares the last 8 digits; a 16- or 40-digit ID is a longer suffix.
  if (g.remoteIds.length > 0 && !g.remoteIds.some((id) => fprs.some((f) => f.endsWith(id))))
    return `GPG signer ${who.slice(-8)} is not in GPG_REMOTE_ID`;
  return null;
}

/**
 * The signature's age, once signerProblem passed: it must be as fresh as a
 * message (|now - created| within the replay window). gpg reports GOODSIG
 * for a signature packet placed after the plaintext, inside the encrypted
 * message, over what that signature covers (measured with gpg 2.2.40:
 * literal, then a compressed packet holding a bare signature), and its
 * status lines then read as a real packet's. A signature by a listed key
 * over an empty document would vouch for any plaintext; this bounds its use
 * to the minutes after it was made. fwknop's client signs as it encrypts.
 */
export function signatureAgeProblem(
  g: StanzaGpg,
  st: GpgStatus,
  now: number,
  window: number,
): string | null {
  if (!g.requireSig) return null;
  const created = st.sigs[0]?.created;
  if (created === undefined) return 'GPG signature has no creation time';
  if (Math.abs(now - created) > window) return `GPG signature is ${now - created} s old`;
  return null;
}
