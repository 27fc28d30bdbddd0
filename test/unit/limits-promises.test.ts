/**
 * The readers' checks, promise by promise, on hand-made files of a few bytes (issue 23: mutation
 * testing of the safetensors header and entry checks and the pickle's work budget and copies).
 * limits.test.ts and the corpus check the mechanisms and answers on hostile files; these pin each
 * check's condition and message, and what each copy is charged.
 */
import { strict as assert } from 'assert';
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabError } from '../../extension/core/errors';
import { MAX_ENTRIES, openSafetensors } from '../../extension/core/formats/safetensors';
import { BASE_GLOBALS, LazyBytes, MemorySource, PyDictObject, unpickle, unpickleAt, type PyCallable } from '../../extension/core/formats/pickle';
import { type Py, pickle2 } from './helpers/pyfiles';
import { rejects } from './helpers/errors';

let tmpDir = '';
before(async () => {
  tmpDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'limits-promises-'));
});
after(async () => {
  await fsp.rm(tmpDir, { recursive: true, force: true });
});

let fileNo = 0;
/** A safetensors file with this header text (as written, not re-serialized) and `data` bytes of data. */
async function st(header: string | object, data = 0, raw?: Buffer): Promise<string> {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  const file = path.join(tmpDir, `f${fileNo++}.safetensors`);
  await fsp.writeFile(file, raw ?? Buffer.concat([len, Buffer.from(text, 'utf8'), Buffer.alloc(data, 7)]));
  return file;
}
const entry = (dtype: unknown, shape: unknown, offs: unknown) => ({ dtype, shape, data_offsets: offs });

describe('safetensors: the header length is checked before the header is read', () => {
  it('a file shorter than the 8-byte length is refused, naming its size', async () => {
    const file = await st('', 0, Buffer.alloc(7));
    const e = await rejects(openSafetensors(file), 'BAD_WEIGHTS', 'not a safetensors file: 7 bytes, shorter than the 8-byte header length');
    assert.equal(e.file, file);
  });
  it('a header length under 2 is refused; 2 bytes ("{}") is the smallest header, a file with no tensors', async () => {
    await rejects(openSafetensors(await st('', 0, Buffer.alloc(8))), 'BAD_WEIGHTS', 'header length 0');
    for (const n of [0, 1]) {
      const b = Buffer.alloc(16, 0x20);
      b.writeBigUInt64LE(BigInt(n));
      await rejects(openSafetensors(await st('', 0, b)), 'BAD_WEIGHTS', `header length ${n}`);
    }
    const f = await openSafetensors(await st('{}'));
    try {
      assert.equal(f.tensors.size, 0);
      assert.equal(f.dataStart, 10);
    } finally {
      await f.close();
    }
  });
  it('a header longer than the file is refused, naming both sizes; one that ends at the file\'s end is read', async () => {
    const b = Buffer.concat([Buffer.alloc(8), Buffer.from('{}  ')]);
    b.writeBigUInt64LE(5n);
    await rejects(openSafetensors(await st('', 0, b)), 'BAD_WEIGHTS', 'the header claims 5 bytes but the file holds 4 after the length');
    b.writeBigUInt64LE(4n);
    const f = await openSafetensors(await st('', 0, b));
    assert.equal(f.tensors.size, 0);
    await f.close();
  });
  it('a header that is not a JSON object is refused, quoting its start', async () => {
    await rejects(openSafetensors(await st('[1, 2, 3]')), 'BAD_WEIGHTS', "the header does not start with '{'", '[1, 2, 3]');
  });
});

