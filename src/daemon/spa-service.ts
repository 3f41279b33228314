/**
 * Single Packet Authorization at run time: where packets come from (the
 * capture path, or a UDP socket for SPA_Receive = socket), the replay cache,
 * and turning an accepted packet into a grant. Applied again on every
 * reload: SPA can be turned on or off, and its port or receive mode moved,
 * without a restart.
 *
 * DESTINATION: the capture path decodes the packet's destination address.
 * A UDP socket in Node cannot tell which local address a datagram arrived
 * on (no IP_PKTINFO), so in socket mode the capture interface's addresses
 * stand in: a stanza's DESTINATION matches when it holds one of them.
 */
import { ReplayCache } from '../core/spa/replay-cache.js';
import type { SpaDecision } from '../core/spa/policy.js';
import type { SpaCrypto } from '../core/spa/spa.js';
import type { LogLimiter } from '../core/ratelimit.js';
import type { GrantKeeper } from './grant-keeper.js';
import type { Stanza } from '../core/spa/access.js';
import type { CycleVars } from '../core/spa/cycle.js';
import { formatProblem } from '../core/errors.js';
import { importVerifier, type VerifierModules } from './spa-verifier.js';
import type { GpgRuns } from './spa-gpg.js';
import {
  NO_GPG,
  type Clock,
  type DatagramBinder,
  type DatagramReceiver,
  type Logger,
  type SpaGpg,
  type SpaSettings,
} from './ports.js';

/** Runs a stanza's command cycle; false when it was not started (cap, cooldown, disabled). */
export type CycleStarter = (stanza: Stanza, vars: CycleVars) => boolean;

/** Bytes kept per captured packet when SPA rides the capture path (whole datagrams). */
export const SPA_SNAPLEN = 1600;

/** The verifier's code, loaded at the first configuration with SPA on, with its GPG runs. */
type Verifier = Omit<VerifierModules, 'GpgRuns'> & { gpgRuns: GpgRuns };

export class SpaService {
  readonly replay = new ReplayCache();
  private settings: SpaSettings | undefined;
  private socket: DatagramReceiver | null = null;
  private socketPort = 0;
  /** The capture interface's addresses: socket mode's stand-in for the destination. */
  private localAddresses: readonly string[] = [];
  readonly counters = { accepted: 0, rejected: new Map<string, number>() };
  /** Set before the first settings with SPA on, so `settings` defined implies it is. */
  private verifier: Verifier | null = null;
  private closed = false;
  /** Bumped by each configure and by close: a background warm-up slice of an older one stops. */
  private warmGeneration = 0;

  constructor(
    private readonly binder: DatagramBinder,
    private readonly crypto: SpaCrypto,
    private readonly grants: GrantKeeper,
    private readonly logger: Logger,
    private readonly limiter: LogLimiter,
    private readonly now: Clock,
    /** The replay cache changed: the journal must be written. */
    private readonly onBurn: () => void,
    private readonly startCycle: CycleStarter = () => false,
    private readonly gpg: SpaGpg = NO_GPG,
  ) {}

  /** The verifier, imported once (spa-verifier.ts). */
  private async loadVerifier(): Promise<Verifier> {
    if (this.verifier === null) {
      const { evaluateSpa, warmVerifier, GpgRuns } = await importVerifier();
      this.verifier ??= { evaluateSpa, warmVerifier, gpgRuns: new GpgRuns(this.gpg, this.crypto) };
    }
    return this.verifier;
  }

  setLocalAddresses(addrs: readonly string[]): void {
    this.localAddresses = [...addrs];
  }

  /** The UDP port to add to the capture filter, when SPA rides the capture path. */
  get capturePort(): number | undefined {
    const s = this.settings;
    return s !== undefined && !s.socket ? s.port : undefined;
  }

  /** Capture needs whole datagrams only when SPA rides the capture path. */
  snaplen(knockSnaplen: number): number {
    return this.capturePort === undefined ? knockSnaplen : Math.max(knockSnaplen, SPA_SNAPLEN);
  }

  restore(replay: readonly [string, number][]): void {
    for (const [d, until] of replay) this.replay.add(d, until);
    this.replay.prune(Math.floor(this.now() / 1000));
  }

