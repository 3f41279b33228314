/**
 * The shipped systemd unit (packaging/knockd.service): its exposure under
 * `systemd-analyze security --offline=true` is at most 2.0, `systemd-analyze
 * verify` accepts it, it keeps the contract scripts/install.sh and the README
 * rely on, and what the daemon reads still works inside its sandbox.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultRouteInterface } from '../../src/adapters/netif.js';
import { parseConfig, type Config } from '../../src/core/config.js';
import { formatPorts } from '../../src/core/port.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const UNIT = path.join(ROOT, 'packaging', 'knockd.service');
const TEXT = fs.readFileSync(UNIT, 'utf8');
const MAX_EXPOSURE = 2.0;
const noAnalyze =
  spawnSync('systemd-analyze', ['--version']).status === 0 ? false : 'no systemd-analyze';

/** Every value of a directive in [Service], in file order. */
function values(key: string): string[] {
  return TEXT.split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}
const one = (key: string): string | undefined => values(key).at(-1);
const words = (key: string): string[] => values(key).join(' ').split(/\s+/).filter(Boolean).sort();

test(
  `systemd-analyze security --offline scores the unit at most ${MAX_EXPOSURE}`,
  {
    skip: noAnalyze,
  },
  () => {
    const out = execFileSync(
      'systemd-analyze',
      ['security', '--offline=true', '--no-pager', UNIT],
      {
        encoding: 'utf8',
      },
    );
    const m = /Overall exposure level for knockd\.service: (\d+\.\d+)/.exec(out);
    assert.ok(m, `no exposure line in:\n${out}`);
    const score = Number(m[1]);
    assert.ok(score <= MAX_EXPOSURE, `exposure ${score} > ${MAX_EXPOSURE}:\n${out}`);
  },
);

test('systemd-analyze verify accepts the unit', { skip: noAnalyze }, () => {
  // ExecStart must name an existing executable and man:knockd(8) must
  // resolve, so verify a copy pointing at this checkout's files.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-unit-'));
  try {
    fs.mkdirSync(path.join(dir, 'man', 'man8'), { recursive: true });
    fs.copyFileSync(
      path.join(ROOT, 'doc', 'man', 'knockd.8'),
      path.join(dir, 'man', 'man8', 'knockd.8'),
    );
    const copy = path.join(dir, 'knockd.service');
    const text = TEXT.replace(
      /^ExecStart=\/usr\/local\/bin\/knockd /m,
      `ExecStart=${path.join(ROOT, 'bin', 'knockd')} `,
    );
    assert.notEqual(text, TEXT, 'ExecStart was not rewritten');
    fs.writeFileSync(copy, text);
    const r = spawnSync('systemd-analyze', ['verify', copy], {
      encoding: 'utf8',
      env: { ...process.env, MANPATH: path.join(dir, 'man') },
    });
    assert.equal(r.status, 0, `verify failed:\n${r.stdout}${r.stderr}`);
    assert.equal(r.stderr.trim(), '', `verify complained:\n${r.stderr}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the unit runs knockd as the knockd user with CAP_NET_RAW and CAP_NET_ADMIN only', () => {
  assert.equal(one('User'), 'knockd');
  assert.equal(one('Group'), 'knockd');
  assert.deepEqual(words('AmbientCapabilities'), ['CAP_NET_ADMIN', 'CAP_NET_RAW']);
  assert.deepEqual(words('CapabilityBoundingSet'), ['CAP_NET_ADMIN', 'CAP_NET_RAW']);
  assert.equal(one('NoNewPrivileges'), 'yes');
  assert.equal(one('ProtectSystem'), 'strict');
  assert.equal(one('Type'), 'notify');
  // Debian's knockd.service reads the same file: replacing it is a file swap.
  assert.equal(one('EnvironmentFile'), '-/etc/default/knockd');
  // scripts/install.sh rewrites exactly this prefix when npm's differs.
  assert.equal(one('ExecStart'), '/usr/local/bin/knockd $KNOCKD_OPTS');
  assert.match(one('ExecReload') ?? '', /kill -HUP \$MAINPID/);
  assert.equal(one('StateDirectory'), 'knockd');
  assert.equal(one('RuntimeDirectory'), 'knockd');
});

/** scripts/install.sh --sample-config, parsed. */
function sample(): Config {
  const text = execFileSync(path.join(ROOT, 'scripts', 'install.sh'), ['--sample-config'], {
    encoding: 'utf8',
  });
  const r = parseConfig(text, '/etc/knockd.conf');
  assert.ok(r.ok, `sample config: ${JSON.stringify(r.ok ? [] : r.problems)}`);
  return r.config;
}

test("the sample config is valid and its paths fit the unit's sandbox", () => {
  const { options: o, doors } = sample();
  assert.equal(o.firewall, 'nftables');
  assert.deepEqual(
    o.include?.map((i) => i.pattern),
    ['/etc/knockd.d/*.conf'],
  );
  // Only RuntimeDirectory and StateDirectory are writable for the knockd user.
  assert.equal(path.dirname(o.controlSocket ?? ''), `/run/${one('RuntimeDirectory')}`);
  assert.ok(o.stateDir === undefined || o.stateDir === `/var/lib/${one('StateDirectory')}`);
  const open = doors.find((d) => d.name === 'openSSH');
  assert.ok(open, 'no openSSH door');
  assert.equal(formatPorts(open.open?.ports ?? []), 'tcp/22');
  assert.equal(open.sequence.length, 3);
  // Drawn at random per install: two samples share a sequence with p ~ 1e-14.
  assert.notDeepEqual(sample().doors[0]?.sequence, open.sequence);
});

test("under the unit's ProcSubset=pid (no /proc/net, only /proc/self/net) the default route is found", () => {
  assert.equal(one('ProcSubset'), 'pid');
  const route =
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
    'ens3\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n';
  const sandboxedProc = (f: string): string => {
    if (f === '/proc/self/net/route') return route;
    if (f === '/proc/self/net/ipv6_route') return '';
    throw Object.assign(new Error(`ENOENT: ${f}`), { code: 'ENOENT' });
  };
  assert.equal(defaultRouteInterface(sandboxedProc), 'ens3');
});
