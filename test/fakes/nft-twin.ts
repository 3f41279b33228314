/**
 * An in-memory twin of libnftables for the nftables backend's library path:
 * it keeps `table inet knockd`'s grant sets and applies what the backend
 * writes with nft's transaction rule (a run is all or nothing). It knows the
 * backend's own commands only: the full table of renderNft, and add/delete
 * element on grants4/grants6.
 */
import type { NftLibrary } from '../../src/adapters/nft-lib.js';
import { formatIPv4, formatIPv6 } from '../../src/core/ip.js';

const ELEMENT =
  /^(add|delete) element inet knockd (grants[46]) \{ ([^ ]+ \. (?:tcp|udp) \. \d+)(?: timeout \S+)? \}$/;

export class NftLibraryTwin implements NftLibrary {
  /** The table's grant sets (elements as "address . proto . port"); null: no table. */
  sets: Map<string, Set<string>> | null = null;
  /** Every run, in order; a batch as the nft commands its messages decode to. */
  readonly runs: { text: string; check: boolean; batch?: true }[] = [];
  /**
   * The next run fails with this text, or throws when it is 'throw'; a batch
   * fails with it too but leaves it for the run that follows.
   */
  failNext: string | null = null;
  /** Every batch fails with this text (a kernel that reads our messages differently). */
  failBatches: string | null = null;
  closed = false;

  elements(set = 'grants4'): string[] {
    return [...(this.sets?.get(set) ?? [])].sort();
  }

  run(text: string, check = false): string | null {
    this.runs.push({ text, check });
    if (this.closed) return 'the nftables context is closed';
    const fail = this.failNext;
    this.failNext = null;
    if (fail === 'throw') throw new Error('addon failure');
    if (fail !== null) return fail;
    const next = this.apply(text);
    if (typeof next === 'string') return next;
    if (!check) this.sets = next;
    return null;
  }

  batch(messages: Uint8Array): string | null {
    const text = decode(Buffer.from(messages));
    this.runs.push({ text, check: false, batch: true });
    if (this.closed) return 'the nftables context is closed';
    if (this.failNext === 'throw') throw new Error('addon failure');
    if (this.failNext !== null) return this.failNext;
    if (this.failBatches !== null) return this.failBatches;
    const next = this.apply(text);
    if (typeof next === 'string') return 'netlink: No such file or directory';
    this.sets = next;
    return null;
  }

  close(): void {
    this.closed = true;
  }

  private apply(text: string): Map<string, Set<string>> | string {
    if (text.startsWith('table inet knockd\n')) {
      const sets = new Map<string, Set<string>>();
      for (const m of text.matchAll(
        /set (grants[46]) \{[^}]*?(?:elements = \{ ([^}]*) \})?\s*\}/g,
      )) {
        const els = (m[2] ?? '').split(', ').filter((e) => e !== '');
        sets.set(m[1] as string, new Set(els.map((e) => e.replace(/ timeout \S+$/, ''))));
      }
      return sets;
    }
    if (this.sets === null) return `Error: No such file or directory\n${text}\n^^^`;
    const sets = new Map([...this.sets].map(([k, v]) => [k, new Set(v)]));
    for (const cmd of text.split('; ')) {
      const m = ELEMENT.exec(cmd);
      if (m === null) return `Error: syntax error\n${cmd}\n^^^`;
      const set = sets.get(m[2] as string) as Set<string>;
      if (m[1] === 'add') set.add(m[3] as string);
      else if (!set.delete(m[3] as string))
        return `Error: Could not process rule: No such file or directory\n${cmd}\n^^^`;
    }
    return sets;
  }
}

/**
 * nf_tables set element messages back to nft commands, read the way the
 * kernel reads them (attribute by attribute, not by fixed offsets), so it
 * checks the encoder rather than repeating it.
 */
function decode(b: Buffer): string {
  const cmds: string[] = [];
  const attrs = (from: number, to: number) => {
    const out = new Map<number, [number, number]>();
    for (let at = from; at + 4 <= to;) {
      const len = b.readUInt16LE(at);
      if (len < 4 || at + len > to) throw new Error(`bad attribute at ${at}`);
      out.set(b.readUInt16LE(at + 2) & 0x3fff, [at + 4, at + len]);
      at += (len + 3) & ~3;
    }
    return out;
  };
  const get = (m: Map<number, [number, number]>, type: number, what: string) => {
    const r = m.get(type);
    if (r === undefined) throw new Error(`no ${what}`);
    return r;
  };
  for (let at = 0; at < b.length;) {
    const len = b.readUInt32LE(at);
    const type = b.readUInt16LE(at + 4);
    const flags = b.readUInt16LE(at + 6);
    if (type >> 8 !== 10 || (flags & 0x5) !== 0x5 || b[at + 16] !== 1)
      throw new Error(`not an inet nf_tables request with an ack at ${at}`);
    const top = attrs(at + 20, at + len);
    const str = (r: [number, number]) => b.toString('latin1', r[0], r[1] - 1);
    const table = str(get(top, 1, 'table'));
    const set = str(get(top, 2, 'set'));
    const list = get(top, 3, 'elements');
    const elem = get(attrs(list[0], list[1]), 1, 'element');
    const e = attrs(elem[0], elem[1]);
    const keyNest = get(e, 1, 'key');
    const [k0, k1] = get(attrs(keyNest[0], keyNest[1]), 1, 'key value');
    const alen = k1 - k0 - 8;
    const addr = alen === 4 ? formatIPv4(b, k0) : formatIPv6(b, k0);
    const proto = b[k0 + alen] === 6 ? 'tcp' : b[k0 + alen] === 17 ? 'udp' : '?';
    const el = `${addr} . ${proto} . ${b.readUInt16BE(k0 + alen + 4)}`;
    const t = e.get(4);
    const op = (type & 0xff) === 12 ? 'add' : (type & 0xff) === 14 ? 'delete' : '?';
    const timeout = t === undefined ? '' : ` timeout ${b.readBigUInt64BE(t[0])}ms`;
    cmds.push(`${op} element inet ${table} ${set} { ${el}${timeout} }`);
    at += len;
  }
  return cmds.join('; ');
}
