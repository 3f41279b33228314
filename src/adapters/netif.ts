/** The capture interface's addresses, re-read periodically so DHCP/PPP changes are followed. */
import fs from 'node:fs';
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

/**
 * The interface of the IPv4 default route, else of the IPv6 one: where a
 * VPS whose interface is not eth0 (ens3, enp1s0) talks to the world. Null
 * when there is no default route. Read through /proc/self/net: under the
 * unit's ProcSubset=pid the /proc/net symlink is hidden, /proc/self is not.
 */
export function defaultRouteInterface(
  read = (f: string) => fs.readFileSync(f, 'utf8'),
): string | null {
  try {
    for (const line of read('/proc/self/net/route').split('\n').slice(1)) {
      const [name, dest, , , , , , mask] = line.trim().split(/\s+/);
      if (name !== undefined && dest === '00000000' && mask === '00000000') return name;
    }
  } catch {
    // no IPv4 routing table: try IPv6
  }
  try {
    for (const line of read('/proc/self/net/ipv6_route').split('\n')) {
      const f = line.trim().split(/\s+/);
      // dest ::/0, a real next hop or device route, not the loopback's reject routes
      if (f[0] === '0'.repeat(32) && f[1] === '00' && f[9] !== undefined && f[9] !== 'lo')
        return f[9];
    }
  } catch {
    // none
  }
  return null;
}

export function interfaceExists(name: string): boolean {
  return os.networkInterfaces()[name] !== undefined || fs.existsSync(`/sys/class/net/${name}`);
}