describe('safetensors: every entry is checked, and the error names the tensor', () => {
  const f32 = (offs: [number, number], shape = [(offs[1] - offs[0]) / 4]) => entry('F32', shape, offs);

  it('a well-formed file: tensors in data order with their dtype, shape and offsets; metadata kept; empty tensors checked, not kept', async () => {
    const file = await st({ __metadata__: { format: 'pt' }, b: f32([8, 16], [2]), a: entry('BF16', [2, 2], [0, 8]), empty: entry('F32', [0, 3], [16, 16]), c: entry('U16', [], [16, 18]) }, 18);
    const f = await openSafetensors(file);
    try {
      assert.deepEqual([...f.tensors.keys()], ['a', 'b', 'c']);
      const a = f.tensors.get('a')!;
      assert.deepEqual([a.dtype, a.fileDtype, a.shape, a.numel, a.begin, a.end], ['bfloat16', 'BF16', [2, 2], 4, 0, 8]);
      const c = f.tensors.get('c')!;
      assert.deepEqual([c.fileDtype, c.shape, c.numel, c.begin, c.end], ['U16', [], 1, 16, 18]);
      assert.deepEqual({ ...f.metadata }, { format: 'pt' });
      const t = await f.tensors.get('b')!.load();
      assert.deepEqual(Array.from(t.data as Float32Array).length, 2);
    } finally {
      await f.close();
    }
  });
  it('the same tensor twice is refused', async () => {
    await rejects(openSafetensors(await st('{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', 8)), 'BAD_WEIGHTS', 'tensor w appears twice');
  });
  it(`more than ${MAX_ENTRIES.toLocaleString('en-US')} entries are refused; exactly that many are read`, async () => {
    const header = (n: number) => `{${Array.from({ length: n }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`).join(',')}}`;
    const f = await openSafetensors(await st(header(MAX_ENTRIES)));
    assert.equal(f.tensors.size, 0);
    await f.close();
    await rejects(openSafetensors(await st(header(MAX_ENTRIES + 1))), 'LIMIT_EXCEEDED', 'more than 100,000 entries');
  });
  it('__metadata__ must be an object of strings', async () => {
    for (const m of [[], 'pt', null, 3]) await rejects(openSafetensors(await st({ __metadata__: m })), 'BAD_WEIGHTS', '__metadata__ is not an object');
    await rejects(openSafetensors(await st({ __metadata__: { format: 'pt', step: 3 } })), 'BAD_WEIGHTS', '__metadata__.step is not a string');
  });
  it('an entry that is not an object, or has no dtype, or one the format does not have, is refused naming the tensor', async () => {
    for (const v of [[1, 2], 'F32', null, 4]) await rejects(openSafetensors(await st({ w: v })), 'BAD_WEIGHTS', 'tensor w: its entry is not an object');
    await rejects(openSafetensors(await st({ w: { shape: [1], data_offsets: [0, 4] } }, 4)), 'BAD_WEIGHTS', 'tensor w: dtype is missing');
    await rejects(openSafetensors(await st({ w: entry(5, [1], [0, 4]) }, 4)), 'BAD_WEIGHTS', 'tensor w: dtype is missing');
    await rejects(openSafetensors(await st({ w: entry('F12', [1], [0, 4]) }, 4)), 'BAD_WEIGHTS', "tensor w: unknown dtype 'F12'");
    await rejects(openSafetensors(await st({ w: entry('toString', [1], [0, 4]) }, 4)), 'BAD_WEIGHTS', "unknown dtype 'toString'");
  });
  it('a shape that is not a list of non-negative integers is refused naming the tensor', async () => {
    for (const shape of [4, null, [-1], [1.5], ['4'], [2 ** 53]]) {
      await rejects(openSafetensors(await st({ w: entry('F32', shape, [0, 4]) }, 4)), 'BAD_WEIGHTS', `tensor w: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
  });
  it('data_offsets that are not a pair of non-negative integers are refused naming the tensor', async () => {
    for (const offs of [4, [0], [0, 4, 8], [-4, 0], [0, 4.5], ['0', 4], null]) {
      await rejects(openSafetensors(await st({ w: entry('F32', [1], offs) }, 8)), 'BAD_WEIGHTS', `tensor w: data_offsets ${JSON.stringify(offs)} is not a pair of non-negative integers`);
    }
  });
  it('offsets that end before they begin, or run past the file, are refused naming the tensor; ending at the last byte is fine', async () => {
    await rejects(openSafetensors(await st({ w: f32([8, 4], [1]) }, 8)), 'BAD_WEIGHTS', 'tensor w: data_offsets [8, 4] end before they begin');
    await rejects(openSafetensors(await st({ w: f32([4, 12]) }, 11)), 'BAD_WEIGHTS', 'tensor w reaches byte 12 of the data, but the file holds 11 bytes of data');
    const f = await openSafetensors(await st({ w: f32([4, 12]) }, 12));
    assert.deepEqual([...f.tensors.keys()], ['w']);
    await f.close();
  });
  it('a span that does not hold shape × dtype size bytes is refused, naming both', async () => {
    await rejects(openSafetensors(await st({ w: entry('F32', [2, 2], [4, 16]) }, 20)), 'BAD_WEIGHTS', 'tensor w: shape [2, 2] of F32 needs 16 bytes, data_offsets span 12');
    await rejects(openSafetensors(await st({ w: entry('F64', [2], [0, 8]) }, 16)), 'BAD_WEIGHTS', 'needs 16 bytes, data_offsets span 8');
    await rejects(openSafetensors(await st({ w: entry('C128', [1], [0, 8]) }, 16)), 'BAD_WEIGHTS', 'of C128 needs 16 bytes');
  });
  it('tensors whose bytes overlap are refused, naming both and the shared bytes; touching tensors are fine', async () => {
    await rejects(openSafetensors(await st({ b: f32([4, 12]), a: f32([0, 8]) }, 12)), 'BAD_WEIGHTS', 'tensors a and b overlap (bytes 4..8)');
    await rejects(openSafetensors(await st({ a: f32([0, 8]), b: f32([0, 8]) }, 8)), 'BAD_WEIGHTS', 'overlap');
    // the same start: the shorter sorts first, and is overlapped by the longer
    await rejects(openSafetensors(await st({ long: f32([0, 8]), short: f32([0, 4]) }, 8)), 'BAD_WEIGHTS', 'tensors short and long overlap (bytes 0..4)');
    const f = await openSafetensors(await st({ b: f32([8, 12]), a: f32([0, 8]), c: f32([12, 16]) }, 16));
    assert.deepEqual([...f.tensors.keys()], ['a', 'b', 'c']);
    await f.close();
  });
});

