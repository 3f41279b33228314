/**
 * The one rule for files the daemon takes orders from (the journal and its
 * directory, knockd.conf and what it names): they must belong to root or to
 * the daemon's effective uid, and no one else may write them, as sshd's
 * StrictModes asks of authorized_keys.
 */
import type fs from 'node:fs';

/** Why `st` (of `what` at `p`) cannot be trusted, or null. */
export function untrusted(what: string, p: string, st: fs.Stats): string | null {
  const me = process.geteuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== me)
    return `${what} ${p} is owned by uid ${st.uid}, not by root or uid ${me}; refusing to trust it`;
  if ((st.mode & 0o022) !== 0) {
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    return `${what} ${p} is writable by group or others (mode ${mode}); refusing to trust it (chmod go-w ${p})`;
  }
  return null;
}
