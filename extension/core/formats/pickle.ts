/**
 * A Python unpickler that never executes anything.
 *
 * Every GLOBAL / STACK_GLOBAL reference resolves through an allow-list (`globals`, a map from
 * `module.name` to a JS function or an inert marker). A name that is not on the list stops the
 * read with `FORBIDDEN_PICKLE_GLOBAL` ("pickle references posix.system, which is not allowed"):
 * there is no fallback stub, no `eval`, no dynamic import. REDUCE / NEWOBJ / OBJ / INST only
 * call functions that came out of that list; BUILD only calls our own `[SET_STATE]` methods.
 *
 * Why not build on the npm package `pickleparser` (0.2.1, evaluated from its published source):
 * - its default name resolver turns any unknown global into a stub object, and its REDUCE/BUILD
 *   paths run `func(...args)` / `Object.assign(obj, state)` on whatever the resolver returns, so
 *   the security argument would rest on our resolver *and* on every one of its code paths (BUILD
 *   with a Map state containing `__proto__` re-prototypes the target object);
 * - LONG1/LONG4 are decoded as unsigned (negative Python ints come out wrong), protocol-0
 *   STRING/UNICODE escapes are not decoded, BINSTRING reads an unsigned length;
 * - stack/mark underflow and bad memo keys surface as JS TypeErrors, not as errors we can type;
 * - it is `any`-typed, has two published versions and no torch/numpy support.
 * The opcode machine (class Unpickler) is ~390 lines here, typed, with precise errors; the allow-list is ours
 * either way. (zip, by contrast, comes from a kept library: yauzl.)
 *
 * Representation of Python values:
 *   None -> null, bool -> boolean, int -> number (bigint beyond 2^53), float -> number,
 *   str -> string, bytes/bytearray -> Uint8Array (LazyBytes when long: left in the file until
 *   asked for), list and tuple -> Array, dict -> Map, set/frozenset -> Set, OrderedDict and other
 *   dict subclasses -> PyDictObject (a Map with attrs), numpy arrays -> NdArray (shape checked,
 *   values read on demand; see NUMPY_GLOBALS), other allowed instances -> PyObject.
 *
 * Memory, time and depth are bounded for every input: see the notes above MAX_DEPTH and Unpickler.made.
 *
 * Why this file is over ~400 lines: it is one state machine (the opcode switch, its stack, memo,
 * window over the source and work budget) and its walk after STOP; cut apart, every opcode would
 * reach across files for the machine's state. Around it, one job each: pickle-values.ts (how
 * Python values are represented), pickle-decode.ts (opcode arguments), byte-source.ts, arrays.ts,
 * pickle-globals.ts (the base allow-list) and numpy-pickle.ts (numpy's part of it).
 */
import { LabError } from '../errors';
import { LazyBytes, MemorySource, type ByteSource, type PyBytes } from './byte-source';
import { decodeLong, decodeQuotedString, decodeRawUnicodeEscape, latin1, MAX_INT_BYTES, parseFloatLine, parseIntLine, utf8 } from './pickle-decode';
import { FINALIZE, hasMethod, PyDictObject, PyObject, SET_STATE, typeName, type CallContext, type PyCallable } from './pickle-values';

// The names this module has always exported, from their rooms.
export { LazyBytes, MemorySource, bytesLength, materialize, type ByteSource, type PyBytes } from './byte-source';
export { FINALIZE, PyDictObject, PyObject, SET_STATE, shortRepr, typeName, type CallContext, type PyCallable } from './pickle-values';
export { bytesToTensor, contiguousStrides, gatherStrided, NdArray, typedArrayFromBytes, viewAs } from './arrays';
export { BASE_GLOBALS } from './pickle-globals';
export { NUMPY_GLOBALS, NumpyDType } from './numpy-pickle';

