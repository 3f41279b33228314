/**
 * The group's grants as Redis keys: writing a batch of changes (one
 * pipeline, then the message on the channel) and reading the live grants.
 * Everything read is decoded as untrusted (fleet-wire.ts).
 */
import type { Redis } from 'ioredis';
import { formatPorts } from '../core/port.js';
import {
  CLOSE_LUA,
  decodeStored,
  encodeMessage,
  encodeStored,
  type fleetKeys,
} from '../daemon/fleet-wire.js';
import type { FleetGrant, FleetOp } from '../daemon/ports.js';

/** Keys read at most per listing. */
const MAX_SCAN = 100_000;

export class GrantStore {
  constructor(
    private readonly cmd: Redis,
    private readonly keys: ReturnType<typeof fleetKeys>,
    private readonly host: string,
    /** This daemon's instance id. */
    private readonly id: string,
    /** Counts stored grants that fail to decode. */
    private readonly counters: { rejected: number },
    /** Redis would not store a shared Close (its error). */
    private readonly onCloseRefused: (message: string) => void,
  ) {
    cmd.defineCommand('knockdClose', { numberOfKeys: 1, lua: CLOSE_LUA });
  }

  async write(ops: FleetOp[]): Promise<void> {
    let pipe = this.cmd.pipeline();
    for (const o of ops) {
      if (o.op === 'open')
        pipe.set(
          this.keys.grant(o.address, o.door),
          encodeStored(o.door, o.address, this.host, this.id),
          'PX',
          o.ttlMs,
        );
      else if (o.op === 'revoke' && o.door !== undefined)
        pipe.del(this.keys.grant(o.address, o.door));
      else {
        // Every door of the address: what is queued so far lands first, then the SCAN sees it.
        await this.exec(pipe);
        const found = await this.scan(this.keys.grantsOf(o.address));
        pipe = this.cmd.pipeline();
        if (o.op === 'revoke') {
          if (found.length > 0) pipe.del(...found);
        } else if (found.length > 0) {
          // Apart, and its errors only counted: a Redis that refuses the script (an ACL
          // without eval) must not hold back the batch, which then would be retried forever.
          const closing = this.cmd.pipeline();
          const c = closing as unknown as { knockdClose(key: string, ports: string): unknown };
          for (const k of found) c.knockdClose(k, formatPorts(o.ports));
          const err = ((await closing.exec()) ?? []).find(([e]) => e !== null)?.[0];
          if (err) this.onCloseRefused(err.message);
        }
      }
    }
    pipe.publish(this.keys.channel, encodeMessage({ from: this.id, host: this.host, ops }));
    await this.exec(pipe);
  }

  private async exec(pipe: ReturnType<Redis['pipeline']>): Promise<void> {
    const res = await pipe.exec();
    const err = res?.find(([e]) => e !== null)?.[0];
    if (err) throw err;
  }

  async scan(match: string): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.cmd.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
      // Bounded whatever a hostile Redis holds.
    } while (cursor !== '0' && out.length < MAX_SCAN);
    return out;
  }

  /** The group's live grants (`othersOnly`: not those this daemon wrote). */
  async grants(othersOnly = false): Promise<FleetGrant[]> {
    const keys = await this.scan(`${this.keys.grantPrefix}*`);
    const out: FleetGrant[] = [];
    for (let i = 0; i < keys.length; i += 500) {
      const batch = keys.slice(i, i + 500);
      const pipe = this.cmd.pipeline();
      for (const k of batch) pipe.get(k).pttl(k);
      const res = (await pipe.exec()) ?? [];
      for (let j = 0; j < batch.length; j++) {
        const text = res[2 * j]?.[1];
        const ttl = res[2 * j + 1]?.[1];
        const v = typeof text === 'string' ? decodeStored(text) : null;
        if (v === null || typeof ttl !== 'number' || ttl <= 0) {
          if (text !== null && text !== undefined) this.counters.rejected++;
          continue;
        }
        if (othersOnly && v.from === this.id) continue;
        out.push({
          door: v.door,
          address: v.address,
          host: v.host,
          ttlMs: ttl,
          ...(v.closed === undefined ? {} : { closed: v.closed }),
        });
      }
    }
    return out;
  }
}
