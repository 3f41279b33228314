/**
 * GPG SPA packets through the `gpg` binary, with the stanza's GPG_HOME_DIR:
 * the keyring fwknopd uses (through gpgme, which runs the same gpg) works
 * unchanged, at the cost of one process per packet that gets this far.
 *
 * No shell: an argv array. The ciphertext goes on stdin, the passphrase on
 * its own pipe (--passphrase-fd), status lines come back on another
 * (--status-fd); the child inherits no other descriptor (Node opens every
 * one close-on-exec). Output is bounded and a run that outlasts its time is
 * killed with SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

import type { GpgRequest, GpgResult, SpaGpg } from '../daemon/ports.js';

/** A fwknop message is at most 1500 bytes; anything past this is not one. */
export const MAX_PLAINTEXT = 4096;
/** Status lines for one small message: a few dozen lines. */
export const MAX_STATUS = 65_536;
const MAX_STDERR = 4096;
export const GPG_TIMEOUT_MS = 5000;

const STATUS_FD = 3;
const PASSPHRASE_FD = 4;

/**
 * The gpg runs under way. The daemon leaves with process.exit once shut
 * down, which would orphan them (a gpg waiting on a keyring lock waits for
 * ever); they are killed on the way out instead.
 */
const live = new Set<ChildProcess>();
let killOnExit = false;
function track(child: ChildProcess): void {
  if (!killOnExit) {
    killOnExit = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  live.add(child);
  child.on('exit', () => live.delete(child));
  child.on('error', () => live.delete(child));
}

/** gpg's argv for one packet. Exported for the unit test: no secret in it. */
export function gpgArgs(req: GpgRequest): string[] {
  return [
    '--homedir',
    req.homeDir,
    '--batch',
    '--no-tty',
    '--quiet',
    '--status-fd',
    String(STATUS_FD),
    // A packet must never make gpg go to the network for its signer's key.
    '--no-auto-key-retrieve',
    '--max-output',
    String(MAX_PLAINTEXT),
    '--pinentry-mode',
    'loopback',
    ...(req.passphrase === undefined ? [] : ['--passphrase-fd', String(PASSPHRASE_FD)]),
    '--decrypt',
  ];
}

export class GpgProcess implements SpaGpg {
  constructor(private readonly timeoutMs = GPG_TIMEOUT_MS) {}

  decrypt(req: GpgRequest): Promise<GpgResult> {
    return new Promise((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn(req.exe, gpgArgs(req), {
          stdio: ['pipe', 'pipe', 'pipe', 'pipe', req.passphrase === undefined ? 'ignore' : 'pipe'],
          env: { ...process.env, LC_ALL: 'C' },
        });
      } catch (e) {
        // spawn throws synchronously on EAGAIN/ENOMEM: a failed packet, never a crash.
        resolve({ ok: false, reason: `cannot run ${req.exe}: ${(e as Error).message}` });
        return;
      }
      track(child);
      let failure: string | undefined;
      let done = false;
      const stop = (why: string) => {
        failure ??= why;
        child.kill('SIGKILL');
      };
      const timer = setTimeout(
        () => stop(`gpg took longer than ${this.timeoutMs} ms`),
        this.timeoutMs,
      );
      const collect = (s: Readable | null | undefined, max: number, what: string) => {
        const parts: Buffer[] = [];
        let n = 0;
        s?.on('error', () => {});
        s?.on('data', (b: Buffer) => {
          n += b.length;
          if (n > max) stop(`gpg wrote more than ${max} bytes of ${what}`);
          else parts.push(b);
        });
        return () => Buffer.concat(parts);
      };
      const stdout = collect(child.stdout, MAX_PLAINTEXT, 'plaintext');
      const status = collect(child.stdio[STATUS_FD] as Readable, MAX_STATUS, 'status');
      collect(child.stderr, MAX_STDERR, 'diagnostics');
      // gpg may exit before reading everything (a bad packet): EPIPE is expected.
      child.stdin?.on('error', () => {});
      child.stdin?.end(req.ciphertext);
      if (req.passphrase !== undefined) {
        const pw = child.stdio[PASSPHRASE_FD] as Writable;
        pw.on('error', () => {});
        pw.end(`${req.passphrase}\n`);
      }
      const finish = (r: GpgResult) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(r);
      };
      child.on('error', (e) =>
        finish({ ok: false, reason: `cannot run ${req.exe}: ${e.message}` }),
      );
      child.on('close', (_code, signal) => {
        if (failure !== undefined) finish({ ok: false, reason: failure });
        else if (signal !== null) finish({ ok: false, reason: `gpg was killed by ${signal}` });
        // A non-zero exit still carries a report (gpg exits 2 when it lacks the
        // signer's key): the status lines decide, not the code.
        else
          finish({
            ok: true,
            status: status().toString('latin1'),
            plaintext: new Uint8Array(stdout()),
          });
      });
    });
  }
}
