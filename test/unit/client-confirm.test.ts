import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { knockUntilOpen, probe } from '../../src/client/confirm.js';

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

test('a port that opens after the second knock: two rounds, the open socket comes back', async () => {
  const port = await freePort();
  const srv = net.createServer((c) => c.end());
  let knocks = 0;
  const steps: string[] = [];
  const sock = await knockUntilOpen(
    async (attempt) => {
      knocks++;
      assert.equal(attempt, knocks);
      // The "daemon" opens the port on the second round (the first knock was "lost").
      if (knocks === 2) {
        srv.listen(port, '127.0.0.1');
        await once(srv, 'listening');
      }
    },
    '127.0.0.1',
    port,
    { tries: 3, totalMs: 10_000, firstWindowMs: 400, say: (l) => steps.push(l) },
  );
  assert.ok(sock !== null);
  assert.equal(knocks, 2);
  assert.deepEqual(
    steps.map((l) => l.replace(/\(up to .*\)/, '')),
    [
      'knock 1/3',
      `connecting to 127.0.0.1 port ${port} `,
      `port ${port} did not answer`,
      'knock 2/3',
      `connecting to 127.0.0.1 port ${port} `,
      `port ${port} is open`,
    ],
  );
  sock.destroy();
  srv.close();
});

test('a port that never opens: at most `tries` rounds, within the total time bound', async () => {
  const port = await freePort();
  let knocks = 0;
  const t0 = Date.now();
  const sock = await knockUntilOpen(async () => void knocks++, '127.0.0.1', port, {
    tries: 3,
    totalMs: 60_000,
    firstWindowMs: 200,
  });
  assert.equal(sock, null);
  assert.equal(knocks, 3);
  // Windows 200 + 300 + 450 ms and two 200 ms pauses.
  assert.ok(Date.now() - t0 < 2_500, `${Date.now() - t0} ms`);
  knocks = 0;
  const t1 = Date.now();
  assert.equal(
    await knockUntilOpen(async () => void knocks++, '127.0.0.1', port, {
      tries: 50,
      totalMs: 1_000,
      firstWindowMs: 200,
    }),
    null,
  );
  const took = Date.now() - t1;
  assert.ok(took >= 900 && took < 1_500, `total bound: ${took} ms`);
  assert.ok(knocks < 50);
});

test('probe: connects are retried within the window (a refused one is not final); null when nothing answers', async () => {
  const port = await freePort();
  const srv = net.createServer((c) => c.on('error', () => {}));
  setTimeout(() => srv.listen(port, '127.0.0.1'), 600);
  const s = await probe('127.0.0.1', port, 3_000, 100);
  assert.ok(s !== null);
  s.destroy();
  srv.close();
  assert.equal(await probe('127.0.0.1', port, 300, 100), null);
});
