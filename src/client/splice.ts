/**
 * ProxyCommand plumbing, as `ssh -W` or nc do it: bytes from `input` go to
 * the socket and bytes from the socket go to `output`. Each direction is
 * shut down on its own (the socket must allow half-open): input's EOF
 * becomes a FIN to the server, which may still answer; the server's FIN
 * ends `output`, while input keeps flowing to the server. Resolves once the
 * socket is closed (both FINs exchanged, every byte flushed) and output is
 * finished; rejects on a socket error such as a reset.
 */
import type net from 'node:net';
import type { Readable, Writable } from 'node:stream';

export function splice(input: Readable, output: Writable, sock: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    let closed = false;
    let finished = false;
    const done = () => {
      if (closed && finished) resolve();
    };
    // pipe() calls sock.end() at input's EOF, and output.end() at the server's FIN.
    input.pipe(sock);
    sock.pipe(output);
    output.once('finish', () => {
      finished = true;
      done();
    });
    // Once the socket is gone (both FINs exchanged, or a reset) nothing more
    // can reach the server: stop reading input, and end output even if no
    // FIN came, so the reader sees EOF.
    const shut = () => {
      input.unpipe(sock);
      input.pause();
      if (!output.writableEnded) output.end();
    };
    sock.once('error', (e) => {
      shut();
      reject(e);
    });
    // The reader went away (EPIPE): the connection has no one to serve.
    output.once('error', (e) => {
      sock.destroy();
      reject(e);
    });
    sock.once('close', () => {
      closed = true;
      shut();
      done();
    });
  });
}
