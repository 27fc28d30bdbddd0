/**
 * The readers' budgets, checked from the inside (issue 12): what is read, how often, how deep,
 * how much — the corpus (robust.test.ts) checks the answers, these check the mechanisms.
 */
import { strict as assert } from 'assert';
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import yauzl from 'yauzl';
import { LabError } from '../../extension/core/errors';
import { BASE_GLOBALS, MAX_DEPTH, openZip, readCheckpoint, readTestData, unpickle } from '../../extension/core/formats';
import { loadModel } from '../../extension/core/pipeline';
import { tinyCheckpoint } from '../robust/corpus';
import { type Py, f32bytes, npArray, pickle2, torchTensor, zipArchive } from './helpers/pyfiles';
import { rejects } from './helpers/errors';

let tmpDir = '';
before(async () => {
  tmpDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'limits-test-'));
});
after(async () => {
  await fsp.rm(tmpDir, { recursive: true, force: true });
});
const tmpFile = async (name: string, data: Uint8Array) => {
  const p = path.join(tmpDir, name);
  await fsp.writeFile(p, data);
  return p;
};
/** `mib` MiB of zeros as a raw deflate stream of repeated flushed blocks (~1 KB per MiB). */
function zeroBomb(mib: number): { compressed: Buffer; size: number } {
  const block = zlib.deflateRawSync(Buffer.alloc(1 << 20), { finishFlush: zlib.constants.Z_FULL_FLUSH, level: 9 });
  return { compressed: Buffer.concat([...new Array<Buffer>(mib).fill(block), zlib.deflateRawSync(Buffer.alloc(0))]), size: mib << 20 };
}

describe('zip: a deflated storage is inflated once, up to the last byte needed', () => {
  it('40 tensors in one 256 MiB deflated storage: one inflate stream, ~KBs inflated, every tensor read', async () => {
    const bomb = zeroBomb(256);
    const names = Array.from({ length: 40 }, (_, i) => `t${i}`);
    const top: Py = { $dict: [['state_dict', { $dict: names.map((n, i): [Py, Py] => [n, torchTensor('FloatStorage', 'b', bomb.size / 4, i * 16, [4, 4], [4, 1])]) }]] };
    const file = await tmpFile('shared_bomb.pyth', zipArchive([
      { name: 's/data.pkl', data: pickle2(top) },
      { name: 's/data/b', method: 8, compressed: bomb.compressed, size: bomb.size, crc: 0 },
    ]));
    const zip = await openZip(file);
    try {
      const [head] = await zip.readRanges('s/data/b', [{ start: 0, end: 4096 }]);
      assert.equal(head.length, 4096);
      assert.ok(zip.inflated < 1 << 20, `inflated ${zip.inflated} bytes of 256 MiB to read 4 KiB`);
    } finally {
      await zip.close();
    }
    const proto = yauzl.ZipFile.prototype as unknown as { openReadStream: (...a: unknown[]) => unknown };
    const original = proto.openReadStream;
    let streams = 0;
    proto.openReadStream = function (this: unknown, ...a: unknown[]) {
      streams++;
      return original.apply(this, a);
    };
    try {
      const ck = await readCheckpoint(file);
      try {
        const tensors = await ck.loadMany(names);
        assert.equal(tensors.size, 40);
        for (const t of tensors.values()) assert.deepEqual([...t.toFloat32()], new Array(16).fill(0));
        assert.equal(streams, 1, 'the shared storage is inflated once for all 40 tensors');
      } finally {
        await ck.close();
      }
    } finally {
      proto.openReadStream = original;
    }
  });
});

