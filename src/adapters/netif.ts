/** The capture interface's addresses, re-read periodically so DHCP/PPP changes are followed. */
import os from 'node:os';

export function interfaceAddresses(ifname: string, ipv4Only: boolean): string[] {
  const all = os.networkInterfaces();
  const names = ifname === 'any' ? Object.keys(all) : [ifname];
  const out: string[] = [];
  for (const n of names) {
    for (const a of all[n] ?? []) {
      if (a.family === 'IPv6' && ipv4Only) continue;
      // Strip the %scope suffix, as knockd does.
      out.push(a.address.replace(/%.*$/, ''));
    }
  }
  return [...new Set(out)].sort();
}
