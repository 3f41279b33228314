/** A daemon wired to in-memory twins, with a hand-driven clock, for tests. */
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/core/config.js';
import { nodeSpaCrypto } from '../../src/adapters/spa-crypto.js';
import { Daemon, type DaemonSettings } from '../../src/daemon/daemon.js';
import type * as P from '../../src/daemon/ports.js';
import { frame } from '../helpers/frames.js';
import {
  FakeCapture,
  FakeDatagrams,
  FakeResolver,
  MemoryFirewall,
  MemoryLogger,
  MemoryOneTime,
  MemoryStateStore,
  RecordingRunner,
} from './twins.js';

export function loaded(conf: string, spa?: P.SpaSettings): P.LoadedConfig {
  const r = parseConfig(conf, 't.conf');
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
  return { config: r.config, oneTime: new Map(), ...(spa === undefined ? {} : { spa }) };
}

export interface HarnessOptions {
  state?: MemoryStateStore;
  settings?: Partial<DaemonSettings>;
  capture?: P.CaptureOpener;
  spa?: P.SpaSettings;
  /** What a reload will load (default: the same text). */
  reloadTo?: () => P.LoadedConfig;
  /** What the daemon starts with (default: the text, parsed). */
  initial?: P.LoadedConfig;
  /** The reload's loader itself (default: one that resolves to reloadTo's). */
  loader?: P.ConfigLoader;
  oneTime?: MemoryOneTime;
  fleet?: P.Fleet;
  /** A clock of the caller's (daemons of one fleet share it); `advance` then does nothing. */
  clock?: () => number;
}

export function harness(conf: string, o: HarnessOptions = {}) {
  let now = 1_000_000;
  const clock = o.clock ?? (() => now);
  const fw = new MemoryFirewall();
  const logger = new MemoryLogger();
  const runner = new RecordingRunner();
  const state = o.state ?? new MemoryStateStore();
  const capture = new FakeCapture(['10.0.0.1', '2001:db8::1']);
  const datagrams = new FakeDatagrams();
  const resolver = new FakeResolver();
  const oneTime = o.oneTime ?? new MemoryOneTime();
  const first = o.initial ?? loaded(conf, o.spa);
  const d = new Daemon(
    first,
    {
      configPath: 't.conf',
      iface: 'x',
      ipv4Only: false,
      lookup: false,
      debug: false,
      ...o.settings,
    },
    {
      logger,
      runner,
      capture: o.capture ?? capture,
      firewall: fw,
      state,
      datagrams,
      resolver,
      oneTime,
      config: o.loader ?? {
        load: () => Promise.resolve({ ok: true, loaded: o.reloadTo?.() ?? loaded(conf, o.spa) }),
      },
      spaCrypto: nodeSpaCrypto,
      now: clock,
      ...(o.fleet === undefined ? {} : { fleet: o.fleet }),
    },
  );
  const knock = (src: string, port: number, proto: 'tcp' | 'udp' = 'tcp') =>
    capture.feed(
      frame({ src, dst: src.includes(':') ? '2001:db8::1' : '10.0.0.1', dport: port, proto }),
      clock(),
    );
  return {
    d,
    fw,
    logger,
    runner,
    state,
    capture,
    datagrams,
    resolver,
    oneTime,
    knock,
    advance: (ms: number) => (now += ms),
    now: clock,
  };
}

/** Lets queued effects (journal writes, commands) run. */
export function settle(ms = 80): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
