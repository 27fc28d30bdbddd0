/**
 * PyTorch checkpoints (`torch.save`), both formats, read lazily:
 * - zip (torch >= 1.6): `<archive>/data.pkl` + one entry per storage, `<archive>/data/<key>`;
 * - legacy (`_use_new_zipfile_serialization=False`): magic number, protocol 1001, sys_info, the
 *   main pickle, the list of storage keys, then each storage as int64 count + raw bytes.
 * Opening parses only the pickles (each at most MAX_PICKLE_BYTES); a tensor's bytes are read when
 * it is loaded, and only the bytes its view covers. `loadMany` reads several tensors at once, so
 * that a storage they share is read (inflated) once. Storages that no loaded tensor uses (the
 * optimizer state, keys the model does not need) are never read.
 *
 * Budgets, checked before anything is allocated:
 * - a tensor's strides are non-negative (PyTorch refuses negative strides), its view lies inside
 *   its storage, and its element count fits the storage's (a stride-0 view is not expanded past
 *   the data actually stored);
 * - all tensors read from one checkpoint add up to at most twice the bytes that back them (the
 *   file, plus what its deflated storages may inflate to) + 1 MiB: tensors mapped onto the same
 *   bytes a thousand times over are refused, tied weights still load.
 *
 * Around this file: torch-globals.ts (torch's part of the pickle allow-list) and torch-meta.ts
 * (the non-tensor entries as bounded plain data).
 */
import { LabError, excerpt } from '../errors';
import { DType, DTYPE_SIZE, Tensor } from '../tensor';
import { FileSource, OpenedFile, openRegularFile, readAt, readAtSync } from './file';
import { contiguousStrides, gatherStrided, viewAs } from './arrays';
import { unpickleAt, unpickleFrom } from './pickle';
import { BASE_GLOBALS } from './pickle-globals';
import { shortRepr, typeName } from './pickle-values';
import { storageFromPid, TensorRef, TORCH_GLOBALS, type StorageRef } from './torch-globals';
import { META_NODES, summarizeOptimizer, toPlain } from './torch-meta';
import { ByteRange, openZipFile } from './zip';

// The names this module has always exported, from their rooms.
export { StorageType, TorchDType } from './torch-globals';
export { toPlain } from './torch-meta';

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
  /** Non-tensor top-level entries (epoch, cfg...) as plain JSON-able values, bounded in size; optimizer_state is summarized, never loaded. */
  meta: Record<string, unknown>;
  /** Load these state-dict entries; a storage several of them share is read (inflated) once. */
  loadMany(names: readonly string[]): Promise<Map<string, Tensor>>;
  close(): Promise<void>;
}

/** The most bytes a checkpoint's pickle (data.pkl, a legacy header pickle) may span. Real ones are KBs. */
export const MAX_PICKLE_BYTES = 16 * 2 ** 20;

// ---- reading tensors ----

/** Reads ranges of bytes of a root storage, each into a fresh buffer; a deflated storage is inflated once for all of them. */
type StorageReader = (storage: StorageRef, ranges: readonly ByteRange[]) => Promise<Uint8Array[]>;

/** One tensor to read: the storage elements its view touches are [lo, hi). */
interface ReadPlan {
  name: string;
  ref: TensorRef;
  lo: number;
  hi: number;
  contiguous: boolean;
}

function planRead(name: string, ref: TensorRef): ReadPlan {
  const { storage, shape, stride } = ref;
  if (ref.numel === 0) return { name, ref, lo: 0, hi: 0, contiguous: true };
  const lo = storage.viewOffset + ref.offset;
  let hi = lo + 1;
  shape.forEach((d, i) => {
    hi += (d - 1) * stride[i];
  });
  const end = storage.viewOffset + storage.viewNumel;
  if (!Number.isSafeInteger(hi) || hi > end) {
    throw new LabError('BAD_WEIGHTS', `tensor ${name} reaches storage elements ${lo}..${hi} but storage ${storage.key} holds ${end}`);
  }
  if (ref.numel > storage.viewNumel) {
    throw new LabError(
      'BAD_WEIGHTS',
      `tensor ${name} has ${ref.numel.toLocaleString('en-US')} elements (size [${shape}], stride [${stride}]) but its storage ${storage.key} holds only ${storage.viewNumel.toLocaleString('en-US')}: a view expanded past the stored data is not read`,
    );
  }
  const contiguous = contiguousStrides(shape).every((s, i) => s === stride[i] || shape[i] === 1);
  return { name, ref, lo, hi, contiguous };
}

/** Bytes a plan allocates: the range read, plus the gathered copy of a strided view. */
function planBytes(p: ReadPlan): number {
  const size = DTYPE_SIZE[p.ref.storage.dtype];
  return (p.hi - p.lo) * size + (p.contiguous ? 0 : p.ref.numel * size);
}

