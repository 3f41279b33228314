/** One access.conf stanza: what a SPA packet may do, and for whom. Pure. */
import type { PortSpec } from '../port.js';
import { addressIn, type Cidr } from './cidr.js';
import type { StanzaGpg } from './gpg.js';
import type { AesMode, HmacAlg } from './spa.js';

/** A stanza's command cycle (CMD_CYCLE_OPEN/CLOSE/TIMER): run instead of a grant. */
export interface CmdCycle {
  open: string;
  /** undefined: `CMD_CYCLE_CLOSE NONE`, no close runs. */
  close?: string;
  /** Seconds from open to close when the client sent no timeout. */
  timer: number;
}

export interface Stanza {
  line: number;
  /**
   * Names the stanza across reloads and restarts (the journal keeps it for a
   * pending cycle close): the SOURCE value and its ordinal among stanzas with
   * the same SOURCE. Holds no key material.
   */
  id: string;
  sources: Cidr[] | 'any';
  destinations: Cidr[] | 'any';
  openPorts?: PortSpec[];
  restrictPorts: PortSpec[];
  encKey?: Uint8Array;
  hmacKey?: Uint8Array;
  hmacAlg: HmacAlg;
  mode: AesMode;
  fwAccessTimeout: number;
  maxFwTimeout: number;
  requireSourceAddress: boolean;
  requireUsername?: string;
  /** Epoch seconds after which the stanza no longer applies. */
  accessExpire?: number;
  allowNoHmac: boolean;
  cycle?: CmdCycle;
  /** Present when the stanza decrypts GPG packets (GPG_DECRYPT_PW or GPG_ALLOW_NO_PW Y). */
  gpg?: StanzaGpg;
}

/**
 * The longest grant access.conf may ask for (FW_ACCESS_TIMEOUT,
 * MAX_FW_TIMEOUT; a client timeout is capped by MAX_FW_TIMEOUT). A day is
 * far above fwknop's defaults (30 and 300 s) and keeps every expiry a small
 * offset from now, far from the 2038 limit of iptables --datestop.
 */
export const MAX_GRANT_SECONDS = 86_400;
/** fwknopd's RCHK_MAX_CMD_CYCLE_TIMER (2 << 22 s, about 97 days). */
export const MAX_CYCLE_TIMER = 2 << 22;
/** fwknopd's CMD_CYCLE_BUFSIZE: a longer command is refused, as there. */
export const MAX_CYCLE_COMMAND = 255;

export function sourceMatches(s: Stanza, address: string): boolean {
  return addressIn(s.sources, address);
}

export function destinationMatches(s: Stanza, address: string): boolean {
  return addressIn(s.destinations, address);
}
