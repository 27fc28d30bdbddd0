/**
 * The numerics' promises on real graphs run by onnxruntime: statistics computed in the graph
 * (equal to the same numbers computed from the tensors, and changing nothing on the main path),
 * fp16 accumulation's overflow in the emulation, the minimal fix on d1 proved by one run, a wrong
 * head count and mismatched weights named, the export for TensorRT, and the graph ORT really runs
 * for a native fp16 LayerNorm.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { createEngine } from '../../extension/core/engine/session';
import { optimizationLevel } from '../../extension/core/engine/providers';
import { exportForTensorRt } from '../../extension/core/export';
import { buildTimeSformer, LN_STAT_FIELDS } from '../../extension/core/model/timesformer';
import { loadModel, prepare, runMode, runModes, runPipeline } from '../../extension/core/pipeline';
import { readTestData } from '../../extension/core/formats/testdata';
import { diff } from '../../extension/core/compare/metrics';
import { FP16_MAX, float32ToHalfBits, halfBitsToFloat } from '../../extension/core/tensor';
import type { ModelConfig, PipelineOptions, Report } from '../../extension/core/report';
import { FULL_SIZE, writeCheckpoint } from '../../scripts/fixtures/gen-checkpoint';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const D1 = { weights: path.join(FIX, 'd1_outlier.pyth'), data: path.join(FIX, 'd1_outlier_test_data.p') };
const PEER_NAMES = JSON.parse(fs.readFileSync(path.join(FIX, 'torch_export_node_names.json'), 'utf8')) as { LayerNormalization: string[]; MatMul: string[] };
const errs = (r: Report) => r.blocks.map((b) => b.relL2.toExponential(2)).join(' ');
/** Every LayerNorm from block 4 on, and the final norm: where d1's massive activation (block 3's fc2 bias, channel 21) reaches. */
const D1_OVERFLOWING = [...Array.from({ length: 8 }, (_, i) => [`blocks.${i + 4}.temporal_norm1`, `blocks.${i + 4}.norm1`, `blocks.${i + 4}.norm2`]).flat(), 'norm'];

let tmp: string;
before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-num-'))));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('numerics: LayerNorm statistics computed in the graph', function () {
  it('equal the same statistics computed from the tensors themselves (each block\'s output is the next temporal LayerNorm\'s input)', async () => {
    const m = await loadModel(D1.weights);
    const data = await readTestData(D1.data);
    const config: ModelConfig = { ...m.base, heads: 4, headsSource: 'option', headsTried: [] };
    const g = buildTimeSformer(m.weights, { config, batch: 1, precision: 'fp32', realization: 'fp32', layerNorm: 'plain', probes: true, prescaleShift: 3 });
    const e = await createEngine({ ep: 'cpu', precision: 'fp32', layerNorm: 'plain', buildModel: () => g.model });
    const out = await e.run({ video: data.video.data }, { video: [...data.video.shape] });
    await e.release();
    const C = config.embedDim;
    const field = (s: Float32Array, f: (typeof LN_STAT_FIELDS)[number]) => s[LN_STAT_FIELDS.indexOf(f)];
    const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b)), `${what}: graph ${a}, tensors ${b}`);
    for (let i = 0; i < 11; i++) {
      const x = out.get(`blocks.${i}.out`)!.subarray(C); // patch tokens: the rows of blocks.(i+1).temporal_norm1
      let maxSq = 0, over = 0, maxSumSq = 0, maxAbsSum = 0;
      const ch = new Float64Array(C);
      for (let r = 0; r < x.length / C; r++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += x[r * C + c];
        const mean = s / C;
        let ss = 0;
        for (let c = 0; c < C; c++) {
          const v = x[r * C + c];
          const d2 = (v - mean) ** 2;
          ss += d2;
          if (d2 > maxSq) maxSq = d2;
          if (d2 > FP16_MAX) over++;
          ch[c] = Math.max(ch[c], Math.abs(v));
        }
        maxSumSq = Math.max(maxSumSq, ss);
        maxAbsSum = Math.max(maxAbsSum, Math.abs(s));
      }
      const name = `blocks.${i + 1}.temporal_norm1`;
      const st = out.get(`${name}.stats`)!;
      close(field(st, 'maxSq'), maxSq, `${name} max (x−mean)²`);
      assert.equal(field(st, 'overFp16Count'), over, `${name} count > 65504`);
      close(field(st, 'maxSumSq'), maxSumSq, `${name} max Σ(x−mean)²`);
      close(field(st, 'maxAbsSum'), maxAbsSum, `${name} max |Σx|`);
      assert.equal(field(st, 'inputNonFinite'), 0);
      const chs = out.get(`${name}.channels`)!;
      ch.forEach((v, c) => close(chs[c], v, `${name} channel ${c}`));
      if (i >= 3) assert.ok(over > 0 && chs.indexOf(Math.max(...chs)) === 21, `${name}: channel 21 carries the massive activation`);
    }
    // the graph ships a few floats per LayerNorm, not its input and square
    const extra = g.extraOutputs.reduce((n, o) => n + out.get(o)!.length, 0);
    assert.equal(extra, 37 * (LN_STAT_FIELDS.length + C));
  });

  it('change nothing on the main path: the same block errors with and without them', async () => {
    const o: PipelineOptions = { ...D1, ep: 'cpu', heads: 4, precision: 'fp16', layerNorm: 'plain', confirmMinimalFix: false };
    const p = await prepare(o);
    const withStats = (await runMode(p, o)).report;
    const without = (await runMode(p, { ...o, probes: false })).report;
    assert.equal(withStats.run.extraOutputs, 74);
    assert.equal(without.run.extraOutputs, 0);
    assert.deepEqual(without.blocks.map((b) => b.relL2), withStats.blocks.map((b) => b.relL2));
    assert.equal(without.probs.relL2, withStats.probs.relL2);
  });
});

