/**
 * The fuzz targets: packet decoder, knock machine, knockd.conf, access.conf,
 * journal, control protocol, and the SPA verifier fed mutated authentic
 * packets (with and without HMAC). Each input is rebuilt from its seed, so
 * a finding is reproduced with FUZZ_ONE=<target>:<index>.
 */
import { decode, newPacket, LINKTYPE, Skip, type Packet } from '../src/core/knock/decode.js';
import { KnockMachine, type KnockEvent } from '../src/core/knock/machine.js';
import { parseConfig, SEQ_MAX, type Door } from '../src/core/config.js';
import { parseAccessConf, type Stanza } from '../src/core/spa/access.js';
import { parseJournal, serializeJournal, type JournalState } from '../src/core/grants/journal.js';
import { parseRequest } from '../src/core/control.js';
import { canonicalIP } from '../src/core/ip.js';
import { ReplayCache } from '../src/core/spa/policy.js';
import {
  encodeSpa,
  precheck,
  b64decode,
  b64nopad,
  type DigestAlg,
  type SpaCrypto,
  type SpaKeys,
  type SpaMessage,
} from '../src/core/spa/spa.js';
import { nodeSpaCrypto } from '../src/adapters/spa-crypto.js';
import { frame, type FrameSpec } from '../test/helpers/frames.js';
import { Rng } from './rng.js';
import { mutateBytes, mutateText } from './mutate.js';
import { Violation, type Target } from './harness.js';
import { evalSpa, decodeSpaBytes, latin1 } from './spa-wrap.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const clip = (s: string, n = 600) => (s.length > n ? `${s.slice(0, n)}... (${s.length} chars)` : s);
const fail = (m: string): never => {
  throw new Violation('property', m);
};
const accept = (m: string): never => {
  throw new Violation('acceptance', m);
};

// ---------------------------------------------------------------- frames

const LINKTYPES = Object.values(LINKTYPE) as number[];
const V4 = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '192.0.2.9', '0.0.0.0', '255.255.255.255'];
const V6 = ['fd00::1', 'fd00::2', 'fd00::3', '::ffff:10.0.0.2', '::1', 'fe80::1:2:3:4'];

function randomSpec(r: Rng): FrameSpec & { v6: boolean } {
  const v6 = r.chance(0.4);
  const pool = v6 ? V6 : V4;
  return {
    v6,
    src: r.pick(pool.slice(1)),
    dst: r.chance(0.7) ? pool[0]! : r.pick(pool),
    proto: r.chance(0.5) ? 'tcp' : 'udp',
    sport: r.int(1, 65535),
    dport: r.chance(0.7) ? r.pick([7000, 8000, 9000]) : r.int(0, 65535),
    flags: r.chance(0.7) ? 0x02 : r.below(256),
    ...(r.chance(0.1) ? { fragOffset: r.int(1, 20) } : {}),
    ...(v6 && r.chance(0.3)
      ? { ext: Array.from({ length: r.int(1, 3) }, () => r.pick([0, 43, 60, 44, 51])) }
      : {}),
  };
}

/** A well-formed frame for link type `lt` (a raw IP packet for the types without a builder). */
function frameFor(lt: number, s: FrameSpec & { v6: boolean }, r: Rng): Uint8Array {
  switch (lt) {
    case LINKTYPE.ETHERNET:
      return frame({
        ...s,
        link: 'eth',
        ...(r.chance(0.2) ? { vlan: r.int(1, 4094) & 0xff } : {}),
      });
    case LINKTYPE.LINUX_SLL:
      return frame({ ...s, link: 'sll' });
    case LINKTYPE.LINUX_SLL2:
      return frame({ ...s, link: 'sll2' });
    case LINKTYPE.NULL: {
      const ip = frame({ ...s, link: 'raw' });
      const af = s.v6 ? r.pick([10, 24, 28, 30]) : 2;
      const h = r.chance(0.5) ? [af, 0, 0, 0] : [0, 0, 0, af];
      const out = new Uint8Array(4 + ip.length);
      out.set(h, 0);
      out.set(ip, 4);
      return out;
    }
    default:
      return frame({ ...s, link: 'raw' });
  }
}

