/**
 * Native firewall backends. Each owns one namespace (the KNOCKD chain, or
 * `table inet knockd`) and brings it to the desired state in one atomic
 * transaction per change, so a sync is also a reconcile.
 */
import { KnockError } from '../core/errors.js';
import type { Grant } from '../core/grants/grants.js';
import type { PortSpec } from '../core/port.js';
import type { Firewall, GrantChange } from '../daemon/ports.js';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import {
  IPT_CHAIN,
  NFT_TABLE,
  nftGrantLine,
  nftRevokeLine,
  renderIptables,
  renderNft,
} from '../core/grants/render.js';
import { execArgv, type ExecResult } from './exec.js';
import { isInterfaceName } from '../core/config.js';

type Exec = (file: string, args: readonly string[], input?: string) => Promise<ExecResult>;

function failed(what: string, r: ExecResult): KnockError {
  return new KnockError(
    'E_FIREWALL',
    `${what} failed (status ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`,
  );
}

export class IptablesFirewall implements Firewall {
  readonly kind = 'iptables';
  onError: (message: string) => void = () => {};
  constructor(private readonly exec: Exec = execArgv) {}

  setGuarded(): void {}

  /** No fast path: every change is a full iptables-restore (coalesced by the caller). */
  update(): boolean {
    return false;
  }

  close(): void {}

  async init(): Promise<void> {
    for (const bin of ['iptables', 'ip6tables']) {
      const v = await this.exec(`${bin}-restore`, ['--version']);
      if (v.code !== 0)
        throw new KnockError(
          'E_FIREWALL',
          `Firewall = iptables needs ${bin}-restore: ${v.stderr.trim()}`,
        );
      // Create our chain (an existing one is fine), then make sure INPUT jumps
      // to it exactly once, as its first rule.
      const n = await this.exec(bin, ['-w', '-N', IPT_CHAIN]);
      if (n.code !== 0 && !/exists/i.test(n.stderr)) throw failed(`${bin} -N ${IPT_CHAIN}`, n);
      const s = await this.exec(bin, ['-w', '-S', 'INPUT']);
      if (s.code !== 0) throw failed(`${bin} -S INPUT`, s);
      const rules = s.stdout.split('\n').filter((l) => l.startsWith('-A INPUT'));
      const jump = `-A INPUT -j ${IPT_CHAIN}`;
      const count = rules.filter((l) => l === jump).length;
      if (count === 1 && rules[0] === jump) continue;
      for (let i = 0; i < count; i++) await this.exec(bin, ['-w', '-D', 'INPUT', '-j', IPT_CHAIN]);
      const ins = await this.exec(bin, ['-w', '-I', 'INPUT', '1', '-j', IPT_CHAIN]);
      if (ins.code !== 0) throw failed(`${bin} -I INPUT 1 -j ${IPT_CHAIN}`, ins);
    }
    // xt_time and xt_comment must exist, or grants could not expire without us.
    const now = Date.now();
    const probe = await this.exec(
      'iptables-restore',
      ['-w', '--test', '--noflush'],
      renderIptables(
        [
          {
            door: 'probe',
            address: '192.0.2.1',
            family: 4,
            ports: [{ proto: 'tcp', port: 1 }],
            expires: now + 3_600_000,
          },
        ],
        4,
        now,
      ),
    );
    if (probe.code !== 0) throw failed('probing the time and comment matches', probe);
  }

  async sync(grants: readonly Grant[], now: number): Promise<void> {
    for (const [bin, fam] of [
      ['iptables-restore', 4],
      ['ip6tables-restore', 6],
    ] as const) {
      const r = await this.exec(bin, ['-w', '--noflush'], renderIptables(grants, fam, now));
      if (r.code !== 0) throw failed(bin, r);
    }
  }
}

export interface NftablesOptions {
  /**
   * Interfaces on which the guard drops new connections to guarded ports
   * (Guard_Interfaces, by default the capture interface). Loopback never is.
   */
  guardInterfaces: readonly string[];
  exec?: Exec;
  /** Starts the `nft -i` coprocess; tests substitute a fake. */
  spawnNft?: () => ChildProcessWithoutNullStreams;
}

export class NftablesFirewall implements Firewall {
  readonly kind = 'nftables';
  private guarded: PortSpec[] = [];
  private readonly guardInterfaces: string[];
  private readonly exec: Exec;
  private readonly spawnNft: () => ChildProcessWithoutNullStreams;
  /**
   * A long-lived `nft -i`: each line we write is one atomic batch, with no
   * fork per grant. Invariant: `co` is null or a process we have seen
   * neither exit nor fail; one that dies on its own is reported through
   * `onError` (so the caller's full sync re-applies whatever it had not
   * applied yet) and replaced at the next change.
   */
  private co: ChildProcessWithoutNullStreams | null = null;
  /** The last coprocess died on its own: the next one starts at the next change, not at a sync. */
  private coDied = false;
  /** Its stdin is past the high-water mark: changes take full syncs until 'drain'. */
  private congested = false;
  onError: (message: string) => void = () => {};

