/**
 * PyTorch checkpoints (`torch.save`), both formats, read lazily:
 * - zip (torch >= 1.6): `<archive>/data.pkl` + one entry per storage, `<archive>/data/<key>`;
 * - legacy (`_use_new_zipfile_serialization=False`): magic number, protocol 1001, sys_info, the
 *   main pickle, the list of storage keys, then each storage as int64 count + raw bytes.
 * Opening parses only the pickles; a tensor's bytes are read when its `load()` is called, and
 * only the bytes its view covers. Storages referenced only by the optimizer state are never read.
 */
import { promises as fsp } from 'fs';
import { LabError } from '../errors';
import { DType, DTYPE_SIZE, Tensor, numel } from '../tensor';
import {
  BASE_GLOBALS, PyCallable, PyObject, TruncatedPickleError,
  contiguousStrides, gatherStrided, typeName, typedArrayFromBytes, unpickleAt,
} from './pickle';
import { ZipArchive, openZip } from './zip';

export interface LazyTensor {
  name: string;
  dtype: DType;
  shape: number[];
  numel: number;
  load(): Promise<Tensor>;
}

export interface Checkpoint {
  path: string;
  format: 'zip' | 'legacy';
  /** The state dict (under `model_state`, `state_dict`, `model` or top level), keys exactly as stored e.g. 'model.blocks.0.attn.qkv.weight'. */
  stateDict: Map<string, LazyTensor>;
  /** Non-tensor top-level entries (epoch, cfg...) as plain JSON-able values; optimizer_state is summarized, never loaded. */
  meta: Record<string, unknown>;
  close(): Promise<void>;
}

// ---- the torch part of the allow-list ----

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

/** A storage as referenced by a persistent id. `viewOffset` (legacy storage views) is in elements of the root storage. */
interface StorageRef {
  key: string;
  type: StorageType;
  dtype: DType;
  /** Elements in the root storage. */
  numel: number;
  viewOffset: number;
}

/** What `_rebuild_tensor_v2` returns while parsing: a description, no data. */
class TensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x))) {
    throw new LabError('BAD_WEIGHTS', `${what} is not a tuple of integers`);
  }
  return v as number[];
}

const rebuildTensor: PyCallable = (args) => {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof Object) || !('key' in storage) || !('dtype' in storage)) {
    throw new LabError('BAD_WEIGHTS', `_rebuild_tensor got a ${typeName(storage)} instead of a storage`);
  }
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) throw new LabError('BAD_WEIGHTS', 'invalid tensor storage offset');
  const shape = intList(size, 'tensor size');
  const strides = stride === undefined ? contiguousStrides(shape) : intList(stride, 'tensor stride');
  if (strides.length !== shape.length || shape.some((d) => d < 0)) throw new LabError('BAD_WEIGHTS', `tensor size [${shape}] and stride [${strides}] disagree`);
  return new TensorRef(storage as StorageRef, offset, shape, strides);
};

const TORCH_GLOBALS: ReadonlyMap<string, unknown> = new Map<string, unknown>([
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

/** Parse a persistent id `('storage', storage_type, key, location, numel[, view_metadata])`. */
function storageFromPid(pid: unknown, seen: Map<string, StorageRef>): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
    throw new LabError('BAD_WEIGHTS', `unexpected persistent id ${Array.isArray(pid) ? `'${String(pid[0])}'` : typeName(pid)} (expected a storage)`);
  }
  const [, type, key, , count, view] = pid as unknown[];
  if (!(type instanceof StorageType)) throw new LabError('BAD_WEIGHTS', `storage type is a ${typeName(type)}`);
  if (type.dtype === null) throw new LabError('UNSUPPORTED_DTYPE', `storage type ${type.name} is not supported (supported: ${Object.keys(STORAGE_DTYPES).filter((k) => STORAGE_DTYPES[k]).join(', ')})`);
  if (typeof key !== 'string' || typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
    throw new LabError('BAD_WEIGHTS', 'malformed storage reference');
  }
  const root = seen.get(key) ?? { key, type, dtype: type.dtype, numel: count, viewOffset: 0 };
  seen.set(key, root);
  if (view === undefined || view === null) return root;
  // Legacy storage view: (view_key, offset, view_size), offset in elements of the root storage.
  if (!Array.isArray(view) || typeof view[1] !== 'number' || typeof view[2] !== 'number') throw new LabError('BAD_WEIGHTS', 'malformed storage view metadata');
  return { ...root, viewOffset: view[1], numel: count };
}

