/**
 * An in-memory twin of libnftables for the nftables backend's library path:
 * it keeps `table inet knockd`'s grant sets and applies what the backend
 * writes with nft's transaction rule (a run is all or nothing). It knows the
 * backend's own commands only: the full table of renderNft, and add/delete
 * element on grants4/grants6.
 */
import type { NftLibrary } from '../../src/adapters/nft-lib.js';

const ELEMENT =
  /^(add|delete) element inet knockd (grants[46]) \{ ([^ ]+ \. (?:tcp|udp) \. \d+)(?: timeout \S+)? \}$/;

export class NftLibraryTwin implements NftLibrary {
  /** The table's grant sets (elements as "address . proto . port"); null: no table. */
  sets: Map<string, Set<string>> | null = null;
  /** Every run, in order. */
  readonly runs: { text: string; check: boolean }[] = [];
  /** The next run fails with this text, or throws when it is 'throw'. */
  failNext: string | null = null;
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
