/**
 * The weights of one pipeline call, on disk, in the layouts and element types the graphs use, so
 * that onnxruntime loads them as external data (it maps the files) and this process keeps no copy.
 *
 * Why: an ONNX model with its weights inline is built as one 486 MB buffer (full size), which
 * onnxruntime parses into a second copy and turns into a third (its tensors), while the float32
 * weights the graph was built from are a fourth. Measured on the full-size model here (CPU EP,
 * fp32, one session): peak RSS 1.54 GB from a buffer, 0.88 GB from external data, and 87 MB after
 * the session is created when weights are not prepacked (they stay mapped until the run touches
 * them). See docs/benchmarks.md, "End to end".
 *
 * Layout: every weight is written once as float32 when the checkpoint is read, in the layout the
 * graph wants (nn.Linear weights transposed to (in, out) for MatMul). Each other element type a
 * graph asks for (fp16 or bf16 bits, or float32 rounded to fp16/bf16 for the CPU emulation) is
 * derived from those bytes on first use, into its own file, and reused by every later graph of the
 * same call (five LayerNorm modes share one fp16 file). A slice (pos_embed's class-token row) is an
 * offset into the same bytes, not a copy.
 *
 * The folder is removed by close(); on exit; and, for a process that was killed, by the next store
 * created on this machine (folders of processes that no longer exist).
 *
 * Memory: in /dev/shm (a tmpfs) the files ARE memory — at full size an FP16 run holds two files of
 * about 496 MB (float32, and the fp16 form) — and a process's RSS does not count them (only the
 * pages a session has mapped and touched). usage() says where the store is, how big, and whether
 * that is RAM, for every memory figure (the log, the Report's timings, the benchmarks); the engine
 * process releases a store left open once it is idle (releaseAll, worker.ts).
 *
 * Where the folder goes and how it is removed are in weight-store-dir.ts. (A little over ~400
 * lines: one class whose methods share its files, entries and write bookkeeping.)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabError } from '../errors';
import { writeAtSync } from '../formats/file';
import { startPool, type WorkerPool } from '../parallel';
import { findNonFinite } from '../tensor';
import { convertChecked, outputFor, prepareWeight, transposeChecked, type SixteenKind } from './weight-kernels';
import { chooseParent, closeOnExit, isMemoryFs, PREFIX, sweepStale, type ParentProbe, type StoreUsage } from './weight-store-dir';

// The names this module has always exported, from their rooms.
export { chooseParent, defaultParent, isMemoryFs, roomNeeded, type ParentProbe, type StoreUsage } from './weight-store-dir';

/**
 * How a weight's values are stored: 'f32' as read; 'f16' / 'bf16' as 16-bit bits; 'f32.f16' /
 * 'f32.bf16' as float32 values rounded to fp16 / bf16 (the emulated graphs' weights).
 */
export type StoredKind = 'f32' | 'f16' | 'bf16' | 'f32.f16' | 'f32.bf16';

/** Where an initializer's bytes are: a file of the store's folder, relative to a model saved there. */
export interface ExternalRef {
  location: string;
  offset: number;
  length: number;
}

interface Entry {
  kind: StoredKind;
  offset: number;
  bytes: number;
}

interface Source {
  shape: readonly number[];
  /** Stored as (cols, rows) of the (rows, cols) original (shape[0] rows). */
  transposed: boolean;
}

const FILES: Record<StoredKind, string> = {
  f32: 'weights.f32.bin', f16: 'weights.f16.bin', bf16: 'weights.bf16.bin', 'f32.f16': 'weights.f32-rounded-f16.bin', 'f32.bf16': 'weights.f32-rounded-bf16.bin',
};
const ELEM_BYTES: Record<StoredKind, number> = { f32: 4, f16: 2, bf16: 2, 'f32.f16': 4, 'f32.bf16': 4 };
/** Entries start on 64 KiB boundaries: onnxruntime maps external data whose offset is a multiple of the allocation granularity. */
const ALIGN = 1 << 16;
/** Elements converted per read/convert/write step when deriving a kind. */
const CHUNK = 1 << 20;
const open = new Set<WeightStore>();

/** Where a weight's first NaN or infinity is (checkpoint layout), and how many it has. */
export interface NonFinite {
  index: number;
  value: number;
  count: number;
}

export interface WeightStoreOptions {
  /** Parent folder (default: see defaultParent()). */
  parent?: string;
  /** Where /dev/shm is and how its room is read (tests: a small "shm"); defaultParent's probe. */
  probe?: ParentProbe;
  /** About how many bytes the weights are (the checkpoint's size): picks a parent with room for them. */
  expectBytes?: number;
}

