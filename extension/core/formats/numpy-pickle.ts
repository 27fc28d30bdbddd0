/**
 * The numpy part of the allow-list: numpy arrays pickled by numpy 1.x (`numpy.core`) or 2.x
 * (`numpy._core`) become NdArrays (arrays.ts: shape checked, values read on demand), numpy
 * scalars become numbers. NumpyDType also serves .npy headers and TensorRT tool outputs.
 */
import { LabError } from '../errors';
import { DType, DTYPE_SIZE } from '../tensor';
import { bytesToTensor, NdArray } from './arrays';
import { LazyBytes } from './byte-source';
import { toInt } from './pickle-decode';
import { FINALIZE, SET_STATE, shortRepr, typeName, type CallContext, type Finalizable, type PyCallable, type Stateful } from './pickle-values';

const NUMPY_KINDS: Record<string, DType> = {
  f4: 'float32', f2: 'float16', f8: 'float64', i8: 'int64', i4: 'int32', i2: 'int16', i1: 'int8', u1: 'uint8', b1: 'bool',
};

/** numpy.dtype('f4', False, True) followed by BUILD (version, byteorder, ...). */
export class NumpyDType implements Stateful {
  byteorder: string;
  private fields: unknown = null;
  constructor(readonly code: string) {
    const m = /^([<>|=]?)(.*)$/.exec(code) as RegExpExecArray;
    this.byteorder = m[1] || '=';
  }
  get kind(): string {
    return this.code.replace(/^[<>|=]/, '');
  }
  [SET_STATE](state: unknown): void {
    if (!Array.isArray(state) || state.length < 2 || typeof state[1] !== 'string') {
      throw new LabError('BAD_PICKLE', `unexpected numpy dtype state for ${this.code}`);
    }
    this.byteorder = state[1];
    this.fields = state[4] ?? null;
  }
  /** The lab dtype; refuses big-endian, structured and object dtypes with a clear error. */
  toDType(): DType {
    if (this.fields !== null) throw new LabError('UNSUPPORTED_DTYPE', `structured numpy dtype ${this.code} is not supported`);
    const dtype = NUMPY_KINDS[this.kind];
    if (!dtype) throw new LabError('UNSUPPORTED_DTYPE', `numpy dtype '${this.kind}' is not supported (supported: ${Object.keys(NUMPY_KINDS).join(', ')})`);
    if (this.byteorder === '>' && DTYPE_SIZE[dtype] > 1) {
      throw new LabError('UNSUPPORTED_DTYPE', `big-endian numpy array (dtype >${this.kind}) is not supported; save it little-endian (arr.astype('<${this.kind}'))`);
    }
    return dtype;
  }
}

const NDARRAY_TYPE = Object.freeze({ pythonClass: 'numpy.ndarray' });


/** numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') followed by BUILD (version, shape, dtype, is_fortran, rawdata). */
class NumpyArrayBuilder implements Stateful, Finalizable {
  private array: NdArray | null = null;
  [SET_STATE](state: unknown, ctx?: CallContext): void {
    if (!Array.isArray(state) || (state.length !== 5 && state.length !== 4)) throw new LabError('BAD_PICKLE', 'unexpected numpy array state');
    const [shape, dtype, fortran, raw] = state.length === 5 ? state.slice(1) : state;
    if (!(dtype instanceof NumpyDType)) throw new LabError('BAD_PICKLE', `numpy array state holds a ${typeName(dtype)} instead of a dtype`);
    const dims = checkShape(shape);
    const dt = dtype.toDType();
    if (!(raw instanceof Uint8Array) && !(raw instanceof LazyBytes) && typeof raw !== 'string') {
      throw new LabError('UNSUPPORTED_DTYPE', `numpy array of dtype ${dtype.kind} holds Python objects, which are not supported`);
    }
    if (typeof raw === 'string') ctx?.charge(raw.length);
    this.array = new NdArray(dt, dims, fortran ? 'F' : 'C', typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw);
  }
  [FINALIZE](): NdArray {
    if (!this.array) throw new LabError('BAD_PICKLE', 'a numpy array was reconstructed but never given its data');
    return this.array;
  }
}

/** numpy allows at most 64 dimensions. */
const MAX_NDIM = 64;

function checkShape(shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.length > MAX_NDIM || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new LabError('BAD_PICKLE', `invalid array shape ${shortRepr(shape)}`);
  }
  return shape as number[];
}

const reconstruct: PyCallable = (args) => {
  if (args[0] !== NDARRAY_TYPE) throw new LabError('BAD_PICKLE', `numpy _reconstruct of ${typeName(args[0])} (only numpy.ndarray is supported)`);
  return new NumpyArrayBuilder();
};
/** numpy.core.numeric._frombuffer(buffer, dtype, shape, order) — protocol 5 arrays. */
const frombuffer: PyCallable = (args) => {
  const [buf, dtype, shape, order] = args;
  if (!(buf instanceof Uint8Array) && !(buf instanceof LazyBytes)) throw new LabError('BAD_PICKLE', `numpy _frombuffer of a ${typeName(buf)}`);
  if (!(dtype instanceof NumpyDType)) throw new LabError('BAD_PICKLE', `numpy _frombuffer with a ${typeName(dtype)} instead of a dtype`);
  return new NdArray(dtype.toDType(), checkShape(shape), order === 'F' ? 'F' : 'C', buf);
};
/** numpy.core.multiarray.scalar(dtype, bytes) — numpy scalars such as np.float64(0.5) -> number. */
const scalar: PyCallable = (args) => {
  const [dtype, raw] = args;
  if (!(dtype instanceof NumpyDType)) throw new LabError('BAD_PICKLE', `numpy scalar with a ${typeName(dtype)} instead of a dtype`);
  const bytes = typeof raw === 'string' ? Buffer.from(raw.slice(0, 16), 'latin1') : raw;
  if (!(bytes instanceof Uint8Array)) throw new LabError('UNSUPPORTED_DTYPE', `numpy scalar of dtype ${dtype.kind} is not supported`);
  const t = bytesToTensor(dtype.toDType(), bytes, []);
  const v = t.data[0];
  if (typeof v === 'bigint') return toInt(v);
  if (t.dtype === 'bool') return v !== 0;
  return t.dtype === 'float16' || t.dtype === 'bfloat16' ? t.toFloat32()[0] : v;
};
const makeDType: PyCallable = (args) => {
  if (typeof args[0] !== 'string') throw new LabError('BAD_PICKLE', `numpy.dtype of a ${typeName(args[0])}`);
  return new NumpyDType(args[0]);
};

/** numpy arrays become NdArrays (read on demand). Both the numpy 1.x (`numpy.core`) and 2.x (`numpy._core`) module paths. */
export const NUMPY_GLOBALS: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ['numpy.ndarray', NDARRAY_TYPE],
  ['numpy.dtype', makeDType],
  ['numpy.core.multiarray._reconstruct', reconstruct],
  ['numpy._core.multiarray._reconstruct', reconstruct],
  ['numpy.core.numeric._frombuffer', frombuffer],
  ['numpy._core.numeric._frombuffer', frombuffer],
  ['numpy.core.multiarray.scalar', scalar],
  ['numpy._core.multiarray.scalar', scalar],
]);
