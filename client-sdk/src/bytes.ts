// Byte and text helpers shared by every format module.
//
// All decoders here are strict: they accept exactly one encoding of a value
// (canonical padded base64, lowercase hex, canonical decimals, valid UTF-8) so
// that every signed object has one byte representation. They throw
// EncodingError; format modules catch it and rethrow their own typed error.

export type EncodingErrorCode = 'bad-base64' | 'bad-hex' | 'bad-decimal' | 'bad-utf8' | 'bad-length';

export class EncodingError extends Error {
  override readonly name = 'EncodingError';
  constructor(
    readonly code: EncodingErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Largest integer Concord formats accept: 2^53 − 1, so every value is exact in a JS number. */
export const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Lexicographic byte order; negative, zero or positive like Array.prototype.sort wants. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

const HEX = '0123456789abcdef';
const HEX_TABLE: string[] = Array.from({ length: 256 }, (_, i) => HEX[i >> 4]! + HEX[i & 15]!);

export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX_TABLE[b[i]!];
  return s;
}

function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

/** Lowercase hex only (the canonical form); optional exact byte length. */
export function fromHex(s: string, length?: number): Uint8Array {
  if (s.length % 2 !== 0) throw new EncodingError('bad-hex', 'hex string has odd length');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexNibble(s.charCodeAt(2 * i));
    const lo = hexNibble(s.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new EncodingError('bad-hex', 'not lowercase hex');
    out[i] = (hi << 4) | lo;
  }
  if (length !== undefined && out.length !== length) {
    throw new EncodingError('bad-length', `want ${length} bytes, got ${out.length}`);
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

/** Standard, padded base64. */
export function toBase64(b: Uint8Array): string {
  let s = '';
  let i = 0;
  for (; i + 3 <= b.length; i += 3) {
    const v = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    s += B64[v >> 18]! + B64[(v >> 12) & 63]! + B64[(v >> 6) & 63]! + B64[v & 63]!;
  }
  const rest = b.length - i;
  if (rest === 1) {
    const v = b[i]! << 16;
    s += B64[v >> 18]! + B64[(v >> 12) & 63]! + '==';
  } else if (rest === 2) {
    const v = (b[i]! << 16) | (b[i + 1]! << 8);
    s += B64[v >> 18]! + B64[(v >> 12) & 63]! + B64[(v >> 6) & 63]! + '=';
  }
  return s;
}

/**
 * Standard padded base64, accepted only if re-encoding gives the same string
 * (no whitespace, no missing padding, no non-zero trailing bits).
 */
export function fromBase64(s: string, length?: number): Uint8Array {
  if (s.length % 4 !== 0) throw new EncodingError('bad-base64', 'base64 length is not a multiple of 4');
  let pad = 0;
  if (s.endsWith('==')) pad = 2;
  else if (s.endsWith('=')) pad = 1;
  const n = (s.length / 4) * 3 - pad;
  const out = new Uint8Array(n);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const last = i + 4 === s.length;
    const c0 = sextet(s, i);
    const c1 = sextet(s, i + 1);
    const c2 = last && pad === 2 ? 0 : sextet(s, i + 2);
    const c3 = last && pad >= 1 ? 0 : sextet(s, i + 3);
    const v = (c0 << 18) | (c1 << 12) | (c2 << 6) | c3;
    out[o++] = v >> 16;
    if (o < n) out[o++] = (v >> 8) & 255;
    if (o < n) out[o++] = v & 255;
  }
  if (toBase64(out) !== s) throw new EncodingError('bad-base64', 'base64 is not canonical');
  if (length !== undefined && out.length !== length) {
    throw new EncodingError('bad-length', `want ${length} bytes, got ${out.length}`);
  }
  return out;
}

function sextet(s: string, i: number): number {
  const c = s.charCodeAt(i);
  const v = c < 128 ? B64_INDEX[c]! : -1;
  if (v < 0) throw new EncodingError('bad-base64', 'invalid base64 character');
  return v;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Decodes UTF-8, rejecting invalid sequences (no replacement characters). */
export function fromUtf8(b: Uint8Array): string {
  try {
    return decoder.decode(b);
  } catch (cause) {
    throw new EncodingError('bad-utf8', 'invalid UTF-8');
  }
}

/**
 * Canonical decimal: digits only, no sign, no leading zeros (except "0"),
 * at most 2^53 − 1.
 */
export function parseDecimal(s: string): number {
  if (s.length === 0 || s.length > 16 || !/^(0|[1-9][0-9]*)$/.test(s)) {
    throw new EncodingError('bad-decimal', `not a canonical decimal: ${JSON.stringify(s.slice(0, 40))}`);
  }
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new EncodingError('bad-decimal', 'decimal exceeds 2^53 - 1');
  return n;
}

/** Is n an integer in [0, 2^53 − 1]? */
export function isUint(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** u64 big-endian of a safe non-negative integer. */
export function u64be(n: number): Uint8Array {
  if (!isUint(n)) throw new EncodingError('bad-decimal', 'u64 out of range');
  const out = new Uint8Array(8);
  const hi = Math.floor(n / 2 ** 32);
  const lo = n >>> 0;
  new DataView(out.buffer).setUint32(0, hi);
  new DataView(out.buffer).setUint32(4, lo);
  return out;
}

/** Reads a u64 big-endian; values above 2^53 − 1 are rejected. */
export function readU64be(b: Uint8Array, offset = 0): number {
  if (offset + 8 > b.length) throw new EncodingError('bad-length', 'short u64');
  const dv = new DataView(b.buffer, b.byteOffset + offset, 8);
  const hi = dv.getUint32(0);
  const lo = dv.getUint32(4);
  if (hi > 0x1fffff) throw new EncodingError('bad-decimal', 'u64 exceeds 2^53 - 1');
  return hi * 2 ** 32 + lo;
}
