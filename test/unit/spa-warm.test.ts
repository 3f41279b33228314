/**
 * Issue #11 (SPA-to-open latency): the verifier is warmed when SPA is
 * configured, so the first packet does not pay lazy compilation and
 * node:crypto's first use (4-6 ms); and the one-shot hash gives the same
 * digests as createHash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseAccessConf, type Stanza } from '../../src/core/spa/access.js';
import type { SpaCrypto } from '../../src/core/spa/spa.js';
import { nodeSpaCrypto } from '../../src/adapters/spa-crypto.js';
import { SpaService } from '../../src/daemon/spa-service.js';
import { BACKGROUND_ROUNDS, WARM_ROUNDS, warmVerifier } from '../../src/daemon/spa-warm.js';
import type { GrantKeeper } from '../../src/daemon/grant-keeper.js';
import type { DatagramBinder } from '../../src/daemon/ports.js';
import { LogLimiter } from '../../src/core/ratelimit.js';

function stanzas(digests: string[]): Stanza[] {
  const text = digests
    .map(
      (d) =>
        `SOURCE ANY\nKEY_BASE64 ${crypto.randomBytes(32).toString('base64')}\n` +
        `HMAC_KEY_BASE64 ${crypto.randomBytes(64).toString('base64')}\nHMAC_DIGEST_TYPE ${d}\nOPEN_PORTS tcp/22\n`,
    )
    .join('');
  const r = parseAccessConf(text, 'access.conf');
  assert.ok('stanzas' in r);
  return 'stanzas' in r ? r.stanzas : [];
}

const NO_SOCKETS: DatagramBinder = { bind: () => Promise.reject(new Error('no sockets here')) };

/** A SpaService with quiet logs and no journal; its sockets come from `binder`. */
const service = (c: SpaCrypto, binder: DatagramBinder = NO_SOCKETS) =>
  new SpaService(
    binder,
    c,
    {} as GrantKeeper,
    { log() {}, verbose() {}, debug() {}, error() {}, configure() {}, close() {} },
    new LogLimiter(5, 50),
    () => 2_000_000_000_000,
    () => {},
  );

/** A clock that never moves: the time bounds never cut a round short. */
const still = () => 0;

function counting(): { c: SpaCrypto; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const count = (k: string) => (calls[k] = (calls[k] ?? 0) + 1);
  const b = nodeSpaCrypto;
  return {
    calls,
    c: {
      hash: (a, d) => (count('hash'), b.hash(a, d)),
      hmac: (a, k, d) => (count('hmac'), b.hmac(a, k, d)),
      aes: (x, m, k, iv, d) => (count('aes'), b.aes(x, m, k, iv, d)),
      equal: (x, y) => (count('equal'), b.equal(x, y)),
      random: (n) => (count('random'), b.random(n)),
    },
  };
}

test('configuring SPA runs a packet through the verifier, touching no replay cache, counter or log', async () => {
  const { c, calls } = counting();
  const lines: string[] = [];
  const logger = {
    log: (m: string) => lines.push(m),
    verbose: () => {},
    debug: () => {},
    error: (m: string) => lines.push(m),
    configure: () => {},
    close: () => {},
  };
  let burns = 0;
  const spa = new SpaService(
    { bind: () => Promise.reject(new Error('no sockets here')) },
    c,
    {} as GrantKeeper,
    logger,
    new LogLimiter(5, 50),
    () => 2_000_000_000_000,
    () => burns++,
  );
  await spa.configure({ stanzas: stanzas(['sha256']), port: 62201, socket: false });
  // Encrypt and decrypt, the HMAC both ways: the primitives the first packet would meet cold.
  assert.ok((calls.aes ?? 0) >= 2, `aes calls: ${calls.aes}`);
  assert.ok((calls.hmac ?? 0) >= 2, `hmac calls: ${calls.hmac}`);
  assert.equal(spa.replay.size, 0);
  assert.equal(spa.counters.accepted, 0);
  assert.equal(spa.counters.rejected.size, 0);
  assert.equal(burns, 0);
  assert.deepEqual(lines, []);
});

test('the background rounds run between turns of the event loop and stop at a reload or close', async () => {
  const turns = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
  };
  const all = counting();
  const a = service(all.c);
  await a.configure({ stanzas: stanzas(['sha256']), port: 62201, socket: false });
  const atOnce = all.calls.hmac ?? 0;
  assert.equal(atOnce, 1 + WARM_ROUNDS, 'configure returns after the first rounds');
  await turns(BACKGROUND_ROUNDS);
  assert.equal(all.calls.hmac, atOnce + BACKGROUND_ROUNDS);

  const closed = counting();
  const b = service(closed.c);
  await b.configure({ stanzas: stanzas(['sha256']), port: 62201, socket: false });
  b.close();
  const before = closed.calls.hmac;
  await turns(10);
  assert.equal(closed.calls.hmac, before, 'nothing runs after close');

  const reloaded = counting();
  const d = service(reloaded.c);
  await d.configure({ stanzas: stanzas(['sha256']), port: 62201, socket: false });
  await d.configure(undefined);
  const then = reloaded.calls.hmac;
  await turns(10);
  assert.equal(reloaded.calls.hmac, then, 'a new configuration stops the old warm-up');
});

