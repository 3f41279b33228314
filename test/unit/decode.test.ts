import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, newPacket, Skip, LINKTYPE } from '../../src/core/knock/decode.js';
import { formatIPv6, parseIPv6, canonicalIP } from '../../src/core/ip.js';
import { frame } from '../helpers/frames.js';

function dec(lt: number, b: Uint8Array) {
  const p = newPacket();
  const r = decode(lt, b, 0, b.length, p);
  return { r, p };
}

test('Ethernet IPv4 TCP SYN', () => {
  const { r, p } = dec(
    LINKTYPE.ETHERNET,
    frame({ src: '10.0.0.2', dst: '10.0.0.1', dport: 7000, sport: 1234 }),
  );
  assert.equal(r, Skip.OK);
  assert.deepEqual(
    [p.family, p.src, p.dst, p.proto, p.sport, p.dport, p.flags],
    [4, '10.0.0.2', '10.0.0.1', 'tcp', 1234, 7000, 2],
  );
});

test('UDP over IPv6 with hop-by-hop and destination-options extension headers', () => {
  const b = frame({ src: 'fd00::2', dst: 'fd00::1', proto: 'udp', dport: 8000, ext: [0, 60] });
  const { r, p } = dec(LINKTYPE.ETHERNET, b);
  assert.equal(r, Skip.OK);
  assert.deepEqual(
    [p.family, p.src, p.dst, p.proto, p.dport],
    [6, 'fd00::2', 'fd00::1', 'udp', 8000],
  );
});

test('802.1Q tagged frames decode (knockd drops them)', () => {
  const { r, p } = dec(
    LINKTYPE.ETHERNET,
    frame({ src: '10.0.0.2', dst: '10.0.0.1', dport: 7000, vlan: 5 }),
  );
  assert.equal(r, Skip.OK);
  assert.equal(p.dport, 7000);
});

test('Linux cooked v1 and v2 and raw IP, for IPv4 and IPv6', () => {
  for (const [link, lt] of [
    ['sll', LINKTYPE.LINUX_SLL],
    ['sll2', LINKTYPE.LINUX_SLL2],
    ['raw', LINKTYPE.RAW],
  ] as const) {
    for (const [src, dst] of <[string, string][]>[
      ['10.0.0.2', '10.0.0.1'],
      ['fd00::2', 'fd00::1'],
    ]) {
      const { r, p } = dec(lt, frame({ src, dst, dport: 9000, link }));
      assert.equal(r, Skip.OK, `${link} ${src}`);
      assert.equal(p.src, src);
      assert.equal(p.dport, 9000);
    }
  }
});

test('non-first IPv4 fragments are skipped; truncated frames are reported, not read', () => {
  assert.equal(
    dec(LINKTYPE.ETHERNET, frame({ src: '10.0.0.2', dst: '10.0.0.1', dport: 1, fragOffset: 3 })).r,
    Skip.FRAGMENT,
  );
  const full = frame({ src: '10.0.0.2', dst: '10.0.0.1', dport: 7000 });
  for (let n = 0; n < full.length - 6; n++) {
    const { r } = dec(LINKTYPE.ETHERNET, full.subarray(0, n));
    assert.notEqual(r, Skip.OK, `prefix of ${n} bytes`);
  }
});

test('unknown link types are refused', () => {
  assert.equal(dec(9999, new Uint8Array(64)).r, Skip.LINKTYPE);
});

test('IPv6 text is printed as inet_ntop does', () => {
  const cases: [string, string][] = [
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    ['2001:db8:1:1:1:1:1:1', '2001:db8:1:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
  ];
  for (const [input, want] of cases) assert.equal(formatIPv6(parseIPv6(input)!, 0), want, input);
  assert.equal(canonicalIP('1.2.3'), null);
  assert.equal(canonicalIP('01.2.3.4'), null);
  assert.equal(canonicalIP('1::2::3'), null);
});
