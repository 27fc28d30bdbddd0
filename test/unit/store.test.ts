/**
 * The weights on disk (WeightStore) and the ONNX files built from them: what onnxruntime loads is the
 * graph the in-memory builder makes, value for value, and an exported file stands on its own.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { WeightStore, defaultParent, transpose2d } from '../../extension/core/model/weight-store';
import { float32ToHalfArray, roundToHalfInPlace } from '../../extension/core/tensor';
import { buildSegmented, buildTimeSformer } from '../../extension/core/model/timesformer';
import { executionFriendlyOrder } from '../../extension/core/model/onnx-builder';
import { loadModel, openModel, runPipeline, saveOnnxOf } from '../../extension/core/pipeline';
import { createEngine } from '../../extension/core/engine/session';
import { readTestData } from '../../extension/core/formats/testdata';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const D1 = { weights: path.join(FIX, 'd1_outlier.pyth'), data: path.join(FIX, 'd1_outlier_test_data.p') };

describe('weight store: the weights on disk, in the forms the graphs ask for', function () {
  let parent: string;
  beforeEach(() => (parent = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-store-'))));
  afterEach(() => fs.rmSync(parent, { recursive: true, force: true }));

  const matrix = (rows: number, cols: number) => Float32Array.from({ length: rows * cols }, (_, i) => (i % 7) * 0.37 - 1 + i * 1e-3);

  it('keeps a weight in the layout asked for, transposes it on demand, and converts it once per kind', async () => {
    const s = WeightStore.create({ parent });
    try {
      const w = matrix(6, 4);
      await s.add('fc.weight', [6, 4], w, true);
      await s.add('fc.bias', [6], Float32Array.from([1, 2, 3, 65519.99, 65520, -1e-7]));
      assert.deepEqual(s.read('fc.weight', true), transpose2d(w, 6, 4), 'stored as (in, out)');
      assert.deepEqual(s.read('fc.weight', false), w, 'the checkpoint layout, transposed back');
      const bits = new Uint16Array(24);
      const ref = s.ref('fc.weight', { transposed: true, kind: 'f16' });
      assert.equal(ref.length, 48, "24 halves");
      assert.equal(ref.offset % 65536, 0, 'entries start on 64 KiB boundaries (onnxruntime maps them)');
      s.readRef(ref, 0, new Uint8Array(bits.buffer));
      assert.deepEqual(bits, float32ToHalfArray(transpose2d(w, 6, 4)));
      const written = s.bytesWritten;
      assert.deepEqual(s.ref('fc.weight', { transposed: true, kind: 'f16' }), ref, 'the second graph gets the same bytes');
      assert.equal(s.bytesWritten, written, 'nothing converted twice');
      const rounded = new Float32Array(6);
      s.readRef(s.ref('fc.bias', { kind: 'f32.f16' }), 0, new Uint8Array(rounded.buffer));
      assert.deepEqual(rounded, roundToHalfInPlace(Float32Array.from([1, 2, 3, 65519.99, 65520, -1e-7])));
      assert.equal(rounded[4], Infinity);
      const slice = s.ref('fc.bias', { kind: 'f32', range: [2, 5] });
      const three = new Float32Array(3);
      s.readRef(slice, 0, new Uint8Array(three.buffer));
      assert.deepEqual([...three], [3, Math.fround(65519.99), 65520], 'a range is an offset into the same bytes');
      assert.throws(() => s.ref('nope', { kind: 'f32' }), /missing weight nope/);
    } finally {
      s.close();
    }
    assert.deepEqual(fs.readdirSync(parent), [], 'close() removes the folder');
  });

  it('writes the forms a run will want while reading, the same bytes as deriving them later', async () => {
    const s = WeightStore.create({ parent });
    try {
      const w = matrix(48, 16);
      await Promise.all([s.add('early', [48, 16], w, true, ['f16', 'f32.f16']), s.add('late', [48, 16], w, true)]);
      const written = s.bytesWritten;
      assert.equal(written, 48 * 16 * (4 + 2 + 4) + 48 * 16 * 4);
      const bytes = (key: string, kind: 'f16' | 'f32.f16') => {
        const ref = s.ref(key, { transposed: true, kind });
        const b = new Uint8Array(ref.length);
        s.readRef(ref, 0, b);
        return Buffer.from(b);
      };
      const early = [bytes('early', 'f16'), bytes('early', 'f32.f16')];
      assert.equal(s.bytesWritten, written, 'asking for what was written while reading writes nothing');
      assert.ok(early[0].equals(bytes('late', 'f16')) && early[1].equals(bytes('late', 'f32.f16')));
      assert.equal(s.bytesWritten, written + 48 * 16 * (2 + 4), 'the late weight was derived on demand');
    } finally {
      s.close();
    }
  });

  it('transposes any shape exactly, bits and all (NaN payloads, -0)', () => {
    for (const [rows, cols] of [[1, 1], [3, 5], [8, 8], [9, 300], [17, 513], [768, 3072]]) {
      const a = Float32Array.from({ length: rows * cols }, (_, i) => i * 0.25 - 7);
      const bits = new Uint32Array(a.buffer);
      bits[0] = 0x7fc01234; // a NaN with a payload
      a[a.length - 1] = -0;
      const t = new Uint32Array(transpose2d(a, rows, cols).buffer);
      let bad = 0;
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (t[c * rows + r] !== bits[r * cols + c]) bad++;
      assert.equal(bad, 0, `${rows} x ${cols}`);
    }
  });

  it('goes where there is room: $TIMESFORMER_LAB_WEIGHTS_DIR, else a memory file system with room for three times the weights, else the temporary folder', () => {
    const saved = process.env.TIMESFORMER_LAB_WEIGHTS_DIR;
    try {
      process.env.TIMESFORMER_LAB_WEIGHTS_DIR = parent;
      assert.equal(defaultParent(1e6), parent);
      delete process.env.TIMESFORMER_LAB_WEIGHTS_DIR;
      assert.equal(defaultParent(1e15), os.tmpdir(), 'no memory file system holds 3 PB');
      const small = defaultParent(1e6);
      assert.ok(small === '/dev/shm' || small === os.tmpdir(), small);
    } finally {
      if (saved === undefined) delete process.env.TIMESFORMER_LAB_WEIGHTS_DIR;
      else process.env.TIMESFORMER_LAB_WEIGHTS_DIR = saved;
    }
  });

  it('removes folders left by a process that no longer runs', () => {
    const dead = path.join(parent, 'tsf-lab-w-999999999-abc');
    fs.mkdirSync(dead);
    fs.writeFileSync(path.join(dead, 'weights.f32.bin'), 'x');
    const s = WeightStore.create({ parent });
    assert.ok(!fs.existsSync(dead));
    assert.ok(fs.existsSync(s.dir));
    s.close();
  });

  it('a graph built from the store has the in-memory graph\'s initializers byte for byte, in every precision', async () => {
    const mem = await loadModel(D1.weights);
    const s = WeightStore.create({ parent });
    try {
      const m = await openModel(D1.weights, s);
      assert.equal(m.weightBytes, mem.weightBytes);
      const config = { ...m.base, heads: 4, headsSource: 'option' as const, headsTried: [] };
      for (const [precision, realization] of [['fp32', 'fp32'], ['fp16', 'emulated'], ['fp16', 'native'], ['bf16', 'emulated']] as const) {
        const o = { config, batch: 1, precision, realization, layerNorm: 'plain' as const, probes: true, prescaleShift: 3, fp32Ops: ['Conv'] };
        const a = onnx.ModelProto.decode(buildTimeSformer(mem.weights, o).model).graph!;
        const g = buildTimeSformer(m.weights, o);
        const file = path.join(parent, `${precision}-${realization}.onnx`);
        g.writeOnnx(file);
        const b = onnx.ModelProto.decode(fs.readFileSync(file)).graph!;
        assert.equal(b.node!.length, a.node!.length);
        assert.deepEqual(b.initializer!.map((t) => t.name).sort(), a.initializer!.map((t) => t.name).sort());
        const byName = new Map(b.initializer!.map((t) => [t.name, t]));
        for (const t of a.initializer!) {
          const u = byName.get(t.name)!;
          assert.equal(u.dataType, t.dataType, t.name!);
          assert.deepEqual(u.dims!.map(Number), t.dims!.map(Number), t.name!);
          assert.ok(Buffer.from(u.rawData!).equals(Buffer.from(t.rawData!)), `${precision}/${realization}: ${t.name} differs`);
        }
      }
    } finally {
      s.close();
    }
  });
});

describe('segmented CPU graphs: one segment\'s session at a time, the whole graph\'s values', function () {
  it('every output of the segmented graph equals the whole graph\'s, bit for bit, in fp32, the fp16 and bf16 emulations and expose mode', async () => {
    const s = WeightStore.create();
    try {
      const m = await openModel(D1.weights, s);
      const d = await readTestData(D1.data, m.base);
      const config = { ...m.base, heads: 4, headsSource: 'option' as const, headsTried: [] };
      const cases = [
        ['fp32', 'fp32', 'plain', 1], ['fp16', 'emulated', 'plain', 1], ['fp16', 'emulated', 'expose', 2], ['bf16', 'emulated', 'prescaled', 3], ['fp16', 'emulated', 'fp32', 5],
      ] as const;
      for (const [precision, realization, layerNorm, per] of cases) {
        const o = { config, batch: 1, precision, realization, layerNorm, probes: true, prescaleShift: 3, accumulate: 'fp32' as const };
        const whole = buildTimeSformer(m.weights, o);
        const seg = buildSegmented(m.weights, o, per);
        const label = `${precision}/${realization}/${layerNorm}, ${per} block(s) per segment`;
        assert.ok(typeof seg.source === 'object' && 'segments' in seg.source, label);
        assert.equal(seg.source.segments.length, Math.ceil(config.depth / per), label);
        assert.deepEqual(seg.blockNames, whole.blockNames, label);
        assert.deepEqual(seg.layerNorms.map((l) => [l.name, l.stats, l.diff]), whole.layerNorms.map((l) => [l.name, l.stats, l.diff]), label);
        assert.deepEqual([...seg.extraOutputs].sort(), [...whole.extraOutputs].sort(), label);
        assert.equal(seg.probsName, whole.probsName);
        const run = async (g: typeof whole) => {
          const e = await createEngine({ ep: 'cpu', precision, layerNorm, buildModel: () => g.source });
          try {
            return await e.run({ [g.inputName]: d.video.data }, { [g.inputName]: [...d.video.shape] });
          } finally {
            await e.release();
          }
        };
        const a = await run(whole);
        const b = await run(seg);
        assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort(), label);
        for (const [k, v] of a) {
          const u = b.get(k)!;
          assert.equal(u.length, v.length, `${label}: ${k}`);
          assert.ok(Buffer.from(u.buffer, u.byteOffset, u.byteLength).equals(Buffer.from(v.buffer, v.byteOffset, v.byteLength)), `${label}: ${k} differs`);
        }
        // the whole graph is what an export writes
        assert.equal(seg.model.length, whole.model.length, label);
      }
    } finally {
      s.close();
    }
  });
});

describe('onnx builder: node order', function () {
  it('puts the nodes nothing consumes last, first-made last of all, and keeps the order topological', () => {
    const n = (name: string, inputs: string[], outputs: string[]) => ({ name, input: inputs, output: outputs });
    // x -> a -> b -> c (-> probs); a -> statsA; b -> statsB
    const nodes = [n('a', ['x'], ['ya']), n('statsA', ['ya'], ['sa']), n('b', ['ya'], ['yb']), n('statsB', ['yb'], ['sb']), n('c', ['yb'], ['probs'])];
    const order = executionFriendlyOrder(nodes).map((x) => x.name);
    assert.deepEqual(order, ['a', 'b', 'c', 'statsB', 'statsA']);
    const seen = new Set(['x']);
    for (const x of executionFriendlyOrder(nodes)) {
      assert.ok((x.input ?? []).every((i) => seen.has(i)), `${x.name} after its inputs`);
      (x.output ?? []).forEach((o) => seen.add(o));
    }
  });
});

describe('pipeline: Export ONNX builds the run\'s graph again', function () {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-export-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('the file written after the run reproduces the run\'s block errors, and equals the one saved during the run', async () => {
    const during = path.join(tmp, 'during.onnx');
    const options = { ...D1, ep: 'cpu' as const, precision: 'fp16' as const, layerNorm: 'prescaled' as const };
    const { report } = await runPipeline({ ...options, saveOnnx: during });
    const after = path.join(tmp, 'after.onnx');
    await saveOnnxOf(report, options, after);
    assert.ok(fs.readFileSync(after).equals(fs.readFileSync(during)), 'the same bytes');
    const data = await readTestData(D1.data);
    const engine = await createEngine({ ep: 'cpu', precision: 'fp16', layerNorm: 'prescaled', buildModel: () => fs.readFileSync(after) });
    const out = await engine.run({ video: data.video.data }, { video: [...data.video.shape] });
    await engine.release();
    const { diff } = await import('../../extension/core/compare/metrics');
    for (let i = 0; i < report.blocks.length; i++) {
      const e = diff(out.get(`blocks.${i}.out`)!, data.blocks[i].data, 64).relL2;
      assert.ok(Math.abs(e - report.blocks[i].relL2) <= 1e-9 * Math.max(1, e), `block ${i}: ${e} vs ${report.blocks[i].relL2}`);
    }
  });
});
