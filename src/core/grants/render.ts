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

/**
 * The last instant iptables' xt_time accepts for --datestop: a later date is
 * rejected ("Invalid date"), which would fail every sync. A grant that long
 * (only an SPA FW_ACCESS_TIMEOUT of years can ask for one) stops matching then.
 */
export const XT_TIME_MAX_MS = Date.UTC(2038, 0, 19, 3, 14, 7);

/** xt_time's --datestop format, in UTC, clamped to what xt_time accepts. */
export function datestop(ms: number): string {
  return utcStamp(new Date(Math.floor(Math.min(ms, XT_TIME_MAX_MS) / 1000) * 1000));
}

/**
 * An nft duration. nft rejects a bare `<n>ms` above 99999999 ("value too
 * large", 27.7 hours), so longer timeouts are written in days, hours,
 * minutes, seconds and milliseconds, which nft accepts for years.
 */
export function nftDuration(ms: number): string {
  let left = Math.max(1, Math.ceil(ms));
  let out = '';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(left / size);
    left -= n * size;
    if (n > 0) out += `${n}${unit}`;
  }
  return out;
}

/** Loopback is never guarded: a guard there would lock out the admin's own local connections. */
export const isLoopbackName = (name: string): boolean => name === 'lo';

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
      out.push(`${g.address} . ${p.proto} . ${p.port} timeout ${nftDuration(left)}`);
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
 * DROP for those ports must go, and ours takes its place. The guard drops
 * only what arrives on `guardInterfaces` (Guard_Interfaces; by default the
 * capture interface), never on loopback: the admin's own connections to
 * 127.0.0.1:22 from the host must keep working. No interface: no guard.
 */
export function renderNft(
  grants: readonly Grant[],
  guarded: readonly PortSpec[],
  now: number,
  guardInterfaces: readonly string[],
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
  // Names are checked by the config parser and the firewall (isInterfaceName); quoted for nft.
  const ifaces = guardInterfaces.filter((i) => !isLoopbackName(i)).map((i) => `"${i}"`);
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
    ...(ifaces.length > 0
      ? [`\t\tiifname { ${ifaces.join(', ')} } meta l4proto . th dport @guarded drop`]
      : []),
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
      const add = `add element ${set} { ${el} timeout ${nftDuration(left)} }`;
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