/** Per link type, a corpus of well-formed frames (fixed seed). */
const FRAMES = new Map<number, Uint8Array[]>();
{
  const r = new Rng(0xf4a3e5);
  for (const lt of LINKTYPES)
    FRAMES.set(
      lt,
      Array.from({ length: 300 }, () => frameFor(lt, randomSpec(r), r)),
    );
}
const ALL_FRAMES = [...FRAMES.values()].flat();

function fuzzFrame(r: Rng, lt: number): Uint8Array {
  if (r.chance(0.1)) return r.bytes(r.below(120));
  const base = r.pick(FRAMES.get(lt) ?? ALL_FRAMES);
  let b = r.chance(0.8) ? mutateBytes(r, base, ALL_FRAMES, 2048) : Uint8Array.from(base);
  if (r.chance(0.25)) b = b.slice(0, r.below(b.length + 1));
  return b;
}

const SENTINEL = -1;
function freshPacket(): Packet {
  const p = newPacket();
  p.payloadOffset = SENTINEL;
  p.src = '?';
  p.dst = '?';
  return p;
}

/** Everything a decode left in its Packet, with payloadOffset made relative to the frame start. */
function fields(p: Packet, off: number): string {
  const po = p.payloadOffset === SENTINEL ? 'unset' : String(p.payloadOffset - off);
  return `${p.family} ${p.src} ${p.dst} ${p.proto} ${p.sport} ${p.dport} ${p.flags} ${po}`;
}

function sanePacket(p: Packet): void {
  const ip = canonicalIP(p.src);
  const ipd = canonicalIP(p.dst);
  if (ip === null || ip.family !== p.family || ip.text !== p.src)
    fail(`src '${p.src}' is not canonical family ${p.family}`);
  if (ipd === null || ipd.family !== p.family || ipd.text !== p.dst)
    fail(`dst '${p.dst}' is not canonical family ${p.family}`);
  for (const n of [p.sport, p.dport])
    if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`port ${n}`);
  if (!Number.isInteger(p.flags) || p.flags < 0 || p.flags > 63) fail(`flags ${p.flags}`);
  if (p.proto === 'udp' && p.flags !== 0) fail('udp with flags');
}

interface DecodeInput {
  lt: number;
  b: Uint8Array;
  front: Uint8Array;
  back: Uint8Array;
}

export const decoderTarget: Target<DecodeInput> = {
  name: 'decode',
  weight: 0.5,
  gen(r) {
    const lt = r.chance(0.95) ? r.pick(LINKTYPES) : r.below(300);
    return { lt, b: fuzzFrame(r, lt), front: r.bytes(r.below(16)), back: r.bytes(r.int(1, 64)) };
  },
  run({ lt, b, front, back }) {
    const p1 = freshPacket();
    const r1 = decode(lt, b, 0, b.length, p1);
    // The same bytes inside a larger buffer: a read past `len` would see the garbage, not undefined.
    const big = new Uint8Array(front.length + b.length + back.length);
    big.set(front, 0);
    big.set(b, front.length);
    big.set(back, front.length + b.length);
    const p2 = freshPacket();
    const r2 = decode(lt, big, front.length, b.length, p2);
    if (r1 !== r2 || fields(p1, 0) !== fields(p2, front.length))
      fail(`exact ${r1} [${fields(p1, 0)}] vs padded ${r2} [${fields(p2, front.length)}]`);
    if (r1 === Skip.OK) sanePacket(p1);
    if (decode(lt, b, 0, b.length + 1, freshPacket()) !== Skip.TRUNCATED)
      fail('len past the buffer was not TRUNCATED');
  },
  show: ({ lt, b, front, back }) =>
    `linktype ${lt} frame ${hex(b)} front ${hex(front)} back ${hex(back)}`,
};

// ---------------------------------------------------------------- machine