  constructor(opts: NftablesOptions) {
    this.guardInterfaces = [...opts.guardInterfaces];
    this.exec = opts.exec ?? execArgv;
    this.spawnNft =
      opts.spawnNft ?? (() => spawn('nft', ['-i'], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  private coprocess(): ChildProcessWithoutNullStreams | null {
    if (this.co !== null) return this.co;
    let co: ChildProcessWithoutNullStreams;
    try {
      co = this.spawnNft();
    } catch (e) {
      this.coDied = true;
      this.onError(`cannot start nft -i: ${(e as Error).message}`);
      return null;
    }
    this.co = co;
    this.coDied = false;
    this.congested = false;
    // Exit, a spawn error and EPIPE on stdin can all arrive for one death:
    // only the first, while it is still our coprocess, is reported.
    const lost = (why: string) => {
      if (this.co !== co) return;
      this.co = null;
      this.coDied = true;
      co.kill('SIGKILL');
      this.onError(
        `nft coprocess (pid ${co.pid ?? '?'}) ${why}; the changes it had not applied are re-applied by a full sync`,
      );
    };
    co.on('exit', (code, signal) => lost(`exited (${signal ?? `status ${code ?? '?'}`})`));
    co.on('error', (e) => lost(`failed: ${e.message}`));
    co.stdin.on('error', (e) => lost(`stopped reading: ${e.message}`));
    co.stdin.on('drain', () => {
      if (this.co === co) this.congested = false;
    });
    co.stdout.resume();
    let err = '';
    co.stderr.setEncoding('utf8');
    co.stderr.on('data', (d: string) => {
      err += d;
      // nft prints an error and the offending line with a caret marker; report once it is complete.
      if (/\^+\s*$/.test(err) || err.split('\n').length > 3) {
        this.onError(err.trim().split('\n')[0] ?? 'nft error');
        err = '';
      }
    });
    return co;
  }

  /**
   * Stops the coprocess and waits for it: lines it has not applied yet must
   * not land after a full sync's table replace (a stale add would reopen a
   * revoked grant). The grant table holds every change they carried.
   */
  private retire(): Promise<void> {
    const co = this.co;
    this.co = null;
    this.congested = false;
    if (co === null || co.exitCode !== null || co.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, 2000);
      co.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      co.kill('SIGKILL');
    });
  }

  update(change: GrantChange, now: number): boolean {
    const lines: string[] = [];
    if (change.close !== undefined) lines.push(nftRevokeLine(change.close));
    if (change.open !== undefined) {
      const l = nftGrantLine(change.open, now, change.refresh ?? true);
      if (l !== null) lines.push(l);
    }
    if (lines.length === 0) return true;
    // A full pipe means nft is behind: queueing more would only grow memory.
    if (this.congested) return false;
    const co = this.coprocess();
    if (co === null) return false;
    // This line is queued in order either way; the next changes wait for 'drain'.
    if (!co.stdin.write(`${lines.join('; ')}\n`)) this.congested = true;
    return true;
  }

  close(): void {
    const co = this.co;
    this.co = null;
    co?.stdin.end();
  }

  setGuarded(ports: readonly PortSpec[]): void {
    this.guarded = [...ports];
  }

  async init(): Promise<void> {
    const bad = this.guardInterfaces.find((i) => !isInterfaceName(i));
    if (bad !== undefined)
      throw new KnockError('E_FIREWALL', `cannot guard interface '${bad}': not an interface name`);
    const v = await this.exec('nft', ['--version']);
    if (v.code !== 0)
      throw new KnockError('E_FIREWALL', `Firewall = nftables needs nft: ${v.stderr.trim()}`);
    const t = await this.exec(
      'nft',
      ['-c', '-f', '-'],
      renderNft([], this.guarded, 0, this.guardInterfaces),
    );
    if (t.code !== 0) throw failed('nft (kernel nf_tables support)', t);
  }

  async sync(grants: readonly Grant[], now: number): Promise<void> {
    await this.retire();
    const r = await this.exec(
      'nft',
      ['-f', '-'],
      renderNft(grants, this.guarded, now, this.guardInterfaces),
    );
    if (r.code !== 0) throw failed('nft -f', r);
    // Start the coprocess now, not at the first knock: its start-up (and its
    // first ruleset read) would otherwise land on someone's knock-to-open
    // time. After a death it starts lazily, so a failing nft costs one
    // process per change, never a loop of syncs.
    if (!this.coDied) this.coprocess()?.stdin.write(`list set inet ${NFT_TABLE} guarded\n`);
  }
}
