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
  /**
   * Sends set element messages (src/core/grants/netlink.ts) as one batch,
   * so one transaction, on a netlink socket of the addon's own, and waits
   * for the kernel's answer to each: null, or the first error. No parser and
   * no cache dump: about a third of a one-element run().
   */
  batch(messages: Uint8Array): string | null;
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

/**
 * A change for the library: its netlink messages where they encode, and its
 * nft text, built only when the text path is taken.
 */
export interface LibraryChange {
  text: () => string;
  messages: Buffer | null;
}

/** Above this many bytes of messages (about 300 elements) a run goes as text. */
const BATCH_MAX = 24 * 1024;

/**
 * Applies changes through the library, on the caller's (the main) thread.
 * The first change of a turn of the event loop runs at once, so a lone
 * knock's grant is in the kernel before apply() returns; later changes of
 * the same turn (a captured batch, an expiry sweep) are queued and applied
 * together, as one transaction, when the turn's synchronous work is done.
 * Each run goes to the kernel as netlink messages (batch) when every change
 * in it encodes and it is small, else as nft text (run). Never throws: a
 * failure goes to `onError` once the current work has returned.
 */
export class LibraryApplier {
  private pending: LibraryChange[] = [];
  /** A change already ran this turn; its end (a microtask) flushes `pending`. */
  private turnBusy = false;
  /**
   * Messages are sent as such. Turned off for good when a batch fails where
   * the same changes as text then succeed: a kernel that reads our messages
   * differently from nft's must not cost a full sync per change.
   */
  private direct = true;
  onError: (message: string) => void = () => {};

  constructor(
    private readonly lib: NftLibrary,
    private readonly debug: (message: string) => void,
  ) {}

  apply(change: LibraryChange): void {
    if (this.turnBusy) {
      this.pending.push(change);
      return;
    }
    this.turnBusy = true;
    queueMicrotask(() => {
      this.turnBusy = false;
      this.flush();
    });
    this.run([change]);
  }

  /** The changes queued this turn, as one transaction. */
  flush(): void {
    if (this.pending.length === 0) return;
    const changes = this.pending;
    this.pending = [];
    this.run(changes);
  }

  /** A full sync covers every queued change. */
  discard(): void {
    this.pending = [];
  }

  private run(changes: LibraryChange[]): void {
    const text = () => changes.map((c) => c.text()).join('; ');
    let bytes = 0;
    for (const c of changes) bytes += c.messages === null ? Infinity : c.messages.length;
    if (this.direct && bytes <= BATCH_MAX) {
      const messages =
        changes.length === 1
          ? (changes[0]?.messages as Buffer)
          : Buffer.concat(changes.map((c) => c.messages as Buffer));
      const err = this.call(() => this.lib.batch(messages));
      if (err === null) return;
      // Nothing of a failed batch was applied: the text may run in its place,
      // and where it fails too, nft's error says more than an errno.
      const textErr = this.call(() => this.lib.run(text()));
      if (textErr === null) {
        this.direct = false;
        this.debug(`firewall: netlink batch failed (${err}); changes go to libnftables as text`);
        return;
      }
      this.fail(textErr);
      return;
    }
    const err = this.call(() => this.lib.run(text()));
    if (err !== null) this.fail(err);
  }

  private call(f: () => string | null): string | null {
    try {
      return f();
    } catch (e) {
      return (e as Error).message;
    }
  }

  private fail(err: string): void {
    const first = err.trim().split('\n')[0] || 'nft error';
    queueMicrotask(() => this.onError(`libnftables: ${first}`));
  }
}