// ---- lazy tensors ----

/** Reads bytes [start, end) of a root storage. */
type StorageReader = (storage: StorageRef, start: number, end: number) => Promise<Uint8Array>;

function lazyTensor(path: string, name: string, ref: TensorRef, read: StorageReader): LazyTensor {
  const { storage, shape, stride } = ref;
  const dtype = storage.dtype;
  const size = DTYPE_SIZE[dtype];
  const n = numel(shape);
  const load = async (): Promise<Tensor> => {
    if (n === 0) return new Tensor(dtype, shape, typedArrayFromBytes(dtype, new Uint8Array(0)));
    // The storage elements this view touches: [lo, hi). Only those bytes are read.
    let lo = storage.viewOffset + ref.offset;
    let hi = lo + 1;
    shape.forEach((d, i) => {
      if (stride[i] >= 0) hi += (d - 1) * stride[i];
      else lo += (d - 1) * stride[i];
    });
    if (lo < 0 || hi > storage.numel) {
      throw new LabError('BAD_WEIGHTS', `tensor ${name} reaches storage elements ${lo}..${hi} but storage ${storage.key} holds ${storage.numel}`);
    }
    const bytes = await read(storage, lo * size, hi * size);
    const base = storage.viewOffset + ref.offset - lo;
    const contiguous = contiguousStrides(shape).every((s, i) => s === stride[i] || shape[i] === 1);
    const data = contiguous ? bytes.subarray(base * size, (base + n) * size) : gatherStrided(bytes, size, shape, stride, base);
    return new Tensor(dtype, shape, typedArrayFromBytes(dtype, data));
  };
  return {
    name,
    dtype,
    shape: [...shape],
    numel: n,
    async load(): Promise<Tensor> {
      try {
        return await load();
      } catch (e) {
        if (e instanceof LabError) throw e.withFile(path);
        throw new LabError('FILE_UNREADABLE', `cannot read tensor ${name} (${e instanceof Error ? e.message : String(e)})`, path, { cause: e });
      }
    },
  };
}

// ---- entry point ----

export async function readCheckpoint(path: string): Promise<Checkpoint> {
  const head = await readHead(path, 512);
  if (head.length === 0) throw new LabError('NOT_A_CHECKPOINT', 'the file is empty', path);
  if (head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5) && (head[3] === 4 || head[3] === 6)) return readZipCheckpoint(path);
  if (head[0] === 0x80 && isLegacyMagic(head, path)) return readLegacyCheckpoint(path);
  const what = head[0] === 0x80 ? `a Python pickle (protocol ${head[1]}) without PyTorch's magic number — test data or a plain pickle?` : describeBytes(head);
  throw new LabError('NOT_A_CHECKPOINT', `not a PyTorch checkpoint: the file is ${what} (expected a zip archive starting "PK\\x03\\x04" or a legacy torch.save pickle)`, path);
}

async function readHead(path: string, n: number): Promise<Uint8Array> {
  let fh: fsp.FileHandle | undefined;
  try {
    const st = await fsp.stat(path);
    if (!st.isFile()) throw new LabError('FILE_UNREADABLE', 'not a regular file (a directory?)', path);
    fh = await fsp.open(path, 'r');
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } catch (e) {
    throw fileError(e, path);
  } finally {
    await fh?.close();
  }
}

/** An error while opening or reading `path`, as a LabError naming it (ENOENT: FILE_NOT_FOUND). */
export function fileError(e: unknown, path: string): LabError {
  if (e instanceof LabError) return e.withFile(path);
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new LabError('FILE_NOT_FOUND', 'file not found', path, { cause: e });
  return new LabError('FILE_UNREADABLE', `cannot read the file (${code ?? (e instanceof Error ? e.message : String(e))})`, path, { cause: e });
}

