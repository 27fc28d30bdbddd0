/**
 * Writes PyTorch checkpoints in torch.save's zip format, streaming: a protocol-2 pickle of the
 * subset torch.save emits for a dict of tensors, and a STORED zip whose entries' data start at
 * 64-byte boundaries, as torch's own writer lays them out (`<stem>/data.pkl`, `<stem>/data/<key>`,
 * `.format_version`, `.storage_alignment`, `byteorder`, `version`, `.data/serialization_id`).
 *
 * Why the zip is written by hand: torch aligns every record's data to 64 bytes by padding the
 * local header's extra field ("FB" field), and no kept zip library offers control of the local
 * extra field (yazl: STORED and ZIP64, but no per-entry extra field; adm-zip builds the whole
 * archive in memory). The format subset needed (stored entries, data descriptors, a ZIP64 end
 * record) is short. CRC-32 comes from zlib.crc32 (Node >= 20.15); a table fallback covers older
 * Node 20 releases.
 *
 * Test and fixture tooling (scripts/fixtures/gen-checkpoint.ts, the unit tests), not the product: the lab
 * only reads checkpoints (core/formats/torch.ts).
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { DTYPE_SIZE, type DType } from '../../extension/core/tensor';

// ---------------------------------------------------------------- CRC-32

let crcTable: Uint32Array | undefined;
function crc32Table(data: Uint8Array, prev: number): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = (prev ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const nativeCrc = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;

/** CRC-32 (zip's), continuing from `prev`. */
export function crc32(data: Uint8Array, prev = 0): number {
  return typeof nativeCrc === 'function' ? nativeCrc(data, prev) >>> 0 : crc32Table(data, prev);
}

// ---------------------------------------------------------------- pickle (protocol 2)

/** A Python tuple (plain JS arrays are not used: pickling lists is not needed here). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}
/** `collections.OrderedDict` with string keys, in insertion order. */
export class PyOrderedDict {
  constructor(readonly entries: [string, PyValue][]) {}
}
/** A tensor whose bytes live in the zip as `data/<storageKey>` (contiguous, offset 0). */
export class TorchTensorRef {
  constructor(readonly storageKey: string, readonly dtype: DType, readonly shape: readonly number[]) {}
}
export type PyValue = null | boolean | number | string | PyTuple | PyOrderedDict | TorchTensorRef | Map<string, PyValue>;

const STORAGE_CLASS: Partial<Record<DType, string>> = {
  float32: 'FloatStorage', float16: 'HalfStorage', bfloat16: 'BFloat16Storage', float64: 'DoubleStorage',
  int64: 'LongStorage', int32: 'IntStorage', int16: 'ShortStorage', int8: 'CharStorage', uint8: 'ByteStorage', bool: 'BoolStorage',
};

const OP = {
  PROTO: 0x80, STOP: 0x2e, MARK: 0x28, TUPLE: 0x74, EMPTY_TUPLE: 0x29, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87,
  EMPTY_DICT: 0x7d, SETITEM: 0x73, SETITEMS: 0x75, GLOBAL: 0x63, REDUCE: 0x52, BINPERSID: 0x51,
  BININT: 0x4a, BININT1: 0x4b, BININT2: 0x4d, LONG1: 0x8a, BINFLOAT: 0x47, NONE: 0x4e, NEWTRUE: 0x88, NEWFALSE: 0x89,
  BINUNICODE: 0x58, BINPUT: 0x71, LONG_BINPUT: 0x72, BINGET: 0x68, LONG_BINGET: 0x6a,
} as const;

/**
 * Emits protocol-2 opcodes the way Python's pickler does for torch.save's objects: every object
 * memoized (BINPUT), globals and recurring constant strings fetched back with BINGET.
 */
