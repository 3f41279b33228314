/**
 * Shared attempts (issue #14): the knocks of a door with Share = yes also
 * step the group's attempt in Redis, so a sequence whose knocks land on
 * different servers of the group opens; the daemon that sees the last knock
 * makes the grant (and publishes it, so all of them open).
 *
 * The knock machine is untouched and still sees every knock: a sequence
 * that lands on one server opens there as before, with or without Redis.
 * Here, a knock on a port of a shared door's sequence (with the door's TCP
 * flags, to its Target or to us) becomes one step of the script in
 * fleet-attempt-script.ts. Steps are admitted by the write budget
 * (fleet-budget.ts) before anything is queued, queued in arrival order (at
 * most MAX_PENDING), and written as one pipeline per batch of captured
 * packets, one pipeline in flight. While Redis is away nothing is queued.
 *
 * Knocks on ports outside the door's sequence end the local attempt (as in
 * knockd) but are not sent, so they do not end the shared one. Doors with
 * one-time or time-based sequences stay local: their sequence is per server.
 */
import type { Door, Knock } from '../core/config.js';
import type { Packet } from '../core/knock/decode.js';
import { addressWords, sameDst } from '../core/knock/events.js';
import { LocalAddresses } from '../core/knock/local.js';
import { knockToken } from './fleet-attempt-script.js';
import { CONTINUE, FleetBudget, MAYBE } from './fleet-budget.js';
import type { Clock, FleetAttemptStore, FleetKnock, Logger } from './ports.js';

export const MAX_PENDING = 4096;
export const MAX_BATCH = 512;
/** Sources remembered as progressed, at most. */
const MAX_PROGRESSED = 65_536;

/** Where the current sequence of a door is read (the knock machine). */
export interface Sequences {
  sequenceOf(doorIndex: number): readonly Knock[];
  isEnabled(doorIndex: number): boolean;
}

export type SharedOpen = (door: Door, doorIndex: number, source: string, family: 4 | 6) => void;

interface Shared {
  door: Door;
  index: number;
  tKind: number;
  t: Int32Array;
  /** The sequence the sets below were built from (compared by identity). */
  seq: readonly Knock[];
  first: number;
  ports: Set<number>;
  tokens: string[];
}

interface Meta {
  shared: Shared;
  family: 4 | 6;
  gen: number;
  /** The local machine opened this door for this source on the same packet. */
  openedHere: boolean;
  /** When the knock was captured (ms): a step is worth its Seq_Timeout from then, no longer. */
  at: number;
}

const portKey = (proto: 'tcp' | 'udp', port: number) => (proto === 'udp' ? 65536 : 0) + port;

export class FleetAttempts {
  private shared: Shared[] = [];
  private gen = 0;
  private readonly local = new LocalAddresses();
  private readonly budget: FleetBudget;
  private readonly pending: FleetKnock[] = [];
  private readonly meta: Meta[] = [];
  private readonly progressed = new Map<string, number>();
  private openedNow: number[] = [];
  private completing = false;
  private inflight = false;
  private armed = false;
  /** The last state logged: one line per change. */
  private refused = false;
  readonly counters = { sent: 0, shed: 0, failed: 0, opened: 0 };

  constructor(
    private readonly store: FleetAttemptStore | undefined,
    private readonly sequences: Sequences,
    private readonly logger: Logger,
    private readonly now: Clock,
    private readonly onOpen: SharedOpen,
  ) {
    this.budget = new FleetBudget(now());
  }

  /** The running doors (a reload); steps in flight for the old ones are ignored. */
  setDoors(doors: readonly Door[]): void {
    this.gen++;
    this.progressed.clear();
    if (this.store === undefined) return;
    this.shared = doors.flatMap((door, index) => {
      if (door.share !== true || door.oneTimeSequences !== undefined || door.totp !== undefined)
        return [];
      const t =
        door.target === undefined ? { kind: -1, w: new Int32Array(4) } : addressWords(door.target);
      const s: Shared = {
        door,
        index,
        tKind: t.kind,
        t: t.w,
        seq: [],
        first: -1,
        ports: new Set(),
        tokens: [],
      };
      return [s];
    });
  }

  setLocalAddresses(addrs: readonly string[]): void {
    this.local.set(new Set(addrs));
  }

  /** The knock machine opened `doorIndex` for the packet being handled. */
  noteLocalOpen(doorIndex: number): void {
    if (!this.completing) this.openedNow.push(doorIndex);
  }

  /** Keeps a door's token sets in step with its current sequence. */
  private current(s: Shared): readonly Knock[] {
    const seq = this.sequences.sequenceOf(s.index);
    if (seq !== s.seq) {
      s.seq = seq;
      s.tokens = seq.map((k) => knockToken(k.proto, k.port));
      s.ports = new Set(seq.map((k) => portKey(k.proto, k.port)));
      s.first = seq[0] === undefined ? -1 : portKey(seq[0].proto, seq[0].port);
    }
    return seq;
  }

