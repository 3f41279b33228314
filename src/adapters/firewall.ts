/**
 * Native firewall backends. Each owns one namespace (the KNOCKD chain, or
 * `table inet knockd`) and brings it to the desired state in one atomic
 * transaction per change, so a sync is also a reconcile.
 */
import { KnockError } from '../core/errors.js';
import type { Grant, PortSpec } from '../core/grants.js';
import { IPT_CHAIN, renderIptables, renderNft } from '../core/render.js';
import { execArgv, type ExecResult } from './exec.js';

export interface Firewall {
  readonly kind: 'iptables' | 'nftables' | 'memory';
  /** Checks the tools and kernel support; creates our chain/table. Throws KnockError. */
  init(): Promise<void>;
  /** Ports the guard protects (nftables); others ignore it. */
  setGuarded(ports: readonly PortSpec[]): void;
  /** Makes the firewall match `grants` exactly. Throws on failure. */
  sync(grants: readonly Grant[], now: number): Promise<void>;
}

type Exec = (file: string, args: readonly string[], input?: string) => Promise<ExecResult>;

function failed(what: string, r: ExecResult): KnockError {
  return new KnockError(
    'E_FIREWALL',
    `${what} failed (status ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`,
  );
}

export class IptablesFirewall implements Firewall {
  readonly kind = 'iptables';
  constructor(private readonly exec: Exec = execArgv) {}

  setGuarded(): void {}

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
  constructor(private readonly exec: Exec = execArgv) {}

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
  }
}

/** In-memory twin: records every synced state. */
export class MemoryFirewall implements Firewall {
  readonly kind = 'memory';
  synced: Grant[][] = [];
  guarded: PortSpec[] = [];
  async init(): Promise<void> {}
  setGuarded(ports: readonly PortSpec[]): void {
    this.guarded = [...ports];
  }
  async sync(grants: readonly Grant[]): Promise<void> {
    this.synced.push(grants.map((g) => ({ ...g })));
  }
}
