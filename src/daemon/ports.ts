/**
 * The daemon's contracts: every effect it needs from the outside world, as
 * small interfaces. Adapters implement them (src/adapters), in-memory twins
 * implement them for tests (test/fakes), and the daemon depends on nothing
 * else. Absent features are null objects (see NULL_* below), never `null`.
 */
import type { Config, OneTimeLine } from '../core/config.js';
import type { ConfigProblem } from '../core/errors.js';
import type { Grant } from '../core/grants/grants.js';
import type { JournalState } from '../core/grants/journal.js';
import type { PortSpec } from '../core/port.js';
import type { Stanza } from '../core/spa/access.js';

/** knockd's log outputs: file, syslog, stdout for -v/-D, stderr for errors. */
export interface Logger {
  /** A knockd log message: file, syslog and (with -v) stdout. */
  log(msg: string): void;
  /** Verbose-only message to stdout (knockd's vprint). */
  verbose(msg: string): void;
  /** Debug-only message to stdout (knockd's dprint). */
  debug(msg: string): void;
  /** Errors go to stderr and to the log. */
  error(msg: string): void;
  /** Re-points the outputs after a reload ([options] LogFile, UseSyslog). */
  configure(cfg: Config): void;
  close(): void;
}

export interface RunResult {
  /** Exit status, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

/** Runs knockd-compatible command text through /bin/sh -c. Never rejects. */
export interface CommandRunner {
  run(command: string): Promise<RunResult>;
}

/** Runs an argv array with no shell (fwknopd's execvp for CMD_CYCLE lines). Never rejects. */
export interface ArgvRunner {
  runArgv(argv: readonly string[]): Promise<RunResult>;
}

export function isArgvRunner(r: object): r is ArgvRunner {
  return typeof (r as Partial<ArgvRunner>).runArgv === 'function';
}

export type FirewallKind = 'iptables' | 'nftables' | 'memory' | 'none';

export interface GrantChange {
  open?: Grant;
  close?: Grant;
  refresh?: boolean;
}

/** A native firewall backend that owns one chain or table. */
export interface Firewall {
  readonly kind: FirewallKind;
  /** Checks the tools and kernel support; creates our chain/table. Throws KnockError. */
  init(): Promise<void>;
  /** Ports the guard protects (nftables); others ignore it. */
  setGuarded(ports: readonly PortSpec[]): void;
  /** Makes the firewall match `grants` exactly. Throws on failure. */
  sync(grants: readonly Grant[], now: number): Promise<void>;
  /**
   * Fast path for one change, without a process per change. Returns false
   * when it cannot take it (the caller then does a full sync). Errors
   * surface later through `onError`.
   */
  update(change: GrantChange, now: number): boolean;
  /** Where the fast path reports a failed change; the caller should resync. */
  onError: (message: string) => void;
  close(): void;
}

/** The journal: grants, pending stop commands and burned SPA digests. */
export interface StateStore {
  /**
   * The saved state, and warnings: a journal set aside, bad entries skipped.
   * Throws KnockError E_STATE when the state directory or journal is unsafe.
   */
  load(): { state: JournalState; warnings: string[] };
  save(state: JournalState): void;
}

export interface CaptureStats {
  received: number;
  dropped: number;
  ifdropped: number;
}

/** One captured frame: `buf[off, off+caplen)` is valid only during the call. */
export type FrameHandler = (buf: Buffer, off: number, caplen: number, tsMs: number) => void;

export interface CaptureSource {
  readonly linktype: number;
  setFilter(expr: string): void;
  start(onFrame: FrameHandler, onError: (message: string) => void): void;
  stats(): CaptureStats | null;
  close(): void;
}

export interface CaptureOpener {
  /** Opens capture; throws KnockError when the interface cannot be opened. */
  open(iface: string, snaplen: number): CaptureSource;
  /** The interface's addresses (re-read: DHCP and PPP change them). */
  addresses(iface: string, ipv4Only: boolean): string[];
}

/** A plain UDP receiver for SPA_Receive = socket. */
export interface DatagramReceiver {
  close(): void;
}

export interface DatagramBinder {
  /**
   * Binds a dual-stack UDP socket on `port`; resolves once bound, rejects
   * (KnockError) when the port is taken, so a squatter cannot disable SPA
   * silently. `src` is the sender's address as the socket reports it.
   */
  bind(port: number, onMessage: (msg: Buffer, src: string) => void): Promise<DatagramReceiver>;
}

/** One gpg run for a GPG SPA packet: the stanza's gpg, keyring and passphrase. */
export interface GpgRequest {
  exe: string;
  homeDir: string;
  /** Given to gpg on a pipe, never in argv; undefined: the key has none. */
  passphrase?: string;
  /** The binary OpenPGP message, given on stdin. */
  ciphertext: Uint8Array;
}

export type GpgResult =
  { ok: true; status: string; plaintext: Uint8Array } | { ok: false; reason: string };

/**
 * Decrypts and verifies with gpg (adapters/spa-gpg.ts). Never rejects: a
 * failed run is `ok: false`; a run whose status lines say the decryption or
 * signature failed is `ok: true`, for the core to read.
 */
export interface SpaGpg {
  decrypt(req: GpgRequest): Promise<GpgResult>;
}

/** When no gpg is wired in (pcap replay): GPG packets are rejected. */
export const NO_GPG: SpaGpg = {
  decrypt: () => Promise.resolve({ ok: false, reason: 'GPG decryption is not available here' }),
};

/** Reverse DNS for -l. Resolves null when there is no name; never rejects. */
export interface Resolver {
  reverse(address: string): Promise<string | null>;
}

/** The one-time sequences files: mark a line used, read what is left. */
export interface OneTimeStore {
  /** Writes '#' at `offset` and syncs; throws on failure. */
  markUsed(path: string, offset: number): void;
  read(path: string): { usable: OneTimeLine[] } | { error: string };
}

export interface LoadedConfig {
  config: Config;
  /** Parsed SPA_Access stanzas, when SPA is configured. */
  spa?: SpaSettings;
  /** Door index -> the one-time line in use for it. */
  oneTime: Map<number, OneTimeLine>;
}

export interface SpaSettings {
  stanzas: Stanza[];
  /** access.conf warnings (ignored lines, unknown names), logged when the settings are applied. */
  warnings?: ConfigProblem[];
  port: number;
  socket: boolean;
}

export interface ConfigLoader {
  load(): Promise<{ ok: true; loaded: LoadedConfig } | { ok: false; problems: ConfigProblem[] }>;
}

export type Clock = () => number;

/** The firewall when [options] Firewall is not set: no backend, nothing to sync. */
export const NO_FIREWALL: Firewall = {
  kind: 'none',
  init: () => Promise.resolve(),
  setGuarded: () => {},
  sync: () => Promise.resolve(),
  update: () => true,
  onError: () => {},
  close: () => {},
};

/**
 * One change the fleet carries. An open names a door and never ports: the
 * receiver opens that door's own Open ports, so a fleet (or a Redis an
 * attacker controls) can open only what the receiver's shared doors allow.
 * `ttlMs` is relative, so clocks of the group need not agree.
 */
export type FleetOp =
  /** `closed`: ports a shared Close took from the stored grant since it opened (read at sync). */
  | { op: 'open'; door: string; address: string; ttlMs: number; closed?: PortSpec[] }
  | { op: 'revoke'; address: string; door?: string }
  | { op: 'close'; address: string; ports: PortSpec[] };

/** Where a remote change came from: the daemon's Fleet_Host name. */
export interface FleetHandlers {
  onRemote(op: FleetOp, host: string): void;
}

export interface FleetStatus {
  enabled: boolean;
  group: string;
  /** The Redis URL without its password. */
  url: string;
  connected: boolean;
  /** Other daemons whose heartbeat is live, by Fleet_Host name. */
  peers: string[];
  /** Epoch ms of the last full read of the group's grants, or null. */
  lastSync: number | null;
  /** Changes waiting to be written (bounded). */
  queued: number;
  counters: { published: number; received: number; rejected: number; dropped: number };
}

/** A grant as the group stores it, for `knockctl grants --fleet`. */
export interface FleetGrant {
  door: string;
  address: string;
  host: string;
  ttlMs: number;
  /** Ports a shared Close took from it (the receiver opens the door's Open ports but these). */
  closed?: PortSpec[];
}

/** One knock on a shared door, for the group's attempt table (fleet-attempt-script.ts). */
export interface FleetKnock {
  door: string;
  /** The knocking source, canonical. */
  source: string;
  /** The knock's token (`t7000`) and the door's sequence as tokens. */
  token: string;
  sequence: readonly string[];
  /** The door's seq_timeout in ms: the attempt's TTL from its first knock. */
  timeoutMs: number;
}

/** The group's attempt progress of shared doors. */
export interface FleetAttemptStore {
  /** Whether steps can be sent now (false: the daemon works on its local attempts only). */
  readonly connected: boolean;
  /**
   * Steps each knock's attempt, in order, in one round trip; resolves the
   * stage each reached (0: none; the sequence's length: complete). Rejects
   * when Redis is unreachable or refuses the script.
   */
  step(knocks: readonly FleetKnock[]): Promise<number[]>;
}

/** Shared grants (issue #14): a group of daemons on one Redis. */
export interface Fleet {
  readonly enabled: boolean;
  /** Shared attempts; absent when the fleet cannot keep them. */
  readonly attempts?: FleetAttemptStore;
  /** Connects in the background; never throws for an unreachable Redis. */
  start(handlers: FleetHandlers): void;
  /** Queues a local change for the group; bounded and batched, never blocks. */
  publish(op: FleetOp): void;
  /** The group's live grants as Redis holds them; rejects when Redis is unreachable. */
  grants(): Promise<FleetGrant[]>;
  status(): FleetStatus;
  close(): Promise<void>;
}

/** The fleet when [options] Fleet is not set. */
export const NO_FLEET: Fleet = {
  enabled: false,
  start: () => {},
  publish: () => {},
  grants: () => Promise.reject(new Error('no Fleet configured')),
  status: () => ({
    enabled: false,
    group: '',
    url: '',
    connected: false,
    peers: [],
    lastSync: null,
    queued: 0,
    counters: { published: 0, received: 0, rejected: 0, dropped: 0 },
  }),
  close: () => Promise.resolve(),
};
