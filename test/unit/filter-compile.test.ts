import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNative } from '../../src/adapters/capture.js';
import { buildFilter } from '../../src/core/knock/filter.js';
import { LINKTYPE } from '../../src/core/knock/decode.js';

// The filter text is only useful if libpcap compiles it for every link type we capture on.
const SEQ = [
  { port: 7000, proto: 'tcp' as const },
  { port: 8000, proto: 'udp' as const },
];
const cases = (eth: boolean): [string, string][] => [
  [
    'plain',
    buildFilter(
      [{ sequence: SEQ, tcpFlags: { set: 0, clear: 0 } }],
      ['10.0.0.1', 'fd00::1'],
      false,
      eth,
    ),
  ],
  [
    'flags',
    buildFilter([{ sequence: SEQ, tcpFlags: { set: 2, clear: 16 } }], ['10.0.0.1'], false, eth),
  ],
  [
    'target',
    buildFilter(
      [{ sequence: SEQ, tcpFlags: { set: 2, clear: 0 }, target: '2001:db8::7' }],
      [],
      false,
      eth,
    ),
  ],
  [
    'ipv4 only',
    buildFilter([{ sequence: SEQ, tcpFlags: { set: 2, clear: 0 } }], ['10.0.0.1'], true, eth),
  ],
  ['no address', buildFilter([{ sequence: SEQ, tcpFlags: { set: 0, clear: 0 } }], [], false, eth)],
  ['no door', buildFilter([], ['10.0.0.1'], false, eth)],
];

test('generated filters compile with libpcap for Ethernet, cooked v1/v2 and raw IP', () => {
  const nat = loadNative();
  for (const lt of [LINKTYPE.ETHERNET, LINKTYPE.LINUX_SLL, LINKTYPE.LINUX_SLL2, LINKTYPE.RAW]) {
    for (const [name, expr] of cases(lt === LINKTYPE.ETHERNET)) {
      assert.doesNotThrow(
        () => nat.compileFilter(lt, 256, expr),
        `${name} on linktype ${lt}: ${expr}`,
      );
    }
  }
  assert.throws(() => nat.compileFilter(LINKTYPE.ETHERNET, 256, 'tcp dst port'), /filter:/);
});
