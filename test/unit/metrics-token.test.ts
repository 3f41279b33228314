import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readMetricsToken } from '../../src/adapters/metrics.js';

// Metrics_Token_File: the bearer token Prometheus sends (authorization:
// credentials_file). A token others can read protects nothing.
test('Metrics_Token_File: a private file with one long token; anything else is refused, naming the file', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-token-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string, mode: number) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    fs.chmodSync(p, mode);
    return p;
  };
  assert.equal(
    readMetricsToken(file('ok', 'abcdefghijklmnop0123\n', 0o600)),
    'abcdefghijklmnop0123',
  );
  const refused: [string, RegExp][] = [
    [file('open', 'abcdefghijklmnop0123\n', 0o640), /mode 640 lets others read it/],
    [file('short', 'abc\n', 0o600), /16 or more characters/],
    [file('two', 'abcdefghijklmnop one\n', 0o600), /one token/],
    [dir, /not a regular file/],
    [path.join(dir, 'missing'), /ENOENT/],
  ];
  for (const [p, why] of refused)
    assert.throws(
      () => readMetricsToken(p),
      (e: Error) => e.message.startsWith(`Metrics_Token_File '${p}': `) && why.test(e.message),
      p,
    );
});