  /**
   * Takes new settings. Socket mode binds first and only then lets go of
   * the old socket, so a failed bind (port taken) keeps SPA where it was.
   * Throws KnockError when the bind fails.
   */
  async configure(next: SpaSettings | undefined): Promise<void> {
    const v = next === undefined ? null : await this.loadVerifier();
    // Closed while the verifier loaded: nothing may start after close().
    if (this.closed) return;
    if (next?.socket === true && (this.socket === null || this.socketPort !== next.port)) {
      const s = await this.binder.bind(next.port, (msg, src) => this.onSocketPacket(msg, src));
      // Closed while the bind was under way: nothing may start after close().
      if (this.closed) return s.close();
      this.socket?.close();
      this.socket = s;
      this.socketPort = next.port;
    } else if (next?.socket !== true && this.socket !== null) {
      this.socket.close();
      this.socket = null;
    }
    this.settings = next;
    for (const w of next?.warnings ?? []) this.logger.log(`warning: ${formatProblem(w)}`);
    const gen = ++this.warmGeneration;
    if (next === undefined || v === null) return;
    const { more } = v.warmVerifier(
      next.stanzas,
      this.crypto,
      Math.floor(this.now() / 1000),
      this.now,
    );
    // The rest of the warm-up runs a slice per turn of the event loop, after
    // its I/O: packets wait at most a slice. Unref'd: it keeps nothing alive.
    if (more === undefined) return;
    const slice = () => {
      if (gen === this.warmGeneration && more()) setImmediate(slice).unref();
    };
    setImmediate(slice).unref();
  }

  /**
   * A datagram from the socket. Its source may carry a zone or an IPv4
   * mapping; evaluateSpa canonicalises it (canonicalSource) and refuses a
   * zone, so nothing downstream sees the raw text.
   */
  private onSocketPacket(msg: Buffer, src: string): void {
    this.onPacket(msg, src, this.localAddresses);
  }

  /**
   * One SPA packet: verify, check policy, grant or run the stanza's command
   * cycle; every rejection is counted and logged (rate limited).
   * @param dst the packet's destination, or the candidates (socket mode).
   */
  onPacket(payload: Uint8Array, src: string, dst: string | readonly string[]): void {
    const spa = this.settings;
    const v = this.verifier;
    if (spa === undefined || v === null) return;
    const now = this.now();
    const burned = this.replay.size;
    const d = v.evaluateSpa(
      payload,
      src,
      dst,
      spa.stanzas,
      this.replay,
      Math.floor(now / 1000),
      this.crypto,
    );
    // Only an authentic packet changes the journal (its digest is burned);
    // garbage sent to the SPA port must not cost a write each. The journal
    // is marked after the grant, in the same job (and whatever the grant
    // throws): its write comes later anyway, and scheduling it must not
    // delay the open.
    const changed = this.replay.size !== burned;
    try {
      if (d.ok || d.gpg === undefined) return this.finish(d, spa, src);
    } finally {
      if (changed) this.onBurn();
    }
    // A GPG packet whose HMAC passed: gpg decides, off the packet path.
    const g = v.gpgRuns.decide(d.gpg, spa.stanzas, this.replay, Math.floor(now / 1000), d.reason);
    if (!(g instanceof Promise)) return this.finish(g, spa, src);
    void g.then((r) => {
      if (this.closed) return;
      this.onBurn();
      // A reload while gpg ran may have taken the stanza away: refused (its
      // digests are burned, so the client sends a new packet).
      if (this.settings !== spa) this.reject(src, 'access.conf was reloaded while gpg ran');
      else this.finish(r, spa, src);
    });
  }

  /** Grant or run the stanza's command cycle for an accepted packet; count and log a rejection. */
  private finish(d: SpaDecision, spa: SpaSettings, src: string): void {
    if (!d.ok) {
      this.reject(src, d.reason);
      return;
    }
    this.counters.accepted++;
    const stanza = spa.stanzas[d.stanza];
    this.logger.log(
      `${src}: SPA: accepted for ${d.address} (user ${d.user}, access.conf line ${stanza?.line ?? '?'})`,
    );
    const cycle = stanza?.cycle;
    if (stanza === undefined || cycle === undefined) {
      this.grants.open('SPA', d.address, d.ports, d.seconds);
      return;
    }
    // fwknopd: a stanza with CMD_CYCLE_OPEN runs the cycle instead of a
    // grant, for the first requested port only.
    const first = d.ports[0];
    if (first === undefined) return;
    this.startCycle(stanza, {
      ip: d.address,
      pktSrc: d.pktSrc,
      dst: d.dst,
      port: first.port,
      proto: first.proto,
      seconds: d.clientTimeout ?? cycle.timer,
      timestamp: d.timestamp,
    });
  }

  private reject(src: string, reason: string): void {
    const key = reasonLabel(reason);
    const r = this.counters.rejected;
    if (r.has(key) || r.size < 64) r.set(key, (r.get(key) ?? 0) + 1);
    if (this.limiter.allow('SPA', src, this.now()))
      this.logger.log(`${src}: SPA: rejected (${reason})`);
  }

  tick(): void {
    this.replay.prune(Math.floor(this.now() / 1000));
  }

  close(): void {
    this.closed = true;
    this.warmGeneration++;
    this.socket?.close();
    this.socket = null;
  }
}

/**
 * A stable metrics label for a rejection: its leading words, before any value
 * it quotes (an address, a number), so spoofed sources cannot mint labels.
 */
export function reasonLabel(reason: string): string {
  const out: string[] = [];
  for (const w of reason.split(' ')) {
    if (out.length === 5 || /[0-9'":(/%]/.test(w)) break;
    out.push(w);
  }
  return out.join(' ') || 'other';
}