const MACHINE_CONF = `[tcp3]
sequence = 7000,8000,9000
seq_timeout = 5
tcpflags = syn,!ack
[udp2]
sequence = 7000:udp,8000:udp
seq_timeout = 3
[one]
sequence = 9000:udp
[target6]
sequence = 7000,9000:udp
target = fd00::1
[mixed]
sequence = 9000,7000,9000,8000:udp
seq_timeout = 1
tcpflags = syn,ack
`;
const MACHINE_DOORS: Door[] = (() => {
  const c = parseConfig(MACHINE_CONF, 'fuzz');
  if (!c.ok) throw new Error(JSON.stringify(c.problems));
  return c.config.doors;
})();

interface MachineInput {
  cap: number;
  local: boolean;
  steps: { lt: number; b: Uint8Array; dt: number; tick: boolean }[];
}

export const machineTarget: Target<MachineInput> = {
  name: 'machine',
  weight: 0.03,
  gen(r) {
    const steps = Array.from({ length: r.int(1, 24) }, () => {
      const lt = r.pick(LINKTYPES);
      const spec = randomSpec(r);
      let b = frameFor(lt, spec, r);
      if (r.chance(0.2)) b = mutateBytes(r, b, ALL_FRAMES, 512);
      return { lt, b, dt: r.chance(0.1) ? r.int(0, 10000) : r.below(1500), tick: r.chance(0.2) };
    });
    return { cap: r.int(1, 16), local: r.chance(0.5), steps };
  },
  run({ cap, local, steps }) {
    const m = new KnockMachine(MACHINE_DOORS, cap);
    if (local) m.setLocalAddresses(new Set(['10.0.0.1', 'fd00::1']));
    let now = 1_000_000;
    let pkt: Packet | null = null;
    const check = (e: KnockEvent) => {
      if (e.kind === 'open') {
        const seq = e.door.sequence;
        const last = seq[seq.length - 1];
        if (pkt === null) return fail('open outside a packet');
        if (
          e.src !== pkt.src ||
          last === undefined ||
          last.port !== pkt.dport ||
          last.proto !== pkt.proto
        )
          fail(`door ${e.door.name} opened for ${e.src} on ${pkt.proto}/${pkt.dport}`);
      }
      if (e.kind === 'stage' && (e.stage < 1 || e.stage > e.door.sequence.length))
        fail(`stage ${e.stage} of ${e.door.name}`);
      if (e.kind === 'stage' && pkt === null) fail('stage from tick');
    };
    for (const s of steps) {
      now += s.dt;
      const p = newPacket();
      if (decode(s.lt, s.b, 0, s.b.length, p) === Skip.OK) {
        pkt = p;
        m.onPacket(p, now, check);
        pkt = null;
      }
      if (s.tick) m.tick(now, check);
      const n = m.attemptCount();
      if (n > cap || n !== m.attempts().length)
        fail(`attemptCount ${n}, attempts ${m.attempts().length}, cap ${cap}`);
    }
  },
  show: ({ cap, local, steps }) =>
    `cap ${cap} local ${local} steps ${steps.map((s) => `${s.lt}/${s.dt}${s.tick ? 't' : ''}/${hex(s.b)}`).join(' ')}`,
};

// ---------------------------------------------------------------- knockd.conf