describe('numerics: accumulation', function () {
  it('an fp16 accumulator overflows where no single square does (the full-size block-3 failure, in small): named, and fp32 accumulation passes', async () => {
    // channel 21 carries ~250 from block 1 on: each (x−mean)² stays just under 65504, their sum over the row passes it
    const weights = path.join(tmp, 'sum_of_squares.pyth');
    writeCheckpoint({ ...FULL_SIZE, embed: 64, depth: 3, frames: 4, image: 32, classes: 10, outlierBlock: 0, outlierChannel: 21, outlierValue: 239 }, weights);
    const o: PipelineOptions = { weights, input: 'synthetic:1', heads: 4, ep: 'cpu', precision: 'fp16', layerNorm: 'plain' };
    const p = await prepare(o);
    const acc16 = (await runMode(p, { ...o, accumulate: 'fp16' })).report;
    const acc32 = (await runMode(p, { ...o, accumulate: 'fp32' })).report;
    assert.match(acc16.run.label, /fp16 accumulation modelled only as the reductions' 16-bit overflow/);
    assert.equal(acc16.run.accumulate, 'fp16');
    const d = acc16.diagnosis;
    assert.equal(d.firstBadBlock, 1, errs(acc16));
    const first = d.causes[0];
    assert.deepEqual([first.layerNorm, first.mechanism, first.evidence], ['blocks.1.temporal_norm1', 'sumSquares', 'observed']);
    const ln = acc16.blocks[1].layerNorms[0];
    assert.ok(ln.maxSq < FP16_MAX && ln.maxSumSq > FP16_MAX && ln.infCount === 0 && ln.varNonFinite > 0, JSON.stringify(ln));
    assert.ok(d.accumulateFix);
    assert.ok(d.fixes.includes('prescaled'));
    assert.equal(d.minimalFix?.confirmed?.verdict, 'pass');
    assert.equal(acc32.diagnosis.verdict, 'pass', errs(acc32));
    assert.ok(acc32.blocks.every((b) => b.relL2 < 1e-3), errs(acc32));
    assert.ok(acc32.blocks[1].layerNorms[0].mechanisms.find((m) => m.kind === 'sumSquares')!.wouldHit, 'it would hit a 16-bit accumulator');
  });

  it('a native fp16 graph with fp32 accumulation feeds every MatMul, Conv and ReduceMean fp32 operands; its weights hold fp16 values', async () => {
    const m = await loadModel(path.join(FIX, 'd3_half_weights.pyth'));
    const config: ModelConfig = { ...m.base, heads: 2, headsSource: 'option', headsTried: [] };
    const graph = (accumulate: 'fp32' | 'fp16') => {
      const g = buildTimeSformer(m.weights, { config, batch: 1, precision: 'fp16', realization: 'native', layerNorm: 'plain', accumulate, probes: false, prescaleShift: 3 });
      return onnx.ModelProto.decode(g.model).graph!;
    };
    const values = (t: onnx.ITensorProto): Float32Array => {
      const raw = t.rawData!;
      return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    };
    for (const acc of ['fp32', 'fp16'] as const) {
      const g = graph(acc);
      const producer = new Map(g.node!.flatMap((n) => n.output!.map((o) => [o, n] as const)));
      const inits = new Map(g.initializer!.map((t) => [t.name!, t]));
      const gemms = g.node!.filter((n) => ['MatMul', 'Conv', 'ReduceMean'].includes(n.opType!) && !n.name!.includes('/cls'));
      assert.ok(gemms.length > 20);
      let f32Weights = 0;
      for (const n of gemms) {
        const inputs = n.input!.filter((x) => !x.startsWith('const/i64'));
        // an fp32 operand: an fp16 tensor cast up, or a weight held as float32 whose values are fp16 values
        const fp32 = inputs.every((x) => {
          const init = inits.get(x);
          if (init) {
            if (init.dataType !== 1) return false;
            const v = values(init);
            assert.ok(v.length > 0 && v.every((y) => halfBitsToFloat(float32ToHalfBits(y)) === y), `${x}: fp16 values`);
            f32Weights++;
            return true;
          }
          return producer.get(x)?.opType === 'Cast' && Number(producer.get(x)!.attribute![0].i) === 1;
        });
        assert.equal(fp32, acc === 'fp32', `${n.name} (${acc} accumulation)`);
      }
      const weights = g.initializer!.filter((t) => /\.weight$/.test(t.name!) && !/norm/.test(t.name!));
      if (acc === 'fp16') assert.ok(weights.every((t) => t.dataType === 10), 'fp16 accumulation: the GEMM weights are FLOAT16 initializers');
      else assert.ok(f32Weights >= 2 * config.depth, 'fp32 accumulation: the GEMMs read fp16-rounded float32 weights (no Cast for onnxruntime to fold)');
    }
  });

  it('onnxruntime keeps a plain fp16 LayerNorm decomposed at the level we pick; without statistics, \'basic\' or \'all\' would fuse it away', async function () {
    this.timeout(60_000);
    const m = await loadModel(path.join(FIX, 'd3_half_weights.pyth'));
    const config: ModelConfig = { ...m.base, heads: 2, headsSource: 'option', headsTried: [] };
    const optimized = async (accumulate: 'fp32' | 'fp16', stats: boolean, level: 'all' | 'basic' | 'disabled') => {
      const g = buildTimeSformer(m.weights, { config, batch: 1, precision: 'fp16', realization: 'native', layerNorm: 'plain', accumulate, probes: stats, prescaleShift: 3 });
      const file = path.join(tmp, `opt-${accumulate}-${stats}-${level}.onnx`);
      const { ort } = await import('../../extension/core/engine/session');
      const s = await ort().InferenceSession.create(g.model, { graphOptimizationLevel: level, optimizedModelFilePath: file, executionProviders: ['cpu'], logSeverityLevel: 3 });
      await s.release();
      return onnx.ModelProto.decode(fs.readFileSync(file)).graph!.node!.map((n) => n.opType!);
    };
    const fused = (ops: string[]) => ops.filter((o) => o === 'LayerNormalization' || o === 'SimplifiedLayerNormalization').length;
    for (const acc of ['fp32', 'fp16'] as const) {
      for (const stats of [true, false]) {
        const ops = await optimized(acc, stats, optimizationLevel('native', 'plain', stats));
        assert.equal(fused(ops), 0, `${acc} accumulation, statistics ${stats}`);
        assert.equal(ops.filter((o) => o === 'Pow').length, 7, 'every LayerNorm still squares');
      }
      assert.equal(fused(await optimized(acc, false, 'all')), 7, `why not 'all': ${acc} accumulation at 'all' fuses all 7`);
    }
    assert.equal(fused(await optimized('fp16', false, 'basic')), 7, 'why not \'basic\' either: LayerNormFusion runs there');
  });
});

describe('numerics: the minimal fix on d1', function () {
  let report: Report;
  before(async () => {
    report = (await runPipeline({ ...D1, ep: 'cpu', heads: 4, precision: 'fp16', layerNorm: 'plain' })).report;
  });
  it('names only the LayerNorms whose (x−mean)² passes 65504 — the 25 from block 4 on — and one run with only them in FP32 passes every block', () => {
    const mf = report.diagnosis.minimalFix!;
    assert.deepEqual(mf.layerNorms, D1_OVERFLOWING);
    assert.ok(mf.reasons.every((r) => r.mechanism === 'square' && r.value > FP16_MAX));
    assert.ok(!mf.layerNorms.some((n) => /^blocks\.[0-3]\./.test(n)), 'blocks 0-3 need nothing');
    assert.equal(mf.confirmed?.verdict, 'pass');
    assert.ok(mf.confirmed!.worstRelL2 <= 5e-3 && mf.confirmed!.probsRelL2 <= 5e-3, JSON.stringify(mf.confirmed));
    assert.match(report.diagnosis.sentence, /Minimal fix: 25 LayerNorms in FP32 .* Confirmed by one run with only them in FP32: every block passes/);
    assert.equal(mf.trtexec, report.diagnosis.trtexec);
    assert.ok(mf.trtexec.includes('--layerPrecisions=/model/blocks.4/temporal_norm1/LayerNormalization:fp32,'));
  });
  it('is irreducible: leaving out any one of them fails (spot checks: the first and the last)', async () => {
    const o: PipelineOptions = { ...D1, ep: 'cpu', heads: 4, precision: 'fp16', confirmMinimalFix: false };
    const p = await prepare(o);
    for (const drop of ['blocks.4.temporal_norm1', 'norm']) {
      const overrides = Object.fromEntries(D1_OVERFLOWING.filter((n) => n !== drop).map((n) => [n, 'fp32' as const]));
      const r = (await runMode(p, { ...o, layerNorm: 'plain', layerNormOverrides: overrides })).report;
      assert.equal(r.diagnosis.verdict, 'fail', `without ${drop}: ${errs(r)} | probs ${r.probs.relL2}`);
    }
  });
  it('\'minimal\' as a LayerNorm mode reads the same set from the statistics and passes', async () => {
    const [r] = await runModes({ ...D1, ep: 'cpu', heads: 4, precision: 'fp16' }, ['minimal']);
    assert.equal(r.run.layerNorm, 'plain');
    assert.deepEqual(Object.keys(r.run.layerNormOverrides), D1_OVERFLOWING);
    assert.equal(r.diagnosis.verdict, 'pass', errs(r));
    assert.ok(r.blocks.every((b) => b.layerNorms.every((l) => !l.overflowed)));
    assert.match(r.diagnosis.sentence, /the minimal fix \(blocks\.4\.temporal_norm1 and 24 more LayerNorms in fp32\) avoids it/, 'all 25 kept in FP32 are counted');
  });
});

describe('numerics: what no overflow explains', function () {
  it('a wrong head count: --heads 2 on the 4-head d1 fails block 0 in FP32, and head detection\'s evidence names 4', async () => {
    const r = (await runPipeline({ ...D1, ep: 'cpu', heads: 2, precision: 'fp32' })).report;
    assert.equal(r.diagnosis.firstBadBlock, 0);
    assert.ok(r.blocks[0].relL2 > 0.5);
    assert.equal(r.diagnosis.candidates[0].kind, 'heads');
    assert.match(r.diagnosis.candidates[0].text, /with 2 heads \(given\) block 0 is off by 0\.\d+, with 4 heads it matches the reference .*run with --heads 4/);
    assert.deepEqual(r.diagnosis.fixes, []);
    assert.equal(r.diagnosis.trtexec, undefined);
  });
  it('weights that do not belong to the data (same shapes, other values): no head count fits, the mismatch is named', async () => {
    const weights = path.join(tmp, 'd1_shaped.pyth');
    writeCheckpoint({ ...FULL_SIZE, embed: 64, depth: 12, frames: 8, image: 64, classes: 400, seed: 7 }, weights);
    const r = (await runPipeline({ weights, data: D1.data, ep: 'cpu', heads: 4, precision: 'fp32' })).report;
    assert.equal(r.diagnosis.firstBadBlock, 0);
    assert.deepEqual(r.diagnosis.candidates.map((c) => c.kind), ['mismatch']);
    assert.match(r.diagnosis.sentence, /Candidates: 1\) weights and reference that do not belong together: block 0 is already off by .* in FP32/);
  });
});