/** Words for what a file that is not a checkpoint looks like. */
export function describeBytes(b: Uint8Array): string {
  const starts = (s: string) => Buffer.from(b.subarray(0, s.length)).toString('latin1') === s;
  if (starts('\x1f\x8b')) return 'gzip-compressed data';
  if (starts('\x93NUMPY')) return 'a NumPy .npy array';
  if (starts('\x89HDF')) return 'an HDF5 file';
  if (b.length >= 262 && Buffer.from(b.subarray(257, 262)).toString('latin1') === 'ustar') return 'a tar archive (a pre-1.0 torch.save format, not supported)';
  if (b.length > 9 && b[8] === 0x7b && b[9] === 0x22) return 'a safetensors file';
  const text = Buffer.from(b.subarray(0, 64)).toString('utf8');
  if (/^[\x09\x0a\x0d\x20-\x7e\u00a0-\uffff]*$/.test(text) && !text.includes('\ufffd')) {
    return `text starting ${JSON.stringify(text.slice(0, 40))}`;
  }
  return `binary data starting ${Buffer.from(b.subarray(0, 8)).toString('hex').replace(/(..)/g, '$1 ').trim()}`;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
const NO_GLOBALS: ReadonlyMap<string, unknown> = new Map();

function isLegacyMagic(head: Uint8Array, path: string): boolean {
  try {
    return unpickleAt(head, 0, { globals: NO_GLOBALS, file: path }).value === LEGACY_MAGIC;
  } catch {
    return false;
  }
}

// ---- zip format ----

async function readZipCheckpoint(path: string): Promise<Checkpoint> {
  const zip = await openZip(path);
  try {
    const pkl = [...zip.entries.keys()].filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl')).sort((a, b) => a.length - b.length)[0];
    if (!pkl) {
      const some = [...zip.entries.keys()].slice(0, 5).join(', ');
      throw new LabError('NOT_A_CHECKPOINT', `a zip archive without data.pkl, so not a PyTorch checkpoint (entries: ${some}${zip.entries.size > 5 ? ', ...' : ''})`, path);
    }
    const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
    if (zip.entries.has(`${prefix}byteorder`)) {
      const order = (await zip.read(`${prefix}byteorder`)).toString('latin1').trim();
      if (order !== 'little') throw new LabError('BAD_WEIGHTS', `the checkpoint is stored ${order}-endian; only little-endian checkpoints are supported`, path);
    }
    const storages = new Map<string, StorageRef>();
    const { value } = unpickleAt(await zip.read(pkl), 0, {
      globals: TORCH_GLOBALS,
      persistentLoad: (pid) => storageFromPid(pid, storages),
      file: path,
    });
    const read: StorageReader = async (storage, start, end) => {
      const name = `${prefix}data/${storage.key}`;
      const entry = zip.entries.get(name);
      if (!entry) throw new LabError('BAD_WEIGHTS', `storage ${storage.key} is missing (no entry ${name})`, path);
      if (entry.size < end) throw new LabError('BAD_WEIGHTS', `storage entry ${name} holds ${entry.size} bytes, ${end} are needed`, path);
      return zip.read(name, { start, end });
    };
    return assemble(path, 'zip', value, read, () => zip.close());
  } catch (e) {
    await zip.close();
    throw e instanceof LabError ? e.withFile(path) : e;
  }
}

// ---- legacy format ----

interface LegacyLayout {
  value: unknown;
  storages: Map<string, StorageRef>;
  /** key -> file offset of the storage's first byte. */
  offsets: Map<string, number>;
}

async function readLegacyCheckpoint(path: string): Promise<Checkpoint> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, 'r');
  } catch (e) {
    throw fileError(e, path);
  }
  try {
    const layout = await readLegacyLayout(fh, path);
    const read: StorageReader = async (storage, start, end) => {
      const at = layout.offsets.get(storage.key);
      if (at === undefined) throw new LabError('BAD_WEIGHTS', `storage ${storage.key} is not in the file's storage list`, path);
      const buf = Buffer.alloc(end - start);
      const { bytesRead } = await fh.read(buf, 0, buf.length, at + start);
      if (bytesRead !== buf.length) throw new LabError('BAD_WEIGHTS', `storage ${storage.key} is cut short: the file is truncated`, path);
      return buf;
    };
    return assemble(path, 'legacy', layout.value, read, () => fh.close());
  } catch (e) {
    await fh.close();
    throw e instanceof LabError ? e.withFile(path) : fileError(e, path);
  }
}

