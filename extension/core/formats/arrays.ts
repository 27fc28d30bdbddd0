/**
 * Arrays as raw little-endian bytes, shared by every reader (pickle's numpy arrays, torch
 * storages, safetensors, .npy, TensorRT tool outputs): typed views, strided gathers, and NdArray,
 * a numpy array whose values stay in the file until it is loaded.
 */
import { LabError } from '../errors';
import { DType, DTYPE_SIZE, Tensor, TypedArrayOf, checkedNumel, numel } from '../tensor';
import { LazyBytes, type PyBytes } from './byte-source';

const VIEWS: { [K in DType]: (buf: ArrayBuffer, offset: number, length: number) => TypedArrayOf<K> } = {
  float32: (x, o, n) => new Float32Array(x, o, n),
  float64: (x, o, n) => new Float64Array(x, o, n),
  float16: (x, o, n) => new Uint16Array(x, o, n),
  bfloat16: (x, o, n) => new Uint16Array(x, o, n),
  int64: (x, o, n) => new BigInt64Array(x, o, n),
  int32: (x, o, n) => new Int32Array(x, o, n),
  int16: (x, o, n) => new Int16Array(x, o, n),
  int8: (x, o, n) => new Int8Array(x, o, n),
  uint8: (x, o, n) => new Uint8Array(x, o, n),
  bool: (x, o, n) => new Uint8Array(x, o, n),
};

/**
 * View bytes as `dtype` without copying when they are aligned for it (a buffer the reader just
 * allocated), copying them into a fresh buffer otherwise. The result may share memory with
 * `bytes`: pass only bytes nobody else holds. Little-endian host assumed.
 */
export function viewAs<T extends DType>(dtype: T, bytes: Uint8Array): TypedArrayOf<T> {
  const size = DTYPE_SIZE[dtype];
  if (bytes.byteLength % size) throw new LabError('BAD_TENSOR', `${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  let b = bytes;
  if (b.byteOffset % size !== 0 || b.buffer instanceof SharedArrayBuffer) b = new Uint8Array(b);
  return (VIEWS[dtype] as (buf: ArrayBuffer, o: number, n: number) => TypedArrayOf<T>)(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength / size);
}

/** Copy bytes into a fresh, aligned buffer and view them as `dtype` (little-endian host assumed). */
export function typedArrayFromBytes<T extends DType>(dtype: T, bytes: Uint8Array): TypedArrayOf<T> {
  return viewAs(dtype, new Uint8Array(bytes));
}

/** Row-major (C-contiguous) strides of a shape, in elements. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/**
 * Gather a strided view into a contiguous row-major byte array. `offset` and `strides` are in
 * elements of `elementSize` bytes, relative to the start of `src`.
 */
export function gatherStrided(src: Uint8Array, elementSize: number, shape: readonly number[], strides: readonly number[], offset: number): Uint8Array {
  const n = numel(shape);
  const out = new Uint8Array(n * elementSize);
  if (n === 0) return out;
  const nd = shape.length;
  if (nd === 0) {
    out.set(src.subarray(offset * elementSize, (offset + 1) * elementSize));
    return out;
  }
  const inner = shape[nd - 1];
  const innerStride = strides[nd - 1];
  const idx = new Array<number>(nd).fill(0);
  let base = offset;
  let o = 0;
  for (let row = 0, rows = n / inner; row < rows; row++) {
    if (innerStride === 1) {
      out.set(src.subarray(base * elementSize, (base + inner) * elementSize), o);
      o += inner * elementSize;
    } else {
      for (let j = 0; j < inner; j++) {
        const s = (base + j * innerStride) * elementSize;
        for (let b = 0; b < elementSize; b++) out[o++] = src[s + b];
      }
    }
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      base += strides[d];
      if (idx[d] < shape[d]) break;
      base -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

/** Build a Tensor from raw little-endian bytes in C or Fortran order. */
export function bytesToTensor<T extends DType>(dtype: T, bytes: Uint8Array, shape: readonly number[], order: 'C' | 'F' = 'C'): Tensor<T> {
  const size = DTYPE_SIZE[dtype];
  const n = numel(shape);
  if (bytes.byteLength !== n * size) {
    throw new LabError('BAD_TENSOR', `a ${dtype} array of shape [${shape.join(', ')}] needs ${n * size} bytes, got ${bytes.byteLength}`);
  }
  let data = bytes;
  if (order === 'F' && shape.length > 1) {
    const strides = contiguousStrides([...shape].reverse()).reverse();
    data = gatherStrided(bytes, size, shape, strides, 0);
  }
  return new Tensor(dtype, shape, typedArrayFromBytes(dtype, data));
}

/**
 * A numpy array as read from a pickle: dtype, shape, order and where its bytes are. The byte count
 * is checked against the shape when it is made, without allocating; the values are read by `load()`
 * once the reader has decided it wants them (test data: after its shapes agree with the model).
 */
export class NdArray {
  readonly numel: number;
  constructor(readonly dtype: DType, readonly shape: readonly number[], readonly order: 'C' | 'F', private readonly data: PyBytes) {
    this.numel = checkedNumel(shape, 'a numpy array');
    const need = this.numel * DTYPE_SIZE[dtype];
    if (data.length !== need) {
      throw new LabError('BAD_TENSOR', `a ${dtype} array of shape [${shape.join(', ')}] needs ${need} bytes, got ${data.length}`);
    }
  }
  get byteLength(): number {
    return this.data.length;
  }
  /** The values, in C order, in a buffer of their own. */
  load(): Tensor {
    const size = DTYPE_SIZE[this.dtype];
    let bytes = this.data instanceof LazyBytes ? this.data.bytes() : new Uint8Array(this.data);
    if (this.order === 'F' && this.shape.length > 1) {
      bytes = gatherStrided(bytes, size, this.shape, contiguousStrides([...this.shape].reverse()).reverse(), 0);
    }
    return new Tensor(this.dtype, this.shape, viewAs(this.dtype, bytes));
  }
}
