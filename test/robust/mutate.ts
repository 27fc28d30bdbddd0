/**
 * Seeded mutations of good files: bit flips, bytes and 32-bit fields set to edge values,
 * truncations, deletions, duplications and insertions — half of them aimed at structure (zip local
 * and central headers, the end record, data.pkl's pickle, a test-data or legacy pickle's opcodes)
 * rather than at tensor bytes, where a flip only changes a value.
 */

/** A small fast PRNG (mulberry32): the same seed gives the same mutations. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Offsets worth mutating: headers, pickle opcodes. */
export interface Structure {
  /** Single bytes of structure (opcodes, header fields). */
  points: number[];
  /** Offsets of 32-bit fields (zip sizes, offsets, counts; pickle lengths). */
  fields: number[];
  /** JSON text (a safetensors header, config.json, an index, a .npy header dict): [start, end) of each number literal. */
  numbers?: [number, number][];
}

const ZIP_LOCAL = 0x04034b50;
const ZIP_CENTRAL = 0x02014b50;
const ZIP_END = 0x06054b50;

/** JSON-ish text in [from, to): its punctuation, quotes and number literals. */
function scanText(b: Uint8Array, from: number, to: number, points: number[], numbers: [number, number][]): void {
  for (let i = from; i < to; i++) {
    const c = b[i];
    if (c === 0x7b || c === 0x7d || c === 0x5b || c === 0x5d || c === 0x3a || c === 0x2c || c === 0x22 || c === 0x27 || c === 0x28 || c === 0x29) points.push(i);
    else if ((c >= 0x30 && c <= 0x39) || c === 0x2d) {
      const start = i;
      while (i + 1 < to && ((b[i + 1] >= 0x30 && b[i + 1] <= 0x39) || b[i + 1] === 0x2e || b[i + 1] === 0x65 || b[i + 1] === 0x2d)) i++;
      numbers.push([start, i + 1]);
      points.push(start);
    }
  }
}

/** Find structure in a zip archive (headers) and in its data.pkl, or in a pickle file's opcode streams; in a .npy, a safetensors file or JSON, their headers' text. */
export function structureOf(b: Uint8Array): Structure {
  const points: number[] = [];
  const fields: number[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const numbers: [number, number][] = [];
  if (b.length >= 10 && b[0] === 0x93 && Buffer.from(b.subarray(1, 6)).toString('latin1') === 'NUMPY') {
    // magic, version, header length (u16 at 8), then the header dict
    for (let k = 6; k < 10; k++) points.push(k);
    fields.push(8);
    scanText(b, 10, Math.min(b.length, 10 + dv.getUint16(8, true)), points, numbers);
    return { points, fields, numbers };
  }
  if (b.length >= 9 && b[8] === 0x7b && dv.getUint32(4, true) === 0 && dv.getUint32(0, true) <= b.length) {
    // safetensors: u64 header length, then the JSON header
    fields.push(0, 4);
    scanText(b, 8, Math.min(b.length, 8 + dv.getUint32(0, true)), points, numbers);
    return { points, fields, numbers };
  }
  if (b[0] === 0x7b) {
    scanText(b, 0, b.length, points, numbers);
    return { points, fields, numbers };
  }
  if (b[0] === 0x50 && b[1] === 0x4b) {
    for (let i = 0; i + 4 <= b.length; i++) {
      if (b[i] !== 0x50 || b[i + 1] !== 0x4b) continue;
      const sig = dv.getUint32(i, true);
      if (sig === ZIP_LOCAL && i + 30 <= b.length) {
        for (let k = 4; k < 30; k++) points.push(i + k);
        fields.push(i + 14, i + 18, i + 22, i + 26);
        const n = dv.getUint16(i + 26, true);
        const x = dv.getUint16(i + 28, true);
        const name = Buffer.from(b.subarray(i + 30, i + 30 + n)).toString('latin1');
        if (name.endsWith('data.pkl')) {
          const start = i + 30 + n + x;
          const size = dv.getUint32(i + 18, true);
          scanPickles(b, start, Math.min(b.length, start + size), points, fields);
        }
      } else if (sig === ZIP_CENTRAL && i + 46 <= b.length) {
        for (let k = 4; k < 46; k++) points.push(i + k);
        fields.push(i + 16, i + 20, i + 24, i + 28, i + 42);
      } else if (sig === ZIP_END && i + 22 <= b.length) {
        for (let k = 4; k < 22; k++) points.push(i + k);
        fields.push(i + 8, i + 12, i + 16);
      }
    }
  } else {
    scanPickles(b, 0, b.length, points, fields);
  }
  return { points, fields };
}

// Argument sizes of the pickle opcodes: a number of bytes, 'lenN' (an N-byte length then that many bytes), 'line' or 'lines2'.
const ARGS: Record<number, number | 'len1' | 'len4' | 'len8' | 'line' | 'lines2'> = {
  0x4b: 1, 0x68: 1, 0x71: 1, 0x80: 1, 0x82: 1, 0x4d: 2, 0x83: 2, 0x4a: 4, 0x6a: 4, 0x72: 4, 0x84: 4, 0x47: 8, 0x95: 8,
  0x55: 'len1', 0x43: 'len1', 0x8c: 'len1', 0x8a: 'len1', 0x54: 'len4', 0x42: 'len4', 0x58: 'len4', 0x8b: 'len4',
  0x8e: 'len8', 0x8d: 'len8', 0x96: 'len8', 0x49: 'line', 0x4c: 'line', 0x46: 'line', 0x53: 'line', 0x56: 'line', 0x50: 'line',
  0x67: 'line', 0x70: 'line', 0x63: 'lines2', 0x69: 'lines2',
};

/** Walk the pickles in [from, to): every opcode is a point, every length a field; payloads are skipped. */
function scanPickles(b: Uint8Array, from: number, to: number, points: number[], fields: number[]): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let i = from;
  while (i < to) {
    const op = b[i];
    points.push(i);
    i++;
    const a = ARGS[op];
    if (a === undefined) continue;
    if (typeof a === 'number') i += a;
    else if (a === 'line' || a === 'lines2') {
      for (let k = a === 'line' ? 1 : 2; k > 0 && i < to; k--) {
        const nl = b.indexOf(0x0a, i);
        i = nl < 0 ? to : nl + 1;
      }
    } else {
      const w = a === 'len1' ? 1 : a === 'len4' ? 4 : 8;
      if (i + w > to) break;
      if (w === 4) fields.push(i);
      const n = w === 1 ? b[i] : w === 4 ? dv.getUint32(i, true) : Number(dv.getBigUint64(i, true));
      i += w + n;
    }
  }
}