export class PickleWriter {
  private buf = Buffer.alloc(1 << 16);
  private len = 0;
  private memoCount = 0;
  private readonly memo = new Map<string, number>();

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }
  private raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  private u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.len);
    this.len += 4;
  }

  /** BINPUT the object just written; remember it under `key` for BINGET when given. */
  private put(key?: string): void {
    const i = this.memoCount++;
    if (i < 256) {
      this.byte(OP.BINPUT);
      this.byte(i);
    } else {
      this.byte(OP.LONG_BINPUT);
      this.u32(i);
    }
    if (key !== undefined) this.memo.set(key, i);
  }
  /** BINGET a memoized object; false when not memoized yet. */
  private get(key: string): boolean {
    const i = this.memo.get(key);
    if (i === undefined) return false;
    if (i < 256) {
      this.byte(OP.BINGET);
      this.byte(i);
    } else {
      this.byte(OP.LONG_BINGET);
      this.u32(i);
    }
    return true;
  }

  proto(): void {
    this.byte(OP.PROTO);
    this.byte(2);
  }
  stop(): void {
    this.byte(OP.STOP);
  }
  global(module: string, name: string): void {
    const key = `g:${module} ${name}`;
    if (this.get(key)) return;
    this.byte(OP.GLOBAL);
    this.raw(Buffer.from(`${module}\n${name}\n`, 'utf8'));
    this.put(key);
  }
  /** A str; `shared` strings are written once and fetched back later (Python shares interned constants). */
  str(s: string, shared = false): void {
    if (shared && this.get(`s:${s}`)) return;
    const b = Buffer.from(s, 'utf8');
    this.byte(OP.BINUNICODE);
    this.u32(b.length);
    this.raw(b);
    this.put(shared ? `s:${s}` : undefined);
  }
  int(v: number): void {
    if (!Number.isSafeInteger(v)) throw new Error(`pickle: ${v} is not a safe integer`);
    if (v >= 0 && v < 256) {
      this.byte(OP.BININT1);
      this.byte(v);
    } else if (v >= 0 && v < 65536) {
      this.byte(OP.BININT2);
      this.ensure(2);
      this.buf.writeUInt16LE(v, this.len);
      this.len += 2;
    } else if (v >= -0x80000000 && v <= 0x7fffffff) {
      this.byte(OP.BININT);
      this.ensure(4);
      this.buf.writeInt32LE(v, this.len);
      this.len += 4;
    } else {
      // LONG1: little-endian two's complement, 8 bytes is enough for safe integers
      this.byte(OP.LONG1);
      this.byte(8);
      this.ensure(8);
      this.buf.writeBigInt64LE(BigInt(v), this.len);
      this.len += 8;
    }
  }
  float(v: number): void {
    this.byte(OP.BINFLOAT);
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.len);
    this.len += 8;
  }

  private tupleOf(items: PyValue[], memoize: boolean): void {
    const n = items.length;
    if (n === 0) {
      this.byte(OP.EMPTY_TUPLE);
      return; // the empty tuple is a singleton: Python does not memoize it
    }
    if (n > 3) this.byte(OP.MARK);
    for (const it of items) this.value(it);
    this.byte(n === 1 ? OP.TUPLE1 : n === 2 ? OP.TUPLE2 : n === 3 ? OP.TUPLE3 : OP.TUPLE);
    if (memoize) this.put();
  }

  private setItems(entries: Iterable<[string, PyValue]>): void {
    // Python batches SETITEMS by 1000; one item gets SETITEM.
    const all = [...entries];
    for (let i = 0; i < all.length; i += 1000) {
      const chunk = all.slice(i, i + 1000);
      if (chunk.length === 1) {
        this.str(chunk[0][0]);
        this.value(chunk[0][1]);
        this.byte(OP.SETITEM);
        continue;
      }
      this.byte(OP.MARK);
      for (const [k, v] of chunk) {
        this.str(k);
        this.value(v);
      }
      this.byte(OP.SETITEMS);
    }
  }

  private tensor(t: TorchTensorRef): void {
    const storage = STORAGE_CLASS[t.dtype];
    if (!storage) throw new Error(`pickle: no torch storage class for ${t.dtype}`);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const strides: number[] = new Array(t.shape.length);
    let s = 1;
    for (let i = t.shape.length - 1; i >= 0; i--) {
      strides[i] = s;
      s *= t.shape[i];
    }
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.byte(OP.MARK);
    // persistent id: ('storage', <Storage class>, key, location, numel)
    this.byte(OP.MARK);
    this.str('storage', true);
    this.global('torch', storage);
    this.str(t.storageKey);
    this.str('cpu', true);
    this.int(numel);
    this.byte(OP.TUPLE);
    this.put();
    this.byte(OP.BINPERSID);
    this.int(0); // storage offset
    this.tupleOf(t.shape.map((d) => d), true);
    this.tupleOf(strides, true);
    this.byte(OP.NEWFALSE); // requires_grad
    this.global('collections', 'OrderedDict'); // backward_hooks = OrderedDict()
    this.byte(OP.EMPTY_TUPLE);
    this.byte(OP.REDUCE);
    this.put();
    this.byte(OP.TUPLE);
    this.put();
    this.byte(OP.REDUCE);
    this.put();
  }

  value(v: PyValue): void {
    if (v === null) this.byte(OP.NONE);
    else if (v === true) this.byte(OP.NEWTRUE);
    else if (v === false) this.byte(OP.NEWFALSE);
    else if (typeof v === 'number') {
      if (Number.isInteger(v)) this.int(v);
      else this.float(v);
    } else if (typeof v === 'string') this.str(v);
    else if (v instanceof PyTuple) this.tupleOf(v.items, true);
    else if (v instanceof TorchTensorRef) this.tensor(v);
    else if (v instanceof PyOrderedDict) {
      this.global('collections', 'OrderedDict');
      this.byte(OP.EMPTY_TUPLE);
      this.byte(OP.REDUCE);
      this.put();
      this.setItems(v.entries);
    } else {
      this.byte(OP.EMPTY_DICT);
      this.put();
      this.setItems(v.entries());
    }
  }

  /** The whole pickle of `root`: PROTO 2, the value, STOP. */
  static dump(root: PyValue): Uint8Array {
    const w = new PickleWriter();
    w.proto();
    w.value(root);
    w.stop();
    return w.buf.subarray(0, w.len);
  }
}

