/**
 * Grant changes as nf_tables netlink messages (issue #11): the encoder says
 * what the text lines say, byte for byte where nft showed us the bytes, and
 * the library applier sends them as one batch, falling back to text where
 * the kernel refuses them. The kernel itself judges in t-fw-nftlib.sh.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nftChangeMessages } from '../../src/core/grants/netlink.js';
import { nftGrantLine, nftRevokeLine } from '../../src/core/grants/render.js';
import type { Grant } from '../../src/core/grants/grants.js';
import { LibraryApplier } from '../../src/adapters/nft-lib.js';
import { NftLibraryTwin } from '../fakes/nft-twin.js';

const NOW = Date.UTC(2026, 10, 26, 5, 0, 0);
const g = (address: string, over: Partial<Grant> = {}): Grant => ({
  door: 'openSSH',
  address,
  family: address.includes(':') ? 6 : 4,
  ports: [{ proto: 'tcp', port: 22 }],
  expires: NOW + 30_000,
  ...over,
});

/** nft's text with its durations in ms, as the twin prints decoded messages. */
const inMs = (text: string) =>
  text.replace(/timeout (\d+)s\b/g, (_, s: string) => `timeout ${Number(s) * 1000}ms`);

/** The messages, decoded by the twin (attribute by attribute), applied to an empty table. */
function decoded(messages: Buffer): string {
  const lib = new NftLibraryTwin();
  lib.sets = new Map([
    ['grants4', new Set()],
    ['grants6', new Set()],
  ]);
  lib.batch(messages);
  return lib.runs[0]!.text;
}

test('an open, a refresh and a close decode to the text lines, for IPv4, IPv6, tcp and udp', () => {
  const two = [
    { proto: 'tcp' as const, port: 22 },
    { proto: 'udp' as const, port: 51820 },
  ];
  for (const grant of [
    g('192.0.2.7'),
    g('2001:db8::7', { ports: two }),
    g('10.0.0.1', { ports: two }),
  ]) {
    for (const refresh of [false, true]) {
      const m = nftChangeMessages({ open: grant, refresh }, NOW);
      assert.ok(m !== null);
      assert.equal(decoded(m), inMs(nftGrantLine(grant, NOW, refresh)!));
    }
    const close = nftChangeMessages({ close: grant }, NOW);
    assert.equal(decoded(close!), nftRevokeLine(grant));
    // A close and an open together: the close first, as in the text.
    const both = nftChangeMessages({ close: grant, open: g('192.0.2.99') }, NOW);
    assert.equal(
      decoded(both!),
      `${nftRevokeLine(grant)}; ${inMs(nftGrantLine(g('192.0.2.99'), NOW)!)}`,
    );
  }
});

test('the key bytes are the ones nft --debug=netlink showed for 10.1.2.3 . tcp . 22 and fd00::1 . tcp . 22', () => {
  // nft printed "element 0302010a 00000006 00001600" (host-order words, x86).
  const m4 = nftChangeMessages({ open: g('10.1.2.3'), refresh: false }, NOW)!;
  assert.ok(m4.includes(Buffer.from('0a010203060000000016' + '0000', 'hex')));
  assert.ok(m4.includes(Buffer.from('knockd\0', 'latin1')));
  assert.ok(m4.includes(Buffer.from('grants4\0', 'latin1')));
  // The timeout: NLA_U64 in ms, network order, right after the key.
  assert.ok(m4.includes(Buffer.from('00000000000075' + '30', 'hex')));
  const m6 = nftChangeMessages({ open: g('fd00::1'), refresh: false }, NOW)!;
  const key6 = 'fd000000000000000000000000000001' + '06000000' + '00160000';
  assert.ok(m6.includes(Buffer.from(key6, 'hex')));
  // Every message's length field covers it exactly, 4-byte aligned.
  for (const m of [m4, m6]) {
    let at = 0;
    while (at < m.length) {
      const len = m.readUInt32LE(at);
      assert.equal(len % 4, 0);
      at += len;
    }
    assert.equal(at, m.length);
  }
});

test('nothing to send, or an address that does not parse: null (the text path decides)', () => {
  assert.equal(nftChangeMessages({}, NOW), null);
  assert.equal(nftChangeMessages({ open: g('192.0.2.1', { expires: NOW }) }, NOW), null);
  assert.equal(nftChangeMessages({ open: g('192.0.2.300') }, NOW), null);
});

test('the applier sends a change as one batch; a batch the kernel refuses goes as text, then text for good', async () => {
  const lib = new NftLibraryTwin();
  lib.sets = new Map([
    ['grants4', new Set()],
    ['grants6', new Set()],
  ]);
  const debug: string[] = [];
  const errors: string[] = [];
  const a = new LibraryApplier(lib, (m) => debug.push(m));
  a.onError = (m) => errors.push(m);
  const change = (address: string) => ({
    text: () => nftGrantLine(g(address), NOW, false)!,
    messages: nftChangeMessages({ open: g(address), refresh: false }, NOW),
  });
  a.apply(change('192.0.2.1'));
  assert.equal(lib.runs.length, 1);
  assert.equal(lib.runs[0]!.batch, true, 'a lone change went as messages');
  await Promise.resolve();
  // The rest of a turn: one batch.
  a.apply(change('192.0.2.2'));
  a.apply(change('192.0.2.3'));
  a.apply(change('192.0.2.4'));
  await Promise.resolve();
  assert.equal(lib.runs.length, 3);
  assert.equal(lib.runs[2]!.batch, true);
  assert.equal(lib.runs[2]!.text.split('; ').length, 2, 'two queued changes in one batch');
  // A change with no messages (it did not encode) takes the text path.
  a.apply({ text: change('192.0.2.5').text, messages: null });
  assert.equal(lib.runs.at(-1)!.batch, undefined);
  await Promise.resolve();
  // The kernel refuses our messages, nft's text works: text from now on.
  lib.failBatches = 'netlink: Invalid argument';
  a.apply(change('192.0.2.6'));
  assert.deepEqual(
    lib.runs.slice(-2).map((r) => r.batch ?? false),
    [true, false],
  );
  assert.match(
    debug[0]!,
    /netlink batch failed \(netlink: Invalid argument\); changes go to libnftables as text/,
  );
  await Promise.resolve();
  const n = lib.runs.length;
  a.apply(change('192.0.2.7'));
  assert.equal(lib.runs.length, n + 1);
  assert.equal(lib.runs.at(-1)!.batch, undefined, 'no batch is tried again');
  assert.deepEqual(
    lib.elements(),
    [1, 2, 3, 4, 5, 6, 7].map((i) => `192.0.2.${i} . tcp . 22`),
  );
  assert.deepEqual(errors, []);
});