describe('pickle: what each copy out of an argument is charged', () => {
  /** A call context that records what it is charged. */
  const counting = () => {
    const ctx = { units: 0, charge: (u: number) => void (ctx.units += u) };
    return ctx;
  };
  const call = (name: string, args: unknown[], ctx?: { charge(u: number): void }) => (BASE_GLOBALS.get(name) as PyCallable)(args, undefined, ctx);

  for (const name of ['builtins.bytes', 'builtins.bytearray']) {
    const what = `${name.slice(9)}()`;
    it(`${what}: a list is charged one unit per item; text one per character; bytes are passed through free`, () => {
      let ctx = counting();
      assert.deepEqual(Array.from(call(name, [[0, 1, 2, 255]], ctx) as Uint8Array), [0, 1, 2, 255]);
      assert.equal(ctx.units, 4);
      ctx = counting();
      assert.deepEqual(Array.from(call(name, ['aé', 'latin-1'], ctx) as Uint8Array), [0x61, 0xe9]);
      assert.equal(ctx.units, 2);
      assert.deepEqual(Array.from(call(name, ['é', 'ISO-8859-1']) as Uint8Array), [0xe9]);
      assert.deepEqual(Array.from(call(name, ['é', 'utf_8']) as Uint8Array), [0xc3, 0xa9]);
      assert.deepEqual(Array.from(call(name, ['é']) as Uint8Array), [0xc3, 0xa9], 'utf-8 by default');
      const b = new Uint8Array([9, 8]);
      ctx = counting();
      assert.equal(call(name, [b], ctx), b);
      const lazy = new LazyBytes(new MemorySource(new Uint8Array(1 << 20)), 0, 1 << 20);
      assert.equal(call(name, [lazy], ctx), lazy, 'bytes left in the file stay there');
      assert.equal(ctx.units, 0);
      assert.deepEqual(Array.from(call(name, []) as Uint8Array), []);
    });
    it(`${what}: a list that is not all bytes, an unknown encoding or another type is a BAD_PICKLE naming the call`, async () => {
      for (const bad of [[256], [-1], [1.5], ['a'], [null], [1, 256], [0, 'a']]) await rejects(() => call(name, [bad]), 'BAD_PICKLE', `${what} of a list that is not all bytes`);
      await rejects(() => call(name, ['abc', 'ascii']), 'BAD_PICKLE', `${what}: unsupported text encoding "ascii"`);
      await rejects(() => call(name, [5]), 'BAD_PICKLE', `${what} of a number`);
      await rejects(() => call(name, [new Map()]), 'BAD_PICKLE', `${what} of a dict`);
    });
  }

  for (const name of ['builtins.set', 'builtins.frozenset']) {
    const what = `${name.slice(9)}()`;
    it(`${what}: of a list or a set, charged one unit per item; of nothing, empty; of anything else, a BAD_PICKLE`, async () => {
      let ctx = counting();
      assert.deepEqual(call(name, [[1, 2, 2, 3]], ctx), new Set([1, 2, 3]));
      assert.equal(ctx.units, 4);
      ctx = counting();
      assert.deepEqual(call(name, [new Set(['a', 'b'])], ctx), new Set(['a', 'b']));
      assert.equal(ctx.units, 2);
      assert.deepEqual(call(name, []), new Set());
      assert.deepEqual(call(name, [[7]]), new Set([7]), 'with no context to charge');
      assert.deepEqual(call(name, [new Set([7])]), new Set([7]), 'with no context to charge');
      await rejects(() => call(name, ['ab']), 'BAD_PICKLE', `${what} of a string`);
    });
  }

  it('OrderedDict(): of a dict, charged one unit per item; of key/value pairs, one per pair; anything else a BAD_PICKLE', async () => {
    let ctx = counting();
    const d = call('collections.OrderedDict', [new Map<unknown, unknown>([['a', 1], ['b', 2]])], ctx) as PyDictObject;
    assert.ok(d instanceof PyDictObject);
    assert.equal(d.className, 'collections.OrderedDict');
    assert.deepEqual([...d], [['a', 1], ['b', 2]]);
    assert.equal(ctx.units, 2);
    ctx = counting();
    const p = call('collections.OrderedDict', [[['x', 1], ['y', 2], ['z', 3]]], ctx) as PyDictObject;
    assert.deepEqual([...p], [['x', 1], ['y', 2], ['z', 3]]);
    assert.equal(ctx.units, 3);
    assert.equal((call('collections.OrderedDict', [new Map([['k', 0]])]) as PyDictObject).get('k'), 0, 'with no context to charge');
    assert.equal((call('collections.OrderedDict', []) as PyDictObject).size, 0);
    for (const bad of [[['x']], [['x', 1, 2]], ['xy']]) await rejects(() => call('collections.OrderedDict', [bad]), 'BAD_PICKLE', 'collections.OrderedDict() expects key/value pairs');
    await rejects(() => call('collections.OrderedDict', [3]), 'BAD_PICKLE', 'collections.OrderedDict() of a number');
  });
});