describe('pickle: shared references stay shared, depth and work are bounded', () => {
  it('L = [1]; 40 times L = [L, L] comes back as 41 lists, each level\'s two items the same object', () => {
    const lvl = (i: number): Py => (i === 0 ? { $put: 0, value: { $list: [1] } } : { $put: i, value: { $list: [lvl(i - 1), { $get: i - 1 }] } });
    let v = unpickle(pickle2(lvl(40)), { globals: BASE_GLOBALS }) as unknown[];
    for (let depth = 40; depth > 0; depth--) {
      assert.equal(v.length, 2);
      assert.equal(v[0], v[1], `level ${depth}: one object, not a copy`);
      v = v[0] as unknown[];
    }
    assert.deepEqual(v, [1]);
  });

  it('as a checkpoint\'s cfg, it is summarized within the meta bound (10,000 values), not expanded to 2^40', async () => {
    const lvl = (i: number): Py => (i === 0 ? { $put: 0, value: { $list: [1] } } : { $put: i, value: { $list: [lvl(i - 1), { $get: i - 1 }] } });
    const file = await tmpFile('laughs.pyth', zipArchive([
      { name: 'l/data.pkl', data: pickle2({ $dict: [['cfg', lvl(40)], ['state_dict', { $dict: [['w', torchTensor('FloatStorage', '0', 1, 0, [1], [1])]] }]] }) },
      { name: 'l/data/0', data: f32bytes([1]) },
    ]));
    const ck = await readCheckpoint(file);
    try {
      const text = JSON.stringify(ck.meta.cfg);
      assert.ok(text.length < 200_000, `${text.length} characters`);
      assert.ok(text.includes('<...>'), 'the rendering says where it stopped');
    } finally {
      await ck.close();
    }
  });

  it(`nesting: ${MAX_DEPTH} levels read, ${MAX_DEPTH + 1} and 5000 refused with LIMIT_EXCEEDED (no stack overflow anywhere)`, async () => {
    // 1, then `n` TUPLE1 opcodes: a tuple nested n deep.
    const nested = (n: number) => Buffer.concat([Buffer.from([0x80, 0x02, 0x4b, 0x01]), Buffer.alloc(n, 0x85), Buffer.from([0x2e])]);
    let v = unpickle(nested(MAX_DEPTH), { globals: BASE_GLOBALS });
    let depth = 0;
    while (Array.isArray(v)) {
      depth++;
      v = v[0];
    }
    assert.equal(depth, MAX_DEPTH);
    await rejects(() => unpickle(nested(MAX_DEPTH + 1), { globals: BASE_GLOBALS }), 'LIMIT_EXCEEDED', `more than ${MAX_DEPTH} levels`);
    await rejects(() => unpickle(nested(5000), { globals: BASE_GLOBALS }), 'LIMIT_EXCEEDED');
  });

  it('work: a memoized argument copied by a callable is paid for at every use (set(L) of a 100,000-item list, 1,000 times)', async () => {
    const big: Py = { $put: 1, value: { $list: Array.from({ length: 100_000 }, (_, i) => i % 100) } };
    const calls = Array.from({ length: 1000 }, (): Py => ({ $call: { $global: 'builtins.set' }, args: [{ $get: 1 }] }));
    await rejects(() => unpickle(pickle2({ $list: [big, ...calls] }), { globals: BASE_GLOBALS, file: 'sets.p' }), 'LIMIT_EXCEEDED', 'sets.p', 'units of work');
    // The same list used twice is within budget.
    const ok = unpickle(pickle2({ $list: [big, ...calls.slice(0, 2)] }), { globals: BASE_GLOBALS }) as unknown[];
    assert.equal((ok[1] as Set<number>).size, 100);
  });
});

