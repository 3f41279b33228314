/**
 * The client's host profiles (~/.config/knock/hosts), in ssh_config's shape:
 *
 *   # comment
 *   Host web
 *       Address   203.0.113.7
 *       Sequence  7000,8000:udp,9000
 *       Open      tcp/22
 *
 * `Host NAME` opens a profile; each following line is `Key value` or
 * `Key = value`, keys case-insensitive; blank lines and lines starting with
 * `#` are skipped. Every problem is reported as file:line, quoting the
 * value. Pure: the caller reads the file (and checks its permissions) and
 * resolves service names and `~` in paths.
 */
import type { ConfigProblem } from '../core/errors.js';
import { parsePortSpec, type PortSpec, type Proto } from '../core/port.js';
import { checkTotpParams, TOTP_DEFAULTS, type TotpAlg } from '../core/knock/totp.js';

export interface Profile {
  readonly name: string;
  /** `file:line` of the Host line, for messages. */
  readonly where: string;
  address?: string;
  /** knock 0.8's `port[:proto]` words, in order. */
  sequence?: string[];
  /** Protocol of sequence ports without a suffix (knock's -u when udp). */
  protocol: Proto;
  delayMs: number;
  family: 0 | 4 | 6;
  /** The port --wait and --proxy confirm (the first Open entry). */
  open?: PortSpec;
  tries?: number;
  waitSeconds?: number;
  /** Times each knock is sent; >1 only for servers that ignore a repeated knock (knockd-ts). */
  repeat: number;
  spa?: {
    keyFile: string;
    hmacKeyFile: string;
    digest?: string;
    port?: number;
    allowIp?: string;
  };
  totp?: {
    secretFile: string;
    length: number;
    portMin: number;
    portMax: number;
    stepSeconds: number;
    alg: TotpAlg;
  };
}

export interface ProfileFile {
  profiles: Map<string, Profile>;
  problems: ConfigProblem[];
}

const KEYS = [
  'address',
  'sequence',
  'protocol',
  'delay',
  'family',
  'open',
  'tries',
  'wait_time',
  'repeat',
  'spa_key_file',
  'spa_hmac_key_file',
  'spa_hmac_digest',
  'spa_port',
  'spa_allow_ip',
  'totp_secret_file',
  'sequence_length',
  'port_range',
  'totp_step',
  'totp_algorithm',
] as const;
type Key = (typeof KEYS)[number];

function int(v: string, min: number, max: number): number | null {
  if (!/^\d{1,9}$/.test(v)) return null;
  const n = Number(v);
  return n >= min && n <= max ? n : null;
}