describe('pickle: the work budget', () => {
  const opts = { globals: BASE_GLOBALS, file: 'w.pkl' };
  /** set() of a memoized 1,000-item list, `calls` times: ~1,000 units a call for ~10 bytes. */
  const expander = (calls: number): Buffer => pickle2({
    $list: [
      { $put: 1, value: { $list: Array.from({ length: 1000 }, (_, i) => i % 200) } },
      ...Array.from({ length: calls }, (): Py => ({ $call: { $global: 'builtins.set' }, args: [{ $get: 1 }] })),
    ],
  });
  /** The least budget under which `data` unpickles (the work it does). */
  const workOf = (data: Uint8Array): number => {
    let lo = 0;
    let hi = 1 << 24;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      try {
        unpickle(data, { ...opts, budget: mid });
        hi = mid;
      } catch (e) {
        assert.ok(e instanceof LabError && e.code === 'LIMIT_EXCEEDED', String(e));
        lo = mid + 1;
      }
    }
    return lo;
  };

  it('each opcode is one unit: PROTO, NONE, STOP is read with a budget of 3 and refused with 2', async () => {
    const none = Uint8Array.from([0x80, 0x02, 0x4e, 0x2e]);
    assert.equal(unpickle(none, { ...opts, budget: 3 }), null);
    await rejects(() => unpickle(none, { ...opts, budget: 2 }), 'LIMIT_EXCEEDED', 'more than 2 units of work for its 4 bytes');
  });
  it('a pickle is read with exactly the work it does as its budget, and refused with one unit less, naming the budget and its size', async () => {
    const data = expander(3);
    const w = workOf(data);
    const perCall = workOf(expander(4)) - w;
    assert.ok(perCall >= 1000 && perCall < 1100, `each set() of the memoized 1,000-item list is charged its 1,000 items (and its opcodes, under 100): ${perCall}`);
    assert.equal((unpickle(data, { ...opts, budget: w }) as unknown[]).length, 4);
    await rejects(() => unpickle(data, { ...opts, budget: w - 1 }), 'LIMIT_EXCEEDED', 'w.pkl', `the pickle does more than ${(w - 1).toLocaleString('en-US')} units of work for its ${data.length.toLocaleString('en-US')} bytes`);
  });

  it('by default the budget is 1,000,000 units plus 8 per byte the pickle spans (not counting the bytes before it)', async () => {
    // the work and the size grow by the same amount with each call: find the last number of calls the default admits
    const w1 = workOf(expander(1));
    const perCall = workOf(expander(2)) - w1;
    const bytesPerCall = expander(2).length - expander(1).length;
    const calls = 1 + Math.floor((1_000_000 + 8 * expander(1).length - w1) / (perCall - 8 * bytesPerCall));
    const fits = expander(calls);
    const over = expander(calls + 1);
    const wFits = w1 + (calls - 1) * perCall;
    assert.ok(wFits > 1_000_000, `the work exceeds the flat part of the budget: ${wFits}`);
    assert.ok(wFits <= 1_000_000 + 8 * fits.length && wFits + perCall > 1_000_000 + 8 * over.length);
    assert.doesNotThrow(() => unpickle(fits, { ...opts, budget: wFits }));
    await rejects(() => unpickle(fits, { ...opts, budget: wFits - 1 }), 'LIMIT_EXCEEDED');
    assert.equal((unpickle(fits, opts) as unknown[]).length, calls + 1);
    await rejects(() => unpickle(over, opts), 'LIMIT_EXCEEDED', `more than ${(1_000_000 + 8 * over.length).toLocaleString('en-US')} units`);
    // the same pickles after 100,000 bytes of something else: the budget is the pickle's own span
    const prefix = Buffer.alloc(100_000, 0x4e);
    assert.equal((unpickleAt(Buffer.concat([prefix, fits]), prefix.length, opts).value as unknown[]).length, calls + 1);
    await rejects(() => unpickleAt(Buffer.concat([prefix, over]), prefix.length, opts), 'LIMIT_EXCEEDED', 'w.pkl', `the pickle does more than ${(1_000_000 + 8 * over.length).toLocaleString('en-US')} units of work for its ${over.length.toLocaleString('en-US')} bytes`);
  });
});
