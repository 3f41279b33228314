/**
 * libnftables in this process (the native/nft addon): one run is what
 * `nft -f -` does with the text, one netlink batch and so one atomic
 * transaction, without a process, a pipe or a per-line wake-up. Loaded on
 * first use, and only by the nftables backend: `knock`, `knockd --help` and
 * configurations without Firewall = nftables never load it.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import { addonPath } from './addon.js';

export interface NftLibrary {
  /**
   * Runs nft commands; null on success, else nft's error text. `check`
   * only validates them with the kernel, as `nft -c` does. Synchronous:
   * it blocks for the netlink round trips (about 0.1 ms for one grant).
   */
  run(text: string, check?: boolean): string | null;
  /** Frees the context and its netlink socket; later runs return an error. */
  close(): void;
}

interface NftModule {
  Nft: new () => NftLibrary;
}

let mod: NftModule | string | undefined;

function load(): NftModule | string {
  const file = addonPath('nft', 'knocknft.node');
  if (!fs.existsSync(file))
    return `the libnftables addon is not built (${file}; needs libnftables-dev: scripts/setup.sh, or npm rebuild -g knockd-ts)`;
  try {
    return createRequire(import.meta.url)(file) as NftModule;
  } catch (e) {
    // Built, but libnftables.so.1 (or a symbol of it) is gone.
    return `the libnftables addon does not load: ${(e as Error).message}`;
  }
}

/** A context of its own, or why there is none (the caller then uses `nft -i`). */
export function openNftLibrary(): NftLibrary | string {
  mod ??= load();
  if (typeof mod === 'string') return mod;
  try {
    return new mod.Nft();
  } catch (e) {
    return `libnftables: ${(e as Error).message}`;
  }
}
