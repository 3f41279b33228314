/**
 * Drives the libpcap addon directly and re-enters it from its own callbacks,
 * the way the daemon does (setFilter when a door changes, close on a capture
 * error) and the way a bug would (an exception in the batch handler). Each
 * mode prints `ok: ...` / `FAIL: ...` lines and exits 1 on any failure; a
 * crash shows as a signal and a hang as the caller's timeout.
 *
 * usage: addon-reentry MODE IFNAME [ITERATIONS]
 *   filter        setFilter from inside onBatch (valid, then invalid expressions)
 *   throw         onBatch throws: onError reports it and batches keep coming;
 *                 the batch's memory transferred away is replaced, not written
 *   error-throws  onBatch and onError both throw: capture stops cleanly
 *   close         close() from inside onBatch: no callback after it, socket gone
 *   close-in-error  close() from inside onError (what the daemon does)
 *   reopen N      N times: close() and open a new capture inside onBatch
 * usage: addon-reentry send DST SECONDS [BURST]
 *   bursts of 1400-byte UDP datagrams to DST ports 5998 and 5999
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface Capture {
  readonly linktype: number;
  setFilter(expr: string): void;
  start(
    onBatch: (batch: Buffer, count: number, used: number) => void,
    onError: (message: string) => void,
  ): void;
  stats(): { received: number; dropped: number; ifdropped: number } | null;
  close(): void;
}
interface Addon {
  Capture: new (ifname: string, snaplen: number, bufferBytes: number) => Capture;
}

const [mode, arg1, arg2] = process.argv.slice(2);
const usage = 'usage: addon-reentry MODE IFNAME [N] | addon-reentry send DST SECONDS [BURST]\n';
if (mode === undefined || arg1 === undefined) {
  process.stderr.write(usage);
  process.exit(64);
}

if (mode === 'send') {
  // Bursts larger than one 256 KiB batch (by default), so a batch fills while
  // libpcap is still dispatching (where the old addon called into JavaScript).
  // Bounded by time: at most 25 bursts a second.
  const sock = dgram.createSocket('udp4');
  const payload = Buffer.alloc(1400, 0x6b);
  const end = Date.now() + Number(arg2 ?? '5') * 1000;
  const size = Number(process.argv[5] ?? '250');
  let sent = 0;
  const burst = (): void => {
    if (Date.now() >= end) {
      sock.close();
      return;
    }
    for (let i = 0; i < size; i++) sock.send(payload, 5998 + (sent++ & 1), arg1, () => {});
    setTimeout(burst, 40);
  };
  burst();
} else {
  runMode(mode, arg1, Number(arg2 ?? '20'));
}

function runMode(which: string, ifname: string, iterations: number): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const file = path.join(root, 'native', 'pcap', 'build', 'Release', 'knockpcap.node');
  const addon = createRequire(import.meta.url)(file) as Addon;
  let failed = false;
  const ok = (cond: boolean, what: string): void => {
    process.stdout.write(`${cond ? 'ok' : 'FAIL'}: ${what}\n`);
    if (!cond) failed = true;
  };
  const open = (filter: string): Capture => {
    const c = new addon.Capture(ifname, 1600, 4 * 1024 * 1024);
    c.setFilter(filter);
    return c;
  };
  // A positive end point for every mode; reaching the deadline means the
  // callbacks stopped (the old addon's silent stop) or never came.
  const deadline = setTimeout(
    () => {
      ok(false, `${which}: deadline reached (${progress()})`);
      process.exit(1);
    },
    Number(process.env.ADDON_DEADLINE_MS ?? '20000'),
  );
  let progress = (): string => '';
  const finish = (): void => {
    clearTimeout(deadline);
    process.stdout.write(failed ? 'RESULT FAIL\n' : 'RESULT PASS\n');
    process.exitCode = failed ? 1 : 0;
  };
  // Keeps the batch handler slow now and then so packets pile up in the ring.
  const stall = (ms: number): void => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  };

  if (which === 'filter') {
    const exprs = ['udp and dst port 5998', 'udp and dst port 5999', 'udp', 'not a filter ((('];
    let batches = 0;
    let invalidThrew = 0;
    let strays = 0;
    let settled = 0;
    const c = open('udp');
    progress = () => `${batches} batches`;
    c.start(
      (batch, count) => {
        batches++;
        if (batches <= 60) {
          const expr = exprs[batches % exprs.length] ?? 'udp';
          try {
            c.setFilter(expr);
          } catch (e) {
            if (/^filter: /.test((e as Error).message)) invalidThrew++;
          }
          if (batches % 7 === 0) stall(30);
          return;
        }
        if (batches === 61) {
          c.setFilter('udp and dst port 5998');
          stall(30);
          return;
        }
        // The filter set in batch 61 holds for every later packet.
        for (const port of ports(batch, count)) if (port !== 5998) strays++;
        if (++settled < 10) return;
        c.close();
        ok(
          invalidThrew === 15,
          `an invalid filter throws inside the callback (${invalidThrew}/15)`,
        );
        ok(strays === 0, `packets after setFilter match the new filter (${strays} strays)`);
        ok(true, `${batches} batches with setFilter inside the callback`);
        finish();
      },
      (msg) => ok(false, `unexpected onError: ${msg}`),
    );
  } else if (which === 'throw') {
    const errors: string[] = [];
    let batches = 0;
    const c = open('udp');
    progress = () => `${batches} batches, errors ${JSON.stringify(errors)}`;
    c.start(
      (batch) => {
        batches++;
        if (batches === 1) throw new Error('boom 1');
        if (batches === 2) throw 'boom 2';
        if (batches === 3) throw null;
        if (batches === 4) stall(30);
        // Transferring the batch's memory away must not make the addon write into freed memory.
        if (batches === 5) structuredClone(batch.buffer, { transfer: [batch.buffer] });
        if (batches === 6)
          ok(batch.length === 256 * 1024, `a fresh batch after a transfer (${batch.length})`);
        if (batches < 20) return;
        c.close();
        ok(
          JSON.stringify(errors) ===
            JSON.stringify([
              'callback threw: boom 1',
              'callback threw: boom 2',
              'callback threw: null',
            ]),
          `each throw is reported to onError: ${JSON.stringify(errors)}`,
        );
        ok(true, `batches keep coming after the throws (${batches - 3} more)`);
        finish();
      },
      (msg) => errors.push(msg),
    );
  } else if (which === 'error-throws') {
    let batches = 0;
    let errors = 0;
    const c = open('udp');
    c.start(
      () => {
        batches++;
        throw new Error('batch boom');
      },
      () => {
        errors++;
        throw new Error('error boom');
      },
    );
    progress = () => `${batches} batches, ${errors} errors`;
    whenFirst(
      () => batches > 0,
      () => quiet(c, () => batches + errors, 'after onError threw', finish),
    );
  } else if (which === 'close' || which === 'close-in-error') {
    let calls = 0;
    let closedAt = -1;
    const c = open('udp');
    const closeNow = (): void => {
      c.close();
      closedAt = calls;
      let threw = '';
      try {
        c.setFilter('udp');
      } catch (e) {
        threw = (e as Error).message;
      }
      ok(threw === 'capture is closed', `setFilter after close throws (${threw})`);
      ok(c.stats() === null, 'stats after close is null');
      c.close(); // a second close is harmless
    };
    progress = () => `${calls} callbacks`;
    c.start(
      () => {
        calls++;
        if (which === 'close') {
          stall(30); // more packets wait in the ring while we close
          closeNow();
          return;
        }
        throw new Error('to onError');
      },
      (msg) => {
        calls++;
        ok(msg === 'callback threw: to onError', `onError message (${msg})`);
        closeNow();
      },
    );
    whenFirst(
      () => closedAt >= 0,
      () =>
        quiet(
          c,
          () => calls,
          `after close() inside ${which === 'close' ? 'onBatch' : 'onError'}`,
          finish,
        ),
    );
  } else if (which === 'reopen') {
    let round = 0;
    let c = open('udp');
    const onBatch = (): void => {
      c.setFilter(round % 2 === 0 ? 'udp and dst port 5998' : 'udp');
      c.close();
      if (++round >= iterations) {
        ok(true, `${round} rounds of close and reopen inside onBatch`);
        finish();
        return;
      }
      c = open('udp');
      c.start(onBatch, (msg) => ok(false, `unexpected onError: ${msg}`));
    };
    progress = () => `${round} rounds`;
    c.start(onBatch, (msg) => ok(false, `unexpected onError: ${msg}`));
  } else {
    process.stderr.write(usage);
    process.exit(64);
  }

  /**
   * After a stop, traffic keeps flowing for a second: no callback may come,
   * the packet socket must be gone, and nothing may keep the event loop alive
   * (the caller's timeout catches that).
   */
  function quiet(c: Capture, calls: () => number, what: string, done: () => void): void {
    const before = calls();
    setTimeout(() => {
      ok(calls() === before, `no callback ${what} (${calls() - before} more)`);
      ok(packetSockets() === 0, `the packet socket is closed ${what}`);
      void c;
      done();
    }, 1000);
  }

  function whenFirst(cond: () => boolean, then: () => void): void {
    const t = setInterval(() => {
      if (!cond()) return;
      clearInterval(t);
      then();
    }, 10);
  }
}

/** UDP destination ports of the IPv4 frames in a batch (other frames: -1). */
function ports(batch: Buffer, count: number): number[] {
  const out: number[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    const caplen = batch.readUInt32LE(p + 8);
    const f = p + 16;
    const ihl = (batch[f + 14] ?? 0) & 15;
    const isUdp4 = batch.readUInt16BE(f + 12) === 0x0800 && batch[f + 23] === 17;
    out.push(isUdp4 ? batch.readUInt16BE(f + 14 + ihl * 4 + 2) : -1);
    p += 16 + ((caplen + 3) & ~3);
  }
  return out;
}

/** How many of this process's descriptors are AF_PACKET sockets. */
function packetSockets(): number {
  const inodes = new Set(
    fs
      .readFileSync('/proc/net/packet', 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/)[8])
      .filter((s): s is string => s !== undefined && s !== ''),
  );
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let link = '';
    try {
      link = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m !== null && inodes.has(m[1] ?? '')) n++;
  }
  return n;
}
