/**
 * Spliced GPG packets through the real gpg (skipped when /usr/bin/gpg is
 * missing): what a sender who holds the stanza's HMAC key and the server's
 * public key, but no listed signing key, can build around a signature by
 * the listed key over an empty document. The sender picks the session key:
 * here the one of a message the client encrypted (gpg --show-session-key),
 * with its public-key packet kept and a new encrypted packet written under
 * that key (OpenPGP CFB with MDC, RFC 4880 5.13).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { nodeSpaCrypto as c } from '../../src/adapters/spa-crypto.js';
import { GpgProcess } from '../../src/adapters/spa-gpg.js';
import { parseAccessConf } from '../../src/core/spa/access.js';
import { ascii, b64nopad } from '../../src/core/spa/bytes.js';
import { evaluateSpa, ReplayCache, type SpaDecision } from '../../src/core/spa/policy.js';
import { GpgRuns } from '../../src/daemon/spa-gpg.js';

const GPG = '/usr/bin/gpg';
const skip = !fs.existsSync(GPG) && 'gpg is not installed';

/** Top-level OpenPGP packets, whole (header and body). */
function packets(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < buf.length) {
    const ctb = buf[i] ?? 0;
    let h: number;
    let n: number;
    if (ctb & 0x40) {
      const l0 = buf[i + 1] ?? 0;
      if (l0 < 192) [h, n] = [2, l0];
      else if (l0 < 224) [h, n] = [3, ((l0 - 192) << 8) + (buf[i + 2] ?? 0) + 192];
      else if (l0 === 255) [h, n] = [6, buf.readUInt32BE(i + 2)];
      else throw new Error('partial length');
    } else {
      const lt = ctb & 3;
      if (lt === 3) throw new Error('indeterminate length');
      h = [2, 3, 5][lt] ?? 2;
      n =
        lt === 0 ? (buf[i + 1] ?? 0) : lt === 1 ? buf.readUInt16BE(i + 1) : buf.readUInt32BE(i + 1);
    }
    out.push(buf.subarray(i, i + h + n));
    i += h + n;
  }
  return out;
}
/** The first packet's body (any header form but a partial length), and the rest of the message. */
function first(buf: Buffer): { body: Buffer; rest: Buffer } {
  const p = packets(buf.subarray(0, headerEnd(buf)))[0] ?? Buffer.alloc(0);
  return { body: p.subarray(header(p)), rest: buf.subarray(p.length) };
}
function header(p: Buffer): number {
  const ctb = p[0] ?? 0;
  if (!(ctb & 0x40)) return [2, 3, 5][ctb & 3] ?? 2;
  const l0 = p[1] ?? 0;
  return l0 < 192 ? 2 : l0 < 224 ? 3 : 6;
}
/** Where the first packet ends. */
function headerEnd(buf: Buffer): number {
  const h = header(buf);
  const ctb = buf[0] ?? 0;
  if (!(ctb & 0x40)) {
    const lt = ctb & 3;
    return h + (lt === 0 ? (buf[1] ?? 0) : lt === 1 ? buf.readUInt16BE(1) : buf.readUInt32BE(1));
  }
  const l0 = buf[1] ?? 0;
  return (
    h + (l0 < 192 ? l0 : l0 < 224 ? ((l0 - 192) << 8) + (buf[2] ?? 0) + 192 : buf.readUInt32BE(2))
  );
}
/** fwknop's wire form cuts 'hQ': the public-key packet gets a two-byte old-format length. */
function hq(msg: Buffer): Buffer {
  const { body, rest } = first(msg);
  return Buffer.concat([Buffer.from([0x85, body.length >> 8, body.length & 0xff]), body, rest]);
}
function pkt(tag: number, b: Buffer): Buffer {
  const n = b.length;
  const hdr = n < 192 ? [0xc0 | tag, n] : [0xc0 | tag, ((n - 192) >> 8) + 192, (n - 192) & 0xff];
  return Buffer.concat([Buffer.from(hdr), b]);
}
const literal = (d: string) =>
  pkt(11, Buffer.concat([Buffer.from([0x62, 0, 0, 0, 0, 0]), Buffer.from(d)]));
const compressed = (inner: Buffer) =>
  pkt(8, Buffer.concat([Buffer.from([1]), zlib.deflateRawSync(inner)]));
function seipd(key: Buffer, inner: Buffer): Buffer {
  const prefix = crypto.randomBytes(16);
  const plain = Buffer.concat([prefix, prefix.subarray(14), inner, Buffer.from([0xd3, 0x14])]);
  const mdc = crypto.createHash('sha1').update(plain).digest();
  const e = crypto.createCipheriv('aes-256-cfb', key, Buffer.alloc(16));
  return pkt(
    18,
    Buffer.concat([Buffer.from([1]), e.update(Buffer.concat([plain, mdc])), e.final()]),
  );
}

/** A fwknop message (SPA_MESSAGE: random digits, user, timestamp, version, type, access, digest). */
function message(now: number): string {
  const rand = `${crypto.randomInt(10 ** 7, 10 ** 8)}${crypto.randomInt(10 ** 7, 10 ** 8)}`;
  const enc = `${rand}:${b64nopad(ascii('root'))}:${now}:2.0.4:1:${b64nopad(ascii('10.0.0.2,tcp/22'))}`;
  return `${enc}:${b64nopad(c.hash('sha256', ascii(enc)))}`;
}

