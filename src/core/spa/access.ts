/**
 * fwknop's access.conf, for SPA: `NAME value` lines, each SOURCE line
 * starting a stanza. Pure: text in, stanzas (plus warnings) or problems
 * (file:line) out. Every keyword of the fwknopd 2.6.10 man page is either
 * supported or refused with the reason and what to use instead (KEYWORDS);
 * fwknopd's leniencies are kept: a value ends at `;`, a `NAME:` colon is
 * dropped, lines before the first SOURCE and unknown names are warnings.
 * The one deliberate difference: a stanza without an HMAC key is refused
 * unless it says `ALLOW_NO_HMAC Y`.
 */
import type { ConfigProblem } from '../errors.js';
import { parsePortList, type PortSpec } from '../port.js';
import { finishGpg, gpgLine, type GpgLines } from './access-gpg.js';
import { KEYWORDS, REFUSED_YES } from './access-keywords.js';
import { parseCidrList } from './cidr.js';
import { MAX_CYCLE_COMMAND, MAX_CYCLE_TIMER, MAX_GRANT_SECONDS, type Stanza } from './stanza.js';

export { KEYWORDS } from './access-keywords.js';
export { addressIn, parseCidrList, type Cidr } from './cidr.js';
export * from './stanza.js';
import { b64decode, type AesMode, type HmacAlg } from './spa.js';

const enc = (s: string) => new TextEncoder().encode(s);
const same = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

function ports(v: string): PortSpec[] | null {
  const r = parsePortList(v);
  return 'error' in r ? null : r.ports;
}

export type AccessConf =
  { stanzas: Stanza[]; warnings: ConfigProblem[] } | { problems: ConfigProblem[] };

