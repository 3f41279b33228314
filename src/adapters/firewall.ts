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

export class NftablesFirewall implements Firewall {
  readonly kind = 'nftables';
  private guarded: PortSpec[] = [];
  /** A long-lived `nft -i`: each line we write is one atomic batch, with no fork per grant. */
  private co: ChildProcessWithoutNullStreams | null = null;
  onError: (message: string) => void = () => {};
  constructor(private readonly exec: Exec = execArgv) {}

  private coprocess(): ChildProcessWithoutNullStreams | null {
    if (this.co !== null && this.co.exitCode === null && !this.co.stdin.destroyed) return this.co;
    try {
      const co = spawn('nft', ['-i'], { stdio: ['pipe', 'pipe', 'pipe'] });
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
      co.stdin.on('error', () => {});
      co.on('error', () => {});
      co.on('exit', () => {
        if (this.co === co) this.co = null;
      });
      this.co = co;
      return co;
    } catch {
      return null;
    }
  }

  update(change: GrantChange, now: number): boolean {
    const lines: string[] = [];
    if (change.close !== undefined) lines.push(nftRevokeLine(change.close));
    if (change.open !== undefined) {
      const l = nftGrantLine(change.open, now, change.refresh ?? true);
      if (l !== null) lines.push(l);
    }
    if (lines.length === 0) return true;
    const co = this.coprocess();
    if (co === null) return false;
    return co.stdin.write(`${lines.join('; ')}\n`) || true;
  }

  close(): void {
    this.co?.stdin.end();
    this.co = null;
  }

  setGuarded(ports: readonly PortSpec[]): void {
    this.guarded = [...ports];
  }

  async init(): Promise<void> {
    const v = await this.exec('nft', ['--version']);
    if (v.code !== 0)
      throw new KnockError('E_FIREWALL', `Firewall = nftables needs nft: ${v.stderr.trim()}`);
    const t = await this.exec('nft', ['-c', '-f', '-'], renderNft([], this.guarded, 0));
    if (t.code !== 0) throw failed('nft (kernel nf_tables support)', t);
  }

  async sync(grants: readonly Grant[], now: number): Promise<void> {
    const r = await this.exec('nft', ['-f', '-'], renderNft(grants, this.guarded, now));
    if (r.code !== 0) throw failed('nft -f', r);
    // Start the coprocess now, not at the first knock: its start-up (and its
    // first ruleset read) would otherwise land on someone's knock-to-open time.
    if (this.co === null) this.coprocess()?.stdin.write(`list set inet ${NFT_TABLE} guarded\n`);
  }
}
