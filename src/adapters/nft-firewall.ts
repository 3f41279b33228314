/**
 * The nftables backend: `table inet knockd` with its grant sets and the
 * guard. A full sync replaces the table in one transaction; a single change
 * (the fast path) is one transaction too, applied either in this process
 * through libnftables (nft-lib.ts) or, where the addon is not there or
 * NftApply = process, by a long-lived `nft -i` coprocess.
 */
import { KnockError } from '../core/errors.js';
import type { Grant } from '../core/grants/grants.js';
import type { PortSpec } from '../core/port.js';
import type { Firewall, GrantChange } from '../daemon/ports.js';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { NFT_TABLE, nftGrantLine, nftRevokeLine, renderNft } from '../core/grants/render.js';
import { execArgv, failed, type Exec } from './exec.js';
import { isInterfaceName } from '../core/config.js';
import { LibraryApplier, openNftLibrary, type NftLibrary } from './nft-lib.js';
import { nftChangeMessages } from '../core/grants/netlink.js';

/** The largest table a sync applies in this process (see sync). */
export const LIB_SYNC_MAX = 1000;

export interface NftablesOptions {
  /**
   * Interfaces on which the guard drops new connections to guarded ports
   * (Guard_Interfaces, by default the capture interface). Loopback never is.
   */
  guardInterfaces: readonly string[];
  /** NftApply: how single changes are applied; by default the library where it loads. */
  apply?: 'library' | 'process';
  /** Where the start-up line naming the path taken goes (knockd -D). */
  debug?: (message: string) => void;
  exec?: Exec;
  /** Starts the `nft -i` coprocess; tests substitute a fake. */
  spawnNft?: () => ChildProcessWithoutNullStreams;
  /** Opens libnftables, or says why not; tests substitute a twin. */
  openLibrary?: () => NftLibrary | string;
}

export class NftablesFirewall implements Firewall {
  readonly kind = 'nftables';
  private guarded: PortSpec[] = [];
  private readonly guardInterfaces: string[];
  private readonly exec: Exec;
  private readonly spawnNft: () => ChildProcessWithoutNullStreams;
  private readonly debug: (message: string) => void;
  /**
   * libnftables in this process, when it is the path taken: then it applies
   * every change, the start-up check and syncs of up to LIB_SYNC_MAX grants,
   * and no `nft -i` is ever started. Kept after close(), so a late change
   * fails (and is reported) instead of starting a coprocess.
   */
  private readonly lib: NftLibrary | null = null;
  /** Applies single changes through `lib` (nft-lib.ts), when there is one. */
  private readonly applier: LibraryApplier | null = null;
  /** Why the library is not used (NftApply = process, or it did not load). */
  private readonly noLib: string;
  /** NftApply = library was asked for and the library did not load: init() fails. */
  private readonly libRequired: boolean;
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
    this.debug = opts.debug ?? (() => {});
    const lib =
      opts.apply === 'process' ? 'NftApply = process' : (opts.openLibrary ?? openNftLibrary)();
    if (typeof lib === 'string') this.noLib = lib;
    else {
      this.lib = lib;
      this.applier = new LibraryApplier(lib, this.debug);
      this.applier.onError = (m) => this.onError(m);
      this.noLib = '';
    }
    this.libRequired = opts.apply === 'library' && this.lib === null;
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
    const text = (): string => {
      const lines: string[] = [];
      if (change.close !== undefined) lines.push(nftRevokeLine(change.close));
      if (change.open !== undefined) {
        const l = nftGrantLine(change.open, now, change.refresh ?? true);
        if (l !== null) lines.push(l);
      }
      return lines.join('; ');
    };
    if (this.applier !== null) {
      const messages = nftChangeMessages(change, now);
      // No messages: nothing to change, or an address only the text path reports.
      if (messages !== null || text() !== '') this.applier.apply({ text, messages });
      return true;
    }
    const line = text();
    if (line === '') return true;
    // A full pipe means nft is behind: queueing more would only grow memory.
    if (this.congested) return false;
    const co = this.coprocess();
    if (co === null) return false;
    // This line is queued in order either way; the next changes wait for 'drain'.
    if (!co.stdin.write(`${line}\n`)) this.congested = true;
    return true;
  }

  close(): void {
    const co = this.co;
    this.co = null;
    co?.stdin.end();
    this.applier?.flush();
    this.lib?.close();
  }

  setGuarded(ports: readonly PortSpec[]): void {
    this.guarded = [...ports];
  }

  async init(): Promise<void> {
    const bad = this.guardInterfaces.find((i) => !isInterfaceName(i));
    if (bad !== undefined)
      throw new KnockError('E_FIREWALL', `cannot guard interface '${bad}': not an interface name`);
    if (this.libRequired) throw new KnockError('E_FIREWALL', `NftApply = library: ${this.noLib}`);
    const table = renderNft([], this.guarded, 0, this.guardInterfaces);
    if (this.lib !== null) {
      this.debug(
        'firewall: nftables changes are applied in this process (grant changes as netlink messages, the table through libnftables)',
      );
      const err = this.lib.run(table, true);
      if (err !== null)
        throw new KnockError('E_FIREWALL', `nft (kernel nf_tables support) failed: ${err.trim()}`);
      return;
    }
    this.debug(`firewall: nftables changes are applied by an nft -i process (${this.noLib})`);
    const v = await this.exec('nft', ['--version']);
    if (v.code !== 0)
      throw new KnockError('E_FIREWALL', `Firewall = nftables needs nft: ${v.stderr.trim()}`);
    const t = await this.exec('nft', ['-c', '-f', '-'], table);
    if (t.code !== 0) throw failed('nft (kernel nf_tables support)', t);
  }

  async sync(grants: readonly Grant[], now: number): Promise<void> {
    const table = renderNft(grants, this.guarded, now, this.guardInterfaces);
    // The table holds every change still queued: a sync covers them.
    this.applier?.discard();
    // Up to LIB_SYNC_MAX grants, in this process: it blocks the main thread
    // for about 9 ms per 1000 grants (measured: 1.2 ms at 100, 8.8 ms at
    // 1000, 92 ms at 10000). A larger table goes to an `nft -f` process,
    // which the main thread does not wait on; meanwhile the caller turns
    // changes into one more sync, so the two paths never interleave.
    if (this.lib !== null && grants.length <= LIB_SYNC_MAX) {
      const err = this.lib.run(table);
      if (err !== null) throw new KnockError('E_FIREWALL', `nft -f failed: ${err.trim()}`);
      return;
    }
    await this.retire();
    const r = await this.exec('nft', ['-f', '-'], table);
    if (r.code !== 0) throw failed('nft -f', r);
    // Start the coprocess now, not at the first knock: its start-up (and its
    // first ruleset read) would otherwise land on someone's knock-to-open
    // time. After a death it starts lazily, so a failing nft costs one
    // process per change, never a loop of syncs.
    if (this.lib === null && !this.coDied)
      this.coprocess()?.stdin.write(`list set inet ${NFT_TABLE} guarded\n`);
  }
}
