/**
 * Files the client trusts: key files are refused when group or others have
 * any access to them (ssh's rule for private keys, mode & 077), and
 * profiles when others may write them (ssh's rule for its config), because
 * a writable profile can point knock at someone else's keys or host. Both
 * must belong to the user or to root, as ssh requires.
 */
import fs from 'node:fs';
import { KnockError } from '../core/errors.js';

function readChecked(path: string, forbidden: number, what: string, fix: string): string {
  let fd: number;
  try {
    // Non-blocking: opening a FIFO for reading would wait for a writer for ever.
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw new KnockError(
      'E_IO',
      `${path}: cannot read ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  try {
    // fstat on the open descriptor: the file checked is the file read.
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new KnockError('E_IO', `${path}: ${what} is not a regular file`);
    const uid = process.getuid?.() ?? 0;
    if (st.uid !== uid && st.uid !== 0)
      throw new KnockError(
        'E_IO',
        `${path}: the ${what} belongs to uid ${st.uid}, not to you or root; refusing it`,
      );
    if ((st.mode & forbidden) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new KnockError(
        'E_IO',
        `${path}: permissions ${mode} are too open for a ${what}; refusing it (chmod ${fix} ${path})`,
      );
    }
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** A file holding a secret (key, HMAC key, TOTP secret, SPA profile). */
export function readSecretFile(path: string): string {
  return readChecked(path, 0o077, 'key file', 'go-rwx');
}

/** A profile file: others must not be able to change it. */
export function readProfileFile(path: string): string {
  return readChecked(path, 0o022, 'profile', 'go-w');
}

/** The base64 key held by a key file (surrounding blanks ignored). */
export function readKeyFile(path: string): Uint8Array {
  const text = readSecretFile(path).trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 === 1)
    throw new KnockError('E_IO', `${path}: not a base64 key`);
  return new Uint8Array(Buffer.from(text, 'base64'));
}