export class WeightStore {
  readonly dir: string;
  private readonly fds = new Map<StoredKind, { fd: number; size: number }>();
  private readonly sources = new Map<string, Source>();
  private readonly entries = new Map<string, Entry>();
  private models = 0;
  private closed = false;
  /** add() writes still going on. */
  private writing = 0;
  /** Bytes written to the folder so far (all kinds). */
  bytesWritten = 0;
  /** Milliseconds this thread spent deriving kinds and layouts. */
  deriveMs = 0;
  /** Why the folder is where it is (chooseParent), for the log. */
  why = '';
  private pool: WorkerPool | undefined;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static create(o: WeightStoreOptions = {}): WeightStore {
    const chosen = o.parent ? { dir: o.parent, why: 'given' } : chooseParent(o.expectBytes, o.probe);
    const parent = chosen.dir;
    for (const d of new Set([parent, os.tmpdir(), '/dev/shm'])) sweepStale(d);
    let dir: string;
    try {
      dir = fs.mkdtempSync(path.join(parent, `${PREFIX}${process.pid}-`));
    } catch (e) {
      throw new LabError('FILE_UNREADABLE', `cannot create a folder for the weights in ${parent} (${(e as Error).message})`, parent, { cause: e });
    }
    const s = new WeightStore(dir);
    s.why = chosen.why;
    open.add(s);
    closeOnExit(open);
    return s;
  }

  /**
   * Where this store is, how many bytes its files take on the file system (blocks allocated: the
   * 64 KiB alignment gaps are holes that take none), and whether that is RAM.
   */
  usage(): StoreUsage {
    let bytes = 0;
    for (const f of this.fds.values()) {
      try {
        bytes += fs.fstatSync(f.fd).blocks * 512;
      } catch {
        bytes += f.size;
      }
    }
    return { dir: this.dir, bytes, inMemory: isMemoryFs(this.dir) };
  }

  /** The stores of this process not closed yet. */
  static openStores(): StoreUsage[] {
    return [...open].map((s) => s.usage());
  }

  /**
   * Closes every store of this process (the engine process when idle, or before another request:
   * a store is one pipeline call's, and one left open by an export or an error holds its bytes —
   * RAM in /dev/shm — until the process ends), but the one in `except` (the folder the engine
   * process keeps warm: core/warm.ts). Returns what was released.
   */
  static releaseAll(except?: string): StoreUsage[] {
    const released = [...open].filter((s) => s.dir !== except).map((s) => {
      const u = s.usage();
      s.close();
      return u;
    });
    return released;
  }

  /** Keys of the weights added so far. */
  keys(): IterableIterator<string> {
    return this.sources.keys();
  }

  has(key: string): boolean {
    return this.sources.has(key);
  }

  /** The weight's shape as in the checkpoint. */
  shape(key: string): readonly number[] | undefined {
    return this.sources.get(key)?.shape;
  }

  /** Number of float32 values of a weight. */
  size(key: string): number {
    const s = this.sources.get(key);
    return s ? s.shape.reduce((a, b) => a * b, 1) : 0;
  }

  /**
   * Add a weight (float32, checkpoint layout). `transposed`: store it as (cols, rows) of its
   * (rows, cols) = (shape[0], rest) matrix, the layout the graph's MatMul wants. `data` is neither
   * kept nor changed. `kinds`: other forms to write now, from the values at hand, because the
   * coming graphs will want them (fp16 bits for a GPU run): cheaper than reading the float32 bytes
   * back later. The work goes on in the background (worker threads when startWorkers() gave some,
   * else libuv's threads for the writes) while the caller reads the next weight; the promise
   * settles when it is done, and nothing else of the store may be used before.
   */
  add(key: string, shape: readonly number[], data: Float32Array, transposed = false, kinds: readonly StoredKind[] = []): Promise<void> {
    return this.put(key, shape, data, transposed, kinds, false).then(() => undefined);
  }

