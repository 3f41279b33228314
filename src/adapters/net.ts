/** UDP receive for SPA_Receive = socket, and reverse DNS for -l. */
import dgram from 'node:dgram';
import dns from 'node:dns';
import { KnockError } from '../core/errors.js';
import type { DatagramBinder, DatagramReceiver, Resolver } from '../daemon/ports.js';

/** Strips the IPv4-mapped prefix, so an IPv4 sender reads as IPv4. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export const udpBinder: DatagramBinder = {
  bind(port, onMessage): Promise<DatagramReceiver> {
    // One dual-stack socket, like fwknopd's UDP server mode. No SO_REUSEADDR
    // or SO_REUSEPORT: if anyone holds the port, binding fails loudly.
    const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    return new Promise((resolve, reject) => {
      s.once('error', (e: NodeJS.ErrnoException) => {
        s.close();
        const why = e.code === 'EADDRINUSE' ? 'it is in use by another program' : e.message;
        reject(new KnockError('E_SPA', `cannot bind the SPA socket to UDP port ${port}: ${why}`));
      });
      s.bind(port, () => {
        s.removeAllListeners('error');
        s.on('error', () => {}); // a receive error on UDP is per datagram; nothing to do
        s.on('message', (msg, rinfo) => onMessage(msg, unmapped(rinfo.address)));
        resolve({ close: () => s.close() });
      });
    });
  },
};

export const dnsResolver: Resolver = {
  reverse(address: string): Promise<string | null> {
    return new Promise((resolve) => {
      dns.reverse(address, (err, names) => resolve(err === null ? (names[0] ?? null) : null));
    });
  },
};
