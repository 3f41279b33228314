/** knock 0.8's port words: `port[:proto]`, numbers or service names. */
import fs from 'node:fs';
import type { PortSpec, Proto } from '../core/port.js';

/** Service names (as getaddrinfo would take them) from /etc/services. */
function serviceName(name: string, proto: string): number | null {
  let text = '';
  try {
    text = fs.readFileSync('/etc/services', 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const fields = line.replace(/#.*/, '').trim().split(/\s+/);
    const [svc, portProto, ...aliases] = fields;
    if (svc === undefined || portProto === undefined) continue;
    const [port, pr] = portProto.split('/');
    if (pr !== proto) continue;
    if (svc === name || aliases.includes(name)) return Number(port);
  }
  return null;
}

/**
 * knock's per-port rule: only the exact lowercase ":udp" means UDP; any
 * other suffix means TCP. -u makes every hit UDP.
 */
export function parseHit(arg: string, allUdp: boolean): PortSpec | string {
  const colon = arg.indexOf(':');
  const portText = colon < 0 ? arg : arg.slice(0, colon);
  const proto: Proto = allUdp || (colon >= 0 && arg.slice(colon + 1) === 'udp') ? 'udp' : 'tcp';
  let port: number | null = null;
  if (/^\d{1,5}$/.test(portText)) port = Number(portText);
  else if (portText !== '') port = serviceName(portText, proto);
  if (port === null || port < 1 || port > 65535) return `invalid port: '${portText}'`;
  return { port, proto };
}
