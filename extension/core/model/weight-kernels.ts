/**
 * One pass over a weight as it is read: its float32 values in the graph's layout (transposed for
 * MatMul or as read), the 16-bit form a run will want (fp16 or bf16 bits, or float32 rounded to
 * fp16 / bf16 for the CPU emulation), and whether any value is NaN or infinite — fused, so that each
 * value is loaded once instead of once per step (finite check, transpose, conversion: three passes
 * over 121 M values at full size before). Pure functions on typed arrays, used on the main thread
 * and by the store's worker threads (lab-worker.ts) alike; bit for bit the results of
 * findNonFinite, transpose2d, roundToHalfInPlace, float32ToHalfArray and float32ToBfloat16Array
 * (test/unit/store.test.ts checks every kind, layout and special value).
 *
 * Everything works on the float32 bit patterns (Int32Array views): V8 keeps them in integer
 * registers, and the fp16 rounding is integer adds (see tensor.ts). A value is not finite when its
 * exponent bits are all ones: `((x >>> 23) & 0xff) + 1 >>> 8` is 1 for those and 0 otherwise, OR-ed
 * into one flag without a branch.
 */

/** The 16-bit forms a kernel can write next to the float32 values (weight-store's StoredKind less 'f32'). */
export type SixteenKind = 'f16' | 'bf16' | 'f32.f16' | 'f32.bf16';

const F16_MIN_NORMAL_BITS = 0x38800000; // 2^-14
const F16_OVERFLOW_BITS = 0x477ff000; // 65520: rounds to infinity in fp16
const F32_INF_BITS = 0x7f800000;
const F16_NORMAL_SPAN = F16_OVERFLOW_BITS - F16_MIN_NORMAL_BITS;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 bits -> the bits of the same value rounded to the nearest fp16 (as float32); roundToHalfInPlace's rule. */
function roundF16(x: number): number {
  const ax = x & 0x7fffffff;
  if (((ax - F16_MIN_NORMAL_BITS) >>> 0) < F16_NORMAL_SPAN) return (x & 0x80000000) | ((ax + 0xfff + ((ax >> 13) & 1)) & 0x7fffe000);
  if (ax >= F16_OVERFLOW_BITS) return ax > F32_INF_BITS ? x | 0x400000 : (x & 0x80000000) | F32_INF_BITS;
  u32[0] = ax;
  f32[0] = Math.fround(f32[0] + 0.5) - 0.5; // a subnormal half: a multiple of 2^-24, exact
  return (x & 0x80000000) | u32[0];
}

/** float32 bits -> IEEE half bits; float32ToHalfArray's rule. */
function halfBits(x: number): number {
  const a = x & 0x7fffffff;
  if (((a - F16_MIN_NORMAL_BITS) >>> 0) < F16_NORMAL_SPAN) return ((x >> 16) & 0x8000) | ((a - 0x37fff001 + ((a >> 13) & 1)) >> 13);
  if (a >= F16_OVERFLOW_BITS) return ((x >> 16) & 0x8000) | (a > F32_INF_BITS ? 0x7e00 : 0x7c00);
  u32[0] = a;
  f32[0] += 0.5;
  return ((x >> 16) & 0x8000) | (u32[0] - 0x3f000000);
}

/** float32 bits -> bfloat16 bits; float32ToBfloat16Array's rule. */
function bf16Bits(x: number): number {
  return (x & 0x7fffffff) > F32_INF_BITS ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >> 16) & 1)) >>> 16;
}

/** float32 bits -> float32 rounded to bfloat16 (as float32); roundToHalfInPlace's 'bf16' rule. */
function roundBf16(x: number): number {
  return (x & 0x7fffffff) > F32_INF_BITS ? x | 0x400000 : ((x + 0x7fff + ((x >> 16) & 1)) >>> 16) << 16;
}

function i32(a: Float32Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length);
}

/** Where a kernel writes: the 16-bit form's array for `kind` (Uint16Array for bits, Float32Array for rounded values). */
export function outputFor(kind: SixteenKind, n: number): Uint16Array | Float32Array {
  return kind === 'f16' || kind === 'bf16' ? new Uint16Array(n) : new Float32Array(n);
}

/** Whether any value of `a` is NaN or infinite: one integer pass, no branch. */
export function anyNonFinite(a: Float32Array): boolean {
  const x = i32(a);
  let bad = 0;
  for (let i = 0; i < x.length; i++) bad |= (((x[i] >>> 23) & 0xff) + 1) >>> 8;
  return bad !== 0;
}

/**
 * `a` (as read) -> `out` in `kind` (same layout), in one pass; returns whether any value is not
 * finite. With kind undefined it only checks.
 */
export function convertChecked(a: Float32Array, kind: SixteenKind | undefined, out?: Uint16Array | Float32Array): boolean {
  if (!kind) return anyNonFinite(a);
  const x = i32(a);
  const n = x.length;
  if (!out || out.length < n) throw new RangeError(`convertChecked: an output of ${n} values is needed`);
  let bad = 0;
  if (kind === 'f32.f16' || kind === 'f32.bf16') {
    const o = i32(out as Float32Array);
    if (kind === 'f32.f16') {
      for (let i = 0; i < n; i++) {
        const v = x[i];
        bad |= (((v >>> 23) & 0xff) + 1) >>> 8;
        o[i] = roundF16(v);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const v = x[i];
        bad |= (((v >>> 23) & 0xff) + 1) >>> 8;
        o[i] = roundBf16(v);
      }
    }
  } else {
    const o = out as Uint16Array;
    if (kind === 'f16') {
      for (let i = 0; i < n; i++) {
        const v = x[i];
        bad |= (((v >>> 23) & 0xff) + 1) >>> 8;
        o[i] = halfBits(v);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const v = x[i];
        bad |= (((v >>> 23) & 0xff) + 1) >>> 8;
        o[i] = bf16Bits(v);
      }
    }
  }
  return bad !== 0;
}