export interface UnpickleOptions {
  /** The allow-list: `module.name` -> callable or inert marker. Nothing else can be referenced. */
  globals: ReadonlyMap<string, unknown>;
  /** Called for PERSID / BINPERSID; without it a persistent id is an error. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Named in every error message. */
  file?: string;
  /** The pickle must end (STOP) within this many bytes of its start; default: anywhere in the source. */
  maxBytes?: number;
  /** Bytes payloads longer than this stay in the source as LazyBytes (default 64 KiB). */
  lazyBytesOver?: number;
  /** Work units allowed (default: 1,000,000 + 8 per byte the pickle may span). */
  budget?: number;
}

/** Thrown when the data ends before STOP. */
export class TruncatedPickleError extends LabError {
  constructor(detail: string, file?: string) {
    super('BAD_PICKLE', detail, file);
    this.name = 'TruncatedPickleError';
  }
}

/**
 * Limits, and why they hold for every file:
 * - Memo and references. The memo maps keys to the very objects pushed (GET pushes the same JS
 *   object again), so a value referenced a million times is one object: `L = [L, L]` forty times
 *   over is 41 small arrays, as in Python. Nothing in the readers expands shared references
 *   (torch.ts's `toPlain` renders a bounded number of nodes).
 * - Work. Every opcode costs 1 unit, every container it creates 32 more (an object in memory is
 *   larger than the byte that made it), and a callable that copies items or bytes out of its
 *   arguments (`set(x)`, `bytes(s)`, a BUILD state merged into an object) pays per item, so a
 *   memoized argument reused a million times is paid for a million times. The budget,
 *   1,000,000 + 8 units per byte the pickle may span, is ~2x what real checkpoints use (~3.8 per
 *   byte for torch's data.pkl) and bounds time and memory by a constant times the pickle's size.
 * - Depth. The opcode machine itself never recurses (MARK keeps its own stack). After STOP one
 *   iterative walk replaces numpy builders by their arrays and refuses graphs nested deeper than
 *   MAX_DEPTH (1000, CPython's default recursion limit, past which Python could not have written
 *   the pickle): later consumers may recurse that deep safely.
 * - Size. A pickle is read through a window over its ByteSource; a span limit (`maxBytes`) stops
 *   a header pickle that never ends; large bytes payloads are not read at all (LazyBytes).
 */
export const MAX_DEPTH = 1000;
const CONTAINER_COST = 32;
const WINDOW = 1 << 20;

export function unpickle(data: Uint8Array, options: UnpickleOptions): unknown {
  return unpickleAt(data, 0, options).value;
}

/** Unpickle the pickle starting at `offset`; `end` is the offset just past its STOP opcode. */
export function unpickleAt(data: Uint8Array, offset: number, options: UnpickleOptions): { value: unknown; end: number } {
  return unpickleFrom(new MemorySource(data), offset, options);
}

/** Unpickle from any byte source (a file read by range). */
export function unpickleFrom(source: ByteSource, offset: number, options: UnpickleOptions): { value: unknown; end: number } {
  const machine = new Unpickler(source, offset, options);
  try {
    return machine.run();
  } catch (e) {
    if (e instanceof LabError) throw options.file ? e.withFile(options.file) : e;
    const why = e instanceof Error ? e.message : String(e);
    throw new LabError('BAD_PICKLE', `malformed pickle near byte ${machine.opcodeAt}: ${why}`, options.file, { cause: e });
  }
}

const MODULE_RENAMES: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

class Unpickler implements CallContext {
  private pos: number;
  opcodeAt: number;
  private stack: unknown[] = [];
  private readonly metastack: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();
  /** Qualified names of resolved globals, for error messages. */
  private readonly names = new Map<unknown, string>();
  /** The window: bytes [bufStart, bufStart + buf.length) of the source. */
  private buf: Uint8Array;
  private bufStart: number;
  /** One past the last byte the pickle may use. */
  private readonly limit: number;
  private readonly limitedBySpan: boolean;
  private readonly lazyOver: number;
  private work = 0;
  private readonly budget: number;
  private window = 1 << 13;