// ---------------------------------------------------------------- stored zip

interface CentralRecord {
  name: Buffer;
  crc: number;
  size: number;
  offset: number;
}

const LOCAL_SIG = 0x04034b50;
const DESCRIPTOR_SIG = 0x08074b50;
const CENTRAL_SIG = 0x02014b50;
const EOCD_SIG = 0x06054b50;
const EOCD64_SIG = 0x06064b50;
const EOCD64_LOCATOR_SIG = 0x07064b50;
/** General purpose flags as torch writes them: bit 3 (sizes and CRC in a data descriptor), bit 11 (UTF-8 names). */
const FLAGS = 0x0808;
const U32_MAX = 0xffffffff;

/**
 * A zip of STORED entries written front to back into a file: each entry's data starts at a
 * multiple of `alignment` (torch: 64), its CRC and size follow in a data descriptor, so an entry
 * can be streamed in chunks. Offsets past 4 GiB are recorded with ZIP64 extra fields; a ZIP64 end
 * record is always written, as torch does. One entry must stay under 4 GiB.
 */
export class StoredZipWriter {
  private readonly fd: number;
  private offset = 0;
  private readonly records: CentralRecord[] = [];
  private open: { rec: CentralRecord; crc: number; size: number } | null = null;
  private finished = false;

  constructor(readonly path: string, readonly alignment = 64) {
    this.fd = fs.openSync(path, 'w');
  }

  private write(b: Uint8Array): void {
    let done = 0;
    while (done < b.length) done += fs.writeSync(this.fd, b, done, b.length - done);
    this.offset += b.length;
  }