/**
 * (rows, cols) row-major `a` -> (cols, rows) `t` (transpose2d's loop: eight source rows at a time
 * over 256-column tiles, so that each column's eight values land in one run of the output while
 * those rows stay in cache), checking every value on the way; returns whether any is not finite.
 * The 16-bit form is then converted from `t` (convertChecked), which at full size is still in the
 * last-level cache (9.4 MB at most): one pass over the checkpoint's bytes instead of three.
 */
export function transposeChecked(a: Float32Array, rows: number, cols: number, t: Float32Array): boolean {
  const n = rows * cols;
  if (a.length !== n || t.length < n) throw new RangeError(`transposeChecked: ${a.length} values for ${rows} x ${cols}, output ${t.length}`);
  const x = i32(a);
  const y = i32(t);
  let bad = 0;
  const R = rows - (rows % 8);
  for (let c0 = 0; c0 < cols; c0 += 256) {
    const c1 = Math.min(cols, c0 + 256);
    for (let r = 0; r < R; r += 8) {
      const s0 = r * cols;
      for (let c = c0; c < c1; c++) {
        const o = c * rows + r;
        let s = s0 + c;
        let v = x[s];
        y[o] = v;
        bad |= (((v >>> 23) & 0xff) + 1) >>> 8;
        s += cols;
        v = x[s];
        y[o + 1] = v;
        bad |= (((v >>> 23) & 0xff) + 1) >>> 8;
        s += cols;
        v = x[s];
        y[o + 2] = v;
        bad |= (((v >>> 23) & 0xff) + 1) >>> 8;
        s += cols;
        v = x[s];
        y[o + 3] = v;
        bad |= (((v >>> 23) & 0xff) + 1) >>> 8;
        s += cols;
        v = x[s];
        y[o + 4] = v;
        bad |= (((v >>> 23) & 0xff) + 1) >>> 8;
        s += cols;
        v = x[s];
        y[o + 5] = v;
        bad |= (((v >>> 23) & 0xff) + 1) >>> 8;
        s += cols;
        v = x[s];
        y[o + 6] = v;
        bad |= (((v >>> 23) & 0xff) + 1) >>> 8;
        s += cols;
        v = x[s];
        y[o + 7] = v;
        bad |= (((v >>> 23) & 0xff) + 1) >>> 8;
      }
    }
  }
  for (let r = R; r < rows; r++) {
    const s = r * cols;
    for (let c = 0; c < cols; c++) {
      const v = x[s + c];
      bad |= (((v >>> 23) & 0xff) + 1) >>> 8;
      y[c * rows + r] = v;
    }
  }
  return bad !== 0;
}

/** Reusable output arrays of prepareWeight (a worker keeps one set; grown as needed). */
export interface Scratch {
  f32?: Float32Array;
  f16?: Uint16Array;
  r32?: Float32Array;
}

/**
 * A weight as read (float32, checkpoint layout, `rows` x rest) -> the bytes of each form the store
 * writes: float32 in the graph's layout, then each 16-bit kind, in `kinds` order. With `scratch`
 * the outputs are its arrays (valid until the next call); without, fresh ones. `nonFinite`: any
 * value is NaN or infinite (the caller then looks for where, in the checkpoint's layout).
 */
export function prepareWeight(
  a: Float32Array, rows: number, transposed: boolean, kinds: readonly SixteenKind[], scratch?: Scratch,
): { forms: Uint8Array[]; nonFinite: boolean } {
  const n = a.length;
  let src = a;
  let bad = false;
  if (transposed) {
    const t = take(scratch, 'f32', n) as Float32Array;
    bad = transposeChecked(a, rows, n / rows, t);
    src = t;
  } else if (!kinds.length) {
    bad = anyNonFinite(a);
  }
  const forms = [u8(src)];
  kinds.forEach((kind, i) => {
    // two 16-bit forms of one weight (never asked for together by the pipeline) need two arrays
    const out = i === 0 ? take(scratch, kind === 'f16' || kind === 'bf16' ? 'f16' : 'r32', n) : outputFor(kind, n);
    const view = out.length === n ? out : out.subarray(0, n);
    const b = convertChecked(src, kind, view);
    if (!transposed && i === 0) bad = b;
    forms.push(u8(view));
  });
  return { forms, nonFinite: bad };
}

function take(scratch: Scratch | undefined, k: keyof Scratch, n: number): Float32Array | Uint16Array {
  if (!scratch) return k === 'f16' ? new Uint16Array(n) : new Float32Array(n);
  const have = scratch[k];
  if (have && have.length >= n) return have.subarray(0, n);
  const fresh = k === 'f16' ? new Uint16Array(n) : new Float32Array(n);
  (scratch as Record<string, Float32Array | Uint16Array>)[k] = fresh;
  return fresh;
}

function u8(a: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
