import { strict as assert } from 'assert';
import childProcess = require('child_process');
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabError } from '../../extension/core/errors';
import { readCheckpoint, readTestData, openZip, unpickle, NUMPY_GLOBALS, BASE_GLOBALS, NdArray, PyDictObject, PyObject } from '../../extension/core/formats';
import { Tensor, halfBitsToFloat } from '../../extension/core/tensor';
import { Py, f32bytes, npArray, pickle2, storedZip, torchTensor, torchZip } from './helpers/pyfiles';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures');
const fixture = (name: string) => path.join(FIXTURES, name);

let tmpDir = '';
async function tmpFile(name: string, data: Uint8Array | string): Promise<string> {
  const p = path.join(tmpDir, name);
  await fsp.writeFile(p, data);
  return p;
}

/** Asserts the promise rejects with a LabError of `code` whose message names `file` (and contains `words`). */
async function rejectsWith(p: Promise<unknown>, code: LabError['code'], file: string, ...words: string[]): Promise<LabError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof LabError, `expected a LabError ${code}, got ${err === undefined ? 'success' : String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.ok(err.message.includes(file), `message should name ${file}: ${err.message}`);
  for (const w of words) assert.ok(err.message.includes(w), `message should contain "${w}": ${err.message}`);
  return err;
}

async function loadAll(p: string, names: string[]): Promise<Map<string, Tensor>> {
  const ck = await readCheckpoint(p);
  try {
    const out = new Map<string, Tensor>();
    for (const n of names) {
      const lt = ck.stateDict.get(n);
      assert.ok(lt, `${n} is in the state dict`);
      out.set(n, await lt.load());
    }
    return out;
  } finally {
    await ck.close();
  }
}

before(async () => {
  tmpDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'formats-test-'));
});
after(async () => {
  await fsp.rm(tmpDir, { recursive: true, force: true });
});

describe('checkpoints: the four fixtures read lazily, values as numpy reads the raw storages', () => {
  // Expected values were computed with numpy from the raw storage bytes (zip entries / legacy records).
  const cases = [
    { file: 'd1_outlier.pyth', format: 'zip', keys: 249, elements: 927952, qkv: [192, 64], qkvFirst: 0.03631395101547241, qkvLast: 0.22423486411571503, head: [400, 64] },
    { file: 'd2_legacy.pyth', format: 'legacy', keys: 69, elements: 158455, qkv: [144, 48], qkvFirst: 0.36078354716300964, qkvLast: -0.0672176256775856, head: [7, 48] },
    { file: 'd3_half_weights.pyth', format: 'zip', keys: 49, elements: 61546, qkv: [96, 32], qkvFirst: 0.2291259765625, qkvLast: 0.57958984375, head: [10, 32] },
    { file: 'd4_geometry.pyth', format: 'zip', keys: 49, elements: 146752, qkv: [144, 48], qkvFirst: -0.34767183661460876, qkvLast: -0.2892102301120758, head: [400, 48] },
  ] as const;

  for (const c of cases) {
    it(`${c.file}: ${c.format} format, ${c.keys} tensors, qkv ${c.qkv.join('x')} with exact first/last values`, async () => {
      const ck = await readCheckpoint(fixture(c.file));
      try {
        assert.equal(ck.format, c.format);
        assert.equal(ck.path, fixture(c.file));
        assert.equal(ck.stateDict.size, c.keys);
        const qkv = ck.stateDict.get('model.blocks.0.attn.qkv.weight');
        assert.ok(qkv);
        assert.deepEqual(qkv.shape, c.qkv);
        assert.equal(qkv.numel, c.qkv[0] * c.qkv[1]);
        assert.deepEqual(ck.stateDict.get('model.head.weight')?.shape, c.head);
        const t = (await qkv.load()).toFloat32();
        assert.equal(t.length, qkv.numel);
        assert.equal(t[0], c.qkvFirst);
        assert.equal(t[t.length - 1], c.qkvLast);
        // every tensor loads, and the element counts add up to numpy's
        let total = 0;
        for (const lt of ck.stateDict.values()) {
          const x = await lt.load();
          assert.deepEqual([...x.shape], lt.shape);
          assert.equal(x.dtype, lt.dtype);
          total += x.size;
        }
        assert.equal(total, c.elements);
        assert.equal(ck.meta.epoch, 3);
        assert.equal(ck.meta.cfg, 'TIMESFORMER:\n  ATTENTION_TYPE: divided_space_time\n');
        assert.ok(!('model_state' in ck.meta), 'the state dict is not repeated in meta');
        assert.doesNotThrow(() => JSON.stringify(ck.meta));
      } finally {
        await ck.close();
      }
    });
  }

  it('d1_outlier: the planted outlier 300.0 sits at index 21 of model.blocks.3.mlp.fc2.bias', async () => {
    const t = (await loadAll(fixture('d1_outlier.pyth'), ['model.blocks.3.mlp.fc2.bias'])).get('model.blocks.3.mlp.fc2.bias') as Tensor;
    assert.equal(t.dtype, 'float32');
    assert.deepEqual([...t.shape], [64]);
    const v = t.toFloat32();
    assert.equal(v[21], 300);
    assert.equal(v.reduce((m, x, i) => (Math.abs(x) > 10 ? m.concat(i) : m), [] as number[]).join(), '21');
  });

  it('d3_half_weights: float16 storages keep their raw bits and convert exactly to float32', async () => {
    const ck = await readCheckpoint(fixture('d3_half_weights.pyth'));
    try {
      for (const lt of ck.stateDict.values()) assert.equal(lt.dtype, 'float16', lt.name);
      const t = await (ck.stateDict.get('model.blocks.0.norm1.weight') as { load(): Promise<Tensor> }).load();
      assert.equal(t.dtype, 'float16');
      assert.deepEqual([...(t.data as Uint16Array).subarray(0, 4)], [15392, 15423, 15292, 15212]); // numpy .view(uint16)
      assert.deepEqual([...t.toFloat32().subarray(0, 4)], [1.03125, 1.0615234375, 0.966796875, 0.927734375]);
      assert.equal(halfBitsToFloat(15392), 1.03125);
    } finally {
      await ck.close();
    }
  });

  it('d2_legacy: storages are located by seeking; the optimizer state is summarized, never loaded', async () => {
    const ck = await readCheckpoint(fixture('d2_legacy.pyth'));
    try {
      const cls = await (ck.stateDict.get('model.cls_token') as { load(): Promise<Tensor> }).load();
      assert.deepEqual([...cls.shape], [1, 1, 48]);
      assert.equal(cls.toFloat32()[0], -0.023955637589097023);
      assert.equal(cls.toFloat32()[47], -0.003209067974239588);
      const opt = ck.meta.optimizer_state as Record<string, unknown>;
      assert.equal(opt.loaded, false);
      assert.equal(opt.tensors, 69); // one momentum buffer per parameter
      assert.equal(opt.elements, 158455);
      assert.equal(opt.stateEntries, 69);
      const groups = opt.paramGroups as Record<string, unknown>[];
      assert.equal(groups.length, 1);
      assert.equal(groups[0].lr, 0.001);
      assert.equal(groups[0].momentum, 0.9);
      assert.equal(groups[0].params, 69);
    } finally {
      await ck.close();
    }
  });

  it('d4_geometry: 224x224 input gives a 197-token positional embedding', async () => {
    const ck = await readCheckpoint(fixture('d4_geometry.pyth'));
    try {
      assert.deepEqual(ck.stateDict.get('model.pos_embed')?.shape, [1, 197, 48]);
      assert.deepEqual(ck.stateDict.get('model.time_embed')?.shape, [1, 8, 48]);
    } finally {
      await ck.close();
    }
  });

  it('a view (storage offset + non-contiguous stride) is materialized as a contiguous copy; views share one storage', async () => {
    const storage = f32bytes(Array.from({ length: 24 }, (_, i) => i));
    const top: Py = {
      $dict: [
        ['epoch', 7],
        ['state_dict', {
          $call: { $global: 'collections.OrderedDict' },
          args: [[
            ['transposed', torchTensor('FloatStorage', '0', 24, 2, [3, 4], [1, 3])], // t[i][j] = s[2 + i + 3j]
            ['slice', torchTensor('FloatStorage', '0', 24, 5, [2, 2], [4, 1])], // rows of a 4-wide matrix
            ['whole', torchTensor('FloatStorage', '0', 24, 0, [24], [1])],
            ['param', { $call: { $global: 'torch._utils._rebuild_parameter' }, args: [torchTensor('FloatStorage', '0', 24, 23, [1], [1]), true, { $call: { $global: 'collections.OrderedDict' }, args: [] }] }],
          ]],
        }],
      ],
    };
    const p = await tmpFile('views.pt', torchZip('views', top, { '0': storage }));
    const ck = await readCheckpoint(p);
    try {
      assert.equal(ck.format, 'zip');
      assert.deepEqual([...ck.stateDict.keys()], ['transposed', 'slice', 'whole', 'param']);
      assert.deepEqual(ck.meta, { epoch: 7 });
      const tr = await (ck.stateDict.get('transposed') as { load(): Promise<Tensor> }).load();
      assert.deepEqual([...tr.shape], [3, 4]);
      assert.deepEqual([...tr.toFloat32()], [2, 5, 8, 11, 3, 6, 9, 12, 4, 7, 10, 13]);
      const sl = await (ck.stateDict.get('slice') as { load(): Promise<Tensor> }).load();
      assert.deepEqual([...sl.toFloat32()], [5, 6, 9, 10]);
      const whole = await (ck.stateDict.get('whole') as { load(): Promise<Tensor> }).load();
      assert.equal(whole.toFloat32()[23], 23);
      const param = await (ck.stateDict.get('param') as { load(): Promise<Tensor> }).load();
      assert.deepEqual([...param.toFloat32()], [23]);
    } finally {
      await ck.close();
    }
  });
});

describe('test data: (video, [probs, blocks]) pickles of protocols 2, 4 and 5 become float32 tensors', () => {
  // Expected values from numpy: pickle.load(...) on the same files.
  const cases = [
    { file: 'd1_outlier_test_data.p', video: [1, 3, 8, 64, 64], probs: [1, 400], blocks: 12, block: [1, 129, 64], v0: 0.06275675445795059, v1: 1.3265810012817383, vLast: 0.34857311844825745, argmax: 171, b0: -1.5601180791854858, bLast: -50.08971405029297 },
    { file: 'd2_legacy_test_data.p', video: [1, 3, 4, 48, 48], probs: [1, 7], blocks: 3, block: [1, 37, 48], v0: -0.20093804597854614, v1: -1.075750470161438, vLast: 1.4420769214630127, argmax: 6, b0: 2.5991690158843994, bLast: 11.224061965942383 },
    { file: 'd3_half_weights_test_data.p', video: [1, 3, 8, 32, 32], probs: [1, 10], blocks: 2, block: [1, 33, 32], v0: 1.6600838899612427, v1: -0.14880330860614777, vLast: -0.8583280444145203, argmax: 9, b0: -4.880153179168701, bLast: -10.711271286010742 },
    { file: 'd4_geometry_test_data.p', video: [1, 3, 8, 224, 224], probs: [1, 400], blocks: 2, block: [1, 1569, 48], v0: -0.02889101207256317, v1: -0.4924086034297943, vLast: -0.23911823332309723, argmax: 328, b0: -4.212000846862793, bLast: 6.975642204284668 },
  ];
  for (const c of cases) {
    it(`${c.file}: video ${c.video.join('x')}, probs ${c.probs.join('x')}, ${c.blocks} blocks of ${c.block.join('x')}`, async () => {
      const td = await readTestData(fixture(c.file));
      assert.equal(td.path, fixture(c.file));
      assert.deepEqual([...td.video.shape], c.video);
      assert.deepEqual([...td.probs.shape], c.probs);
      assert.equal(td.blocks.length, c.blocks);
      for (const b of td.blocks) assert.deepEqual([...b.shape], c.block);
      for (const t of [td.video, td.probs, ...td.blocks]) assert.equal(t.dtype, 'float32');
      assert.equal(td.video.data[0], c.v0);
      assert.equal(td.video.data[1], c.v1);
      assert.equal(td.video.data[td.video.size - 1], c.vLast);
      const probs = td.probs.data;
      assert.ok(Math.abs(probs.reduce((s, x) => s + x, 0) - 1) < 1e-5, 'probabilities sum to 1');
      assert.equal(probs.indexOf(Math.max(...probs)), c.argmax);
      assert.equal(td.blocks[0].data[0], c.b0);
      const last = td.blocks[td.blocks.length - 1];
      assert.equal(last.data[last.size - 1], c.bLast);
    });
  }

  it('accepts lists as well as tuples, and converts float64 / int arrays to float32', async () => {
    const video = npArray('f8', [1, 3, 1, 1, 1], new Uint8Array(Float64Array.from([0.5, -1.5, 2]).buffer));
    const probs = npArray('f4', [1, 2], f32bytes([0.25, 0.75]));
    const block = npArray('i8', [1, 2, 1], new Uint8Array(BigInt64Array.from([3n, -4n]).buffer));
    const p = await tmpFile('lists.p', pickle2({ $list: [video, { $list: [probs, { $list: [block, block] }] }] }));
    const td = await readTestData(p);
    assert.deepEqual([...td.video.data], [0.5, -1.5, 2]);
    assert.equal(td.video.dtype, 'float32');
    assert.deepEqual([...td.blocks[1].data], [3, -4]);
  });
});

describe('bad inputs give typed errors that name the file', () => {
  it('a missing checkpoint or test-data file: FILE_NOT_FOUND', async () => {
    const p = path.join(tmpDir, 'nope.pyth');
    await rejectsWith(readCheckpoint(p), 'FILE_NOT_FOUND', p);
    await rejectsWith(readTestData(p), 'FILE_NOT_FOUND', p);
    await rejectsWith(openZip(p), 'FILE_NOT_FOUND', p);
  });

  it('a text file: NOT_A_CHECKPOINT saying it is text', async () => {
    const p = await tmpFile('notes.pyth', 'TIMESFORMER:\n  ATTENTION_TYPE: divided_space_time\n');
    await rejectsWith(readCheckpoint(p), 'NOT_A_CHECKPOINT', p, 'text starting "TIMESFORMER:');
  });

  it('test data given as the checkpoint: NOT_A_CHECKPOINT (a pickle without the magic number)', async () => {
    await rejectsWith(readCheckpoint(fixture('d3_half_weights_test_data.p')), 'NOT_A_CHECKPOINT', fixture('d3_half_weights_test_data.p'), 'magic number');
  });

  it('a truncated zip (first half of d1_outlier): BAD_ZIP', async () => {
    const whole = await fsp.readFile(fixture('d1_outlier.pyth'));
    const p = await tmpFile('half.pyth', whole.subarray(0, whole.length >> 1));
    await rejectsWith(readCheckpoint(p), 'BAD_ZIP', p, 'truncated');
  });

  it('a truncated legacy checkpoint (first half of d2_legacy): BAD_WEIGHTS naming the cut storage', async () => {
    const whole = await fsp.readFile(fixture('d2_legacy.pyth'));
    const p = await tmpFile('half_legacy.pyth', whole.subarray(0, whole.length >> 1));
    await rejectsWith(readCheckpoint(p), 'BAD_WEIGHTS', p, 'truncated');
  });

  it('a zip that is not a checkpoint: NOT_A_CHECKPOINT', async () => {
    const p = await tmpFile('other.zip', storedZip([['readme.txt', Buffer.from('hello')]]));
    await rejectsWith(readCheckpoint(p), 'NOT_A_CHECKPOINT', p, 'data.pkl');
  });

  describe('pickles that reference code are refused and never run', () => {
    // b'\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.' — posix.system('ls')
    const POSIX_SYSTEM = Buffer.from('\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.', 'latin1');
    const OS_SYSTEM_P0 = Buffer.from("cos\nsystem\n(S'touch /tmp/pwned'\ntR.", 'latin1');
    const spawned: string[] = [];
    const cp = childProcess as unknown as Record<string, unknown>;
    const names = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'];
    const saved = new Map<string, unknown>();
    before(() => {
      for (const n of names) {
        saved.set(n, cp[n]);
        try {
          cp[n] = (...args: unknown[]) => {
            spawned.push(`${n} ${String(args[0])}`);
            throw new Error('a reader tried to start a process');
          };
        } catch {
          /* read-only export: the registry still makes it impossible */
        }
      }
    });
    after(() => {
      for (const n of names) {
        try {
          cp[n] = saved.get(n);
        } catch {
          /* ignore */
        }
      }
    });

    it('posix.system / os.system via unpickle: FORBIDDEN_PICKLE_GLOBAL naming the reference', async () => {
      assert.notEqual(cp.execSync, saved.get('execSync'), 'the process sentinel is in place');
      const file = '/data/evil.p';
      await rejectsWith(Promise.resolve().then(() => unpickle(POSIX_SYSTEM, { globals: BASE_GLOBALS, file })), 'FORBIDDEN_PICKLE_GLOBAL', file, 'pickle references posix.system, which is not allowed');
      await rejectsWith(Promise.resolve().then(() => unpickle(OS_SYSTEM_P0, { globals: BASE_GLOBALS, file })), 'FORBIDDEN_PICKLE_GLOBAL', file, 'os.system');
      assert.deepEqual(spawned, []);
    });

    it('as test data: FORBIDDEN_PICKLE_GLOBAL, nothing executed', async () => {
      const p = await tmpFile('evil_test_data.p', POSIX_SYSTEM);
      await rejectsWith(readTestData(p), 'FORBIDDEN_PICKLE_GLOBAL', p, 'posix.system');
      assert.deepEqual(spawned, []);
    });

    it('inside a zip checkpoint (posix.system, torch.storage._load_from_bytes): FORBIDDEN_PICKLE_GLOBAL', async () => {
      const evil = storedZip([['evil/data.pkl', POSIX_SYSTEM]]);
      const p = await tmpFile('evil.pyth', evil);
      await rejectsWith(readCheckpoint(p), 'FORBIDDEN_PICKLE_GLOBAL', p, 'posix.system');
      const nested = torchZip('nested', { $dict: [['model_state', { $call: { $global: 'torch.storage._load_from_bytes' }, args: [new Uint8Array([1, 2])] }]] }, {});
      const q = await tmpFile('nested.pyth', nested);
      await rejectsWith(readCheckpoint(q), 'FORBIDDEN_PICKLE_GLOBAL', q, 'torch.storage._load_from_bytes');
      assert.deepEqual(spawned, []);
    });

    it('EXT opcodes are refused too', async () => {
      await rejectsWith(Promise.resolve().then(() => unpickle(Buffer.from([0x80, 0x02, 0x82, 0x01, 0x2e]), { globals: BASE_GLOBALS, file: 'x.p' })), 'FORBIDDEN_PICKLE_GLOBAL', 'x.p', 'extension code 1');
    });
  });

  it('unknown storage types and big-endian checkpoints: clear errors', async () => {
    const complex = torchZip('c', { $dict: [['model_state', { $dict: [['w', torchTensor('ComplexFloatStorage', '0', 1, 0, [1], [1])]] }]] }, { '0': new Uint8Array(8) });
    const p = await tmpFile('complex.pyth', complex);
    await rejectsWith(readCheckpoint(p), 'UNSUPPORTED_DTYPE', p, 'torch.ComplexFloatStorage');
    const big = storedZip([
      ['b/data.pkl', pickle2({ $dict: [['w', torchTensor('FloatStorage', '0', 1, 0, [1], [1])]] })],
      ['b/byteorder', Buffer.from('big')],
      ['b/data/0', new Uint8Array(4)],
    ]);
    const q = await tmpFile('big.pyth', big);
    await rejectsWith(readCheckpoint(q), 'BAD_WEIGHTS', q, 'big-endian');
  });

  it('a tensor reaching past its storage: BAD_WEIGHTS on load', async () => {
    const top: Py = { $dict: [['w', torchTensor('FloatStorage', '0', 4, 2, [2, 2], [2, 1])]] };
    const p = await tmpFile('overrun.pyth', torchZip('o', top, { '0': f32bytes([1, 2, 3, 4]) }));
    const ck = await readCheckpoint(p);
    try {
      await rejectsWith((ck.stateDict.get('w') as { load(): Promise<Tensor> }).load(), 'BAD_WEIGHTS', p, 'storage 0 holds 4');
    } finally {
      await ck.close();
    }
  });

  it('truncated test data: BAD_TEST_DATA', async () => {
    const whole = await fsp.readFile(fixture('d1_outlier_test_data.p'));
    const p = await tmpFile('cut_test_data.p', whole.subarray(0, Math.floor(whole.length * 0.6)));
    await rejectsWith(readTestData(p), 'BAD_TEST_DATA', p, 'truncated');
  });

  describe('test data with the wrong structure: BAD_TEST_DATA saying what is wrong', () => {
    const video = npArray('f4', [1, 3, 1, 2, 2], f32bytes(new Array(12).fill(0.5)));
    const probs = npArray('f4', [1, 2], f32bytes([0.5, 0.5]));
    const block = (c: number) => npArray('f4', [1, 2, c], f32bytes(new Array(2 * c).fill(1)));
    const cases: [string, Py, string][] = [
      ['not a pair', [video, probs, [block(2)]], 'should be a pair'],
      ['outputs not a pair', [video, probs], 'should be a pair'],
      ['video 4-D', [npArray('f4', [3, 1, 2, 2], f32bytes(new Array(12).fill(0))), [probs, [block(2)]]], 'the video should be 5-D'],
      ['video with 4 channels', [npArray('f4', [1, 4, 1, 1, 1], f32bytes([0, 0, 0, 0])), [probs, [block(2)]]], '4 channels'],
      ['probs 3-D', [video, [npArray('f4', [1, 1, 2], f32bytes([0.5, 0.5])), [block(2)]]], 'probs should be 2-D'],
      ['blocks of different shapes', [video, [probs, [block(2), block(3)]]], 'block output 1 has shape (1, 2, 3)'],
      ['probs for another batch size', [video, [npArray('f4', [2, 1], f32bytes([1, 1])), [block(2)]]], 'batch sizes disagree'],
      ['a block that is a string', [video, [probs, [block(2), 'x']]], 'block output 1 should be a numpy array'],
    ];
    for (const [what, value, words] of cases) {
      it(what, async () => {
        const p = await tmpFile(`bad_${what.replace(/\W+/g, '_')}.p`, pickle2(value));
        await rejectsWith(readTestData(p), 'BAD_TEST_DATA', p, words);
      });
    }
    it('an empty list of block outputs is read as is (the pipeline reports what it means)', async () => {
      const p = await tmpFile('no_blocks.p', pickle2([video, [probs, []]]));
      assert.deepEqual((await readTestData(p)).blocks, []);
    });
    it('a big-endian array: UNSUPPORTED_DTYPE', async () => {
      const p = await tmpFile('bigendian.p', pickle2([npArray('f4', [1, 3, 1, 1, 1], new Uint8Array(12), '>'), [probs, [block(2)]]]));
      await rejectsWith(readTestData(p), 'UNSUPPORTED_DTYPE', p, 'big-endian');
    });
  });
});

describe('unpickler: every protocol, exact values', () => {
  // pickle.dumps({'a': [1, -2, 3.5, 2**70, -2**70, -300, 70000, 'é€', b'xy', (1, 2), True, None, {7}, frozenset([3])],
  //               'o': OrderedDict([('k', 1.25)])}, protocol=p) from CPython 3.11
  const HEX: Record<number, string> = {
    0: '286470300a56610a70310a286c70320a49310a61492d320a6146332e350a614c313138303539313632303731373431313330333432344c0a614c2d313138303539313632303731373431313330333432344c0a61492d3330300a614937303030300a6156e95c75323061630a70330a61635f636f646563730a656e636f64650a70340a285678790a70350a566c6174696e310a70360a7470370a5270380a612849310a49320a7470390a614930310a614e61635f5f6275696c74696e5f5f0a7365740a7031300a28286c7031310a49370a61747031320a527031330a61635f5f6275696c74696e5f5f0a66726f7a656e7365740a7031340a28286c7031350a49330a61747031360a527031370a6173566f0a7031380a63636f6c6c656374696f6e730a4f726465726564446963740a7031390a2874527032300a566b0a7032310a46312e32350a73732e',
    1: '7d71002858010000006171015d7102284b014afeffffff47400c0000000000004c313138303539313632303731373431313330333432344c0a4c2d313138303539313632303731373431313330333432344c0a4ad4feffff4a701101005805000000c3a9e282ac7103635f636f646563730a656e636f64650a71042858020000007879710558060000006c6174696e317106747107527108284b014b027471094930310a4e635f5f6275696c74696e5f5f0a7365740a710a285d710b4b076174710c52710d635f5f6275696c74696e5f5f0a66726f7a656e7365740a710e285d710f4b03617471105271116558010000006f711263636f6c6c656374696f6e730a4f726465726564446963740a71132952711458010000006b7115473ff400000000000073752e',
    2: '80027d71002858010000006171015d7102284b014afeffffff47400c0000000000008a090000000000000000408a090000000000000000c04ad4feffff4a701101005805000000c3a9e282ac7103635f636f646563730a656e636f64650a710458020000007879710558060000006c6174696e3171068671075271084b014b02867109884e635f5f6275696c74696e5f5f0a7365740a710a5d710b4b076185710c52710d635f5f6275696c74696e5f5f0a66726f7a656e7365740a710e5d710f4b03618571105271116558010000006f711263636f6c6c656374696f6e730a4f726465726564446963740a71132952711458010000006b7115473ff400000000000073752e',
    3: '80037d71002858010000006171015d7102284b014afeffffff47400c0000000000008a090000000000000000408a090000000000000000c04ad4feffff4a701101005805000000c3a9e282ac71034302787971044b014b02867105884e636275696c74696e730a7365740a71065d71074b0761857108527109636275696c74696e730a66726f7a656e7365740a710a5d710b4b036185710c52710d6558010000006f710e63636f6c6c656374696f6e730a4f726465726564446963740a710f2952711058010000006b7111473ff400000000000073752e',
    4: '80049590000000000000007d94288c0161945d94284b014afeffffff47400c0000000000008a090000000000000000408a090000000000000000c04ad4feffff4a701101008c05c3a9e282ac9443027879944b014b028694884e8f94284b0790284b039194658c016f948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b94473ff400000000000073752e',
  };
  for (const [protocol, hex] of Object.entries(HEX)) {
    it(`protocol ${protocol}`, () => {
      const v = unpickle(Buffer.from(hex, 'hex'), { globals: BASE_GLOBALS });
      assert.ok(v instanceof Map);
      const a = v.get('a') as unknown[];
      assert.deepEqual(a.slice(0, 3), [1, -2, 3.5]);
      assert.equal(a[3], 2n ** 70n);
      assert.equal(a[4], -(2n ** 70n));
      assert.deepEqual(a.slice(5, 8), [-300, 70000, 'é€']);
      assert.deepEqual([...(a[8] as Uint8Array)], [0x78, 0x79]);
      assert.deepEqual(a.slice(9, 12), [[1, 2], true, null]);
      assert.deepEqual([...(a[12] as Set<number>)], [7]);
      assert.deepEqual([...(a[13] as Set<number>)], [3]);
      const o = v.get('o');
      assert.ok(o instanceof PyDictObject);
      assert.equal(o.className, 'collections.OrderedDict');
      assert.equal(o.get('k'), 1.25);
    });
  }

  it('OrderedDict attributes (torch _metadata) stay apart from the items', () => {
    const bytes = pickle2({ $build: { $call: { $global: 'collections.OrderedDict' }, args: [[['w', 1]]] }, state: { $dict: [['_metadata', { $dict: [] }]] } });
    const d = unpickle(bytes, { globals: BASE_GLOBALS }) as PyDictObject;
    assert.deepEqual([...d.keys()], ['w']);
    assert.ok(d.attrs.has('_metadata'));
  });

  it('a __proto__ key is plain data', () => {
    const ns = unpickle(pickle2({ $build: { $call: { $global: 'argparse.Namespace' }, args: [] }, state: { $dict: [['__proto__', { $dict: [['polluted', true]] }]] } }), { globals: BASE_GLOBALS });
    assert.ok(ns instanceof PyObject);
    assert.ok(ns.attrs.has('__proto__'));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('a protocol-2 numpy array (numpy.core.multiarray._reconstruct + BUILD) in Fortran order is transposed to C order', () => {
    const dtype: Py = { $build: { $call: { $global: 'numpy.dtype' }, args: ['f4', false, true] }, state: [3, '<', null, null, null, -1, -1, 0] };
    const arr: Py = {
      $build: { $call: { $global: 'numpy.core.multiarray._reconstruct' }, args: [{ $global: 'numpy.ndarray' }, [0], new Uint8Array([0x62])] },
      state: [1, [2, 3], dtype, true, f32bytes([1, 4, 2, 5, 3, 6])], // column-major [[1,2,3],[4,5,6]]
    };
    const a = unpickle(pickle2(arr), { globals: new Map([...BASE_GLOBALS, ...NUMPY_GLOBALS]) });
    assert.ok(a instanceof NdArray, 'numpy arrays are read lazily');
    const t = a.load();
    assert.deepEqual([...t.shape], [2, 3]);
    assert.deepEqual([...t.toFloat32()], [1, 2, 3, 4, 5, 6]);
  });

  it('a truncated pickle and an unknown opcode: BAD_PICKLE', async () => {
    await rejectsWith(Promise.resolve().then(() => unpickle(Buffer.from([0x80, 0x02, 0x58, 9, 0, 0, 0, 0x61]), { globals: BASE_GLOBALS, file: 'cut.p' })), 'BAD_PICKLE', 'cut.p', 'truncated');
    await rejectsWith(Promise.resolve().then(() => unpickle(Buffer.from([0x80, 0x02, 0xff]), { globals: BASE_GLOBALS, file: 'odd.p' })), 'BAD_PICKLE', 'odd.p', 'unknown opcode 0xff');
  });
});