function tensorFromRange(p: ReadPlan, bytes: Uint8Array): Tensor {
  const { dtype } = p.ref.storage;
  const size = DTYPE_SIZE[dtype];
  // `bytes` is a fresh buffer holding storage elements [lo, hi): a contiguous view is all of it.
  const data = p.contiguous ? bytes : gatherStrided(bytes, size, p.ref.shape, p.ref.stride, 0);
  return new Tensor(dtype, p.ref.shape, viewAs(dtype, data));
}

/** The loading side of a Checkpoint: plans, budget, one read per storage. */
class TensorLoader {
  private used = 0;
  constructor(private readonly path: string, private readonly refs: Map<string, TensorRef>, private readonly read: StorageReader, private readonly cap: number) {}

  async loadMany(names: readonly string[]): Promise<Map<string, Tensor>> {
    try {
      return await this.load(names);
    } catch (e) {
      if (e instanceof LabError) throw e.withFile(this.path);
      throw new LabError('FILE_UNREADABLE', `cannot read tensors (${e instanceof Error ? e.message : String(e)})`, this.path, { cause: e });
    }
  }

  private async load(names: readonly string[]): Promise<Map<string, Tensor>> {
    const plans = [...new Set(names)].map((name) => {
      const ref = this.refs.get(name);
      if (!ref) throw new LabError('MISSING_WEIGHTS', `no tensor ${name} in the state dict`);
      return planRead(name, ref);
    });
    const bytes = plans.reduce((s, p) => s + planBytes(p), 0);
    if (this.used + bytes > this.cap) {
      throw new LabError(
        'LIMIT_EXCEEDED',
        `reading ${plans.length} tensor(s) would take ${(this.used + bytes).toLocaleString('en-US')} bytes in all, more than twice the ${Math.floor((this.cap - 2 ** 20) / 2).toLocaleString('en-US')} bytes that back them: the checkpoint maps many tensors onto the same data`,
      );
    }
    this.used += bytes;
    const byStorage = new Map<string, ReadPlan[]>();
    for (const p of plans) {
      if (p.hi === p.lo) continue;
      const list = byStorage.get(p.ref.storage.key) ?? [];
      list.push(p);
      byStorage.set(p.ref.storage.key, list);
    }
    const out = new Map<string, Tensor>();
    for (const p of plans) if (p.hi === p.lo) out.set(p.name, new Tensor(p.ref.storage.dtype, p.ref.shape, viewAs(p.ref.storage.dtype, new Uint8Array(0))));
    for (const list of byStorage.values()) {
      const storage = list[0].ref.storage;
      const size = DTYPE_SIZE[storage.dtype];
      const ranges = list.map((p) => ({ start: p.lo * size, end: p.hi * size }));
      const got = await this.read(storage, ranges);
      list.forEach((p, i) => out.set(p.name, tensorFromRange(p, got[i])));
    }
    return out;
  }
}

// ---- entry point ----

export async function readCheckpoint(path: string): Promise<Checkpoint> {
  const file = await openRegularFile(path);
  let head: Uint8Array;
  try {
    head = new Uint8Array(Math.min(512, file.size));
    await readAt(file.handle, head, 0);
  } catch (e) {
    await file.handle.close();
    throw new LabError('FILE_UNREADABLE', `cannot read the file (${e instanceof Error ? e.message : String(e)})`, path, { cause: e });
  }
  const refuse = async (detail: string): Promise<never> => {
    await file.handle.close();
    throw new LabError('NOT_A_CHECKPOINT', detail, path);
  };
  if (head.length === 0) return refuse('the file is empty');
  if (head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5) && (head[3] === 4 || head[3] === 6)) return readZipCheckpoint(file);
  if (head[0] === 0x80 && isLegacyMagic(head, path)) return readLegacyCheckpoint(file);
  const what = head[0] === 0x80 ? `a Python pickle (protocol ${head[1]}) without PyTorch's magic number — test data or a plain pickle?` : describeBytes(head);
  return refuse(`not a PyTorch checkpoint: the file is ${what} (expected a zip archive starting "PK\\x03\\x04" or a legacy torch.save pickle)`);
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
    return `text starting ${excerpt(text, 32)}`;
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

