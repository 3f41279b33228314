import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultRouteInterface } from '../../src/adapters/netif.js';

const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
ens3\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
ens3\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
`;
const ROUTE6 = `00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 enp1s0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`;

test('the default route names the interface: IPv4 first, then IPv6, else none', () => {
  assert.equal(
    defaultRouteInterface((f) => (f.endsWith('/route') ? ROUTE : ROUTE6)),
    'ens3',
  );
  const noV4 = (f: string) =>
    f.endsWith('/route') ? ROUTE.split('\n').slice(0, 2).join('\n') : ROUTE6;
  assert.equal(defaultRouteInterface(noV4), 'enp1s0');
  assert.equal(
    defaultRouteInterface(() => {
      throw new Error('ENOENT');
    }),
    null,
  );
});