export function parseAccessConf(text: string, file: string): AccessConf {
  const problems: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  const stanzas: Stanza[] = [];
  /** Per stanza: its GPG_* lines, when it has any. */
  const gpgRaw = new Map<Stanza, GpgLines>();
  const cycleRaw = new Map<Stanza, { open?: string; close?: string; timer?: number }>();
  let cur: Stanza | null = null;
  let skippedBefore = 0;
  const bad = (line: number, message: string) => problems.push({ file, line, message });
  const warn = (line: number, message: string) => warnings.push({ file, line, message });
  text.split('\n').forEach((rawLine, i) => {
    const line = i + 1;
    const l = rawLine.trim();
    if (l === '' || l.startsWith('#') || l.startsWith(';')) return;
    // fwknopd: sscanf("%s %[^;\n\r]"): the name is the first word (a last
    // ':' dropped), the value runs to the first ';'.
    const m = /^(\S+)\s+([^;]*)/.exec(l);
    const rawName = (m?.[1] ?? l.split(/\s/)[0] ?? '').replace(/:$/, '');
    const value = (m?.[2] ?? '').trim();
    if (m === null || value === '') return bad(line, `syntax error: '${l}' is not 'NAME value'`);
    const name = rawName.startsWith('%') ? rawName.toLowerCase() : rawName.toUpperCase();
    // fwknopd cuts every value at ';'. For a key that would silently be a
    // shorter key than the one written, so text after ';' is refused there.
    if (/^(HMAC_)?KEY(_BASE64)?$/.test(name) && /;\s*\S/.test(l.slice(rawName.length + 1)))
      return bad(
        line,
        `${name} has text after ';': fwknopd cuts the value there, which would shorten the key; choose a key without ';' (KEY_BASE64 encodes any bytes)`,
      );
    if (name === 'SOURCE') {
      const src = parseCidrList(value);
      if (src === null) bad(line, `SOURCE: bad address list '${value}'`);
      cur = {
        line,
        id: '',
        sources: src ?? [],
        destinations: 'any',
        restrictPorts: [],
        hmacAlg: 'sha256',
        mode: 'cbc',
        fwAccessTimeout: 30,
        maxFwTimeout: 300,
        requireSourceAddress: false,
        allowNoHmac: false,
      };
      const key = `SOURCE ${value.replace(/\s+/g, '')}`;
      const n = stanzas.filter((x) => x.id.startsWith(`${key} #`)).length + 1;
      cur.id = `${key} #${n}`;
      stanzas.push(cur);
      return;
    }
    if (name === '%include' || name === '%include_folder')
      return bad(line, `${name} is not supported: ${KEYWORDS[name] ?? ''}`);
    if (cur === null) {
      // fwknopd skips these silently; one warning names the first.
      if (skippedBefore++ === 0) warn(line, `${name} before the first SOURCE line is ignored`);
      return;
    }
    const s: Stanza = cur;
    const yes = /^y/i.test(value); // fwknopd: strncasecmp(val, "Y", 1)
    const secs = (fallback: number, max = MAX_GRANT_SECONDS) => {
      if (!/^\d{1,9}$/.test(value)) {
        bad(line, `${name} must be whole seconds, got '${value}'`);
        return fallback;
      }
      const n = Number(value);
      if (n < 1 || n > max) {
        bad(line, `${name} must be 1..${max} seconds, got '${value}'`);
        return fallback;
      }
      return n;
    };
    const refuseIfYes = () => {
      if (yes) bad(line, `${name} Y is not supported: ${REFUSED_YES[name] ?? ''}`);
    };
    const cyc = () => {
      let c = cycleRaw.get(s);
      if (c === undefined) cycleRaw.set(s, (c = {}));
      return c;
    };
    switch (name) {
      case 'DESTINATION': {
        const d = parseCidrList(value);
        if (d === null) bad(line, `DESTINATION: bad address list '${value}'`);
        else s.destinations = d;
        break;
      }
      case 'OPEN_PORTS':
      case 'RESTRICT_PORTS': {
        const p = ports(value);
        if (p === null) bad(line, `${name}: bad port list '${value}'`);
        else if (name === 'OPEN_PORTS') s.openPorts = p;
        else s.restrictPorts = p;
        break;
      }
      case 'KEY':
      case 'HMAC_KEY':
        if (value === '__CHANGEME__') bad(line, `${name} is still __CHANGEME__`);
        else if (name === 'KEY') s.encKey = enc(value);
        else s.hmacKey = enc(value);
        break;
      case 'KEY_BASE64':
      case 'HMAC_KEY_BASE64': {
        if (value === '__CHANGEME__') {
          bad(line, `${name} is still __CHANGEME__ (fwknop --key-gen makes keys)`);
          break;
        }
        const b = b64decode(value);
        if (b === null || b.length === 0) bad(line, `${name} is not base64: '${value}'`);
        else if (name === 'KEY_BASE64') s.encKey = b;
        else s.hmacKey = b;
        break;
      }
      case 'HMAC_DIGEST_TYPE': {
        const v = value.toLowerCase().replace('_', '-');
        if (!['md5', 'sha1', 'sha256', 'sha384', 'sha512', 'sha3-256', 'sha3-512'].includes(v)) {
          bad(line, `unknown HMAC_DIGEST_TYPE '${value}'`);
        } else s.hmacAlg = v as HmacAlg;
        break;
      }
      case 'ENCRYPTION_MODE': {
        const v = value.toLowerCase();
        if (!['cbc', 'ecb', 'cfb', 'ofb', 'ctr', 'legacy'].includes(v))
          bad(
            line,
            `ENCRYPTION_MODE '${value}' is not supported (cbc, ecb, cfb, ofb, ctr, legacy)`,
          );
        else s.mode = v as AesMode;
        break;
      }
      case 'FW_ACCESS_TIMEOUT':
        s.fwAccessTimeout = secs(s.fwAccessTimeout);
        break;
      case 'MAX_FW_TIMEOUT':
        s.maxFwTimeout = secs(s.maxFwTimeout);
        break;
      case 'REQUIRE_SOURCE_ADDRESS':
      case 'REQUIRE_SOURCE':
        s.requireSourceAddress = yes;
        break;
      case 'REQUIRE_USERNAME':
        s.requireUsername = value;
        break;
      case 'ACCESS_EXPIRE': {
        const d = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(value);
        if (d === null) bad(line, `ACCESS_EXPIRE must be MM/DD/YYYY, got '${value}'`);
        else s.accessExpire = Date.UTC(Number(d[3]), Number(d[1]) - 1, Number(d[2])) / 1000;
        break;
      }
      case 'ACCESS_EXPIRE_EPOCH':
        // An epoch, not a duration: any date a Number holds exactly will do.
        if (/^\d{1,12}$/.test(value)) s.accessExpire = Number(value);
        else bad(line, `ACCESS_EXPIRE_EPOCH must be epoch seconds, got '${value}'`);
        break;
      case 'ALLOW_NO_HMAC':
        s.allowNoHmac = yes;
        break;
      case 'CMD_CYCLE_OPEN':
      case 'CMD_CYCLE_CLOSE':
        // Kept even when too long, so the refusal is not followed by a
        // second one about a missing half.
        if (value.length > MAX_CYCLE_COMMAND)
          bad(line, `${name} is longer than ${MAX_CYCLE_COMMAND} characters`);
        if (name === 'CMD_CYCLE_OPEN') cyc().open = value;
        else cyc().close = value;
        break;
      case 'CMD_CYCLE_TIMER':
        cyc().timer = secs(1, MAX_CYCLE_TIMER);
        break;
      case 'ENABLE_CMD_EXEC':
      case 'ENABLE_CMD_SUDO_EXEC':
      case 'FORCE_MASQUERADE':
      case 'FORWARD_ALL':
        refuseIfYes();
        break;
      case 'FORCE_NAT':
      case 'FORCE_SNAT':
        bad(line, `${name} is not supported: ${KEYWORDS[name] ?? ''}`);
        break;
      case 'DISABLE_DNAT':
        break;
      case 'CMD_EXEC_USER':
      case 'CMD_EXEC_GROUP':
      case 'CMD_SUDO_EXEC_USER':
      case 'CMD_SUDO_EXEC_GROUP':
      case 'SUDO_EXE':
        warn(line, `${name} is ignored: command messages (fwknop -C) are never run`);
        break;
      default:
        if (name.startsWith('GPG_') && name in KEYWORDS) {
          let g = gpgRaw.get(s);
          if (g === undefined) gpgRaw.set(s, (g = { line }));
          gpgLine(g, name, value, line, yes, bad);
        } else warn(line, `unknown variable '${name}' ignored`);
    }
  });
  for (const s of stanzas) {
    const g = gpgRaw.get(s);
    const gpg = g === undefined ? undefined : finishGpg(g, s.hmacKey, file, problems, warnings);
    if (gpg !== undefined) s.gpg = gpg;
    const c = cycleRaw.get(s);
    if (c !== undefined) {
      if (c.open === undefined)
        problems.push({ file, line: s.line, message: 'CMD_CYCLE_CLOSE without CMD_CYCLE_OPEN' });
      else if (c.close === undefined)
        problems.push({
          file,
          line: s.line,
          message:
            'CMD_CYCLE_OPEN without CMD_CYCLE_CLOSE (write CMD_CYCLE_CLOSE NONE for no close)',
        });
      else {
        const none = c.close.startsWith('NONE'); // fwknopd: strncmp(close, "NONE", 4)
        if (!none && c.timer === undefined)
          problems.push({ file, line: s.line, message: 'CMD_CYCLE_CLOSE needs CMD_CYCLE_TIMER' });
        else s.cycle = { open: c.open, ...(none ? {} : { close: c.close }), timer: c.timer ?? 1 };
      }
    }
    if (s.encKey === undefined && g === undefined)
      problems.push({ file, line: s.line, message: 'stanza has no KEY or KEY_BASE64' });
    else if (s.encKey === undefined && s.gpg === undefined && g?.passphrase === undefined)
      problems.push({
        file,
        line: s.line,
        message: 'stanza has no KEY, KEY_BASE64, GPG_DECRYPT_PW or GPG_ALLOW_NO_PW Y',
      });
    else if (s.encKey !== undefined && s.encKey.length > 32)
      problems.push({ file, line: s.line, message: 'KEY is longer than 32 bytes' });
    if (s.hmacKey === undefined && !s.allowNoHmac) {
      problems.push({
        file,
        line: s.line,
        message:
          'stanza has no HMAC_KEY or HMAC_KEY_BASE64 (knockd-ts requires HMAC; ALLOW_NO_HMAC Y opts out)',
      });
    }
    if (s.hmacKey !== undefined && s.encKey !== undefined && same(s.hmacKey, s.encKey)) {
      problems.push({ file, line: s.line, message: 'KEY and HMAC_KEY must differ' });
    }
  }
  if (stanzas.length === 0 && problems.length === 0)
    problems.push({ file, line: 1, message: 'no SOURCE stanza' });
  return problems.length > 0 ? { problems } : { stanzas, warnings };
}