export function parseProfiles(text: string, file: string): ProfileFile {
  const profiles = new Map<string, Profile>();
  const problems: ConfigProblem[] = [];
  const raw = new Map<Profile, Map<Key, { value: string; line: number }>>();
  let cur: Profile | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const t = (lines[i] as string).trim();
    if (t === '' || t.startsWith('#')) continue;
    const m = /^([A-Za-z_]+)\s*(?:=\s*|\s+)(.*)$/.exec(t);
    if (m === null) {
      problems.push({ file, line, message: `expected 'Key value', got '${t}'` });
      continue;
    }
    const key = (m[1] as string).toLowerCase();
    const value = (m[2] as string).trim();
    if (key === 'host') {
      if (!/^[A-Za-z0-9._:-]+$/.test(value)) {
        problems.push({ file, line, message: `bad host name '${value}'` });
        cur = null;
        continue;
      }
      if (profiles.has(value)) problems.push({ file, line, message: `Host '${value}' again` });
      cur = {
        name: value,
        where: `${file}:${line}`,
        protocol: 'tcp',
        delayMs: 0,
        family: 0,
        repeat: 1,
      };
      profiles.set(value, cur);
      raw.set(cur, new Map());
      continue;
    }
    if (!(KEYS as readonly string[]).includes(key)) {
      problems.push({ file, line, message: `unknown key '${m[1] as string}'` });
      continue;
    }
    if (cur === null) {
      problems.push({ file, line, message: `'${m[1] as string}' before any Host line` });
      continue;
    }
    if (value === '') {
      problems.push({ file, line, message: `'${m[1] as string}' needs a value` });
      continue;
    }
    (raw.get(cur) as Map<Key, { value: string; line: number }>).set(key as Key, { value, line });
  }

  for (const [p, kv] of raw) {
    const before = problems.length;
    const bad = (k: Key, message: string) =>
      problems.push({ file, line: kv.get(k)?.line ?? Number(p.where.split(':').pop()), message });
    const get = (k: Key) => kv.get(k)?.value;
    const num = (k: Key, min: number, max: number): number | undefined => {
      const v = get(k);
      if (v === undefined) return undefined;
      const n = int(v, min, max);
      if (n === null) bad(k, `${k} '${v}' is not a whole number ${min}-${max}`);
      return n ?? undefined;
    };
    p.address = get('address');
    const seq = get('sequence');
    if (seq !== undefined) p.sequence = seq.split(/[\s,]+/).filter((w) => w !== '');
    const proto = get('protocol');
    if (proto !== undefined) {
      if (proto.toLowerCase() === 'tcp' || proto.toLowerCase() === 'udp')
        p.protocol = proto.toLowerCase() as Proto;
      else bad('protocol', `protocol '${proto}' is not tcp or udp`);
    }
    p.delayMs = num('delay', 0, 600_000) ?? 0;
    const fam = get('family');
    if (fam !== undefined) {
      const f = { any: 0, inet: 4, '4': 4, inet6: 6, '6': 6 }[fam.toLowerCase()];
      if (f === undefined) bad('family', `family '${fam}' is not any, 4 (inet) or 6 (inet6)`);
      else p.family = f as 0 | 4 | 6;
    }
    const open = get('open');
    if (open !== undefined) {
      const o = parsePortSpec(open.split(',')[0]?.trim() ?? '');
      if ('error' in o) bad('open', o.error);
      else p.open = o;
    }
    p.tries = num('tries', 1, 100);
    p.waitSeconds = num('wait_time', 1, 3600);
    p.repeat = num('repeat', 1, 5) ?? 1;
    const kf = get('spa_key_file');
    const hf = get('spa_hmac_key_file');
    if (kf !== undefined || hf !== undefined) {
      if (kf === undefined || hf === undefined)
        bad(
          kf === undefined ? 'spa_hmac_key_file' : 'spa_key_file',
          'SPA needs both SPA_Key_File and SPA_HMAC_Key_File',
        );
      else {
        const port = num('spa_port', 1, 65535);
        p.spa = {
          keyFile: kf,
          hmacKeyFile: hf,
          ...(get('spa_hmac_digest') !== undefined ? { digest: get('spa_hmac_digest') } : {}),
          ...(port !== undefined ? { port } : {}),
          ...(get('spa_allow_ip') !== undefined ? { allowIp: get('spa_allow_ip') } : {}),
        };
      }
    }
    const sf = get('totp_secret_file');
    if (sf !== undefined) {
      let portMin = TOTP_DEFAULTS.portMin;
      let portMax = TOTP_DEFAULTS.portMax;
      const range = get('port_range');
      if (range !== undefined) {
        const r = /^(\d{1,5})\s*-\s*(\d{1,5})$/.exec(range);
        if (r === null) bad('port_range', `port range '${range}' is not LOW-HIGH`);
        else [portMin, portMax] = [Number(r[1]), Number(r[2])];
      }
      const alg = (get('totp_algorithm') ?? TOTP_DEFAULTS.alg).toLowerCase().replace('-', '');
      const totp = {
        secretFile: sf,
        length: num('sequence_length', 1, 32) ?? TOTP_DEFAULTS.length,
        portMin,
        portMax,
        stepSeconds: num('totp_step', 1, 3600) ?? TOTP_DEFAULTS.stepSeconds,
        alg: alg as TotpAlg,
      };
      const why = checkTotpParams({ ...totp, proto: p.protocol });
      if (why !== null) bad('totp_secret_file', `${p.name}: ${why}`);
      else p.totp = totp;
    }
    const ways = [p.sequence, p.spa, p.totp].filter((w) => w !== undefined).length;
    if (p.address === undefined) bad('address', `Host '${p.name}' has no Address`);
    // A profile whose only way was refused above has said enough already.
    if (ways > 1 || (ways === 0 && problems.length === before))
      bad(
        'sequence',
        `Host '${p.name}' needs exactly one of Sequence, SPA_Key_File or TOTP_Secret_File`,
      );
    if (p.spa !== undefined && p.open === undefined)
      bad('spa_key_file', `Host '${p.name}': SPA needs Open (the ports to ask for)`);
  }
  return { profiles, problems };
}

/** The profile named `host`, else the only one whose Address is `host`. */
export function findProfile(f: ProfileFile, host: string): Profile | undefined {
  const byName = f.profiles.get(host);
  if (byName !== undefined) return byName;
  const byAddr = [...f.profiles.values()].filter((p) => p.address === host);
  return byAddr.length === 1 ? byAddr[0] : undefined;
}