/** Parse the five pickles at the head of the file (reading more of it until they fit), then walk the storage records. */
async function readLegacyLayout(fh: fsp.FileHandle, path: string): Promise<LegacyLayout> {
  const fileSize = (await fh.stat()).size;
  for (let chunk = Math.min(fileSize, 1 << 20); ; chunk = Math.min(fileSize, chunk * 4)) {
    const head = Buffer.alloc(chunk);
    await fh.read(head, 0, chunk, 0);
    try {
      return await parseLegacy(fh, head, fileSize, path);
    } catch (e) {
      if (!(e instanceof TruncatedPickleError) || chunk === fileSize) throw e;
    }
  }
}

async function parseLegacy(fh: fsp.FileHandle, head: Uint8Array, fileSize: number, path: string): Promise<LegacyLayout> {
  const storages = new Map<string, StorageRef>();
  let at = 0;
  const next = (withTorch: boolean): unknown => {
    const r = unpickleAt(head, at, {
      globals: withTorch ? TORCH_GLOBALS : BASE_GLOBALS,
      persistentLoad: withTorch ? (pid) => storageFromPid(pid, storages) : undefined,
      file: path,
    });
    at = r.end;
    return r.value;
  };
  if (next(false) !== LEGACY_MAGIC) throw new LabError('NOT_A_CHECKPOINT', 'a pickle without PyTorch\'s magic number', path);
  const protocol = next(false);
  if (protocol !== LEGACY_PROTOCOL) throw new LabError('BAD_WEIGHTS', `legacy checkpoint protocol ${String(protocol)} is not supported (expected ${LEGACY_PROTOCOL})`, path);
  const sysInfo = next(false);
  if (!(sysInfo instanceof Map)) throw new LabError('BAD_WEIGHTS', 'legacy checkpoint header (sys_info) is not a dict', path);
  if (sysInfo.get('little_endian') !== true) throw new LabError('BAD_WEIGHTS', 'the checkpoint was saved on a big-endian machine; only little-endian checkpoints are supported', path);
  const value = next(true);
  const keys = next(false);
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw new LabError('BAD_WEIGHTS', 'legacy checkpoint storage key list is malformed', path);

  // Storage records: int64 element count, then the raw bytes. Seek past each; read nothing else.
  const offsets = new Map<string, number>();
  let pos = at;
  const countBuf = Buffer.alloc(8);
  for (const key of keys as string[]) {
    const storage = storages.get(key);
    if (!storage) throw new LabError('BAD_WEIGHTS', `storage ${key} is listed but never referenced, so its element type is unknown`, path);
    const { bytesRead } = await fh.read(countBuf, 0, 8, pos);
    if (bytesRead !== 8) throw new LabError('BAD_WEIGHTS', `the file is truncated: it ends before storage ${key} (byte ${pos} of ${fileSize})`, path);
    const count = Number(countBuf.readBigInt64LE(0));
    if (count !== storage.numel) throw new LabError('BAD_WEIGHTS', `storage ${key} records ${count} elements but is referenced with ${storage.numel}`, path);
    offsets.set(key, pos + 8);
    pos += 8 + count * DTYPE_SIZE[storage.dtype];
    if (pos > fileSize) throw new LabError('BAD_WEIGHTS', `the file is truncated: storage ${key} needs bytes up to ${pos} but the file has ${fileSize}`, path);
  }
  return { value, storages, offsets };
}

// ---- state dict and meta ----

const STATE_DICT_KEYS = ['model_state', 'state_dict', 'model'];
const OPTIMIZER_KEYS = ['optimizer_state', 'optimizer'];

function tensorEntries(m: Map<unknown, unknown>): [string, TensorRef][] {
  return [...m].filter((e): e is [string, TensorRef] => typeof e[0] === 'string' && e[1] instanceof TensorRef);
}

