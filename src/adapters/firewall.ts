/**
 * Native firewall backends. Each owns one namespace (the KNOCKD chain, or
 * `table inet knockd`) and brings it to the desired state in one atomic
 * transaction per change, so a sync is also a reconcile. The nftables one
 * lives in nft-firewall.ts.
 */
import { KnockError } from '../core/errors.js';
import type { Grant } from '../core/grants/grants.js';
import type { Options } from '../core/config.js';
import { NO_FIREWALL, type Firewall } from '../daemon/ports.js';
import { IPT_CHAIN, renderIptables } from '../core/grants/render.js';
import { execArgv, failed, type Exec } from './exec.js';
import { NftablesFirewall } from './nft-firewall.js';

export { NftablesFirewall, type NftablesOptions } from './nft-firewall.js';

/**
 * The backend [options] Firewall names, or none. The nftables guard drops
 * on Guard_Interfaces, else on the capture interface.
 */
export function configuredFirewall(
  o: Options,
  iface: string,
  debug?: (message: string) => void,
): Firewall {
  if (o.firewall === 'iptables') return new IptablesFirewall();
  if (o.firewall !== 'nftables') return NO_FIREWALL;
  return new NftablesFirewall({
    guardInterfaces: o.guardInterfaces ?? [iface],
    apply: o.nftApply?.mode,
    ...(debug === undefined ? {} : { debug }),
  });
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