const EDGE32 = [0, 1, 0x7f, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const EDGE8 = [0, 1, 0x2e, 0x7f, 0x80, 0xff];
const EDGE_NUMBERS = ['0', '-1', '1', '3', '1.5', '1e308', '2147483648', '4294967296', '9007199254740993', '100000000', '3221225472', '-0'];

/** One mutated copy of `seed`: 1-3 operators, half of them at structure. */
export function mutate(seed: Uint8Array, s: Structure, caseSeed: number): { bytes: Uint8Array; ops: string[] } {
  const r = rng(caseSeed);
  const int = (n: number) => Math.floor(r() * n);
  let b = Buffer.from(seed);
  const ops: string[] = [];
  const at = (): number => {
    if (r() < 0.5 && s.points.length) return s.points[int(s.points.length)];
    return int(b.length);
  };
  const count = 1 + int(3);
  for (let k = 0; k < count && b.length > 0; k++) {
    // in JSON text, a third of the operators replace a number with an edge value (a size, an offset, a dimension)
    if (s.numbers?.length && r() < 0.33) {
      const [a, e] = s.numbers[int(s.numbers.length)];
      if (e <= b.length) {
        const v = EDGE_NUMBERS[int(EDGE_NUMBERS.length)];
        b = Buffer.concat([b.subarray(0, a), Buffer.from(v), b.subarray(e)]);
        ops.push(`number ${a}=${v}`);
        continue;
      }
    }
    const kind = int(9);
    const p = Math.min(at(), b.length - 1);
    switch (kind) {
      case 0: case 1: { // bit flip
        const bit = int(8);
        b[p] ^= 1 << bit;
        ops.push(`flip ${p}:${bit}`);
        break;
      }
      case 2: { // edge byte
        b[p] = r() < 0.7 ? EDGE8[int(EDGE8.length)] : int(256);
        ops.push(`byte ${p}=${b[p]}`);
        break;
      }
      case 3: { // edge 32-bit field
        const f = s.fields.length && r() < 0.8 ? s.fields[int(s.fields.length)] : int(Math.max(1, b.length - 4));
        if (f + 4 <= b.length) {
          const v = r() < 0.8 ? EDGE32[int(EDGE32.length)] : (b.readUInt32LE(f) + (int(3) - 1) * (1 + int(64))) >>> 0;
          b.writeUInt32LE(v >>> 0, f);
          ops.push(`u32 ${f}=${v >>> 0}`);
        }
        break;
      }
      case 4: { // truncation
        const n = r() < 0.5 ? p : int(b.length);
        b = b.subarray(0, n);
        ops.push(`truncate ${n}`);
        break;
      }
      case 5: { // delete a range
        const n = 1 + int(64);
        b = Buffer.concat([b.subarray(0, p), b.subarray(Math.min(b.length, p + n))]);
        ops.push(`delete ${p}+${n}`);
        break;
      }
      case 6: { // duplicate a range somewhere else (splice)
        const src = at();
        const n = 1 + int(256);
        const piece = Buffer.from(b.subarray(src, Math.min(b.length, src + n)));
        b = Buffer.concat([b.subarray(0, p), piece, b.subarray(p)]);
        ops.push(`splice ${src}+${piece.length}@${p}`);
        break;
      }
      case 7: { // insert random bytes
        const n = 1 + int(16);
        const piece = Buffer.alloc(n);
        for (let i = 0; i < n; i++) piece[i] = int(256);
        b = Buffer.concat([b.subarray(0, p), piece, b.subarray(p)]);
        ops.push(`insert ${n}@${p}`);
        break;
      }
      default: { // another pickle opcode where an opcode was
        const opcodes = [0x28, 0x29, 0x2e, 0x30, 0x31, 0x32, 0x42, 0x4a, 0x4b, 0x4e, 0x52, 0x58, 0x5d, 0x61, 0x62, 0x65, 0x68, 0x6a, 0x71, 0x72, 0x73, 0x74, 0x75, 0x7d, 0x81, 0x85, 0x86, 0x87, 0x88, 0x8a, 0x8b, 0x8c, 0x8e, 0x93, 0x94, 0x95, 0x96, 0x51, 0x63];
        const q = s.points.length ? s.points[int(s.points.length)] : p;
        if (q < b.length) {
          b[q] = opcodes[int(opcodes.length)];
          ops.push(`opcode ${q}=${b[q].toString(16)}`);
        }
      }
    }
  }
  return { bytes: b, ops };
}
