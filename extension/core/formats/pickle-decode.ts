/**
 * Decoding of opcode arguments: text lines (protocol 0), Python ints of any size, strings. These
 * helpers throw plain Errors; unpickleFrom reports them as BAD_PICKLE with the position.
 */
import { shortRepr } from './pickle-values';

export function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}
const UTF8 = new TextDecoder('utf-8');
export function utf8(b: Uint8Array): string {
  return UTF8.decode(b);
}

/** Longest integer read (LONG4 bytes, INT/LONG text digits): Python ints in checkpoints are small; BigInt parsing is superlinear. */
export const MAX_INT_BYTES = 4096;

export function toInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
export function parseIntLine(s: string): number | bigint {
  const t = s.trim();
  if (t.length > MAX_INT_BYTES) throw new Error(`an integer of ${t.length} digits (at most ${MAX_INT_BYTES} are read)`);
  if (!/^[+-]?\d+$/.test(t)) throw new Error(`invalid integer ${shortRepr(s)}`);
  return toInt(BigInt(t));
}
export function parseFloatLine(s: string): number {
  const t = s.trim().toLowerCase();
  if (t === 'inf' || t === '+inf') return Infinity;
  if (t === '-inf') return -Infinity;
  if (t === 'nan') return NaN;
  return Number(t);
}
/** LONG1/LONG4 payload: little-endian two's complement (linear time: one hex parse). */
export function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  const be = Buffer.from(b).reverse();
  let v = BigInt(`0x${be.toString('hex')}`);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return toInt(v);
}
/** Protocol-0 STRING: a Python 2 repr such as 'abc' or "it's\n". */
export function decodeQuotedString(s: string): string {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) throw new Error('STRING argument is not quoted');
  const body = s.slice(1, -1);
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v' };
  return body.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8) & 0xff);
    return simple[e] ?? m;
  });
}
/** Protocol-0 UNICODE: raw-unicode-escape (only \uXXXX and \UXXXXXXXX are escapes). */
export function decodeRawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string | undefined, b: string | undefined) => {
    const cp = parseInt((a ?? b) as string, 16);
    if (cp > 0x10ffff) throw new Error(`invalid code point \\U${b}`);
    return String.fromCodePoint(cp);
  });
}
