/**
 * The torch part of the pickle allow-list: storage and dtype markers, `_rebuild_tensor_v2` and
 * `_rebuild_parameter` (which describe a tensor, never read it), and the persistent ids that name
 * a storage. Deliberately absent: anything that would run code (nested torch.load, TorchScript).
 */
import { LabError } from '../errors';
import { DType, DTYPE_SIZE, checkedNumel } from '../tensor';
import { contiguousStrides } from './arrays';
import { BASE_GLOBALS } from './pickle-globals';
import { shortRepr, typeName, type PyCallable } from './pickle-values';

/** `torch.FloatStorage` etc.: an inert marker naming the element type. */
export class StorageType {
  constructor(readonly name: string, readonly dtype: DType | null) {}
}

const STORAGE_DTYPES: Record<string, DType | null> = {
  FloatStorage: 'float32', HalfStorage: 'float16', BFloat16Storage: 'bfloat16', DoubleStorage: 'float64',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8', ByteStorage: 'uint8', BoolStorage: 'bool',
  // Known to torch, not to the lab: reading them fails with UNSUPPORTED_DTYPE naming the type.
  ComplexFloatStorage: null, ComplexDoubleStorage: null, QInt8Storage: null, QUInt8Storage: null, QInt32Storage: null,
  QUInt4x2Storage: null, QUInt2x4Storage: null, UntypedStorage: null,
};

/** `torch.float32` etc. (appear in some metadata): inert markers. */
export class TorchDType {
  constructor(readonly dtype: DType | null, readonly name: string) {}
}
const TORCH_DTYPES: Record<string, DType | null> = {
  float32: 'float32', float: 'float32', float16: 'float16', half: 'float16', bfloat16: 'bfloat16', float64: 'float64', double: 'float64',
  int64: 'int64', long: 'int64', int32: 'int32', int: 'int32', int16: 'int16', short: 'int16', int8: 'int8', uint8: 'uint8', bool: 'bool',
};

/** A storage as referenced by a persistent id. Element counts and offsets are in elements of its dtype. */
export interface StorageRef {
  key: string;
  type: StorageType;
  dtype: DType;
  /** Elements in the root storage (what the file holds under this key). */
  numel: number;
  /** Legacy storage views: the part of the root storage this reference covers. */
  viewOffset: number;
  viewNumel: number;
}

/** What `_rebuild_tensor_v2` returns while parsing: a description, no data. */
export class TensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[], readonly numel: number) {}
}

/** numpy and PyTorch allow at most 64 dimensions. */
const MAX_NDIM = 64;

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.length > MAX_NDIM || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x))) {
    throw new LabError('BAD_WEIGHTS', `${what} is not a tuple of at most ${MAX_NDIM} integers: ${shortRepr(v)}`);
  }
  return v as number[];
}

const rebuildTensor: PyCallable = (args) => {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof Object) || !('key' in storage) || !('dtype' in storage)) {
    throw new LabError('BAD_WEIGHTS', `_rebuild_tensor got a ${typeName(storage)} instead of a storage`);
  }
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new LabError('BAD_WEIGHTS', `invalid tensor storage offset ${shortRepr(offset)}`);
  const shape = intList(size, 'tensor size');
  const strides = stride === undefined ? contiguousStrides(shape) : intList(stride, 'tensor stride');
  if (strides.length !== shape.length || shape.some((d) => d < 0)) throw new LabError('BAD_WEIGHTS', `tensor size [${shape}] and stride [${strides}] disagree`);
  if (strides.some((x) => x < 0)) throw new LabError('BAD_WEIGHTS', `tensor stride [${strides}] is negative, which PyTorch does not allow`);
  let n: number;
  try {
    n = checkedNumel(shape, `a tensor of size [${shape}]`);
  } catch (e) {
    throw new LabError('BAD_WEIGHTS', (e as LabError).detail);
  }
  return new TensorRef(storage as StorageRef, offset, shape, strides, n);
};

export const TORCH_GLOBALS: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ...BASE_GLOBALS,
  ['torch._utils._rebuild_tensor_v2', rebuildTensor],
  ['torch._utils._rebuild_tensor', rebuildTensor],
  // nn.Parameter(data, requires_grad, backward_hooks[, state]) -> its data
  ['torch._utils._rebuild_parameter', ((args) => args[0]) satisfies PyCallable],
  ['torch._utils._rebuild_parameter_with_state', ((args) => args[0]) satisfies PyCallable],
  ['torch.Size', ((args) => intList(args[0] ?? [], 'torch.Size')) satisfies PyCallable],
  ...Object.entries(STORAGE_DTYPES).map(([name, dtype]): [string, unknown] => [`torch.${name}`, new StorageType(`torch.${name}`, dtype)]),
  ...Object.entries(TORCH_DTYPES).map(([name, dtype]): [string, unknown] => [`torch.${name}`, new TorchDType(dtype, `torch.${name}`)]),
  // Deliberately absent: torch.storage._load_from_bytes (a nested torch.load), torch.jit / __torch__ classes.
]);

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** Parse a persistent id `('storage', storage_type, key, location, numel[, view_metadata])`. */
export function storageFromPid(pid: unknown, seen: Map<string, StorageRef>): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
    throw new LabError('BAD_WEIGHTS', `unexpected persistent id ${Array.isArray(pid) ? shortRepr(pid[0]) : typeName(pid)} (expected a storage)`);
  }
  const [, type, key, , count, view] = pid as unknown[];
  if (!(type instanceof StorageType)) throw new LabError('BAD_WEIGHTS', `storage type is a ${typeName(type)}`);
  if (type.dtype === null) throw new LabError('UNSUPPORTED_DTYPE', `storage type ${type.name} is not supported (supported: ${Object.keys(STORAGE_DTYPES).filter((k) => STORAGE_DTYPES[k]).join(', ')})`);
  if (typeof key !== 'string' || !isCount(count) || !Number.isSafeInteger(count * DTYPE_SIZE[type.dtype])) {
    throw new LabError('BAD_WEIGHTS', 'malformed storage reference');
  }
  const root = seen.get(key) ?? { key, type, dtype: type.dtype, numel: count, viewOffset: 0, viewNumel: count };
  seen.set(key, root);
  if (view === undefined || view === null) return root;
  // Legacy storage view: (view_key, offset, view_size), in elements of the root storage.
  if (!Array.isArray(view) || !isCount(view[1]) || !isCount(view[2]) || view[1] + view[2] > root.numel) {
    throw new LabError('BAD_WEIGHTS', `malformed storage view of storage ${key}`);
  }
  return { ...root, viewOffset: view[1], viewNumel: view[2] };
}
