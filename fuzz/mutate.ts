/**
 * Corpus mutators: stacked byte edits for frames and SPA payloads, text
 * edits (with a per-target dictionary and a chunk-repeat that builds long
 * runs, the classic trigger for super-linear regular expressions) for the
 * config, access.conf, journal and control inputs.
 */
import type { Rng } from './rng.js';

const INTERESTING8 = [0, 1, 2, 4, 5, 6, 8, 10, 16, 17, 20, 24, 28, 30, 0x40, 0x45, 0x4f, 0x60];
const MORE8 = [0x7f, 0x80, 0xfe, 0xff, 44, 43, 51, 60, 0x81, 0x88, 0x86, 0xdd, 0x08, 0xa8];
const INTERESTING16 = [
  0, 1, 0xffff, 0xfffe, 0x8000, 0x7fff, 0x0800, 0x86dd, 0x8100, 0x88a8, 8, 20, 40, 14, 13,
];

export function mutateBytes(
  r: Rng,
  input: Uint8Array,
  corpus: readonly Uint8Array[],
  max = 4096,
): Uint8Array {
  let b: Uint8Array = Uint8Array.from(input);
  const n = r.int(1, r.chance(0.7) ? 3 : 10);
  for (let k = 0; k < n; k++) {
    const len = b.length;
    const pos = r.below(len + 1);
    switch (r.below(12)) {
      case 0:
        if (len > 0) b[r.below(len)]! ^= 1 << r.below(8);
        break;
      case 1:
        if (len > 0) b[r.below(len)] = r.u32() & 0xff;
        break;
      case 2:
        if (len > 0) b[r.below(len)] = r.pick(r.chance(0.5) ? INTERESTING8 : MORE8);
        break;
      case 3:
        if (len > 1) {
          const v = r.pick(INTERESTING16);
          const at = r.below(len - 1);
          b[at] = v >> 8;
          b[at + 1] = v & 0xff;
        }
        break;
      case 4: {
        // Insert a few random bytes.
        const ins = r.bytes(r.int(1, 8));
        b = splice(b, pos, 0, ins);
        break;
      }
      case 5: {
        const del = r.int(1, 16);
        b = splice(b, pos, del, new Uint8Array(0));
        break;
      }
      case 6: {
        // Duplicate a chunk elsewhere.
        if (len === 0) break;
        const from = r.below(len);
        const chunk = b.slice(from, from + r.int(1, 32));
        b = splice(b, pos, 0, chunk);
        break;
      }
      case 7:
        // Truncate.
        b = b.slice(0, r.below(len + 1));
        break;
      case 8: {
        // Splice a piece of another corpus entry over this one.
        const o = r.pick(corpus);
        if (o.length === 0) break;
        const from = r.below(o.length);
        const chunk = o.slice(from, from + r.int(1, 64));
        b = splice(b, pos, r.chance(0.5) ? chunk.length : 0, chunk);
        break;
      }
      case 9: {
        // Overwrite a run with one value.
        const v = r.pick(INTERESTING8);
        for (let i = pos; i < Math.min(len, pos + r.int(1, 16)); i++) b[i] = v;
        break;
      }
      case 10:
        // Append garbage.
        b = splice(b, len, 0, r.bytes(r.int(1, 32)));
        break;
      default:
        // Swap two bytes.
        if (len > 1) {
          const i = r.below(len);
          const j = r.below(len);
          const t = b[i]!;
          b[i] = b[j]!;
          b[j] = t;
        }
    }
  }
  return b.length > max ? b.slice(0, max) : b;
}

function splice(b: Uint8Array, at: number, del: number, ins: Uint8Array): Uint8Array {
  const a = Math.min(at, b.length);
  const d = Math.min(del, b.length - a);
  const out = new Uint8Array(b.length - d + ins.length);
  out.set(b.subarray(0, a), 0);
  out.set(ins, a);
  out.set(b.subarray(a + d), a + ins.length);
  return out;
}