const CONFIGS = [
  MACHINE_CONF,
  `[options]\n\tUseSyslog\n\tLogFile = /var/log/knockd.log\n\tInterface = eth0\n\tFirewall = nftables\n\tStateDir = /var/lib/knockd\n\tControlSocket = /run/k.sock\n\tMaxAttempts = 1000\n\tSPA_Access = /etc/knockd/access.conf\n\tSPA_Port = 62201\n\tSPA_Receive = socket\n\tCommandKillTimeout = 5\n\n[openSSH]\n\tsequence    = 7000,8000,9000\n\tseq_timeout = 5\n\tcommand     = /sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT\n\ttcpflags    = syn\n`,
  `[opencloseSSH]\n\tsequence      = 2222:udp,3333:tcp,4444:udp\n\tseq_timeout   = 15\n\ttcpflags      = syn,ack\n\tstart_command = /sbin/iptables -A INPUT -s %IP% -p tcp --syn --dport 22 -j ACCEPT\n\tstart_command_6 = /sbin/ip6tables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT\n\tcmd_timeout   = 10\n\tstop_command  = /sbin/iptables -D INPUT -s %IP% -p tcp --syn --dport 22 -j ACCEPT\n\tstop_command_6 = /sbin/ip6tables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT\n`,
  `[options]\n  Firewall = iptables\n[web]\n  One_Time_Sequences = /etc/knockd/web.seq\n  Target = 192.0.2.1\n  Open = tcp/80, tcp/443\n  Open_Timeout = 60\n  Close = udp/53\n  tcpflags = syn,!ack,!rst,fin\n[close]\n  sequence = 1:udp\n  timeout = 9\n`,
];
const CONFIG_DICT = [
  '[options]',
  '[door]',
  '[]',
  '[ options ]',
  'UseSyslog',
  'sequence',
  'Sequence = ',
  'seq_timeout',
  'timeout',
  'tcpflags',
  'syn',
  '!ack',
  'fin,',
  'urg',
  'start_command',
  'stop_command',
  'command_6',
  'cmd_timeout',
  'target',
  'open',
  'close',
  'open_timeout',
  'one_time_sequences',
  'Firewall = nftables',
  'SPA_Access',
  'SPA_Port',
  'SPA_Receive = capture',
  'MaxAttempts',
  'CommandKillTimeout',
  'LogFile',
  'PidFile',
  'Interface',
  'StateDir',
  'ControlSocket',
  ':tcp',
  ':udp',
  'tcp/',
  'udp/',
  '%IP%',
  '=',
  ',',
  '\n',
  '\n[',
  '::1',
  'fd00::1',
  '10.0.0.1',
  '1.2.3.4.5',
  '#',
  ' = ',
];

function linesOf(text: string): number {
  return text.split('\n').length;
}

export const configTarget: Target<string> = {
  name: 'knockd.conf',
  weight: 0.12,
  gen: (r) => mutateText(r, r.pick(CONFIGS), CONFIGS, CONFIG_DICT),
  run(text) {
    const r = parseConfig(text, 'f');
    const n = linesOf(text);
    if (!r.ok) {
      if (r.problems.length === 0) fail('not ok without a problem');
      for (const p of r.problems)
        if (!(p.line >= 1 && p.line <= n) || p.file !== 'f')
          fail(`problem line ${p.line} of ${n}: ${p.message}`);
      return;
    }
    for (const d of r.config.doors) {
      if (d.sequence.length > SEQ_MAX) fail(`sequence of ${d.sequence.length}`);
      if (d.sequence.length === 0 && d.oneTimeSequences === undefined)
        fail(`door ${d.name} has no sequence`);
      for (const k of d.sequence)
        if (!Number.isInteger(k.port) || k.port < 1 || k.port > 65535) fail(`port ${k.port}`);
      if (!Number.isInteger(d.seqTimeout) || d.seqTimeout < 1) fail(`seq_timeout ${d.seqTimeout}`);
      if (d.target !== undefined && canonicalIP(d.target)?.text !== d.target)
        fail(`target ${d.target}`);
      if ((d.tcpFlags.set & d.tcpFlags.clear) !== 0)
        fail(`flags both set and clear ${JSON.stringify(d.tcpFlags)}`);
    }
  },
  show: (t) => JSON.stringify(clip(t, 4000)),
};

// ---------------------------------------------------------------- access.conf