  constructor(private readonly source: ByteSource, private readonly start: number, private readonly options: UnpickleOptions) {
    this.pos = start;
    this.opcodeAt = start;
    const span = Math.max(0, source.size - start);
    const maxBytes = options.maxBytes ?? Infinity;
    this.limitedBySpan = maxBytes < span;
    this.limit = start + Math.min(span, maxBytes);
    this.lazyOver = options.lazyBytesOver ?? 1 << 16;
    this.budget = options.budget ?? 1_000_000 + 8 * (this.limit - start);
    if (source instanceof MemorySource) {
      this.buf = source.data;
      this.bufStart = 0;
    } else {
      this.buf = new Uint8Array(0);
      this.bufStart = start;
    }
  }

  private fail(detail: string): never {
    throw new LabError('BAD_PICKLE', `malformed pickle at byte ${this.opcodeAt}: ${detail}`, this.options.file);
  }

  charge(units: number): void {
    this.work += units;
    if (this.work > this.budget) {
      throw new LabError(
        'LIMIT_EXCEEDED',
        `the pickle does more than ${this.budget.toLocaleString('en-US')} units of work for its ${(this.limit - this.start).toLocaleString('en-US')} bytes (near byte ${this.opcodeAt}): it expands shared data or builds far more objects than its size explains`,
        this.options.file,
      );
    }
  }

  /**
   * Memory. The work budget bounds time, but one byte of pickle can make an object of ~190 bytes
   * (`}`: an empty dict, a JS Map), so a pickle is also charged what it makes, in estimated bytes
   * (V8's sizes, measured): 192 per container or call, 8 per stack slot and list item, 32 per dict
   * or set entry and memo entry: at most 4 MiB + 2 bytes per byte the pickle may span
   * (`maxObjectBytes`; torch's data.pkl makes ~10 per byte of a few-KB pickle, test data leaves
   * its arrays in the file). What a call returns (`set(x)`, `bytes(s)`: items or bytes copied out
   * of its arguments, which may be one memoized list used again and again) is charged apart, at
   * most 64 MiB + 2 per byte: the work budget lets a small pickle copy ~1M items.
   */
  private made = 0;
  private madeLimit = -1;
  private copied = 0;
  private allocate(bytes: number): void {
    this.made += bytes;
    if (this.madeLimit < 0) this.madeLimit = this.options.maxObjectBytes ?? OBJECT_BASE + 2 * (this.limit - this.start);
    if (this.made > this.madeLimit) this.tooMuch(this.madeLimit, 'makes', 'it builds far more containers than a checkpoint or test data holds');
  }
  private tooMuch(limit: number, verb: string, why: string): never {
    throw new LabError(
      'LIMIT_EXCEEDED',
      `the pickle ${verb} more than ${(limit / 2 ** 20).toFixed(1)} MiB of objects for its ${(this.limit - this.start).toLocaleString('en-US')} bytes (near byte ${this.opcodeAt}): ${why}`,
      this.options.file,
    );
  }
  /** What a call's result holds (its items, its bytes), charged when it is made. */
  private allocateResult(v: unknown): void {
    this.allocate(CONTAINER_BYTES);
    let n = 0;
    if (Array.isArray(v)) n = 8 * v.length;
    else if (v instanceof Map || v instanceof Set) n = ENTRY_BYTES * v.size;
    else if (v instanceof Uint8Array) n = v.byteLength;
    else if (typeof v === 'string') n = v.length;
    this.copied += n;
    const limit = COPY_BASE + 2 * (this.limit - this.start);
    if (this.copied > limit) this.tooMuch(limit, 'copies', 'calls copy items or bytes out of shared arguments again and again');
  }
  private memoPut(key: number, v: unknown): void {
    this.allocate(ENTRY_BYTES);
    this.memo.set(key, v);
  }