const CHARS =
  ' \t\n\r=,:;#[]/.-_%"\\{}0123456789abcdefxyzABCDEFXYZ!~+*?<>\'`\0\v\f' +
  '\u00a0\u00e9\u2028\u3000\ufeff\ud800\udfff\u{1f600}';
const NUMBERS = [
  '0',
  '-1',
  '1',
  '65535',
  '65536',
  '4294967296',
  '1e309',
  '-0',
  '0x10',
  '99999999999999999999',
  '1.5',
  'NaN',
  '007',
];

/** A text mutation; `dict` holds target-specific tokens (keywords, values). */
export function mutateText(
  r: Rng,
  input: string,
  corpus: readonly string[],
  dict: readonly string[],
  max = 20000,
): string {
  let s = input;
  const n = r.int(1, r.chance(0.6) ? 3 : 12);
  for (let k = 0; k < n; k++) {
    const len = s.length;
    const pos = r.below(len + 1);
    switch (r.below(14)) {
      case 0:
        s = s.slice(0, pos) + r.pick([...CHARS]) + s.slice(pos);
        break;
      case 1:
        s = s.slice(0, pos) + r.pick(dict) + s.slice(pos);
        break;
      case 2:
        s = s.slice(0, pos) + s.slice(pos + r.int(1, 16));
        break;
      case 3:
        s = s.slice(0, pos) + r.pick([...CHARS]) + s.slice(pos + 1);
        break;
      case 4: {
        const from = r.below(len + 1);
        s = s.slice(0, pos) + s.slice(from, from + r.int(1, 40)) + s.slice(pos);
        break;
      }
      case 5: {
        // Repeat a short chunk many times: long runs of one character class.
        const from = r.below(len + 1);
        const chunk = r.chance(0.5)
          ? s.slice(from, from + r.int(1, 3))
          : r.pick([' ', '\t', '0', 'a', ':', '=', ',', '/', ' x', '1,']);
        if (chunk !== '')
          s = s.slice(0, pos) + chunk.repeat(r.int(2, r.chance(0.05) ? 5000 : 200)) + s.slice(pos);
        break;
      }
      case 6: {
        const o = r.pick(corpus);
        const from = r.below(o.length + 1);
        s = s.slice(0, pos) + o.slice(from, from + r.int(1, 80)) + s.slice(pos);
        break;
      }
      case 7: {
        // Line-level: delete, duplicate or swap a line.
        const lines = s.split('\n');
        const i = r.below(lines.length);
        const j = r.below(lines.length);
        const op = r.below(3);
        if (op === 0) lines.splice(i, 1);
        else if (op === 1) lines.splice(j, 0, lines[i] ?? '');
        else [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? ''];
        s = lines.join('\n');
        break;
      }
      case 8: {
        // Replace a run of digits with an interesting number.
        const m = /\d+/g;
        m.lastIndex = pos;
        const hit = m.exec(s);
        if (hit !== null)
          s = s.slice(0, hit.index) + r.pick(NUMBERS) + s.slice(hit.index + hit[0].length);
        break;
      }
      case 9:
        s = s.slice(0, pos);
        break;
      case 10: {
        const end = pos + r.int(1, 20);
        const mid = s.slice(pos, end);
        s =
          s.slice(0, pos) + (r.chance(0.5) ? mid.toUpperCase() : mid.toLowerCase()) + s.slice(end);
        break;
      }
      case 11:
        s = s.slice(0, pos) + String.fromCharCode(r.below(0x10000)) + s.slice(pos);
        break;
      case 12:
        s = s.slice(0, pos) + r.pick(NUMBERS) + s.slice(pos);
        break;
      default: {
        // Swap two characters.
        if (len < 2) break;
        const i = r.below(len);
        const j = r.below(len);
        const a = s[i] ?? '';
        const b = s[j] ?? '';
        const lo = Math.min(i, j);
        const hi = Math.max(i, j);
        if (lo === hi) break;
        s =
          s.slice(0, lo) +
          (lo === i ? b : a) +
          s.slice(lo + 1, hi) +
          (lo === i ? a : b) +
          s.slice(hi + 1);
      }
    }
  }
  return s.length > max ? s.slice(0, max) : s;
}