const ACCESS = [
  `# comment\nSOURCE 10.0.0.0/24, 192.0.2.7\n  KEY_BASE64 c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTIzNDU2Nzg=\n  HMAC_KEY_BASE64: aG1hY2htYWNobWFjaG1hY2htYWNobWFjaG1hYw==\n  OPEN_PORTS tcp/22, udp/53 ; trailing\n  HMAC_DIGEST_TYPE SHA3_256\n`,
  `SOURCE ANY\nKEY abc\nALLOW_NO_HMAC Y\nREQUIRE_SOURCE_ADDRESS Y\nREQUIRE_USERNAME carol\nFW_ACCESS_TIMEOUT 30\nMAX_FW_TIMEOUT 60\nACCESS_EXPIRE 12/31/2030\n`,
  `SOURCE 10.0.0.0/255.255.255.0\nKEY secretkey\nHMAC_KEY otherkey\nENCRYPTION_MODE legacy\nRESTRICT_PORTS tcp/23\nACCESS_EXPIRE_EPOCH 1900000000\nSOURCE ANY\nKEY k2\nHMAC_KEY h2\nHMAC_DIGEST_TYPE sha512\nENCRYPTION_MODE ctr\n`,
];
const ACCESS_DICT = [
  'SOURCE',
  'ANY',
  'KEY',
  'KEY_BASE64',
  'HMAC_KEY',
  'HMAC_KEY_BASE64',
  'HMAC_DIGEST_TYPE',
  'ENCRYPTION_MODE',
  'OPEN_PORTS',
  'RESTRICT_PORTS',
  'FW_ACCESS_TIMEOUT',
  'MAX_FW_TIMEOUT',
  'REQUIRE_SOURCE_ADDRESS',
  'REQUIRE_USERNAME',
  'ACCESS_EXPIRE',
  'ACCESS_EXPIRE_EPOCH',
  'ALLOW_NO_HMAC',
  'CMD_CYCLE_OPEN',
  'GPG_HOME_DIR',
  ' Y',
  ' N',
  ':',
  ';',
  '#',
  '/32',
  '/0',
  '/33',
  '/255.255.0.0',
  'tcp/',
  'udp/',
  '__CHANGEME__',
  '==',
  '/',
  '+',
  'sha3_512',
  'md5',
  'cbc',
  'ecb',
  '02/30/2024',
  '\n',
  '  ',
  '\t',
];

export const accessTarget: Target<string> = {
  name: 'access.conf',
  weight: 0.12,
  gen: (r) => mutateText(r, r.pick(ACCESS), ACCESS, ACCESS_DICT),
  run(text) {
    const r = parseAccessConf(text, 'a');
    const n = linesOf(text);
    if ('problems' in r) {
      if (r.problems.length === 0) fail('problems without a problem');
      for (const p of r.problems)
        if (!(p.line >= 1 && p.line <= n)) fail(`problem line ${p.line} of ${n}: ${p.message}`);
      return;
    }
    for (const s of r.stanzas) {
      if (s.encKey === undefined || s.encKey.length < 1 || s.encKey.length > 32)
        fail(`encKey length ${s.encKey?.length}`);
      if (s.hmacKey === undefined && !s.allowNoHmac) fail('no HMAC key without ALLOW_NO_HMAC');
      if (!Number.isInteger(s.fwAccessTimeout) || s.fwAccessTimeout < 0)
        fail(`timeout ${s.fwAccessTimeout}`);
      if (s.accessExpire !== undefined && !Number.isFinite(s.accessExpire))
        fail(`expire ${s.accessExpire}`);
    }
  },
  show: (t) => JSON.stringify(clip(t, 4000)),
};

// ---------------------------------------------------------------- journal

const JOURNALS: string[] = (() => {
  const states: JournalState[] = [
    { grants: [], stops: [] },
    {
      grants: [
        {
          door: 'ssh',
          address: '10.0.0.2',
          family: 4,
          ports: [{ proto: 'tcp', port: 22 }],
          expires: 1_800_000_030_000,
        },
        {
          door: 'web',
          address: 'fd00::2',
          family: 6,
          ports: [
            { proto: 'tcp', port: 80 },
            { proto: 'udp', port: 53 },
          ],
          expires: 1_800_000_060_000,
        },
      ],
      stops: [
        {
          id: 1,
          door: 'ssh',
          address: '10.0.0.2',
          due: 1_800_000_010_000,
        },
      ],
      replay: [['47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU', 1_800_000_120]],
    },
    {
      grants: [
        {
          door: 'x',
          address: '::ffff:10.0.0.9',
          family: 6,
          ports: [{ proto: 'udp', port: 65535 }],
          expires: 0,
        },
      ],
      stops: [],
    },
  ];
  return [...states.map(serializeJournal), '{"version":1,"grants":[],"stops":[],"replay":[]}\n'];
})();
const JSON_DICT = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  'null',
  'true',
  'false',
  '"version"',
  '"grants"',
  '"stops"',
  '"replay"',
  '"door"',
  '"address"',
  '"family"',
  '"ports"',
  '"proto"',
  '"port"',
  '"expires"',
  '"id"',
  '"command"',
  '"due"',
  '"cmd"',
  '"10.0.0.1"',
  '"::1"',
  '"::ffff:1.2.3.4"',
  '"FD00::1"',
  '"010.0.0.1"',
  '"tcp"',
  '"udp"',
  '6',
  '4',
  '-1',
  '1e400',
  '"__proto__"',
  '"constructor"',
  '\\u0000',
  '\\ud800',
  '"status"',
  '"grants"',
  '"revoke"',
  '"grant"',
];

