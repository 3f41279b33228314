/**
 * The port vocabulary shared by every domain: a protocol, a port, the
 * `tcp/22` spelling used by Open, Close, access.conf, SPA messages and the
 * clients, and the named defaults. One parser, one equality, one printer.
 */

export type Proto = 'tcp' | 'udp';

/** One transport port: what a knock hits and what a grant opens. */
export interface PortSpec {
  readonly proto: Proto;
  readonly port: number;
}

/** fwknop's default SPA port (fwknopd PCAP_FILTER, fwknop --server-port). */
export const DEFAULT_SPA_PORT = 62201;

export function samePort(a: PortSpec, b: PortSpec): boolean {
  return a.proto === b.proto && a.port === b.port;
}

export function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/**
 * Parses one `tcp/22` (case-insensitive protocol); returns the spec, or a
 * message quoting the bad text. Only decimal digits, so `0x16` or `+22` never
 * mean a port.
 */
export function parsePortSpec(text: string): PortSpec | { error: string } {
  const m = /^(tcp|udp)\/(\d{1,5})$/i.exec(text);
  if (m === null) return { error: `bad port '${text}': expected tcp/PORT or udp/PORT` };
  const port = Number(m[2]);
  if (!isPort(port)) return { error: `port ${m[2]} out of range 1-65535` };
  return { proto: (m[1] as string).toLowerCase() as Proto, port };
}

/**
 * Parses `tcp/22[,udp/60001,...]` (blanks around elements allowed);
 * duplicates collapse to one.
 */
export function parsePortList(value: string): { ports: PortSpec[] } | { error: string } {
  if (value.trim() === '') return { error: 'empty port list' };
  const ports: PortSpec[] = [];
  for (const raw of value.split(',')) {
    const p = parsePortSpec(raw.trim());
    if ('error' in p) return p;
    if (!ports.some((q) => samePort(p, q))) ports.push(p);
  }
  return { ports };
}

export function formatPort(p: PortSpec): string {
  return `${p.proto}/${p.port}`;
}

export function formatPorts(ports: readonly PortSpec[]): string {
  return ports.map(formatPort).join(',');
}

/** The union of port lists, in first-seen order. */
export function unionPorts(lists: Iterable<readonly PortSpec[]>): PortSpec[] {
  const out: PortSpec[] = [];
  for (const l of lists) for (const p of l) if (!out.some((q) => samePort(p, q))) out.push(p);
  return out;
}
