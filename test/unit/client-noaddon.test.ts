/**
 * The client must install and run with no capture addon and no compiler:
 * (1) nothing reachable from the knock CLI imports the capture adapter or a
 * .node file; (2) a copy of the build with no native/ directory, run with
 * process.dlopen booby-trapped, knocks, confirms an open port and relays a
 * --proxy connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sequenceFor, stepIndex, TOTP_DEFAULTS } from '../../src/core/knock/totp.js';
import { nodeTotpHmac } from '../../src/client/totp.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '..', '..'); // dist/
const root = path.resolve(dist, '..');
const CLIENT_ENTRY = path.join(dist, 'src', 'cli', 'knock.js');

/** Relative imports (static and dynamic) of every module reachable from `entry`. */
function importGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const f = todo.pop() as string;
    if (seen.has(f)) continue;
    seen.add(f);
    const text = fs.readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      const spec = m[1] as string;
      if (spec.startsWith('.')) todo.push(path.resolve(path.dirname(f), spec));
      else if (spec.endsWith('.node')) seen.add(spec);
    }
  }
  return seen;
}

test('nothing the knock CLI imports reaches the capture adapter or a native addon', () => {
  const graph = [...importGraph(CLIENT_ENTRY)].map((f) => path.relative(dist, f));
  assert.ok(graph.includes(path.join('src', 'client', 'splice.js')), 'the walk follows imports');
  const bad = graph.filter((f) => /capture|\.node$|createRequire/.test(f));
  assert.deepEqual(bad, []);
  for (const f of graph)
    if (f.endsWith('.js'))
      assert.doesNotMatch(
        fs.readFileSync(path.join(dist, f), 'utf8'),
        /createRequire|process\.dlopen|knockpcap/,
        f,
      );
  // The check can fail: the daemon's graph does reach the adapter.
  const daemon = [...importGraph(path.join(dist, 'src', 'cli', 'knockd.js'))];
  assert.ok(daemon.some((f) => f.endsWith(path.join('adapters', 'capture.js'))));
});

function run(
  cwd: string,
  args: string[],
  env: Record<string, string>,
  stdin = '',
): Promise<{ code: number | null; out: string; err: string }> {
  const trap = path.join(cwd, 'trap.cjs');
  const p = spawn(
    process.execPath,
    ['--require', trap, path.join(cwd, 'src', 'cli', 'knock.js'), ...args],
    {
      cwd,
      env: { ...process.env, ...env },
    },
  );
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  p.stdin.end(stdin);
  return new Promise((resolve) => p.on('close', (code) => resolve({ code, out, err })));
}

test('the client runs from a build with no native addon at all', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'knock-noaddon-'));
  try {
    // dist/src only (no native/, no knockpcap.node anywhere under it), plus the npm packages.
    fs.cpSync(path.join(dist, 'src'), path.join(tmp, 'src'), { recursive: true });
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(tmp, 'node_modules'));
    fs.writeFileSync(path.join(tmp, 'package.json'), '{"type":"module"}');
    assert.equal(fs.existsSync(path.join(tmp, 'native')), false);
    fs.writeFileSync(
      path.join(tmp, 'trap.cjs'),
      "process.dlopen = (m, f) => { throw new Error('native addon loaded: ' + f); };\n",
    );
    const srv = net.createServer({ allowHalfOpen: true }, (c) => {
      c.on('data', (d: Buffer) => c.write(d.toString().toUpperCase()));
      c.on('end', () => c.end());
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as net.AddressInfo).port;
    fs.mkdirSync(path.join(tmp, 'xdg', 'knock'), { recursive: true });
    fs.writeFileSync(
      path.join(tmp, 'xdg', 'knock', 'hosts'),
      `Host here\n  Address 127.0.0.1\n  Sequence 7000,8000:udp\n  Open tcp/${port}\n`,
    );
    const env = { XDG_CONFIG_HOME: path.join(tmp, 'xdg') };
    let r = await run(tmp, ['-v', '127.0.0.1', '7000', '8000:udp'], env);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'hitting tcp 127.0.0.1:7000\nhitting udp 127.0.0.1:8000\n');
    r = await run(tmp, ['-v', 'here'], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`port ${port} is open`));
    r = await run(tmp, ['--proxy', 'here', String(port)], env, 'relay me');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'RELAY ME');
    // TOTP through the CLI agrees with the core's sequenceFor (the daemon's function).
    fs.writeFileSync(
      path.join(tmp, 'xdg', 'knock', 'otp.secret'),
      'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n',
    );
    fs.chmodSync(path.join(tmp, 'xdg', 'knock', 'otp.secret'), 0o600);
    fs.appendFileSync(
      path.join(tmp, 'xdg', 'knock', 'hosts'),
      'Host otp\n  Address 127.0.0.1\n  TOTP_Secret_File otp.secret\n  Sequence_Length 5\n  Port_Range 30000-30999\n',
    );
    const secret = new TextEncoder().encode('12345678901234567890');
    const params = { ...TOTP_DEFAULTS, length: 5, portMin: 30000, portMax: 30999 };
    const expect = (t: number) =>
      sequenceFor(secret, stepIndex(t, 30), params, nodeTotpHmac)
        .map((x) => `${x.port}:tcp`)
        .join(' ');
    const before = expect(Date.now());
    r = await run(tmp, ['--totp-show', 'otp'], env);
    const after = expect(Date.now());
    assert.equal(r.code, 0, r.err);
    const shown = r.out.replace(/ {2}\(\d+ s left\)\n$/, '');
    assert.ok(shown === before || shown === after, `${r.out} vs ${before}`);
    fs.chmodSync(path.join(tmp, 'xdg', 'knock', 'otp.secret'), 0o644);
    r = await run(tmp, ['--totp-show', 'otp'], env);
    assert.equal(r.code, 74);
    assert.match(r.err, /permissions 0644 are too open/);
    srv.close();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
