/** A door as the knock machine's packet path reads it. Pure. */
import type { Door, Knock } from '../config.js';
import { addressWords } from './events.js';

export interface DoorState {
  door: Door;
  /** The current sequence (a one-time door moves on to the next one). */
  sequence: Knock[];
  enabled: boolean;
  /** The Target as key kind (4 or 6; -1 when it is not an address) and words. */
  tKind: number;
  t: Int32Array;
  /** The door's TCP flags as a mask and the bits that must be set in it. */
  flagMask: number;
  flagSet: number;
}

export function doorState(door: Door): DoorState {
  const t =
    door.target === undefined ? { kind: -1, w: new Int32Array(4) } : addressWords(door.target);
  return {
    door,
    sequence: door.sequence,
    enabled: door.sequence.length > 0,
    tKind: t.kind,
    t: t.w,
    flagMask: door.tcpFlags.set | door.tcpFlags.clear,
    flagSet: door.tcpFlags.set,
  };
}
