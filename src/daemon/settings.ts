/** What the daemon is given: its command-line settings and its adapters (ports.ts). */
import type { SpaCrypto } from '../core/spa/spa.js';
import type * as P from './ports.js';

export interface DaemonSettings {
  configPath: string;
  iface: string;
  ipv4Only: boolean;
  /** -l: reverse DNS names in log lines. */
  lookup: boolean;
  debug: boolean;
}

export interface DaemonDeps {
  logger: P.Logger;
  runner: P.CommandRunner;
  capture: P.CaptureOpener;
  firewall: P.Firewall;
  state: P.StateStore;
  datagrams: P.DatagramBinder;
  resolver: P.Resolver;
  oneTime: P.OneTimeStore;
  config: P.ConfigLoader;
  spaCrypto: SpaCrypto;
  /** gpg for GPG SPA packets; NO_GPG (they are rejected) when absent. */
  spaGpg?: P.SpaGpg;
  now: P.Clock;
  /** Shared grants ([options] Fleet); NO_FLEET when absent. */
  fleet?: P.Fleet;
}