  // ---- reading ----
  private need(n: number): void {
    if (n < 0 || !Number.isSafeInteger(n)) this.fail(`invalid length ${n}`);
    if (this.pos + n > this.limit) {
      if (this.limitedBySpan) {
        throw new LabError('LIMIT_EXCEEDED', `the pickle starting at byte ${this.start} does not end within ${(this.limit - this.start).toLocaleString('en-US')} bytes (it asks for ${n.toLocaleString('en-US')} bytes at byte ${this.pos})`, this.options.file);
      }
      throw new TruncatedPickleError(
        `pickle data ends at byte ${this.limit} but needs ${this.pos + n - this.limit} more (the file is truncated or not a pickle)`,
        this.options.file,
      );
    }
  }
  /** Make the window cover [pos, pos + n). */
  private ensure(n: number): void {
    this.need(n);
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    // Windows start small (most pickles at the head of a file are a few KB) and grow to WINDOW.
    this.window = Math.min(WINDOW, this.window * 2);
    const len = Math.max(n, Math.min(this.window, this.limit - this.pos));
    this.buf = this.source.read(this.pos, len);
    this.bufStart = this.pos;
  }
  private u8(): number {
    this.ensure(1);
    return this.buf[this.pos++ - this.bufStart];
  }
  private view(n: number): DataView {
    this.ensure(n);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos - this.bufStart, n);
    this.pos += n;
    return v;
  }
  private u16(): number {
    return this.view(2).getUint16(0, true);
  }
  private i32(): number {
    return this.view(4).getInt32(0, true);
  }
  private u32(): number {
    return this.view(4).getUint32(0, true);
  }
  private u64(): number {
    const v = this.view(8).getBigUint64(0, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`length ${v} is too large`);
    return Number(v);
  }
  /** Bytes to decode right away (strings, numbers): a view of the window. */
  private raw(n: number): Uint8Array {
    this.ensure(n);
    const b = this.buf.subarray(this.pos - this.bufStart, this.pos - this.bufStart + n);
    this.pos += n;
    return b;
  }
  /** A bytes payload: kept where it is when long, else copied out of a file's window. */
  private payload(n: number): PyBytes {
    if (n > this.lazyOver) {
      this.need(n);
      const lazy = new LazyBytes(this.source, this.pos, n);
      this.pos += n;
      return lazy;
    }
    const b = this.raw(n);
    return this.source.stable ? b : b.slice();
  }
  private line(): string {
    for (let want = Math.min(256, this.limit - this.pos); ; want = Math.min(want * 2, this.limit - this.pos)) {
      this.ensure(want);
      const at = this.pos - this.bufStart;
      const end = this.buf.subarray(at, at + want).indexOf(0x0a);
      if (end >= 0) {
        const s = latin1(this.buf.subarray(at, at + end));
        this.pos += end + 1;
        return s;
      }
      if (this.pos + want >= this.limit) this.need(want + 1); // throws: truncated, or past the span limit
    }
  }

  // ---- stack ----
  private push(v: unknown): void {
    this.allocate(8);
    this.stack.push(v);
  }
  /** Push a container this opcode created. */
  private pushNew(v: unknown): void {
    this.charge(CONTAINER_COST);
    this.allocate(CONTAINER_BYTES + (Array.isArray(v) ? 8 * v.length : 0));
    this.stack.push(v);
  }
  private pop(): unknown {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack.pop();
  }
  private top(): unknown {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack[this.stack.length - 1];
  }
  private popMark(): unknown[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (!prev) this.fail('no MARK on the stack');
    this.stack = prev;
    return items;
  }
  private memoGet(key: number): unknown {
    if (!this.memo.has(key)) this.fail(`memo key ${key} was never stored`);
    return this.memo.get(key);
  }

  // ---- globals and calls ----
  private resolve(module: unknown, name: unknown): unknown {
    if (typeof module !== 'string' || typeof name !== 'string') this.fail('a global is named by something other than two strings');
    const qname = `${MODULE_RENAMES[module] ?? module}.${name}`;
    if (!this.options.globals.has(qname)) {
      throw new LabError('FORBIDDEN_PICKLE_GLOBAL', `pickle references ${qname}, which is not allowed (only known tensor and container types are read; nothing is executed)`, this.options.file);
    }
    const value = this.options.globals.get(qname);
    if (typeof value === 'object' || typeof value === 'function') this.names.set(value, qname);
    return value;
  }
  private call(fn: unknown, args: unknown, kwargs?: unknown): unknown {
    if (typeof fn !== 'function') this.fail(`${this.describe(fn)} is not callable`);
    if (!Array.isArray(args)) this.fail(`arguments of ${this.describe(fn)} are a ${typeName(args)}, not a tuple`);
    if (kwargs !== undefined && !(kwargs instanceof Map)) this.fail(`keyword arguments of ${this.describe(fn)} are not a dict`);
    this.charge(CONTAINER_COST);
    const out = (fn as PyCallable)(args, kwargs, this);
    this.allocateResult(out);
    return out;
  }
  private describe(v: unknown): string {
    return this.names.get(v) ?? typeName(v);
  }

  run(): { value: unknown; end: number } {
    for (;;) {
      this.opcodeAt = this.pos;
      this.charge(1);
      const op = this.u8();
      switch (op) {
        // structure
        case 0x80: { // PROTO
          const v = this.u8();
          if (v > 5) this.fail(`unsupported pickle protocol ${v}`);
          break;
        }
        case 0x95: this.u64(); break; // FRAME: frames are inline; only the length to skip
        case 0x2e: { // STOP
          const value = finalize(this.pop(), this.options.file);
          return { value, end: this.pos };
        }
        case 0x28: this.charge(CONTAINER_COST); this.allocate(CONTAINER_BYTES); this.metastack.push(this.stack); this.stack = []; break; // MARK
        case 0x31: this.popMark(); break; // POP_MARK
        case 0x30: if (this.stack.length) this.stack.pop(); else this.popMark(); break; // POP
        case 0x32: this.push(this.top()); break; // DUP

        // memo
        case 0x70: this.memoPut(Number(parseIntLine(this.line())), this.top()); break; // PUT
        case 0x71: this.memoPut(this.u8(), this.top()); break; // BINPUT
        case 0x72: this.memoPut(this.u32(), this.top()); break; // LONG_BINPUT
        case 0x94: this.memoPut(this.memo.size, this.top()); break; // MEMOIZE
        case 0x67: this.push(this.memoGet(Number(parseIntLine(this.line())))); break; // GET
        case 0x68: this.push(this.memoGet(this.u8())); break; // BINGET
        case 0x6a: this.push(this.memoGet(this.u32())); break; // LONG_BINGET

        // constants and numbers
        case 0x4e: this.push(null); break; // NONE
        case 0x88: this.push(true); break; // NEWTRUE
        case 0x89: this.push(false); break; // NEWFALSE
        case 0x49: { // INT
          const s = this.line();
          this.push(s === '01' ? true : s === '00' ? false : parseIntLine(s));
          break;
        }
        case 0x4c: this.push(parseIntLine(this.line().replace(/L$/, ''))); break; // LONG
        case 0x4a: this.push(this.i32()); break; // BININT
        case 0x4b: this.push(this.u8()); break; // BININT1
        case 0x4d: this.push(this.u16()); break; // BININT2
        case 0x8a: this.push(decodeLong(this.raw(this.u8()))); break; // LONG1
        case 0x8b: { // LONG4
          const n = this.i32();
          if (n < 0) this.fail('negative LONG4 length');
          if (n > MAX_INT_BYTES) this.fail(`an integer of ${n} bytes (at most ${MAX_INT_BYTES} are read)`);
          this.push(decodeLong(this.raw(n)));
          break;
        }
        case 0x46: this.push(parseFloatLine(this.line())); break; // FLOAT
        case 0x47: this.push(this.view(8).getFloat64(0, false)); break; // BINFLOAT (big-endian by definition)

        // strings and bytes
        case 0x53: this.push(decodeQuotedString(this.line())); break; // STRING (py2 str, read as latin-1 text)
        case 0x54: { // BINSTRING
          const n = this.i32();
          if (n < 0) this.fail('negative BINSTRING length');
          this.push(latin1(this.raw(n)));
          break;
        }
        case 0x55: this.push(latin1(this.raw(this.u8()))); break; // SHORT_BINSTRING
        case 0x56: this.push(decodeRawUnicodeEscape(this.line())); break; // UNICODE
        case 0x58: this.push(utf8(this.raw(this.u32()))); break; // BINUNICODE
        case 0x8c: this.push(utf8(this.raw(this.u8()))); break; // SHORT_BINUNICODE
        case 0x8d: this.push(utf8(this.raw(this.u64()))); break; // BINUNICODE8
        case 0x42: this.push(this.payload(this.u32())); break; // BINBYTES
        case 0x43: this.push(this.payload(this.u8())); break; // SHORT_BINBYTES
        case 0x8e: this.push(this.payload(this.u64())); break; // BINBYTES8
        case 0x96: this.push(this.payload(this.u64())); break; // BYTEARRAY8 (never mutated here, so not copied)
        case 0x97: this.fail('the pickle expects out-of-band buffers (NEXT_BUFFER), which are not supported'); // NEXT_BUFFER
        case 0x98: this.top(); break; // READONLY_BUFFER: a no-op on our byte arrays

        // tuples, lists
        case 0x29: this.pushNew([]); break; // EMPTY_TUPLE
        case 0x74: this.push(this.popMark()); break; // TUPLE (the MARK paid for the array)
        case 0x85: this.pushNew([this.pop()]); break; // TUPLE1
        case 0x86: { const b = this.pop(); const a = this.pop(); this.pushNew([a, b]); break; } // TUPLE2
        case 0x87: { const c = this.pop(); const b = this.pop(); const a = this.pop(); this.pushNew([a, b, c]); break; } // TUPLE3
        case 0x5d: this.pushNew([]); break; // EMPTY_LIST
        case 0x6c: this.push(this.popMark()); break; // LIST
        case 0x61: { // APPEND
          const v = this.pop();
          this.allocate(8);
          this.asList(this.top()).push(v);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.popMark();
          const list = this.asList(this.top());
          this.allocate(8 * items.length);
          for (const v of items) list.push(v);
          break;
        }

        // dicts, sets
        case 0x7d: this.pushNew(new Map()); break; // EMPTY_DICT
        case 0x64: { // DICT
          const items = this.popMark();
          this.pushNew(this.setItems(new Map(), items));
          break;
        }
        case 0x73: { // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.allocate(ENTRY_BYTES);
          this.asDict(this.top()).set(k, v);
          break;
        }
        case 0x75: { // SETITEMS
          const items = this.popMark();
          this.setItems(this.asDict(this.top()), items);
          break;
        }
        case 0x8f: this.pushNew(new Set()); break; // EMPTY_SET
        case 0x90: { // ADDITEMS
          const items = this.popMark();
          const set = this.top();
          if (!(set instanceof Set)) this.fail(`ADDITEMS on a ${typeName(set)}`);
          this.allocate(ENTRY_BYTES * items.length);
          for (const v of items) set.add(v);
          break;
        }
        case 0x91: { const items = this.popMark(); this.allocate(ENTRY_BYTES * items.length); this.pushNew(new Set(items)); break; } // FROZENSET

        // globals, objects
        case 0x63: { // GLOBAL
          const module = this.line();
          const name = this.line();
          this.push(this.resolve(module, name));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          this.push(this.resolve(module as string, name as string));
          break;
        }
        case 0x82: case 0x83: case 0x84: { // EXT1, EXT2, EXT4
          const code = op === 0x82 ? this.u8() : op === 0x83 ? this.u16() : this.i32();
          throw new LabError('FORBIDDEN_PICKLE_GLOBAL', `pickle references extension code ${code} (copyreg registry), which is not allowed`, this.options.file);
        }
        case 0x52: { // REDUCE
          const args = this.pop();
          const fn = this.pop();
          this.push(this.call(fn, args));
          break;
        }
        case 0x81: { // NEWOBJ
          const args = this.pop();
          const cls = this.pop();
          this.push(this.call(cls, args));
          break;
        }
        case 0x92: { // NEWOBJ_EX
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          this.push(this.call(cls, args, kwargs));
          break;
        }
        case 0x6f: { // OBJ
          const items = this.popMark();
          if (items.length === 0) this.fail('OBJ without a class');
          this.push(this.call(items[0], items.slice(1)));
          break;
        }
        case 0x69: { // INST
          const module = this.line();
          const name = this.line();
          const args = this.popMark();
          this.push(this.call(this.resolve(module, name), args));
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop();
          const obj = this.top();
          if (!hasMethod(obj, SET_STATE)) this.fail(`cannot set the state of ${this.describe(obj)}`);
          this.charge(1);
          obj[SET_STATE](state, this);
          break;
        }
        case 0x50: this.push(this.persistent(this.line())); break; // PERSID
        case 0x51: this.push(this.persistent(this.pop())); break; // BINPERSID

        default:
          this.fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }

  private persistent(pid: unknown): unknown {
    if (!this.options.persistentLoad) this.fail('the pickle refers to external data (a persistent id) and none is expected here');
    return this.options.persistentLoad(pid);
  }
  private asList(v: unknown): unknown[] {
    if (!Array.isArray(v)) this.fail(`APPEND to a ${typeName(v)}`);
    return v;
  }
  private asDict(v: unknown): Map<unknown, unknown> {
    if (!(v instanceof Map)) this.fail(`SETITEM on a ${this.describe(v)}`);
    return v;
  }
  private setItems(dict: Map<unknown, unknown>, items: unknown[]): Map<unknown, unknown> {
    if (items.length % 2) this.fail('odd number of items for a dict');
    this.allocate((ENTRY_BYTES / 2) * items.length);
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
    return dict;
  }
}

/**
 * After STOP: replace finalizable placeholders (numpy array builders) by their values, everywhere
 * in the graph, and refuse graphs nested deeper than MAX_DEPTH. Iterative (an explicit stack, each
 * object visited once), so a 5000-deep tuple is an error here, not a stack overflow anywhere.
 */
function finalize(root: unknown, file?: string): unknown {
  const done = new Map<object, unknown>();
  const fin = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    if (done.has(v)) return done.get(v);
    if (hasMethod(v, FINALIZE)) {
      const out = v[FINALIZE]();
      done.set(v, out);
      return out;
    }
    return v;
  };
  const seen = new Set<object>();
  const todo: [object, number][] = [];
  const enter = (v: unknown, depth: number): void => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    if (!(Array.isArray(v) || v instanceof Map || v instanceof Set || v instanceof PyObject)) return;
    if (depth > MAX_DEPTH) {
      throw new LabError('LIMIT_EXCEEDED', `the pickle nests containers more than ${MAX_DEPTH} levels deep (Python itself cannot write such a pickle with its default recursion limit)`, file);
    }
    seen.add(v);
    todo.push([v, depth]);
  };
  const out = fin(root);
  enter(out, 1);
  for (let next = todo.pop(); next; next = todo.pop()) {
    const [v, depth] = next;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        v[i] = fin(v[i]);
        enter(v[i], depth + 1);
      }
    } else if (v instanceof Map) {
      for (const [k, x] of v) {
        const y = fin(x);
        if (y !== x) v.set(k, y);
        enter(k, depth + 1);
        enter(y, depth + 1);
      }
      if (v instanceof PyDictObject) {
        for (const [k, x] of v.attrs) {
          const y = fin(x);
          if (y !== x) v.attrs.set(k, y);
          enter(y, depth + 1);
        }
      }
    } else if (v instanceof Set) {
      const items = [...v].map(fin);
      v.clear();
      for (const x of items) {
        v.add(x);
        enter(x, depth + 1);
      }
    } else if (v instanceof PyObject) {
      for (const [k, x] of v.attrs) {
        const y = fin(x);
        if (y !== x) v.attrs.set(k, y);
        enter(y, depth + 1);
      }
    }
  }
  return out;
}

/** Estimated bytes of what a pickle makes (V8, measured: an empty Map 184, Set 152, array 32 + 8 per item, Map entry ~30-85). */
const CONTAINER_BYTES = 192;
const ENTRY_BYTES = 32;
const OBJECT_BASE = 4 * 2 ** 20;
const COPY_BASE = 64 * 2 ** 20;

// (declared here, merged into UnpickleOptions above, so that the lines the mutation tests key on keep their numbers)
export interface UnpickleOptions {
  /** Estimated bytes of objects the pickle may make (default: 4 MiB + 2 per byte the pickle may span). */
  maxObjectBytes?: number;
}
