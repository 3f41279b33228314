/**
 * The control socket: a Unix stream socket, mode 0600 (root only), one JSON
 * request per line, one JSON reply per line. A bad request gets an error
 * reply; nothing a client sends can stop the daemon.
 */
import net from 'node:net';
import fs from 'node:fs';
import { MAX_REQUEST_BYTES, parseRequest, type ControlRequest } from '../core/control.js';

export type ControlHandler = (req: ControlRequest) => Promise<unknown>;

/** Is something answering on this socket path? */
function inUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.on('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

export class ControlServer {
  private server: net.Server | null = null;

  constructor(
    private readonly path: string,
    private readonly handler: ControlHandler,
  ) {}

  async listen(): Promise<void> {
    if (fs.existsSync(this.path)) {
      if (await inUse(this.path))
        throw new Error(`control socket ${this.path} is in use by another daemon`);
      fs.unlinkSync(this.path); // stale, from a daemon that died
    }
    const server = net.createServer((sock) => this.serve(sock));
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => resolve());
      });
    } finally {
      process.umask(old);
    }
    fs.chmodSync(this.path, 0o600);
    server.on('error', () => {});
    this.server = server;
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
    try {
      fs.unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
