/**
 * The control socket: a Unix stream socket, mode 0600 (root only), one JSON
 * request per line, one JSON reply per line. A bad request gets an error
 * reply; nothing a client sends can stop the daemon.
 *
 * The socket is bound inside a fresh 0700 directory next to its path, given
 * mode 0600 there, and only then linked into place. So it is never reachable
 * with a wider mode, the process umask is never touched (it is process-wide
 * and an await would let other code run under it), and no chmod ever goes
 * through a name someone else could swap for a symlink. link(2), unlike
 * rename, fails on an existing name instead of replacing it.
 */
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { MAX_REQUEST_BYTES, parseRequest, type ControlRequest } from '../core/control.js';

export type ControlHandler = (req: ControlRequest) => Promise<unknown>;

/** sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

const euid = (): number => process.geteuid?.() ?? 0;
const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

/**
 * Is something answering on this socket path? Only a refused connection
 * proves the socket stale; any other failure (EACCES: someone else's
 * socket) counts as in use, so it is left alone.
 */
function inUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.on('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', (e) => resolve(errno(e) !== 'ECONNREFUSED'));
  });
}

export class ControlServer {
  private server: net.Server | null = null;
  /** The inode we linked into place: close() removes that and nothing else. */
  private bound: { dev: number; ino: number } | null = null;

  constructor(
    private readonly path: string,
    private readonly handler: ControlHandler,
  ) {}

  async listen(): Promise<void> {
    await this.removeStale();
    const dir = fs.mkdtempSync(path.join(path.dirname(this.path), '.knockd-')); // mode 0700
    const tmp = path.join(dir, 's');
    const server = net.createServer((sock) => this.serve(sock));
    try {
      if (Buffer.byteLength(tmp) > MAX_SOCKET_PATH)
        throw new Error(`control socket path ${this.path} is too long`);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(tmp, () => resolve());
      });
      const st = fs.lstatSync(tmp);
      if (!st.isSocket() || st.uid !== euid())
        throw new Error(`${tmp} is not the socket we bound; refusing to use it`);
      fs.chmodSync(tmp, 0o600);
      try {
        fs.linkSync(tmp, this.path);
      } catch (e) {
        if (errno(e) === 'EEXIST')
          throw new Error(`${this.path} appeared while the control socket was being created`);
        throw e;
      }
      const placed = fs.lstatSync(this.path);
      this.bound = { dev: placed.dev, ino: placed.ino };
    } catch (e) {
      server.close();
      throw e;
    } finally {
      try {
        fs.unlinkSync(tmp);
      } catch {
        // not bound, or already gone
      }
      try {
        fs.rmdirSync(dir);
      } catch {
        // only a name in the socket's directory; it holds nothing
      }
    }
    server.on('error', () => {});
    this.server = server;
  }

  /** An existing path is removed only when it is a socket nobody answers on. */
  private async removeStale(): Promise<void> {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.path);
    } catch (e) {
      if (errno(e) === 'ENOENT') return;
      throw e;
    }
    if (!st.isSocket())
      throw new Error(`${this.path} exists and is not a socket; refusing to remove it`);
    if (await inUse(this.path))
      throw new Error(`control socket ${this.path} is in use by another daemon`);
    // Stale, from a daemon that died; still the same one after the await?
    const again = fs.lstatSync(this.path);
    if (!again.isSocket() || again.ino !== st.ino || again.dev !== st.dev)
      throw new Error(`${this.path} changed while it was checked; refusing to remove it`);
    fs.unlinkSync(this.path);
  }

  private serve(sock: net.Socket): void {
    let buf = '';
    let busy = Promise.resolve();
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    sock.setTimeout(30_000, () => sock.destroy());
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST_BYTES && !buf.includes('\n')) {
        sock.end(`${JSON.stringify({ ok: false, error: 'request too long' })}\n`);
        buf = '';
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        // Replies go out in request order.
        busy = busy.then(() => this.answer(sock, line));
      }
    });
  }

  private async answer(sock: net.Socket, line: string): Promise<void> {
    const req = parseRequest(line);
    let reply: unknown;
    if ('error' in req) reply = { ok: false, error: req.error };
    else {
      try {
        reply = { ok: true, ...((await this.handler(req)) as object) };
      } catch (e) {
        reply = { ok: false, error: (e as Error).message };
      }
    }
    if (!sock.destroyed) sock.write(`${JSON.stringify(reply)}\n`);
  }

  close(): void {
    this.server?.close();
    this.server = null;
    const ours = this.bound;
    this.bound = null;
    if (ours === null) return;
    try {
      // Whatever has since been put at the path is someone else's.
      const st = fs.lstatSync(this.path);
      if (st.isSocket() && st.dev === ours.dev && st.ino === ours.ino) fs.unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