describe('numerics: the ONNX model for TensorRT', function () {
  it('holds the minimal fix as LayerNormalization nodes named as torch.onnx.export names them, the trtexec line names exactly those, and it runs as FP32', async () => {
    const p = await prepare({ ...D1 });
    const x = await exportForTensorRt(p, { layerNorm: 'minimal', onnxName: 'd1.onnx' });
    assert.deepEqual(x.fixed, D1_OVERFLOWING);
    assert.deepEqual(x.outputs, ['probs'], 'no block outputs, no statistics: marked outputs change what TensorRT keeps in FP32');
    const names = new Set(x.nodeNames);
    const pinned = /--layerPrecisions=(\S+)/.exec(x.trtexec!)![1].split(',').map((s) => s.replace(/:fp32$/, ''));
    assert.equal(pinned.length, 25);
    for (const n of pinned) {
      assert.ok(names.has(n), `${n} is a node of the exported graph`);
      assert.ok(PEER_NAMES.LayerNormalization.includes(n), `${n} is a node of the official model's torch export`);
    }
    assert.ok(names.has('/model/blocks.3/norm2/ReduceMean_1'), 'the others stay decomposed, with the exporter\'s names');
    for (const mm of PEER_NAMES.MatMul.filter((n) => /blocks\.(\d|1[01])\//.test(n))) assert.ok(names.has(mm), mm);
    const graph = onnx.ModelProto.decode(x.model).graph!;
    assert.ok(!graph.node!.some((n) => n.opType === 'Cast'), 'no emulation casts');
    // the file export-onnx writes: self-contained, the weights inline
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-trt-'));
    const file = path.join(dir, 'd1.onnx');
    x.write(file);
    p.close();
    const e = await createEngine({ ep: 'cpu', precision: 'fp32', layerNorm: 'plain', buildModel: () => file });
    const out = await e.run({ video: p.video.data }, { video: [...p.video.shape] });
    await e.release();
    fs.rmSync(dir, { recursive: true, force: true });
    assert.ok(diff(out.get('probs')!, p.data!.probs.data).relL2 <= 1e-5, 'FP32 as exported matches the official model');
  });
  it('decomposed: the trtexec line names the nine exported ops of each fixed LayerNorm', async () => {
    const p = await prepare({ ...D1 });
    const x = await exportForTensorRt(p, { fixLayerNorms: ['blocks.4.norm1', 'norm'], form: 'decomposed' });
    const pinned = /--layerPrecisions=(\S+)/.exec(x.trtexec!)![1].split(',').map((s) => s.replace(/:fp32$/, ''));
    assert.equal(pinned.length, 18);
    const names = new Set(x.nodeNames);
    for (const n of pinned) assert.ok(names.has(n), n);
    assert.ok(!x.nodeNames.some((n) => n.endsWith('LayerNormalization')));
    assert.equal((await exportForTensorRt(p, { layerNorm: 'plain' })).trtexec, undefined, 'nothing pinned, no line');
  });
});