export const journalTarget: Target<string> = {
  name: 'journal',
  weight: 0.08,
  gen: (r) => mutateText(r, r.pick(JOURNALS), JOURNALS, JSON_DICT),
  run(text) {
    const r = parseJournal(text);
    if ('error' in r) {
      if (typeof r.error !== 'string' || r.error === '') fail('empty error');
      return;
    }
    for (const g of r.state.grants)
      if (canonicalIP(g.address)?.text !== g.address) fail(`grant address ${g.address}`);
    // What was accepted is written back and read back as the same state.
    const s1 = serializeJournal(r.state);
    const r2 = parseJournal(s1);
    if ('error' in r2) return fail(`re-read failed: ${r2.error}`);
    if (serializeJournal(r2.state) !== s1) fail('round trip changed the state');
  },
  show: (t) => JSON.stringify(clip(t, 4000)),
};

// ---------------------------------------------------------------- control protocol

const REQUESTS = [
  '{"cmd":"status"}',
  '{"cmd":"grants"}',
  '{"cmd":"revoke","address":"10.0.0.2"}',
  '{"cmd":"revoke","address":"fd00::2","door":"ssh"}',
  '{"cmd":"grant","address":"192.0.2.7","door":"web"}',
  '{"cmd":"grant","address":"::ffff:10.0.0.2","door":"a b"}',
];

export const controlTarget: Target<string> = {
  name: 'control',
  weight: 0.11,
  gen: (r) => mutateText(r, r.pick(REQUESTS), REQUESTS, JSON_DICT, 6000),
  run(line) {
    const r = parseRequest(line);
    if ('error' in r) return;
    if (!['status', 'grants', 'revoke', 'grant'].includes(r.cmd)) fail(`cmd ${String(r.cmd)}`);
    if ('address' in r && canonicalIP(r.address)?.text !== r.address)
      fail(`address ${r.address} not canonical`);
    if ('door' in r && typeof r.door !== 'string') fail('door not a string');
    const again = parseRequest(JSON.stringify(r));
    if (JSON.stringify(again) !== JSON.stringify(r))
      fail(`round trip ${JSON.stringify(r)} -> ${JSON.stringify(again)}`);
  },
  show: (t) => JSON.stringify(clip(t, 4000)),
};

// ---------------------------------------------------------------- SPA

/** Fixed "now" for the SPA targets, so packets are always fresh and inputs reproducible. */
const NOW = 1_800_000_000;
const SRC = '192.0.2.10';

function seededCrypto(seed: number): SpaCrypto {
  const r = new Rng(seed);
  return { ...nodeSpaCrypto, random: (n) => r.bytes(n) };
}
const c = nodeSpaCrypto;

const keyRng = new Rng(0x5ba0);
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const HMAC_CONF = [
  `SOURCE ANY\nKEY_BASE64 ${b64(keyRng.bytes(32))}\nHMAC_KEY_BASE64 ${b64(keyRng.bytes(64))}\n`,
  `SOURCE ANY\nKEY_BASE64 ${b64(keyRng.bytes(32))}\nHMAC_KEY_BASE64 ${b64(keyRng.bytes(64))}\nHMAC_DIGEST_TYPE sha512\nENCRYPTION_MODE ctr\n`,
  `SOURCE ANY\nKEY fuzzpassphrase\nHMAC_KEY_BASE64 ${b64(keyRng.bytes(32))}\nHMAC_DIGEST_TYPE md5\nENCRYPTION_MODE legacy\n`,
  `SOURCE ANY\nKEY_BASE64 ${b64(keyRng.bytes(16))}\nHMAC_KEY_BASE64 ${b64(keyRng.bytes(48))}\nHMAC_DIGEST_TYPE sha3-256\nENCRYPTION_MODE ecb\n`,
].join('');
const NOHMAC_CONF = `SOURCE ANY\nKEY_BASE64 ${b64(keyRng.bytes(32))}\nALLOW_NO_HMAC Y\n`;