describe('test data is read by range: shapes first, then each distinct array once', () => {
  it('a 2 GiB file whose video announces 1.9 GB is refused as a mismatch without reading it', async () => {
    // (video, [probs, []]) with the video's bytes a BINBYTES of 1.9e9 bytes: written with a
    // placeholder payload, whose length is then patched and whose bytes become a sparse hole.
    const n = 1_900_800_000; // 3 x 8 x 8800 x 9000
    const dtype: Py = { $build: { $call: { $global: 'numpy.dtype' }, args: ['u1', false, true] }, state: [3, '|', null, null, null, -1, -1, 0] };
    const mark = Buffer.from('PLACEHOLDER');
    const bytes = pickle2([
      { $call: { $global: 'numpy._core.numeric._frombuffer' }, args: [{ $binbytes: mark }, dtype, [1, 3, 8, 8800, 9000], 'C'] },
      { $list: [npArray('f4', [1, 2], f32bytes([0.5, 0.5])), { $list: [] }] },
    ]);
    const at = bytes.indexOf(mark);
    bytes.writeUInt32LE(n, at - 4);
    const file = path.join(tmpDir, 'huge_test_data.p');
    const fh = await fsp.open(file, 'w');
    await fh.write(bytes.subarray(0, at), 0, at, 0);
    await fh.write(bytes.subarray(at + mark.length), 0, bytes.length - at - mark.length, at + n);
    await fh.close();
    assert.ok((await fsp.stat(file)).size > n);
    const before = process.memoryUsage().arrayBuffers;
    const expect = { depth: 2, frames: 8, imageSize: 224, numPatches: 196, embedDim: 48, numClasses: 2 };
    await rejects(readTestData(file, expect), 'MISMATCH', 'the video has shape (1, 3, 8, 8800, 9000)');
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 2 ** 20, 'the 1.9 GB payload was never read');
  });

  it('an array listed 500 times is read (and converted to float32) once: one tensor shared by all entries', async () => {
    const video = npArray('f4', [1, 3, 1, 2, 2], f32bytes(new Array(12).fill(0.5)));
    const block: Py = { $put: 3, value: npArray('f8', [1, 2, 2], new Uint8Array(Float64Array.from([1, 2, 3, 4]).buffer)) };
    const file = await tmpFile('repeated_test_data.p', pickle2([video, { $list: [npArray('f4', [1, 2], f32bytes([0.5, 0.5])), { $list: [block, ...new Array<Py>(499).fill({ $get: 3 })] }] }]));
    const td = await readTestData(file);
    assert.equal(td.blocks.length, 500);
    assert.ok(td.blocks.every((b) => b === td.blocks[0]), 'one Tensor');
    assert.deepEqual([...td.blocks[0].data], [1, 2, 3, 4]);
    await rejects(readTestData(file, { depth: 12, frames: 1, imageSize: 2, numPatches: 1, embedDim: 2, numClasses: 2 }), 'MISMATCH', '500 block outputs', '12 blocks');
  });

  it('NaN in the test data is named by array and coordinates', async () => {
    const v = new Array(12).fill(0.5);
    v[7] = NaN;
    const file = await tmpFile('nan_test_data.p', pickle2([npArray('f4', [1, 3, 1, 2, 2], f32bytes(v)), { $list: [npArray('f4', [1, 2], f32bytes([0.5, 0.5])), { $list: [] }] }]));
    await rejects(readTestData(file), 'NON_FINITE', 'the video holds NaN at (0, 1, 0, 1, 1)');
  });
});

describe('checkpoints: only what the model uses is read, within the storage and the file', () => {
  it('loadModel never reads a key the graph does not use (its storage is not even in the archive)', async () => {
    const file = await tmpFile('unused_key.pyth', tinyCheckpoint({ extraState: [['model.extra.unused', torchTensor('FloatStorage', 'nowhere', 4, 0, [4], [1])]] }));
    const m = await loadModel(file);
    assert.equal(m.weights.size, 49, 'the 9 top-level weights and 20 per block, nothing else');
    assert.ok(!m.weights.has('extra.unused'));
    const ck = await readCheckpoint(file);
    try {
      await rejects(ck.loadMany(['model.extra.unused']), 'BAD_WEIGHTS', 'storage nowhere is missing');
    } finally {
      await ck.close();
    }
  });

  it('a stride-0 view may not hold more elements than its storage; a tensor may not reach past it', async () => {
    const file = await tmpFile('views.pyth', zipArchive([
      { name: 'v/data.pkl', data: pickle2({ $dict: [['state_dict', { $dict: [
        ['expanded', torchTensor('FloatStorage', '0', 4, 0, [2 ** 29], [0])],
        ['broadcast', torchTensor('FloatStorage', '0', 4, 0, [2, 2], [0, 1])],
        ['past', torchTensor('FloatStorage', '0', 4, 2, [3], [1])],
      ] }]] }) },
      { name: 'v/data/0', data: f32bytes([1, 2, 3, 4]) },
    ]));
    const ck = await readCheckpoint(file);
    try {
      await rejects(ck.loadMany(['expanded']), 'BAD_WEIGHTS', '536,870,912 elements', 'holds only 4');
      assert.deepEqual([...(await ck.loadMany(['broadcast'])).get('broadcast')!.toFloat32()], [1, 2, 1, 2], 'a stride-0 view within the storage is read');
      await rejects(ck.loadMany(['past']), 'BAD_WEIGHTS', 'reaches storage elements 2..5');
    } finally {
      await ck.close();
    }
  });
});

