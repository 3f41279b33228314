/**
 * Kernel BPF filter text built from the doors, so only knock candidates reach
 * JavaScript. The filter is a pre-selection; the state machine re-checks
 * everything, so a looser filter is never unsafe, only slower.
 */
import type { Knock, TcpFlags } from '../config.js';

export interface FilterDoor {
  sequence: readonly Knock[];
  tcpFlags: TcpFlags;
  target?: string;
}

function portList(proto: 'tcp' | 'udp', ports: number[]): string {
  return ports.map((p) => `${proto} dst port ${p}`).join(' or ');
}

function doorExpr(d: FilterDoor): string | null {
  const tcp = [...new Set(d.sequence.filter((k) => k.proto === 'tcp').map((k) => k.port))];
  const udp = [...new Set(d.sequence.filter((k) => k.proto === 'udp').map((k) => k.port))];
  const parts: string[] = [];
  if (tcp.length > 0) {
    const mask = d.tcpFlags.set | d.tcpFlags.clear;
    // tcp[13] only exists for IPv4 in BPF; IPv6 flags are checked in userland.
    const flags = mask === 0 ? '' : ` and (ip6 or tcp[13] & ${mask} == ${d.tcpFlags.set})`;
    parts.push(`((${portList('tcp', tcp)})${flags})`);
  }
  if (udp.length > 0) parts.push(`(${portList('udp', udp)})`);
  return parts.length === 0 ? null : parts.join(' or ');
}

function hosts(addrs: readonly string[]): string {
  return addrs.map((a) => `dst host ${a}`).join(' or ');
}

/**
 * @param localAddrs the capture interface's addresses; empty means "no
 *   address known", and then the filter selects by port alone.
 */
export function buildFilter(
  doors: readonly FilterDoor[],
  localAddrs: readonly string[],
  ipv4Only: boolean,
  /** Only Ethernet has VLAN tags; libpcap refuses `vlan` on other links. */
  ethernet = true,
): string {
  const local: string[] = [];
  const byTarget = new Map<string, string[]>();
  for (const d of doors) {
    const e = doorExpr(d);
    if (e === null) continue;
    if (d.target === undefined) local.push(e);
    else byTarget.set(d.target, [...(byTarget.get(d.target) ?? []), e]);
  }
  const groups: string[] = [];
  if (local.length > 0) {
    const body = local.join(' or ');
    groups.push(localAddrs.length > 0 ? `((${hosts(localAddrs)}) and (${body}))` : `(${body})`);
  }
  for (const [target, exprs] of byTarget) {
    groups.push(`(dst host ${target} and (${exprs.join(' or ')}))`);
  }
  if (groups.length === 0) return 'less 1'; // matches nothing: no door is enabled
  // IPv6 packets whose first header is neither TCP, UDP nor ICMPv6 may carry
  // extension headers before a knock; the decoder walks them.
  const v6addrs = localAddrs.filter((a) => a.includes(':'));
  const ext = ipv4Only
    ? null
    : `(ip6 and ip6[6] != 6 and ip6[6] != 17 and ip6[6] != 58${
        v6addrs.length > 0 ? ` and (${hosts(v6addrs)})` : ''
      })`;
  let f = [...groups, ...(ext === null ? [] : [ext])].join(' or ');
  if (ipv4Only) f = `ip and (${f})`;
  // Frames with an 802.1Q tag left in the data need the offsets shifted.
  return ethernet ? `(${f}) or (vlan and (${f}))` : f;
}
