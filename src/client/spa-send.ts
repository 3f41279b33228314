/** Resolving the server and sending one SPA packet (fwknop's format) to it. */
import dns from 'node:dns/promises';
import dgram from 'node:dgram';
import { KnockError } from '../core/errors.js';
import type { PortSpec } from '../core/port.js';
import { encodeSpa } from '../core/spa/spa.js';
import { nodeSpaCrypto } from '../adapters/spa-crypto.js';
import { sendUdp } from './send.js';
import type { ResolvedSpaKeys } from './spa-keys.js';

/** The local address this host uses to reach `address` (no packet is sent). */
export function localAddressFor(address: string, family: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    s.on('error', reject);
    s.connect(9, address, () => {
      const a = s.address().address;
      s.close();
      resolve(a);
    });
  });
}

export async function resolveHost(
  host: string,
  family: number,
): Promise<{ address: string; family: number }> {
  try {
    return await dns.lookup(host, { family });
  } catch (e) {
    throw new KnockError(
      'E_RESOLVE',
      `Cannot resolve hostname '${host}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

export async function sendSpa(
  address: string,
  family: number,
  keys: ResolvedSpaKeys,
  access: PortSpec[],
  allowIp: string | undefined,
  port: number,
  say: (l: string) => void,
): Promise<void> {
  const allow = allowIp ?? (await localAddressFor(address, family));
  const user = process.env.USER ?? process.env.LOGNAME ?? 'knock';
  const pkt = encodeSpa(
    {
      user: /^[A-Za-z0-9._-]{1,63}$/.test(user) ? user : 'knock',
      timestamp: Math.floor(Date.now() / 1000),
      allowIp: allow,
      access,
    },
    { encKey: keys.encKey, hmacKey: keys.hmacKey, hmacAlg: keys.hmacAlg },
    nodeSpaCrypto,
  );
  say(`sending SPA packet to ${address}:${port} for ${allow}`);
  await sendUdp(address, family, port, Buffer.from(pkt, 'latin1'));
}