function assemble(path: string, format: 'zip' | 'legacy', top: unknown, read: StorageReader, close: () => Promise<void>): Checkpoint {
  if (!(top instanceof Map)) throw new LabError('MISSING_WEIGHTS', `the checkpoint holds a ${typeName(top)}, not a dict of tensors`, path);
  const sdKey = STATE_DICT_KEYS.find((k) => {
    const v = top.get(k);
    return v instanceof Map && tensorEntries(v).length > 0;
  });
  const sd = sdKey ? (top.get(sdKey) as Map<unknown, unknown>) : top;
  const stateDict = new Map<string, LazyTensor>();
  for (const [name, ref] of tensorEntries(sd)) stateDict.set(name, lazyTensor(path, name, ref, read));
  if (stateDict.size === 0) {
    throw new LabError('MISSING_WEIGHTS', `no tensors under ${STATE_DICT_KEYS.join(', ')} or at the top level (keys: ${[...top.keys()].map(String).join(', ')})`, path);
  }
  const meta: Record<string, unknown> = {};
  for (const [k, v] of top) {
    if (typeof k !== 'string' || k === sdKey || (!sdKey && v instanceof TensorRef)) continue;
    Object.defineProperty(meta, k, { value: OPTIMIZER_KEYS.includes(k) ? summarizeOptimizer(v) : toPlain(v), enumerable: true, writable: true, configurable: true });
  }
  let closed = false;
  return {
    path,
    format,
    stateDict,
    meta,
    async close() {
      if (closed) return;
      closed = true;
      await close();
    },
  };
}

/** Plain, JSON-able data. Tensors become `{ tensor: { dtype, shape } }`; nothing is read. */
export function toPlain(v: unknown, seen = new Set<object>()): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v !== 'object') return typeof v === 'function' ? '<function>' : v;
  if (seen.has(v)) return '<circular>';
  seen.add(v);
  try {
    if (v instanceof TensorRef) return { tensor: { dtype: v.storage.dtype, shape: [...v.shape] } };
    if (v instanceof Tensor) return { tensor: { dtype: v.dtype, shape: [...v.shape] } };
    if (v instanceof Uint8Array) return { bytes: v.length };
    if (Array.isArray(v)) return v.map((x) => toPlain(x, seen));
    if (v instanceof Set) return [...v].map((x) => toPlain(x, seen));
    if (v instanceof Map) return plainObject([...v].map(([k, x]) => [String(toPlain(k, seen)), toPlain(x, seen)]));
    if (v instanceof PyObject) return plainObject([...v.attrs].map(([k, x]) => [k, toPlain(x, seen)]));
    if (v instanceof StorageType || v instanceof TorchDType) return v.name;
    return `<${typeName(v)}>`;
  } finally {
    seen.delete(v);
  }
}

/** An object whose keys come from the file: data properties only, never a prototype change. */
function plainObject(entries: [string, unknown][]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

function collectTensors(v: unknown, out: TensorRef[], seen = new Set<object>()): TensorRef[] {
  if (typeof v !== 'object' || v === null || seen.has(v)) return out;
  seen.add(v);
  if (v instanceof TensorRef) out.push(v);
  else if (Array.isArray(v) || v instanceof Set) for (const x of v) collectTensors(x, out, seen);
  else if (v instanceof Map) for (const x of v.values()) collectTensors(x, out, seen);
  else if (v instanceof PyObject) for (const x of v.attrs.values()) collectTensors(x, out, seen);
  return out;
}

/** The optimizer state, summarized: counts and hyper-parameters; its tensors are never read. */
function summarizeOptimizer(v: unknown): Record<string, unknown> {
  const tensors = collectTensors(v, []);
  const summary: Record<string, unknown> = {
    loaded: false,
    tensors: tensors.length,
    elements: tensors.reduce((s, t) => s + numel(t.shape), 0),
  };
  if (v instanceof Map) {
    const state = v.get('state');
    if (state instanceof Map) summary.stateEntries = state.size;
    const groups = v.get('param_groups');
    if (Array.isArray(groups)) {
      summary.paramGroups = groups.map((g) => {
        if (!(g instanceof Map)) return toPlain(g);
        const params = g.get('params');
        const rest = new Map([...g].filter(([k]) => k !== 'params'));
        return { ...(toPlain(rest) as Record<string, unknown>), params: Array.isArray(params) ? params.length : 0 };
      });
    }
  }
  return summary;
}
