/**
 * Sending knocks: a TCP knock is one SYN (a non-blocking connect, closed at
 * once), a UDP knock one datagram. Errors are ignored, as knock 0.8 ignores
 * them: a knock is fire-and-forget.
 */
import net from 'node:net';
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PortSpec } from '../core/port.js';

export function tcpKnock(address: string, port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = new net.Socket();
    s.on('error', () => {});
    s.connect({ host: address, port });
    // Node issues connect(2) on the next tick for an IP literal; once it has,
    // the SYN is on the wire and closing sends nothing more.
    setImmediate(() => {
      s.destroy();
      resolve();
    });
  });
}

/** One datagram; errors are ignored, as knock ignores them. */
export function sendUdp(
  address: string,
  family: number,
  port: number,
  payload: Uint8Array,
): Promise<void> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    s.on('error', () => {
      s.close();
      resolve();
    });
    s.send(payload, port, address, () => {
      s.close();
      resolve();
    });
  });
}

export interface KnockOptions {
  delayMs: number;
  /** Copies of each knock, back to back (1 = knock 0.8's behaviour). */
  repeat: number;
  say?: ((line: string) => void) | undefined;
}

/** Sends the sequence to `address` (an IP literal of `family`). */
export async function sendSequence(
  address: string,
  family: number,
  hits: readonly PortSpec[],
  o: KnockOptions,
): Promise<void> {
  for (const h of hits) {
    o.say?.(`hitting ${h.proto} ${address}:${h.port}`);
    for (let r = 0; r < o.repeat; r++) {
      if (h.proto === 'tcp') await tcpKnock(address, h.port);
      else await sendUdp(address, family, h.port, new Uint8Array(1));
    }
    if (o.delayMs > 0) await sleep(o.delayMs);
  }
}