async function readZipCheckpoint(file: OpenedFile): Promise<Checkpoint> {
  const { path } = file;
  const zip = await openZipFile(file);
  try {
    const pkls = [...zip.entries.keys()].filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl')).sort((a, b) => a.length - b.length);
    // torch.save writes one record folder; two pickles would leave which model this is to a guess
    if (pkls.length > 1) throw new LabError('BAD_ZIP', `the archive holds ${pkls.length} data.pkl records (${pkls.slice(0, 3).join(', ')}${pkls.length > 3 ? ', ...' : ''}); a torch.save archive has one`, path);
    const pkl = pkls[0];
    if (!pkl) {
      const some = [...zip.entries.keys()].slice(0, 5).join(', ');
      throw new LabError('NOT_A_CHECKPOINT', `a zip archive without data.pkl, so not a PyTorch checkpoint (entries: ${some}${zip.entries.size > 5 ? ', ...' : ''})`, path);
    }
    const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
    if (zip.entries.has(`${prefix}byteorder`)) {
      const order = Buffer.from(await zip.read(`${prefix}byteorder`, undefined, 64)).toString('latin1').trim();
      if (order !== 'little') throw new LabError('BAD_WEIGHTS', `the checkpoint is stored ${order.slice(0, 16)}-endian; only little-endian checkpoints are supported`, path);
    }
    const storages = new Map<string, StorageRef>();
    const bytes = await zip.read(pkl, undefined, MAX_PICKLE_BYTES);
    const { value, end } = unpickleAt(bytes, 0, {
      globals: TORCH_GLOBALS,
      persistentLoad: (pid) => storageFromPid(pid, storages),
      file: path,
    });
    if (end !== bytes.length) {
      // PyTorch's unpickler stops at STOP and ignores the rest; bytes nobody reads are refused, not guessed at.
      throw new LabError('BAD_PICKLE', `${pkl} holds ${(bytes.length - end).toLocaleString('en-US')} bytes after the end of its pickle (byte ${end} of ${bytes.length})`, path);
    }
    const storageEntry = (storage: StorageRef): string => {
      const name = `${prefix}data/${storage.key}`;
      const entry = zip.entries.get(name);
      if (!entry) throw new LabError('BAD_WEIGHTS', `storage ${storage.key} is missing (no entry ${name})`, path);
      const needed = storage.numel * DTYPE_SIZE[storage.dtype];
      if (entry.size < needed) throw new LabError('BAD_WEIGHTS', `storage entry ${name} holds ${entry.size} bytes, ${needed} are needed for ${storage.numel} ${storage.dtype} elements`, path);
      return name;
    };
    const read: StorageReader = (storage, ranges) => zip.readRanges(storageEntry(storage), ranges);
    // Deflated storages may inflate past the file's size; the zip module caps that too.
    let inflatable = 0;
    for (const s of storages.values()) {
      const e = zip.entries.get(`${prefix}data/${s.key}`);
      if (e && e.compressionMethod !== 0) inflatable += e.size;
    }
    const backing = zip.fileSize + Math.min(inflatable, 8 * zip.fileSize + 16 * 2 ** 20);
    return assemble(path, 'zip', value, read, backing, () => zip.close());
  } catch (e) {
    await zip.close();
    throw e instanceof LabError ? e.withFile(path) : e;
  }
}

// ---- legacy format ----

async function readLegacyCheckpoint(file: OpenedFile): Promise<Checkpoint> {
  const { path, handle } = file;
  try {
    const source = new FileSource(handle.fd, file.size, path);
    const { value, offsets } = parseLegacy(source, path);
    const read: StorageReader = async (storage, ranges) => {
      const at = offsets.get(storage.key);
      if (at === undefined) throw new LabError('BAD_WEIGHTS', `storage ${storage.key} is not in the file's storage list`, path);
      const out: Uint8Array[] = [];
      for (const r of ranges) {
        const buf = new Uint8Array(r.end - r.start);
        if ((await readAt(handle, buf, at + r.start)) !== buf.length) throw new LabError('BAD_WEIGHTS', `storage ${storage.key} is cut short: the file is truncated`, path);
        out.push(buf);
      }
      return out;
    };
    return assemble(path, 'legacy', value, read, file.size, () => handle.close());
  } catch (e) {
    await handle.close();
    throw e instanceof LabError ? e.withFile(path) : new LabError('FILE_UNREADABLE', `cannot read the file (${e instanceof Error ? e.message : String(e)})`, path, { cause: e });
  }
}

/**
 * The five pickles at the head of the file, read through a window (each may span at most
 * MAX_PICKLE_BYTES: a header that never ends stops there), then the storage records walked.
 */