function stanzasOf(text: string): Stanza[] {
  const r = parseAccessConf(text, 'fuzz');
  if ('problems' in r) throw new Error(JSON.stringify(r.problems));
  return r.stanzas;
}
const HMAC_STANZAS = stanzasOf(HMAC_CONF);
const NOHMAC_STANZAS = stanzasOf(NOHMAC_CONF);
const keysOf = (s: Stanza): SpaKeys => ({
  encKey: s.encKey!,
  ...(s.hmacKey === undefined ? {} : { hmacKey: s.hmacKey }),
  hmacAlg: s.hmacAlg,
  mode: s.mode,
});

interface Authentic {
  bytes: Uint8Array;
  stanza: number;
  message: SpaMessage;
}

/** Authentic packets, as the stock client builds them, for each stanza (fixed seeds). */
function authentic(stanzas: Stanza[], seed: number): Authentic[] {
  const r = new Rng(seed);
  const cc = seededCrypto(seed);
  const out: Authentic[] = [];
  stanzas.forEach((s, i) => {
    for (let k = 0; k < 12; k++) {
      const ports = Array.from({ length: r.int(1, 4) }, () => ({
        proto: r.chance(0.7) ? ('tcp' as const) : ('udp' as const),
        port: r.int(1, 65535),
      }));
      const m = {
        user: r.pick(['alice', 'bob', 'root', 'x', 'a-very-long-user-name-for-the-field']),
        timestamp: NOW - r.below(60),
        allowIp: r.chance(0.5) ? '0.0.0.0' : `10.0.${r.below(256)}.${r.below(256)}`,
        access: ports,
        ...(r.chance(0.3) ? { timeout: r.int(1, 3600) } : {}),
      };
      const digest = r.pick<DigestAlg>([
        'sha256',
        'sha512',
        'md5',
        'sha1',
        'sha384',
        'sha3-256',
        'sha3-512',
      ]);
      const text = encodeSpa(m, keysOf(s), cc, digest);
      const d = decodeSpaBytes(Buffer.from(text, 'latin1'), keysOf(s), c);
      if (!d.ok) throw new Error(`authentic packet for stanza ${i} does not verify: ${d.reason}`);
      out.push({
        bytes: new Uint8Array(Buffer.from(text, 'latin1')),
        stanza: i,
        message: d.message,
      });
    }
  });
  return out;
}
const HMAC_PKTS = authentic(HMAC_STANZAS, 0xa11ce);
const NOHMAC_PKTS = authentic(NOHMAC_STANZAS, 0xb0b);

const B64CHARS = new TextEncoder().encode(
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=',
);
const SPACE = [0x20, 0x09, 0x0a, 0x0d, 0x0b, 0x0c];

