import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttemptTable, NONE } from '../../src/core/knock/attempts.js';
import { nearAdd, nearIndex, nearRemove, NEAR } from '../../src/core/knock/attempt-index.js';

test('near counts saturate at 255 and then stay: they can count too many, never too few', () => {
  const near = new Uint8Array(2 * NEAR);
  const h = 0x7ff00000;
  for (let i = 0; i < 300; i++) nearAdd(near, 1, h);
  assert.equal(near[nearIndex(1, h)], 255);
  for (let i = 0; i < 299; i++) nearRemove(near, 1, h);
  assert.equal(near[nearIndex(1, h)], 255, 'a saturated count never drops to 0');
  assert.equal(near[nearIndex(0, h)], 0, 'doors do not share counts');
  nearAdd(near, 0, 5);
  nearAdd(near, 0, 5);
  nearRemove(near, 0, 5);
  assert.equal(near[nearIndex(0, 5)], 1);
});

test('attempt table: every live attempt is found and every removed one is not, through churn at two doors', () => {
  const t = new AttemptTable(2, 99);
  const live = new Map<string, number>();
  const at = (door: number, ip: number) => {
    t.setProbe(4, ip, 0, 0, 0, '');
    return t.find(t.hash(door), door);
  };
  let now = 0;
  // Far more attempts than counts per door, so counts are shared and go up and down.
  for (let round = 0; round < 6; round++) {
    for (let ip = round * 7000; ip < round * 7000 + 20_000; ip++) {
      const door = ip % 3 === 0 ? 1 : 0;
      const k = `${door}/${ip}`;
      if (live.has(k)) continue;
      t.setProbe(4, ip, 0, 0, 0, '');
      live.set(k, t.insert(t.hash(door), door, 4, now++));
    }
    let n = 0;
    for (const [k, a] of live)
      if (n++ % 2 === 0) {
        t.remove(a);
        live.delete(k);
        const [door, ip] = k.split('/').map(Number) as [number, number];
        assert.equal(at(door, ip), NONE, `removed ${k}`);
      }
    for (const [k, a] of live) {
      const [door, ip] = k.split('/').map(Number) as [number, number];
      assert.equal(at(door, ip), a, `live ${k}`);
    }
    assert.equal(t.count, live.size);
  }
});
