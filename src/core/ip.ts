/**
 * Address parsing and printing without node:net, so the core stays pure.
 * Printing follows inet_ntop (RFC 5952 compressed IPv6), because knockd
 * substitutes that text for %IP% and compares Target against it.
 */

export function formatIPv4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

export function formatIPv6(b: Uint8Array, off: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(((b[off + 2 * i] ?? 0) << 8) | (b[off + 2 * i + 1] ?? 0));
  // IPv4-mapped (::ffff:a.b.c.d) prints with a dotted tail, as inet_ntop does.
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${formatIPv4(b, off + 12)}`;
  }
  // Longest run of zero words (length >= 2) becomes "::"; first one wins a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return w.map((x) => x.toString(16)).join(':');
  const head = w.slice(0, bestStart).map((x) => x.toString(16));
  const tail = w.slice(bestStart + bestLen).map((x) => x.toString(16));
  return `${head.join(':')}::${tail.join(':')}`;
}

/**
 * Dotted-quad decimal only: four parts of 1-3 digits, no leading zero, each
 * at most 255. A plain loop (no split, no regular expression): it runs
 * several times for each SPA packet.
 */
export function parseIPv4(s: string): Uint8Array | null {
  const out = new Uint8Array(4);
  let part = 0;
  let n = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    // A '.' after the end closes the last part.
    const ch = i < s.length ? s.charCodeAt(i) : 0x2e;
    if (ch === 0x2e) {
      if (digits === 0 || part === 4) return null;
      out[part++] = n;
      n = 0;
      digits = 0;
    } else if (ch >= 0x30 && ch <= 0x39) {
      if ((digits > 0 && n === 0) || ++digits > 3) return null;
      n = n * 10 + (ch - 0x30);
      if (n > 255) return null;
    } else return null;
  }
  return part === 4 ? out : null;
}

export function parseIPv6(s: string): Uint8Array | null {
  if (s.length === 0 || s.length > 45) return null;
  let tail4: Uint8Array | null = null;
  let str = s;
  const lastColon = str.lastIndexOf(':');
  if (str.includes('.')) {
    tail4 = parseIPv4(str.slice(lastColon + 1));
    if (tail4 === null) return null;
    str = str.slice(0, lastColon + 1) + '0:0';
  }
  const halves = str.split('::');
  if (halves.length > 2) return null;
  const parseWords = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    for (const part of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return null;
      out.push(parseInt(part, 16));
    }
    return out;
  };
  const head = parseWords(halves[0] ?? '');
  const tail = halves.length === 2 ? parseWords(halves[1] ?? '') : [];
  if (head === null || tail === null) return null;
  let words: number[];
  if (halves.length === 2) {
    const fill = 8 - head.length - tail.length;
    if (fill < 1) return null;
    words = [...head, ...new Array<number>(fill).fill(0), ...tail];
  } else {
    words = head;
  }
  if (words.length !== 8) return null;
  const out = new Uint8Array(16);
  words.forEach((x, i) => {
    out[2 * i] = x >> 8;
    out[2 * i + 1] = x & 0xff;
  });
  if (tail4 !== null) out.set(tail4, 12);
  return out;
}

/** The canonical text of an IP literal, or null when it is not one. */
export function canonicalIP(s: string): { text: string; family: 4 | 6 } | null {
  const v4 = parseIPv4(s);
  if (v4 !== null) return { text: formatIPv4(v4, 0), family: 4 };
  const v6 = parseIPv6(s);
  if (v6 !== null) return { text: formatIPv6(v6, 0), family: 6 };
  return null;
}

/** Reused by formatWords: formatting allocates only the string. */
const scratch = new Uint8Array(16);

/** The text of an address held as words (inet_ntop's spelling, as formatIPv4/formatIPv6). */
export function formatWords(
  family: number,
  w0: number,
  w1: number,
  w2: number,
  w3: number,
): string {
  if (family === 4) return `${w0 >>> 24}.${(w0 >>> 16) & 255}.${(w0 >>> 8) & 255}.${w0 & 255}`;
  const b = scratch;
  for (let i = 0; i < 4; i++) {
    const w = i === 0 ? w0 : i === 1 ? w1 : i === 2 ? w2 : w3;
    b[4 * i] = w >>> 24;
    b[4 * i + 1] = (w >>> 16) & 255;
    b[4 * i + 2] = (w >>> 8) & 255;
    b[4 * i + 3] = w & 255;
  }
  return formatIPv6(b, 0);
}