  /** One decoded packet, after the knock machine had it. */
  onPacket(pkt: Packet): void {
    const opened = this.openedNow;
    if (opened.length > 0) this.openedNow = [];
    if (this.shared.length === 0 || this.store === undefined || !this.store.connected) return;
    let local = -1;
    for (const s of this.shared) {
      if (!this.sequences.isEnabled(s.index) || this.current(s).length < 2) continue;
      const pk = portKey(pkt.proto, pkt.dport);
      if (!s.ports.has(pk)) continue;
      const door = s.door;
      if (door.target !== undefined) {
        if (pkt.words ? !sameDst(s.tKind, s.t, pkt) : pkt.dst !== door.target) continue;
      } else {
        if (local === -1) local = this.local.has(pkt) ? 1 : 0;
        if (local === 0) continue;
      }
      const f = door.tcpFlags;
      if (pkt.proto === 'tcp' && (pkt.flags & (f.set | f.clear)) !== f.set) continue;
      const now = this.now();
      if (!this.admit(s, pkt, pk === s.first, now)) {
        this.counters.shed++;
        continue;
      }
      this.pending.push({
        door: door.name,
        source: pkt.src,
        token: knockToken(pkt.proto, pkt.dport),
        sequence: s.tokens,
        timeoutMs: door.seqTimeout * 1000,
      });
      this.meta.push({
        shared: s,
        family: pkt.family,
        gen: this.gen,
        openedHere: opened.includes(s.index),
        at: now,
      });
      this.arm();
    }
  }

  /** The budget's verdict; a shed first knock builds no string. */
  private admit(s: Shared, pkt: Packet, first: boolean, now: number): boolean {
    if (this.pending.length >= MAX_PENDING) return false;
    if (first) {
      const prefix = pkt.words
        ? pkt.family === 4
          ? pkt.s0 >>> 8
          : `${pkt.s0}:${pkt.s1 >>> 16}`
        : pkt.src;
      return this.budget.takeFirst(prefix, now);
    }
    if (!this.budget.could(CONTINUE, now)) return false;
    const seen = (this.progressed.get(`${s.index}\u0000${pkt.src}`) ?? 0) > now;
    return this.budget.take(seen ? CONTINUE : MAYBE, now);
  }

  private arm(): void {
    if (this.armed || this.inflight) return;
    this.armed = true;
    setImmediate(() => {
      this.armed = false;
      void this.flush();
    });
  }

  /** Writes the pending steps, a batch at a time, and acts on the stages they reached. */
  private async flush(): Promise<void> {
    if (this.inflight || this.store === undefined) return;
    this.inflight = true;
    try {
      while (this.pending.length > 0) {
        const { knocks, metas } = this.fresh(
          this.pending.splice(0, MAX_BATCH),
          this.meta.splice(0, MAX_BATCH),
        );
        if (knocks.length === 0) continue;
        let stages: number[];
        try {
          stages = await this.store.step(knocks);
          this.counters.sent += knocks.length;
          this.state(null);
        } catch (e) {
          this.counters.failed += knocks.length;
          // A lost connection is logged once by the fleet itself.
          if (this.store.connected) this.state(e as Error);
          continue;
        }
        knocks.forEach((k, i) => this.reached(k, metas[i] as Meta, stages[i] ?? 0));
      }
    } finally {
      this.inflight = false;
    }
  }

  /**
   * The steps still worth writing, each with the time its knock has left:
   * one that waited longer than its Seq_Timeout (a slow Redis) is shed, so
   * steps queued long ago never complete a sequence now, and the TTL a
   * first knock sets counts from its capture, not from when Redis ran it.
   */
  private fresh(knocks: FleetKnock[], metas: Meta[]): { knocks: FleetKnock[]; metas: Meta[] } {
    const now = this.now();
    const out = { knocks: [] as FleetKnock[], metas: [] as Meta[] };
    knocks.forEach((k, i) => {
      const m = metas[i] as Meta;
      const left = k.timeoutMs - (now - m.at);
      if (left <= 0) {
        this.counters.shed++;
        return;
      }
      out.knocks.push(left === k.timeoutMs ? k : { ...k, timeoutMs: left });
      out.metas.push(m);
    });
    return out;
  }

  private reached(k: FleetKnock, m: Meta, stage: number): void {
    if (m.gen !== this.gen) return;
    // A reply later than the knock's Seq_Timeout (a Redis that stalled) opens nothing.
    if (stage === k.sequence.length && this.now() - m.at > m.shared.door.seqTimeout * 1000) return;
    const key = `${m.shared.index}\u0000${k.source}`;
    if (stage >= 1 && stage < k.sequence.length) {
      if (this.progressed.size < MAX_PROGRESSED || this.progressed.has(key))
        this.progressed.set(key, this.now() + k.timeoutMs);
      return;
    }
    this.progressed.delete(key);
    if (stage !== k.sequence.length || m.openedHere) return;
    this.counters.opened++;
    this.logger.log(`${k.source}: ${k.door}: sequence completed across the fleet`);
    this.completing = true;
    try {
      this.onOpen(m.shared.door, m.shared.index, k.source, m.family);
    } finally {
      this.completing = false;
    }
  }

  /** Logs when Redis starts or stops taking the steps (one line per change). */
  private state(e: Error | null): void {
    if (e === null) {
      if (this.refused) this.logger.log('fleet: shared attempts are kept in Redis again');
      this.refused = false;
      return;
    }
    if (this.refused) return;
    this.refused = true;
    this.logger.log(`fleet: shared attempts not kept in Redis (${e.message}); attempts stay local`);
  }

  /** Forgets progress that has timed out. */
  tick(): void {
    const now = this.now();
    for (const [k, until] of this.progressed) if (until <= now) this.progressed.delete(k);
  }

  get queued(): number {
    return this.pending.length;
  }
}
