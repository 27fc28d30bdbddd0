import { LabError } from './errors';

/** The dtypes the lab reads. One map from dtype to typed array, as onnxruntime's js/common does. */
export type DType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export interface DataTypeMap {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array; // raw IEEE half bits
  bfloat16: Uint16Array; // raw bfloat16 bits
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}
export type TypedArrayOf<T extends DType> = DataTypeMap[T];
export type AnyTypedArray = DataTypeMap[DType];

export const DTYPE_SIZE: Record<DType, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * The element count of a shape read from a file: every dimension a non-negative integer and the
 * product exactly representable (a shape like [2^40, 2^40] is refused instead of rounding).
 * Throws BAD_TENSOR naming `what`.
 */
export function checkedNumel(shape: readonly unknown[], what: string): number {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new LabError('BAD_TENSOR', `${what} has an invalid dimension ${typeof d === 'number' || typeof d === 'bigint' ? String(d) : `of type ${typeof d}`}`);
    }
    n *= d;
    if (!Number.isSafeInteger(n)) throw new LabError('BAD_TENSOR', `${what} declares more than 2^53 elements (shape [${shape.slice(0, 8).map(String).join(', ')}${shape.length > 8 ? ', ...' : ''}])`);
  }
  return n;
}

/** A flat (row-major) index as coordinates in `shape`. */
export function unravelIndex(index: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    out[i] = shape[i] ? index % shape[i] : 0;
    index = shape[i] ? Math.floor(index / shape[i]) : 0;
  }
  return out;
}

/** Where a float32 array holds NaN or ±infinity: the first index, its value and how many there are; null when all are finite. */
export function findNonFinite(a: Float32Array): { index: number; value: number; count: number } | null {
  // x * 0 is 0 for every finite x and NaN for NaN and ±infinity, and NaN sticks in a sum: one
  // branch-free pass over the data (memory-bound: ~0.2 s for a full-size model's 486 MB), and a
  // second one only when something is wrong.
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc += a[i] * 0;
  if (acc === 0) return null;
  let first = -1;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] - a[i] !== 0) {
      if (first < 0) first = i;
      count++;
    }
  }
  return first < 0 ? null : { index: first, value: a[first], count };
}

/** A dense, contiguous, row-major tensor. The size is checked against the shape at construction. */
export class Tensor<T extends DType = DType> {
  readonly dtype: T;
  readonly shape: readonly number[];
  readonly data: TypedArrayOf<T>;
  constructor(dtype: T, shape: readonly number[], data: TypedArrayOf<T>) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new LabError('BAD_TENSOR', `invalid shape [${shape.join(', ')}]`);
    }
    const n = numel(shape);
    if (data.length !== n) {
      throw new LabError('BAD_TENSOR', `a ${dtype} tensor of shape [${shape.join(', ')}] needs ${n} elements, got ${data.length}`);
    }
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.data = data;
  }
  get size(): number {
    return this.data.length;
  }
  /** Values as float32 (converting half, bfloat16, float64 and integers). */
  toFloat32(): Float32Array {
    return toFloat32Array(this.dtype, this.data);
  }
  asFloat32(): Tensor<'float32'> {
    return this.dtype === 'float32' ? (this as unknown as Tensor<'float32'>) : new Tensor('float32', this.shape, this.toFloat32());
  }
}

export function toFloat32Array(dtype: DType, data: AnyTypedArray): Float32Array {
  switch (dtype) {
    case 'float32':
      return data as Float32Array;
    case 'float16':
      return halfBitsToFloat32(data as Uint16Array);
    case 'bfloat16':
      return bfloat16BitsToFloat32(data as Uint16Array);
    case 'int64': {
      const src = data as BigInt64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
      return out;
    }
    default:
      return Float32Array.from(data as ArrayLike<number>);
  }
}

// ---- fp16 / bf16 conversions (round to nearest even, as hardware does) ----

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Float32 -> IEEE half bits, round-to-nearest-even, overflow to inf, gradual underflow. */
export function float32ToHalfBits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow to zero
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++; // may carry into exponent: correct (rounds to inf)
  return sign | half;
}

export function halfBitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

let halfTable: Float32Array | undefined;

/** IEEE half bits -> float32, through a 65536-entry table (exact: every half is a float32). */
export function halfBitsToFloat32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfBitsToFloat(h);
  }
  const t = halfTable;
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

