/**
 * The log file is written at the end of each job (issue #11): on the packet
 * path the firewall change comes first and the append after it. Nothing is
 * lost or reordered: errors, close() and a long job write at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KnockdLogger } from '../../src/adapters/logger.js';

function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-log-'));
  const file = path.join(dir, 'knockd.log');
  const sys: string[] = [];
  const stderr: string[] = [];
  const logger = new KnockdLogger({
    logFile: file,
    verbose: false,
    debug: false,
    now: () => new Date(2026, 10, 26, 5, 30),
    syslog: (m) => sys.push(m),
    stderr: (s) => stderr.push(s),
  });
  const read = () => fs.readFileSync(file, 'utf8');
  return { logger, read, sys, stderr };
}

test('a job’s lines are appended when it ends, in order, with the time they were logged at', async () => {
  const { logger, read, sys } = setup();
  logger.log('10.0.0.2: SPA: accepted');
  logger.log('10.0.0.2: SPA: open tcp/22');
  assert.equal(read(), '', 'nothing written inside the job');
  assert.deepEqual(sys, []);
  await Promise.resolve();
  assert.equal(
    read(),
    '[2026-11-26 05:30] 10.0.0.2: SPA: accepted\n[2026-11-26 05:30] 10.0.0.2: SPA: open tcp/22\n',
  );
  assert.deepEqual(sys, ['10.0.0.2: SPA: accepted', '10.0.0.2: SPA: open tcp/22']);
  logger.close();
});

test('an error writes at once, after the lines before it; close() writes what is pending', () => {
  const { logger, read, stderr } = setup();
  logger.log('first');
  logger.error('broken');
  assert.equal(read(), '[2026-11-26 05:30] first\n[2026-11-26 05:30] broken\n');
  assert.deepEqual(stderr, ['broken\n']);
  logger.log('last');
  logger.close();
  assert.match(read(), /broken\n\[2026-11-26 05:30\] last\n$/);
});

test('a job that logs a lot writes as it goes: pending text stays bounded', () => {
  const { logger, read } = setup();
  const line = 'x'.repeat(1000);
  for (let i = 0; i < 200; i++) logger.log(line);
  const written = read().length;
  assert.ok(written > 100_000, `only ${written} bytes written during the job`);
  logger.close();
  assert.equal(read().split('\n').length - 1, 200);
});

test('under systemd (journal on stderr) a job’s lines wait for its end too, in one write, before an error', async () => {
  const stderr: string[] = [];
  const logger = new KnockdLogger({
    journal: true,
    verbose: false,
    debug: false,
    now: () => new Date(2026, 10, 26, 5, 30),
    stderr: (s) => stderr.push(s),
  });
  logger.log('10.0.0.2: SPA: accepted');
  logger.log('10.0.0.2: SPA: open tcp/22');
  assert.deepEqual(stderr, [], 'nothing written inside the job');
  await Promise.resolve();
  assert.deepEqual(stderr, ['10.0.0.2: SPA: accepted\n10.0.0.2: SPA: open tcp/22\n']);
  logger.log('before');
  logger.error('broken');
  assert.deepEqual(stderr.slice(1), ['before\n', 'broken\n']);
  logger.log('last');
  logger.close();
  assert.equal(stderr.at(-1), 'last\n');
});