/** A mutation of an authentic payload that differs from it in at least one byte. */
function mutateSpa(r: Rng, orig: Uint8Array, corpus: readonly Uint8Array[]): Uint8Array {
  for (;;) {
    let b: Uint8Array;
    const how = r.below(6);
    if (how === 0) {
      // Stay in the base64 alphabet (passes the transport checks), 1-3 characters.
      b = Uint8Array.from(orig);
      for (let k = r.int(1, 3); k > 0; k--) b[r.below(b.length)] = r.pick([...B64CHARS]);
    } else if (how === 1) {
      // Base64 tail games: '=' and more text, or another last character.
      const tail = r.chance(0.5)
        ? new Uint8Array([0x3d, ...Array.from({ length: r.below(8) }, () => r.pick([...B64CHARS]))])
        : new Uint8Array([r.pick([...B64CHARS])]);
      b = r.chance(0.5) ? concat(orig, tail) : concat(orig.subarray(0, orig.length - 1), tail);
    } else if (how === 2) {
      // Whitespace, as a sloppy client or an attacker might add it (the verifier trims the tail).
      // Rarely a long run: enough to show a super-linear trim, few enough to keep the campaign short.
      const ws = new Uint8Array(r.chance(0.01) ? r.int(1000, 8000) : r.int(1, 8)).map(() =>
        r.pick(SPACE),
      );
      const at = r.chance(0.6) ? orig.length : r.below(orig.length + 1);
      b = concat(
        concat(orig.subarray(0, at), ws),
        concat(r.chance(0.3) ? new Uint8Array([0x41]) : new Uint8Array(0), orig.subarray(at)),
      );
    } else {
      b = mutateBytes(r, orig, corpus, 1600);
    }
    if (b.length !== orig.length || b.some((x, i) => x !== orig[i])) return b;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

const sameMessage = (a: SpaMessage, b: SpaMessage) => JSON.stringify(a) === JSON.stringify(b);

interface SpaInput {
  orig: number;
  b: Uint8Array;
}

function spaTarget(
  name: string,
  pkts: Authentic[],
  stanzas: Stanza[],
  hmac: boolean,
): Target<SpaInput> {
  const notes = new Map<string, number>([
    ['equivalent decodes (same message)', 0],
    ['accepted by the packet path with a fresh replay cache', 0],
  ]);
  const bump = (k: string) => notes.set(k, (notes.get(k) ?? 0) + 1);
  const corpus = pkts.map((p) => p.bytes);
  return {
    name,
    weight: 0.02,
    notes,
    gen(r) {
      const orig = r.below(pkts.length);
      return { orig, b: mutateSpa(r, pkts[orig]!.bytes, corpus) };
    },
    run({ orig, b }) {
      const o = pkts[orig]!;
      const text = latin1(b);
      // Key-less pieces: must not throw, whatever the bytes.
      precheck(text);
      const raw = b64decode(text);
      if (
        raw !== null &&
        /^[A-Za-z0-9+/]*$/.test(text) &&
        text.length % 4 !== 1 &&
        b64nopad(raw).length !== text.length
      )
        fail('b64decode length');
      // The strict view: the verifier alone, every stanza's keys.
      for (const s of stanzas) {
        const d = decodeSpaBytes(b, keysOf(s), c);
        if (!d.ok) continue;
        if (hmac) accept(`HMAC stanza ${s.line} verified a mutated packet (of #${orig})`);
        if (!sameMessage(d.message, o.message))
          accept(
            `no-HMAC stanza verified a mutation of #${orig} as a different message ${JSON.stringify(d.message)}`,
          );
        bump('equivalent decodes (same message)');
      }
      // The packet path: once the original was accepted, no mutation may be accepted again.
      const fresh = evalSpa(b, SRC, stanzas, new ReplayCache(), NOW, c);
      if (fresh.ok) bump('accepted by the packet path with a fresh replay cache');
      const replay = new ReplayCache();
      const first = evalSpa(o.bytes, SRC, stanzas, replay, NOW, c);
      if (!first.ok) fail(`the authentic packet #${orig} was refused: ${first.reason}`);
      const second = evalSpa(b, SRC, stanzas, replay, NOW, c);
      if (second.ok)
        accept(
          `after authentic #${orig} was accepted, its mutation was accepted too (${JSON.stringify(second)})`,
        );
    },
    show: ({ orig, b }) =>
      `authentic #${orig}, mutated payload ${JSON.stringify(clip(latin1(b), 3000))}`,
  };
}

export const spaHmacTarget = spaTarget('spa-hmac', HMAC_PKTS, HMAC_STANZAS, true);
export const spaNoHmacTarget = spaTarget('spa-nohmac', NOHMAC_PKTS, NOHMAC_STANZAS, false);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const TARGETS: Target<any>[] = [
  decoderTarget,
  machineTarget,
  configTarget,
  accessTarget,
  journalTarget,
  controlTarget,
  spaHmacTarget,
  spaNoHmacTarget,
];
