/**
 * knockctl: asks a running knockd over its control socket what is open, for
 * whom and until when, and grants or revokes access.
 */
import net from 'node:net';
import { parseKnockctlArgs } from './args.js';
import { DEFAULT_CONTROL_SOCKET } from '../core/config.js';
import { EXIT_CODES } from '../core/errors.js';

const USAGE = `usage: knockctl [-s socket] [--json] <command>
commands:
  status                  doors, live attempts, grants, pending stop commands, capture counters
  grants                  grants with the seconds they have left (and their origin host)
  grants --fleet          the group's grants as Redis holds them, with their origin host
  revoke ADDRESS [DOOR]   close ADDRESS's grants (of DOOR only, if given)
  grant ADDRESS DOOR      open DOOR's Open ports to ADDRESS for its Open_Timeout
options:
  -s, --socket <path>     control socket (default ${DEFAULT_CONTROL_SOCKET})
  -j, --json              print the daemon's JSON reply
      --fleet             with grants: the whole group's grants
  -h, --help              this help
`;

function request(path: string, req: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(path);
    let buf = '';
    sock.setEncoding('utf8');
    sock.setTimeout(10_000, () => sock.destroy(new Error('no reply from the daemon')));
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        sock.end();
        try {
          resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
        } catch (e) {
          reject(e as Error);
        }
      }
    });
    sock.on('error', reject);
  });
}

type Row = Record<string, unknown>;
function table(rows: Row[], cols: string[]): string {
  if (rows.length === 0) return '  (none)\n';
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells: string[]) =>
    `  ${cells.map((c, i) => c.padEnd(w[i] ?? 0)).join('  ')}`.trimEnd();
  return `${[line(cols), ...rows.map((r) => line(cols.map((c) => String(r[c] ?? ''))))].join('\n')}\n`;
}

function fleetLine(f: Row): string {
  if (f.enabled !== true) return 'fleet: off\n';
  const c = (f.counters as Row | undefined) ?? {};
  const a = f.attempts as Row | undefined;
  const peers = (f.peers as string[] | undefined) ?? [];
  const sync = typeof f.lastSync === 'number' ? new Date(f.lastSync).toISOString() : 'never';
  return (
    `fleet: group ${String(f.group)} on ${String(f.url)}, ${f.connected === true ? 'connected' : 'NOT connected (working locally)'}\n` +
    `  peers seen: ${peers.length === 0 ? '(none)' : peers.join(', ')}; last sync ${sync}\n` +
    `  ${String(c.published)} published, ${String(c.received)} received, ${String(c.rejected)} rejected, ${String(c.dropped)} dropped, ${String(f.queued)} queued\n` +
    (a === undefined
      ? ''
      : `  shared attempts: ${String(a.sent)} steps sent, ${String(a.shed)} shed, ${String(a.failed)} failed, ${String(a.opened)} opened here, ${String(a.queued)} queued\n`)
  );
}

function human(cmd: string, r: Row): string {
  const grants = (r.grants as Row[] | undefined) ?? [];
  switch (cmd) {
    case 'status': {
      const cap = (r.capture as Row | undefined) ?? {};
      return (
        `interface ${String(r.interface)}, firewall ${String(r.firewall)}\n` +
        `capture: ${String(cap.received)} received, ${String(cap.dropped)} dropped, ${String(cap.packets)} decoded\n` +
        `doors:\n${table((r.doors as Row[]) ?? [], ['name', 'sequence', 'enabled', 'open', 'openTimeout'])}` +
        `attempts:\n${table((r.attempts as Row[]) ?? [], ['door', 'address', 'stage', 'ageSeconds'])}` +
        `grants:\n${table(grants, ['door', 'address', 'ports', 'secondsLeft', 'expires'])}` +
        `pending stop commands:\n${table((r.pendingStops as Row[]) ?? [], ['door', 'address', 'secondsLeft'])}` +
        fleetLine((r.fleet as Row | undefined) ?? {})
      );
    }
    case 'grants':
      return r.fleet === true
        ? table(grants, ['door', 'address', 'origin', 'secondsLeft'])
        : table(grants, ['door', 'address', 'ports', 'secondsLeft', 'expires', 'origin']);
    case 'revoke':
      return `revoked ${String(r.revoked)} grant(s)\n`;
    default:
      return `granted ${String(r.granted)} for ${String(r.seconds)} s\n`;
  }
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseKnockctlArgs(argv);
  } catch (e) {
    process.stderr.write(`knockctl: ${(e as Error).message}\n${USAGE}`);
    return EXIT_CODES.E_USAGE;
  }
  if (parsed.opts.has('help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [cmd, a1, a2, ...rest] = parsed.operands;
  const usage = (msg: string) => {
    process.stderr.write(`knockctl: ${msg}\n${USAGE}`);
    return EXIT_CODES.E_USAGE;
  };
  let req: object;
  const fleet = parsed.opts.has('fleet');
  if (fleet && cmd !== 'grants') return usage('--fleet goes with grants');
  if (cmd === 'grants' && a1 === undefined) req = fleet ? { cmd, fleet: true } : { cmd };
  else if (cmd === 'status' && a1 === undefined) req = { cmd };
  else if (cmd === 'revoke' && a1 !== undefined && rest.length === 0)
    req = a2 === undefined ? { cmd, address: a1 } : { cmd, address: a1, door: a2 };
  else if (cmd === 'grant' && a1 !== undefined && a2 !== undefined && rest.length === 0)
    req = { cmd, address: a1, door: a2 };
  else return usage(cmd === undefined ? 'missing command' : `bad command line for '${cmd}'`);
  const path = (parsed.opts.get('socket') as string | undefined) ?? DEFAULT_CONTROL_SOCKET;
  let reply: Record<string, unknown>;
  try {
    reply = await request(path, req);
  } catch (e) {
    process.stderr.write(`knockctl: cannot reach knockd at ${path}: ${(e as Error).message}\n`);
    return EXIT_CODES.E_CAPTURE;
  }
  if (parsed.opts.has('json')) process.stdout.write(`${JSON.stringify(reply, null, 2)}\n`);
  else if (reply.ok === true)
    process.stdout.write(human(cmd as string, fleet ? { ...reply, fleet: true } : reply));
  if (reply.ok !== true) {
    if (!parsed.opts.has('json')) process.stderr.write(`knockctl: ${String(reply.error)}\n`);
    return 1;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`knockctl: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