  /** Start an entry: writes its local header, padded so that the data begins aligned. */
  begin(name: string): void {
    if (this.open) throw new Error(`zip: entry ${this.open.rec.name.toString()} is still open`);
    if (this.finished) throw new Error('zip: already finished');
    const nameBuf = Buffer.from(name, 'utf8');
    const headerEnd = this.offset + 30 + nameBuf.length;
    // Extra field "FB" (torch's padding field): 4-byte header + padding up to the boundary.
    let pad = (this.alignment - ((headerEnd + 4) % this.alignment)) % this.alignment;
    if (this.alignment <= 1) pad = -1;
    const extraLen = pad < 0 ? 0 : 4 + pad;
    const h = Buffer.alloc(30 + nameBuf.length + extraLen);
    h.writeUInt32LE(LOCAL_SIG, 0);
    h.writeUInt16LE(0, 4); // version needed (torch writes 0)
    h.writeUInt16LE(FLAGS, 6);
    h.writeUInt16LE(0, 8); // STORED
    h.writeUInt16LE(0, 10); // time
    h.writeUInt16LE(0x21, 12); // date: 1980-01-01
    // CRC and sizes: 0 here, in the data descriptor
    h.writeUInt16LE(nameBuf.length, 26);
    h.writeUInt16LE(extraLen, 28);
    nameBuf.copy(h, 30);
    if (extraLen) {
      const e = 30 + nameBuf.length;
      h.write('FB', e, 'latin1');
      h.writeUInt16LE(pad, e + 2);
      h.fill(0x5a, e + 4); // 'Z', as torch pads
    }
    const rec: CentralRecord = { name: nameBuf, crc: 0, size: 0, offset: this.offset };
    this.write(h);
    this.open = { rec, crc: 0, size: 0 };
  }

  /** Append bytes to the open entry. */
  data(chunk: Uint8Array): void {
    const o = this.open;
    if (!o) throw new Error('zip: no open entry');
    o.crc = crc32(chunk, o.crc);
    o.size += chunk.length;
    if (o.size > U32_MAX) throw new Error(`zip: entry ${o.rec.name.toString()} exceeds 4 GiB`);
    this.write(chunk);
  }

  /** Close the open entry: its data descriptor. */
  end(): void {
    const o = this.open;
    if (!o) throw new Error('zip: no open entry');
    const d = Buffer.alloc(16);
    d.writeUInt32LE(DESCRIPTOR_SIG, 0);
    d.writeUInt32LE(o.crc, 4);
    d.writeUInt32LE(o.size, 8);
    d.writeUInt32LE(o.size, 12);
    this.write(d);
    o.rec.crc = o.crc;
    o.rec.size = o.size;
    this.records.push(o.rec);
    this.open = null;
  }