function parseLegacy(source: FileSource, path: string): { value: unknown; offsets: Map<string, number> } {
  const storages = new Map<string, StorageRef>();
  let at = 0;
  const next = (withTorch: boolean): unknown => {
    const r = unpickleFrom(source, at, {
      globals: withTorch ? TORCH_GLOBALS : BASE_GLOBALS,
      persistentLoad: withTorch ? (pid) => storageFromPid(pid, storages) : undefined,
      file: path,
      maxBytes: MAX_PICKLE_BYTES,
    });
    at = r.end;
    return r.value;
  };
  if (next(false) !== LEGACY_MAGIC) throw new LabError('NOT_A_CHECKPOINT', 'a pickle without PyTorch\'s magic number', path);
  const protocol = next(false);
  if (protocol !== LEGACY_PROTOCOL) throw new LabError('BAD_WEIGHTS', `legacy checkpoint protocol ${shortRepr(protocol)} is not supported (expected ${LEGACY_PROTOCOL})`, path);
  const sysInfo = next(false);
  if (!(sysInfo instanceof Map)) throw new LabError('BAD_WEIGHTS', 'legacy checkpoint header (sys_info) is not a dict', path);
  if (sysInfo.get('little_endian') !== true) throw new LabError('BAD_WEIGHTS', 'the checkpoint was saved on a big-endian machine; only little-endian checkpoints are supported', path);
  const value = next(true);
  const keys = next(false);
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw new LabError('BAD_WEIGHTS', 'legacy checkpoint storage key list is malformed', path);

  // Storage records: int64 element count, then the raw bytes. Seek past each; read nothing else.
  const offsets = new Map<string, number>();
  let pos = at;
  const countBuf = new Uint8Array(8);
  const counts = new DataView(countBuf.buffer);
  for (const key of keys as string[]) {
    const storage = storages.get(key);
    if (!storage) throw new LabError('BAD_WEIGHTS', `storage ${key} is listed but never referenced, so its element type is unknown`, path);
    if (offsets.has(key)) throw new LabError('BAD_WEIGHTS', `storage ${key} is listed twice`, path);
    if (readAtSync(source.fd, countBuf, pos) !== 8) throw new LabError('BAD_WEIGHTS', `the file is truncated: it ends before storage ${key} (byte ${pos} of ${source.size})`, path);
    const count = counts.getBigInt64(0, true);
    if (count !== BigInt(storage.numel)) throw new LabError('BAD_WEIGHTS', `storage ${key} records ${count} elements but is referenced with ${storage.numel}`, path);
    offsets.set(key, pos + 8);
    pos += 8 + storage.numel * DTYPE_SIZE[storage.dtype];
    if (pos > source.size) throw new LabError('BAD_WEIGHTS', `the file is truncated: storage ${key} needs bytes up to ${pos} but the file has ${source.size}`, path);
  }
  return { value, offsets };
}

// ---- state dict and meta ----

const STATE_DICT_KEYS = ['model_state', 'state_dict', 'model'];
const OPTIMIZER_KEYS = ['optimizer_state', 'optimizer'];

function tensorEntries(m: Map<unknown, unknown>): [string, TensorRef][] {
  return [...m].filter((e): e is [string, TensorRef] => typeof e[0] === 'string' && e[1] instanceof TensorRef);
}

function assemble(path: string, format: 'zip' | 'legacy', top: unknown, read: StorageReader, backing: number, close: () => Promise<void>): Checkpoint {
  if (!(top instanceof Map)) throw new LabError('MISSING_WEIGHTS', `the checkpoint holds a ${typeName(top)}, not a dict of tensors`, path);
  const sdKey = STATE_DICT_KEYS.find((k) => {
    const v = top.get(k);
    return v instanceof Map && tensorEntries(v).length > 0;
  });
  const sd = sdKey ? (top.get(sdKey) as Map<unknown, unknown>) : top;
  const refs = new Map(tensorEntries(sd));
  if (refs.size === 0) {
    const keys = [...top.keys()].slice(0, 20).map((k) => (typeof k === 'string' ? k : shortRepr(k)));
    throw new LabError('MISSING_WEIGHTS', `no tensors under ${STATE_DICT_KEYS.join(', ')} or at the top level (keys: ${keys.join(', ')}${top.size > 20 ? ', ...' : ''})`, path);
  }
  const loader = new TensorLoader(path, refs, read, 2 * backing + 2 ** 20);
  const stateDict = new Map<string, LazyTensor>();
  for (const [name, ref] of refs) {
    stateDict.set(name, {
      name,
      dtype: ref.storage.dtype,
      shape: [...ref.shape],
      numel: ref.numel,
      load: async () => (await loader.loadMany([name])).get(name) as Tensor,
    });
  }
  const budget = { nodes: META_NODES };
  const meta: Record<string, unknown> = {};
  for (const [k, v] of top) {
    if (typeof k !== 'string' || k === sdKey || (!sdKey && v instanceof TensorRef)) continue;
    Object.defineProperty(meta, k, { value: OPTIMIZER_KEYS.includes(k) ? summarizeOptimizer(v, budget) : toPlain(v, budget), enumerable: true, writable: true, configurable: true });
  }
  let closed = false;
  return {
    path,
    format,
    stateDict,
    meta,
    loadMany: (names) => loader.loadMany(names),
    async close() {
      if (closed) return;
      closed = true;
      await close();
    },
  };
}
