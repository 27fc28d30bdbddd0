/**
 * A protocol-2 pickle writer for the subset torch.save emits for a dict of tensors (tuples,
 * OrderedDicts, persistent ids of storages, torch._utils._rebuild_tensor_v2): what torch-writer.ts
 * puts in `<stem>/data.pkl`. Test tooling; the lab only reads pickles (core/formats/pickle.ts).
 */
import type { DType } from '../../extension/core/tensor';

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

  /** A memo opcode on slot `i`: its one-byte form below 256, its four-byte form from there. */
  private memoOp(short: number, long: number, i: number): void {
    if (i < 256) {
      this.byte(short);
      this.byte(i);
    } else {
      this.byte(long);
      this.u32(i);
    }
  }
  /** BINPUT the object just written; remember it under `key` for BINGET when given. */
  private put(key?: string): void {
    const i = this.memoCount++;
    this.memoOp(OP.BINPUT, OP.LONG_BINPUT, i);
    if (key !== undefined) this.memo.set(key, i);
  }
  /** BINGET a memoized object; false when not memoized yet. */
  private get(key: string): boolean {
    const i = this.memo.get(key);
    if (i === undefined) return false;
    this.memoOp(OP.BINGET, OP.LONG_BINGET, i);
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