test('close() during the bind of a reload: the new socket is closed and no warm-up starts', async () => {
  const { c, calls } = counting();
  let release: (() => void) | undefined;
  let binding: () => void = () => {};
  const bindStarted = new Promise<void>((resolve) => (binding = resolve));
  let closed = 0;
  const spa = service(c, {
    bind: () =>
      new Promise((resolve) => {
        release = () => resolve({ close: () => closed++ });
        binding();
      }),
  });
  const reload = spa.configure({ stanzas: stanzas(['sha256']), port: 62201, socket: true });
  await bindStarted;
  spa.close();
  release!();
  await reload;
  assert.equal(closed, 1, 'the socket bound after close() is closed');
  assert.equal(calls.hmac ?? 0, 0, 'no warm-up after close()');
});

test('close() during the first configure with SPA on (the verifier import): nothing is bound, no warm-up', async () => {
  const { c, calls } = counting();
  let binds = 0;
  const spa = service(c, {
    bind: () => {
      binds++;
      return Promise.resolve({ close: () => {} });
    },
  });
  // The first configuration with SPA on imports the verifier before anything else.
  const first = spa.configure({ stanzas: stanzas(['sha256']), port: 62201, socket: true });
  spa.close();
  await first;
  assert.equal(binds, 0, 'no socket bound after close()');
  assert.equal(calls.hmac ?? 0, 0, 'no warm-up after close()');
});

test('warmVerifier: one packet per kind of stanza, each verifies; a failing primitive is not an error', () => {
  const s = stanzas(['sha256', 'sha512', 'sha256']);
  assert.equal(warmVerifier(s, nodeSpaCrypto, 2_000_000_000, still).verified, 2);
  const broken: SpaCrypto = { ...nodeSpaCrypto, aes: () => null };
  const none = warmVerifier(s, broken, 2_000_000_000, still);
  assert.equal(none.verified, 0);
  assert.equal(none.more, undefined, 'no background rounds for a packet that does not verify');
});

test('warmVerifier runs each packet against the configured stanzas, then the background rounds in slices', () => {
  const { c, calls } = counting();
  const w = warmVerifier(stanzas(['sha256', 'sha512']), c, 2_000_000_000, still);
  // One HMAC to build each kind's packet. The second kind's packet meets the
  // first stanza (SOURCE ANY) before its own, as a real one does: two HMACs
  // a round. (An edited copy of the stanza alone would have been one.)
  assert.equal(calls.hmac, 2 + WARM_ROUNDS + 2 * (WARM_ROUNDS / 4));
  let slices = 0;
  while (w.more?.() === true) slices++;
  assert.ok(slices > 1, `${slices} slices`);
  assert.equal(calls.hmac, 2 + WARM_ROUNDS + 2 * (WARM_ROUNDS / 4) + BACKGROUND_ROUNDS);
  const broken = counting();
  // The packet's HMAC never matches: the first round fails and no more run.
  const b = warmVerifier(
    stanzas(['sha256']),
    { ...broken.c, equal: () => false },
    2_000_000_000,
    still,
  );
  assert.equal(broken.calls.hmac, 2);
  assert.equal(b.more, undefined);
});

test('the warm-up is bounded in time: 50 ms at configure, slices of 4 ms, and no background when one round is slower', () => {
  const { c, calls } = counting();
  let t = 0;
  // Every read of the clock is 10 ms later: each round "takes" 10 ms.
  const w = warmVerifier(stanzas(['sha256']), c, 2_000_000_000, () => (t += 10));
  const atOnce = calls.hmac ?? 0;
  assert.ok(atOnce > 2 && atOnce < 1 + WARM_ROUNDS, `${atOnce} HMACs at configure`);
  let slices = 0;
  while (w.more?.() === true) slices++;
  // One round a slice, each over the 4 ms: the third such slice ends the background.
  assert.equal(slices, 2);
  assert.equal(calls.hmac, atOnce + 3);
});

test('after the warm-up V8 runs the verifier optimised, and packets unlike the warm-up keep it so', () => {
  // Before: the warm-up's arrays and an edited copy of the stanza had other
  // shapes than a real packet's, and V8 threw its optimised code away ("wrong
  // map"). Read from V8's own trace; compilation on the main thread, so the
  // trace's order is the program's.
  const helper = fileURLToPath(new URL('../helpers/spa-warm-deopt.js', import.meta.url));
  const r = spawnSync(
    process.execPath,
    ['--trace-opt', '--trace-deopt-verbose', '--no-concurrent-recompilation', helper],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const done = lines.indexOf('warm-up done');
  assert.ok(done > 0 && lines.includes('real packets verified'), r.stdout.slice(-2000));
  const optimised = lines.findIndex((l) =>
    /completed compiling .*<JSFunction evaluateSpa /.test(l),
  );
  assert.ok(optimised >= 0 && optimised < done, 'evaluateSpa is optimised during the warm-up');
  // Every bailout of our code (V8 names the source position a line or two after it).
  const ours = lines.flatMap((l, i) =>
    l.startsWith('[bailout (') && lines.slice(i + 1, i + 4).some((n) => n.includes('/dist/src/'))
      ? [l.replace(/0x[0-9a-f]+/g, '')]
      : [],
  );
  assert.deepEqual(ours, []);
});

test('the one-shot hash gives createHash digests for every algorithm the verifier uses', () => {
  const data = crypto.randomBytes(300);
  for (const alg of ['md5', 'sha1', 'sha256', 'sha384', 'sha512', 'sha3-256', 'sha3-512'] as const)
    assert.deepEqual(
      Buffer.from(nodeSpaCrypto.hash(alg, data)),
      crypto.createHash(alg).update(data).digest(),
      alg,
    );
});
