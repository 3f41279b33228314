import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { splice } from '../../src/client/splice.js';

/** A server on 127.0.0.1 whose one connection is handed to `onConn`; half-open allowed. */
async function server(
  onConn: (c: net.Socket) => void,
): Promise<{ port: number; close: () => void }> {
  const s = net.createServer({ allowHalfOpen: true }, onConn);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return { port: (s.address() as net.AddressInfo).port, close: () => s.close() };
}
async function connect(port: number): Promise<net.Socket> {
  const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  await once(c, 'connect');
  return c;
}
function collect(s: PassThrough): { text: () => string } {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  return { text: () => Buffer.concat(parts).toString() };
}

test('client EOF first: FIN to the server, which still answers; then both sides close', async () => {
  let serverGot = '';
  const srv = await server((c) => {
    c.on('data', (d: Buffer) => (serverGot += d.toString()));
    c.on('end', () => {
      // The client has half-closed: answer after its FIN, then close.
      c.end(`got ${serverGot.length} bytes`);
    });
  });
  const input = new PassThrough();
  const output = new PassThrough();
  const out = collect(output);
  const done = splice(input, output, await connect(srv.port));
  input.end('hello world');
  await done;
  assert.equal(serverGot, 'hello world');
  assert.equal(out.text(), 'got 11 bytes');
  assert.ok(output.writableEnded);
  srv.close();
});

test('server FIN first: output ends, input keeps flowing to the server until its EOF', async () => {
  let serverGot = '';
  let serverSawEnd = false;
  const serverDone = new Promise<void>((resolve) => {
    void server((c) => {
      c.end('bye'); // the server's half-close, at once
      c.on('data', (d: Buffer) => (serverGot += d.toString()));
      c.on('end', () => {
        serverSawEnd = true;
        resolve();
      });
    }).then((s) => {
      srvP = s;
      portReady(s.port);
    });
  });
  let srvP: { port: number; close: () => void } | undefined;
  let portReady: (p: number) => void = () => {};
  const port = await new Promise<number>((r) => (portReady = r));
  const input = new PassThrough();
  const output = new PassThrough();
  const out = collect(output);
  let resolved = false;
  const done = splice(input, output, await connect(port)).then(() => (resolved = true));
  await once(output, 'finish');
  assert.equal(out.text(), 'bye');
  assert.equal(resolved, false, 'the upstream direction is still open');
  input.write('late ');
  input.end('data');
  await serverDone;
  await done;
  assert.equal(serverGot, 'late data');
  assert.ok(serverSawEnd);
  srvP?.close();
});

test('a reset rejects, and output is ended so the reader sees EOF', async () => {
  const srv = await server((c) => {
    c.write('partial');
    setTimeout(() => c.resetAndDestroy(), 50);
  });
  const input = new PassThrough();
  const output = new PassThrough();
  const out = collect(output);
  await assert.rejects(splice(input, output, await connect(srv.port)), /ECONNRESET/);
  await new Promise((r) => setImmediate(r));
  assert.equal(out.text(), 'partial');
  assert.ok(output.writableEnded);
  srv.close();
});