// The array conversions below work on the float32 bit patterns (an Int32Array view of the same
// memory, which V8 keeps in small-integer registers): integer adds do the round-to-nearest-even, so
// 121 M weights convert in well under a second instead of calling a per-value function (the tests
// check them bit for bit against the scalar float32ToHalfBits / halfBitsToFloat above). Subnormal
// halves (|x| < 2^-14) are rare in weights and take a slower path: x + 0.5 rounded once to float32
// puts the half's 10 mantissa bits at the bottom (the "magic number" conversion).
// Measured against @petamoriken/float16 3.9.3 (Float16Array from a Float32Array, f16round per value)
// on 20 M weights here: 2-3x faster, identical bits; so no dependency for this.

const F16_MIN_NORMAL_BITS = 0x38800000; // 2^-14 as float32 bits
const F16_OVERFLOW_BITS = 0x477ff000; // 65520: rounds to infinity in fp16
const F32_INF_BITS = 0x7f800000;
const F16_NORMAL_SPAN = F16_OVERFLOW_BITS - F16_MIN_NORMAL_BITS;

function int32View(a: Float32Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length);
}

/** Float32 -> IEEE half bits (round to nearest even, overflow to inf, gradual underflow), whole array. */
export function float32ToHalfArray(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const u = int32View(src);
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const x = u[i];
    const a = x & 0x7fffffff;
    // a normal half: rebias the exponent (127 -> 15) and round the 13 dropped bits to even
    if (((a - F16_MIN_NORMAL_BITS) >>> 0) < F16_NORMAL_SPAN) out[i] = ((x >> 16) & 0x8000) | ((a - 0x37fff001 + ((a >> 13) & 1)) >> 13);
    else out[i] = ((x >> 16) & 0x8000) | halfBitsOutsideNormal(a, src[i]);
  }
  return out;
}

function halfBitsOutsideNormal(a: number, v: number): number {
  if (a >= F16_OVERFLOW_BITS) return a > F32_INF_BITS ? 0x7e00 : 0x7c00;
  f32[0] = Math.abs(v) + 0.5; // exact in double, rounded once to float32
  return u32[0] - 0x3f000000;
}

/** Float32 -> bfloat16 bits (round to nearest even; NaN stays NaN), whole array. */
export function float32ToBfloat16Array(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const u = int32View(src);
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const x = u[i];
    out[i] = (x & 0x7fffffff) > F32_INF_BITS ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >> 16) & 1)) >>> 16;
  }
  return out;
}

export function bfloat16BitsToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const o32 = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) o32[i] = src[i] << 16;
  return out;
}

export function float32ToBfloat16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff)) return (x >>> 16) | 0x40;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/**
 * Round every value to the nearest fp16 (or bf16) value, kept as float32: what a Cast to the 16-bit
 * type and back gives. `out` may be `a` itself (in place, the default).
 */
export function roundToHalfInPlace(a: Float32Array, kind: 'fp16' | 'bf16' = 'fp16', out: Float32Array = a): Float32Array {
  if (out.length !== a.length) throw new RangeError(`roundToHalfInPlace: ${out.length} outputs for ${a.length} values`);
  const u = int32View(a);
  const o = int32View(out);
  const n = a.length;
  if (kind === 'bf16') {
    for (let i = 0; i < n; i++) {
      const x = u[i];
      o[i] = (x & 0x7fffffff) > F32_INF_BITS ? x | 0x400000 : ((x + 0x7fff + ((x >> 16) & 1)) >>> 16) << 16;
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    const x = u[i];
    const ax = x & 0x7fffffff;
    // a normal half: keep 10 mantissa bits, rounding the 13 dropped ones to even
    if (((ax - F16_MIN_NORMAL_BITS) >>> 0) < F16_NORMAL_SPAN) o[i] = (x & 0x80000000) | ((ax + 0xfff + ((ax >> 13) & 1)) & 0x7fffe000);
    else o[i] = roundedOutsideNormal(x, ax, a[i]);
  }
  return out;
}

/** fp16 rounding of a value that is not a normal half, as float32 bits: inf, NaN, subnormal or zero. */
function roundedOutsideNormal(x: number, ax: number, v: number): number {
  if (ax >= F16_OVERFLOW_BITS) return ax > F32_INF_BITS ? x | 0x400000 : (x & 0x80000000) | F32_INF_BITS;
  f32[0] = Math.fround(Math.abs(v) + 0.5) - 0.5; // a multiple of 2^-24, exact
  return (x & 0x80000000) | u32[0];
}

export const FP16_MAX = 65504;

/** FLT_MAX: |v| <= it is false exactly for inf and NaN (graphs test finiteness by comparison: the WebGPU EP has no IsInf/IsNaN). */
export const FLT_MAX = 3.4028234663852886e38;