  /**
   * add(), checking the values on the way: resolves with where the first NaN or infinity is, or
   * null. `handOver`: the caller will not use `data` again, so a worker thread may take its buffer
   * instead of a copy (the pipeline reads each weight into a buffer of its own).
   */
  put(key: string, shape: readonly number[], data: Float32Array, transposed = false, kinds: readonly StoredKind[] = [], handOver = true): Promise<NonFinite | null> {
    this.check();
    if (this.sources.has(key)) throw new Error(`weight ${key} added twice`);
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new LabError('BAD_TENSOR', `weight ${key}: shape [${shape.join(', ')}] needs ${n} values, got ${data.length}`);
    const rows = shape[0] ?? 1;
    const sixteen = [...new Set(kinds)].filter((k): k is SixteenKind => k !== 'f32');
    this.sources.set(key, { shape: [...shape], transposed });
    // the files' layout is settled here, in the order of the calls, wherever the bytes are made
    const forms: { kind: StoredKind; entryId: string; offset: number }[] = [{ kind: 'f32', entryId: id(key, transposed, 'f32'), offset: 0 }];
    for (const kind of sixteen) forms.push({ kind, entryId: id(key, transposed, kind), offset: 0 });
    for (const f of forms) f.offset = this.reserve(f.entryId, f.kind, n * ELEM_BYTES[f.kind]);
    this.writing++;
    const done = (r: NonFinite | null) => {
      this.writing--;
      return r;
    };
    const fail = (e: unknown): never => {
      this.writing--;
      if (e instanceof LabError) throw e;
      throw new LabError('FILE_UNREADABLE', `cannot write the weights to ${this.dir} (${e instanceof Error ? e.message : String(e)})`, this.dir, { cause: e });
    };
    if (this.pool) {
      const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && !(data.buffer instanceof SharedArrayBuffer);
      const a = handOver && whole ? data : data.slice();
      const writes = forms.map((f) => ({ fd: this.file(f.kind).fd, offset: f.offset }));
      const buffer = a.buffer as ArrayBuffer;
      return this.pool.run<NonFinite | null>({ type: 'weight', buffer, byteOffset: a.byteOffset, length: a.length, rows, transposed, kinds: sixteen, writes }, [buffer]).then(done, fail);
    }
    const t0 = performance.now();
    const { forms: bytes, nonFinite } = prepareWeight(data, rows, transposed, sixteen);
    this.deriveMs += performance.now() - t0;
    return Promise.all(bytes.map((b, i) => this.writeAsync(forms[i].kind, b, forms[i].offset)))
      .then(() => done(nonFinite ? findNonFinite(data) : null), fail);
  }

  /**
   * Check, transpose and convert the weights given to put() on `n` worker threads (n > 0) until
   * stopWorkers(): at full size the work is ~1 s of one core, spread over the cores a GPU machine
   * has. Without them (n = 0, or threads refused) it runs on this thread.
   */
  startWorkers(n: number): void {
    // no worker threads here (n = 0, or refused): the same work on this thread
    if (!this.pool) this.pool = startPool(n);
  }

  /** End the worker threads (after the last put() has settled). */
  async stopWorkers(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    await p?.close();
  }

  /** Reserve `bytes` in a kind's file for an entry; returns the offset. */
  private reserve(entryId: string, kind: StoredKind, bytes: number): number {
    const f = this.file(kind);
    const offset = align(f.size);
    f.size = offset + bytes;
    this.bytesWritten += bytes;
    this.entries.set(entryId, { kind, offset, bytes });
    return offset;
  }

  /** Write in the background (libuv's threads). */
  private writeAsync(kind: StoredKind, bytes: Uint8Array, offset: number): Promise<void> {
    const f = this.file(kind);
    return new Promise<void>((resolve, reject) => {
      const step = (done: number) => {
        if (done >= bytes.byteLength) return resolve();
        fs.write(f.fd, bytes, done, bytes.byteLength - done, offset + done, (e, n2) => (e ? reject(e) : step(done + n2)));
      };
      step(0);
    });
  }

  /**
   * Where the bytes of `key` are, in the layout and kind asked, optionally only elements
   * [range[0], range[1]) of it. Derives and writes the layout or kind on first use.
   */
  ref(key: string, o: { transposed?: boolean; kind: StoredKind; range?: readonly [number, number] }): ExternalRef {
    this.ready();
    const e = this.entry(key, o.transposed ?? false, o.kind);
    const size = ELEM_BYTES[o.kind];
    const [a, b] = o.range ?? [0, e.bytes / size];
    if (a < 0 || b * size > e.bytes || b < a) throw new Error(`weight ${key}: elements ${a}..${b} asked, it has ${e.bytes / size}`);
    return { location: FILES[o.kind], offset: e.offset + a * size, length: (b - a) * size };
  }

  /** The float32 values of a weight in the layout asked (tests, and small tensors). */
  read(key: string, transposed = false): Float32Array {
    this.ready();
    const e = this.entry(key, transposed, 'f32');
    const out = new Float32Array(e.bytes / 4);
    this.readInto('f32', e.offset, new Uint8Array(out.buffer));
    return out;
  }

  /** Read the bytes an ExternalRef points at into `dst` (dst.byteLength bytes from ref.offset + at). */
  readRef(ref: ExternalRef, at: number, dst: Uint8Array): void {
    this.ready();
    const kind = (Object.keys(FILES) as StoredKind[]).find((k) => FILES[k] === ref.location);
    if (!kind) throw new Error(`not a file of this store: ${ref.location}`);
    this.readInto(kind, ref.offset + at, dst);
  }

  /** Save a model (whose initializers point into this folder) next to the weights; returns its path. */
  saveModel(bytes: Uint8Array, name = 'model'): string {
    this.ready();
    const file = path.join(this.dir, `${name}-${++this.models}.onnx`);
    fs.writeFileSync(file, bytes);
    return file;
  }