  /** A whole entry at once. */
  add(name: string, data: Uint8Array | string): void {
    this.begin(name);
    this.data(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    this.end();
  }

  /** Central directory, ZIP64 end record and locator, end record; closes the file. Returns its size. */
  finish(): number {
    if (this.open) throw new Error('zip: an entry is still open');
    const cdStart = this.offset;
    for (const r of this.records) {
      const big = r.offset >= U32_MAX;
      const extra = big ? Buffer.alloc(12) : Buffer.alloc(0);
      if (big) {
        extra.writeUInt16LE(0x0001, 0); // ZIP64 extended information
        extra.writeUInt16LE(8, 2);
        extra.writeBigUInt64LE(BigInt(r.offset), 4);
      }
      const h = Buffer.alloc(46);
      h.writeUInt32LE(CENTRAL_SIG, 0);
      h.writeUInt16LE(big ? 45 : 0, 4); // version made by
      h.writeUInt16LE(big ? 45 : 0, 6); // version needed
      h.writeUInt16LE(FLAGS, 8);
      h.writeUInt16LE(0, 10);
      h.writeUInt16LE(0, 12);
      h.writeUInt16LE(0x21, 14);
      h.writeUInt32LE(r.crc, 16);
      h.writeUInt32LE(r.size, 20);
      h.writeUInt32LE(r.size, 24);
      h.writeUInt16LE(r.name.length, 28);
      h.writeUInt16LE(extra.length, 30);
      // comment length, disk start, internal/external attributes: 0
      h.writeUInt32LE(big ? U32_MAX : r.offset, 42);
      this.write(h);
      this.write(r.name);
      if (extra.length) this.write(extra);
    }
    const cdSize = this.offset - cdStart;
    const eocd64At = this.offset;
    const n = this.records.length;
    const z = Buffer.alloc(56 + 20 + 22);
    z.writeUInt32LE(EOCD64_SIG, 0);
    z.writeBigUInt64LE(44n, 4); // size of the rest of this record
    z.writeUInt16LE(0x031e, 12); // made by: Unix, 3.0 (torch's value)
    z.writeUInt16LE(45, 14); // needed: 4.5
    // disk numbers: 0
    z.writeBigUInt64LE(BigInt(n), 24);
    z.writeBigUInt64LE(BigInt(n), 32);
    z.writeBigUInt64LE(BigInt(cdSize), 40);
    z.writeBigUInt64LE(BigInt(cdStart), 48);
    z.writeUInt32LE(EOCD64_LOCATOR_SIG, 56);
    z.writeUInt32LE(0, 60);
    z.writeBigUInt64LE(BigInt(eocd64At), 64);
    z.writeUInt32LE(1, 72); // total disks
    z.writeUInt32LE(EOCD_SIG, 76);
    z.writeUInt16LE(0, 80);
    z.writeUInt16LE(0, 82);
    z.writeUInt16LE(Math.min(n, 0xffff), 84);
    z.writeUInt16LE(Math.min(n, 0xffff), 86);
    z.writeUInt32LE(Math.min(cdSize, U32_MAX), 88);
    z.writeUInt32LE(Math.min(cdStart, U32_MAX), 92);
    z.writeUInt16LE(0, 96);
    this.write(z);
    fs.closeSync(this.fd);
    this.finished = true;
    return this.offset;
  }

  /** Close the file without finishing it (after an error). */
  abort(): void {
    if (!this.finished) {
      this.finished = true;
      fs.closeSync(this.fd);
    }
  }
}

// ---------------------------------------------------------------- torch.save layout

export interface TensorSpec {
  /** State-dict key, e.g. `model.blocks.0.attn.qkv.weight`. */
  key: string;
  dtype: DType;
  shape: readonly number[];
}

/**
 * Streams a torch.save zip checkpoint of `{...top, [stateKey]: OrderedDict(tensors)}`. Tensor data
 * is asked for one tensor at a time, in order, by `fill` (any chunking); only the pickle is built
 * in memory.
 */
export function writeTorchCheckpoint(opts: {
  path: string;
  /** The record prefix inside the zip; torch uses the file's stem. */
  stem: string;
  tensors: readonly TensorSpec[];
  /** Top-level entries before the state dict (e.g. epoch) and after it (e.g. cfg). */
  before?: [string, PyValue][];
  after?: [string, PyValue][];
  stateKey?: string;
  /** Writes the bytes of tensor i, in order, by calling `write` one or more times. */
  fill: (i: number, spec: TensorSpec, write: (chunk: Uint8Array) => void) => void;
  /** 40 decimal digits; torch writes a random one. */
  serializationId?: string;
}): { bytes: number } {
  const refs = opts.tensors.map((t, i) => new TorchTensorRef(String(i), t.dtype, t.shape));
  const state = new PyOrderedDict(opts.tensors.map((t, i) => [t.key, refs[i]]));
  const root = new Map<string, PyValue>([...(opts.before ?? []), [opts.stateKey ?? 'model_state', state], ...(opts.after ?? [])]);
  const pkl = PickleWriter.dump(root);
  const z = new StoredZipWriter(opts.path, 64);
  const p = `${opts.stem}/`;
  try {
    z.add(`${p}data.pkl`, pkl);
    z.add(`${p}.format_version`, '1');
    z.add(`${p}.storage_alignment`, '64');
    z.add(`${p}byteorder`, 'little');
    opts.tensors.forEach((t, i) => {
      z.begin(`${p}data/${i}`);
      let written = 0;
      opts.fill(i, t, (chunk) => {
        written += chunk.length;
        z.data(chunk);
      });
      const expected = t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[t.dtype];
      if (written !== expected) throw new Error(`checkpoint: ${t.key} got ${written} bytes, expected ${expected}`);
      z.end();
    });
    z.add(`${p}version`, '3\n');
    z.add(`${p}.data/serialization_id`, opts.serializationId ?? '0'.repeat(40));
    return { bytes: z.finish() };
  } catch (e) {
    z.abort();
    throw e;
  }
}
