/**
 * Firewall rule rendering: the complete state of our chain or table as one
 * text, applied in one atomic transaction (iptables-restore --noflush, or
 * nft -f). Rendering the whole state each time makes every apply a
 * reconcile: whatever else sits in our chain or table is removed.
 */
import type { Grant } from './grants.js';
import { utcStamp } from '../time.js';
import type { PortSpec } from '../port.js';

export const IPT_CHAIN = 'KNOCKD';
export const NFT_TABLE = 'knockd';

/** xt_time's --datestop format, in UTC. */
export function datestop(ms: number): string {
  return utcStamp(new Date(Math.floor(ms / 1000) * 1000));
}

/** Door names are free text; comments and nft get only a safe subset. */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, 64);
}

/**
 * iptables-restore input for one family. The chain line flushes our chain
 * (with --noflush, only chains named in the input are touched). Each rule
 * carries -m time --datestop, so it stops matching at its expiry even if the
 * daemon is dead; the comment names door and expiry for humans.
 */
export function renderIptables(grants: readonly Grant[], family: 4 | 6, now: number): string {
  const lines = ['*filter', `:${IPT_CHAIN} - [0:0]`];
  const host = family === 4 ? '/32' : '/128';
  for (const g of grants) {
    if (g.family !== family || g.expires <= now) continue;
    for (const p of g.ports) {
      lines.push(
        `-A ${IPT_CHAIN} -s ${g.address}${host} -p ${p.proto} -m ${p.proto} --dport ${p.port}` +
          ` -m comment --comment "knockd door=${safeName(g.door)} expires=${datestop(g.expires)}Z"` +
          ` -m time --datestop ${datestop(g.expires)} -j ACCEPT`,
      );
    }
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

function elements(grants: readonly Grant[], family: 4 | 6, now: number): string[] {
  const out: string[] = [];
  for (const g of grants) {
    if (g.family !== family) continue;
    const left = g.expires - now;
    if (left <= 0) continue;
    for (const p of g.ports)
      out.push(`${g.address} . ${p.proto} . ${p.port} timeout ${Math.ceil(left)}ms`);
  }
  return out;
}

/**
 * The nft script for our table. Deleting and re-creating the table in one
 * transaction is atomic for packets; grants are re-added with the time they
 * have left, and the kernel expires them by itself.
 *
 * The table guards the ports named in any door's Open: in nftables an accept
 * in our table cannot override a drop in another table, so the user's own
 * DROP for those ports must go, and ours takes its place.
 */
export function renderNft(
  grants: readonly Grant[],
  guarded: readonly PortSpec[],
  now: number,
): string {
  const set = (name: string, type: string, els: string[]) =>
    [
      `\tset ${name} {`,
      `\t\ttype ${type}`,
      '\t\tflags timeout',
      ...(els.length > 0 ? [`\t\telements = { ${els.join(', ')} }`] : []),
      '\t}',
    ].join('\n');
  const guard = guarded.map((p) => `${p.proto} . ${p.port}`);
  const lines = [
    `table inet ${NFT_TABLE}`,
    `delete table inet ${NFT_TABLE}`,
    `table inet ${NFT_TABLE} {`,
    set('grants4', 'ipv4_addr . inet_proto . inet_service', elements(grants, 4, now)),
    set('grants6', 'ipv6_addr . inet_proto . inet_service', elements(grants, 6, now)),
    '\tset guarded {',
    '\t\ttype inet_proto . inet_service',
    ...(guard.length > 0 ? [`\t\telements = { ${guard.join(', ')} }`] : []),
    '\t}',
    '\tchain input {',
    '\t\ttype filter hook input priority filter - 1; policy accept;',
    '\t\tct state established,related accept',
    '\t\tip saddr . meta l4proto . th dport @grants4 accept',
    '\t\tip6 saddr . meta l4proto . th dport @grants6 accept',
    '\t\tmeta l4proto . th dport @guarded drop',
    '\t}',
    '}',
    '',
  ];
  return lines.join('\n');
}

/**
 * One nft line (one atomic batch) that opens or refreshes a grant. For a
 * refresh, `add` first makes the element exist, so the `delete` cannot fail,
 * and the final `add` sets the new timeout (before Linux 6.12 a plain re-add
 * does not refresh an element's expiry).
 */
export function nftGrantLine(g: Grant, now: number, refresh = true): string | null {
  const left = Math.ceil(g.expires - now);
  if (left <= 0) return null;
  const set = `inet ${NFT_TABLE} grants${g.family}`;
  return g.ports
    .map((p) => {
      const el = `${g.address} . ${p.proto} . ${p.port}`;
      const add = `add element ${set} { ${el} timeout ${left}ms }`;
      // A new grant has no element yet: one add is enough, and keeps the
      // kernel transaction (and the knock-to-open time) small.
      return refresh ? `${add}; delete element ${set} { ${el} }; ${add}` : add;
    })
    .join('; ');
}

/** One nft line that removes a grant's elements, whether or not they still exist. */
export function nftRevokeLine(g: Grant): string {
  const set = `inet ${NFT_TABLE} grants${g.family}`;
  return g.ports
    .map((p) => {
      const el = `${g.address} . ${p.proto} . ${p.port}`;
      return `add element ${set} { ${el} timeout 1ms }; delete element ${set} { ${el} }`;
    })
    .join('; ');
}