  /** Remove the folder. Graphs saved here can no longer be loaded; sessions already created keep working (mapped files). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    open.delete(this);
    void this.stopWorkers();
    for (const { fd } of this.fds.values()) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    this.fds.clear();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  // ---------------------------------------------------------------- internals

  private check(): void {
    if (this.closed) throw new Error('the weight store is closed');
  }

  private ready(): void {
    this.check();
    if (this.writing) throw new Error('the weight store is still writing: await every add() first');
  }

  private entry(key: string, transposed: boolean, kind: StoredKind): Entry {
    const have = this.entries.get(id(key, transposed, kind));
    if (have) return have;
    const src = this.sources.get(key);
    if (!src) throw new LabError('MISSING_WEIGHTS', `missing weight ${key}`);
    const t0 = performance.now();
    let e: Entry;
    if (kind === 'f32') {
      // the other layout: read the stored one, transpose, append
      const stored = this.entries.get(id(key, src.transposed, 'f32'))!;
      const v = new Float32Array(stored.bytes / 4);
      this.readInto('f32', stored.offset, new Uint8Array(v.buffer));
      const rows = src.shape[0] ?? 1;
      const cols = v.length / rows;
      const t = src.transposed ? transpose2d(v, cols, rows) : transpose2d(v, rows, cols);
      e = this.append('f32', new Uint8Array(t.buffer));
    } else {
      e = this.derive(this.entry(key, transposed, 'f32'), kind);
    }
    this.entries.set(id(key, transposed, kind), e);
    this.deriveMs += performance.now() - t0;
    return e;
  }

  /** Convert an f32 entry chunk by chunk into another kind's file. */
  private derive(from: Entry, kind: StoredKind): Entry {
    const n = from.bytes / 4;
    const size = ELEM_BYTES[kind];
    const f = this.file(kind);
    const offset = align(f.size);
    const src = new Float32Array(Math.min(CHUNK, n));
    const out16 = size === 2 ? new Uint16Array(src.length) : undefined;
    for (let at = 0; at < n; at += CHUNK) {
      const m = Math.min(CHUNK, n - at);
      const s = src.subarray(0, m);
      this.readInto('f32', from.offset + at * 4, new Uint8Array(s.buffer, 0, m * 4));
      writeAtSync(f.fd, convert(s, kind, out16?.subarray(0, m), s), offset + at * size);
    }
    f.size = offset + n * size;
    this.bytesWritten += n * size;
    return { kind, offset, bytes: n * size };
  }

  private append(kind: StoredKind, bytes: Uint8Array): Entry {
    const f = this.file(kind);
    const offset = align(f.size);
    writeAtSync(f.fd, bytes, offset);
    f.size = offset + bytes.byteLength;
    this.bytesWritten += bytes.byteLength;
    return { kind, offset, bytes: bytes.byteLength };
  }

  private file(kind: StoredKind): { fd: number; size: number } {
    let f = this.fds.get(kind);
    if (!f) {
      f = { fd: fs.openSync(path.join(this.dir, FILES[kind]), 'w+'), size: 0 };
      this.fds.set(kind, f);
    }
    return f;
  }

  private readInto(kind: StoredKind, offset: number, dst: Uint8Array): void {
    const f = this.file(kind);
    let done = 0;
    while (done < dst.byteLength) {
      const r = fs.readSync(f.fd, dst, done, dst.byteLength - done, offset + done);
      if (r <= 0) throw new Error(`weight store: ${FILES[kind]} ends at ${offset + done}`);
      done += r;
    }
  }
}

function id(key: string, transposed: boolean, kind: StoredKind): string {
  return `${key}|${transposed ? 'T' : 'N'}|${kind}`;
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

/** A float32 array in another stored kind, as bytes (into `out16` / `out32` when given). */
function convert(v: Float32Array, kind: StoredKind, out16?: Uint16Array, out32?: Float32Array): Uint8Array {
  if (kind === 'f32') return u8(v);
  const out = kind === 'f16' || kind === 'bf16' ? out16 ?? outputFor(kind, v.length) : out32 ?? outputFor(kind, v.length);
  convertChecked(v, kind, out);
  return u8(out);
}

function u8(a: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * (rows, cols) row-major -> (cols, rows): weight-kernels' transposeChecked (eight source rows at a
 * time over 256-column tiles, on Int32 views of the bits: 1.4-1.7 ns per value on the full-size
 * Linear shapes), its finiteness check unused here — the weights were checked when read.
 */
export function transpose2d(a: Float32Array, rows: number, cols: number, out = new Float32Array(a.length)): Float32Array {
  transposeChecked(a, rows, cols, out);
  return out;
}