test(
  "messages spliced around a listed signer's signature over other data open nothing (real gpg)",
  { skip },
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'knockd-splice-'));
    const srv = path.join(dir, 'srv');
    const cli = path.join(dir, 'cli');
    fs.mkdirSync(srv, { mode: 0o700 });
    fs.mkdirSync(cli, { mode: 0o700 });
    const g = (home: string, args: string[], input?: Buffer | string) =>
      execFileSync(
        GPG,
        [
          '--homedir',
          home,
          '--batch',
          '--no-tty',
          '--quiet',
          '--pinentry-mode',
          'loopback',
          '--passphrase',
          '',
          ...args,
        ],
        {
          input: input ?? '',
          stdio: ['pipe', 'pipe', 'ignore'],
        },
      );
    try {
      // A's key and its signature over an empty document date from 2020: the sender kept that signature.
      g(srv, ['--quick-gen-key', 'srv <srv@t>', 'future-default', 'default', 'never']);
      g(cli, [
        '--faked-system-time',
        '20200101T000000',
        '--quick-gen-key',
        'cli <cli@t>',
        'future-default',
        'default',
        'never',
      ]);
      const fpr = (home: string, who: string) =>
        /^fpr:+([0-9A-F]{40}):/m.exec(
          g(home, ['--with-colons', '--list-keys', who]).toString(),
        )?.[1] ?? '';
      const S = fpr(srv, 'srv@t');
      const A = fpr(cli, 'cli@t');
      g(cli, ['--import'], g(srv, ['--export', S]));
      g(srv, ['--import'], g(cli, ['--export', A]));
      g(srv, ['--yes', '--quick-lsign-key', A]);
      const seed = g(cli, ['--trust-model', 'always', '-e', '-r', S], 'seed');
      const PKESK = hq(seed).subarray(0, 3 + first(seed).body.length);
      const sk = /session key: '9:([0-9A-F]{64})'/.exec(
        spawnSync(GPG, ['--homedir', srv, '--batch', '--show-session-key', '-d'], {
          input: seed,
        }).stderr.toString(),
      )?.[1];
      const [op = Buffer.alloc(0), lit = Buffer.alloc(0), sig = Buffer.alloc(0)] = packets(
        g(
          cli,
          ['--faked-system-time', '20200102T000000', '-s', '--compress-algo', 'none', '-u', A],
          '',
        ),
      );
      assert.ok(sk !== undefined && sig.length > 0, 'session key and signature');
      const key = Buffer.from(sk, 'hex');
      const H = c.random(64);
      const ss = parseAccessConf(
        `SOURCE ANY\nHMAC_KEY_BASE64 ${Buffer.from(H).toString('base64')}\nGPG_HOME_DIR ${srv}\nGPG_ALLOW_NO_PW Y\nGPG_REMOTE_ID ${A.slice(-8)}\nOPEN_PORTS tcp/22\n`,
        'access.conf',
      );
      if ('problems' in ss) assert.fail(JSON.stringify(ss.problems));
      const runs = new GpgRuns(new GpgProcess(), c);
      const send = async (ct: Buffer): Promise<SpaDecision> => {
        const full = b64nopad(ct);
        assert.ok(full.startsWith('hQ'));
        const wire = ascii(full.slice(2) + b64nopad(c.hmac('sha256', H, ascii(full))));
        const now = Math.floor(Date.now() / 1000);
        const d = evaluateSpa(wire, '10.0.0.2', '10.0.0.1', ss.stanzas, new ReplayCache(), now, c);
        if (d.ok || d.gpg === undefined) return d;
        return runs.decide(d.gpg, ss.stanzas, new ReplayCache(), now, d.reason);
      };
      const X = () => literal(message(Math.floor(Date.now() / 1000)));
      const spliced: Record<string, Buffer[]> = {
        'a bare signature after the encrypted message': [PKESK, seipd(key, X()), sig],
        'a signed message after the encrypted one': [PKESK, seipd(key, X()), op, lit, sig],
        'a signed message inside, second': [
          PKESK,
          seipd(key, Buffer.concat([X(), compressed(Buffer.concat([op, lit, sig]))])),
        ],
        'a bare signature before the encrypted message': [PKESK, sig, seipd(key, X())],
        'a bare signature beside a nested encrypted message': [
          PKESK,
          seipd(key, Buffer.concat([PKESK, seipd(key, X()), sig])),
        ],
        'a bare signature after the plaintext, inside': [
          PKESK,
          seipd(key, Buffer.concat([X(), compressed(sig)])),
        ],
      };
      for (const [what, parts] of Object.entries(spliced)) {
        const d = await send(Buffer.concat(parts));
        assert.equal(d.ok, false, `${what}: accepted`);
        // Refused by gpg's report, not before gpg ran.
        assert.match(d.ok ? '' : d.reason, /^GPG |^gpg /, what);
      }
      // The control: the same message, signed and encrypted by the client, opens.
      const real = g(
        cli,
        ['--trust-model', 'always', '-se', '-u', A, '-r', S],
        message(Math.floor(Date.now() / 1000)),
      );
      const d = await send(hq(real));
      assert.ok(d.ok, JSON.stringify(d));
    } finally {
      for (const h of [srv, cli]) {
        try {
          execFileSync('gpgconf', ['--homedir', h, '--kill', 'all'], { stdio: 'ignore' });
        } catch {
          // no agent
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
