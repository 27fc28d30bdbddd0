/**
 * The product's promises, on checkpoints and test data made by the official TimeSformer code on a GPU
 * (test/fixtures, copied from the team's shared fixtures): nobody here computed those outputs.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runPipeline } from '../../extension/core/pipeline';
import { LabError } from '../../extension/core/errors';
import { LAYERNORM_MODES, type LayerNormMode, type PipelineOptions, type Report, type TensorStats } from '../../extension/core/report';
import { createEngine } from '../../extension/core/engine/session';
import { LN_STAT_FIELDS } from '../../extension/core/model/timesformer';
import { withEnv } from './helpers/env';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const fx = (name: string) => ({ weights: path.join(FIX, `${name}.pyth`), data: path.join(FIX, `${name}_test_data.p`) });
const FIXTURES = { d1_outlier: 4, d2_legacy: 3, d3_half_weights: 2, d4_geometry: 3 } as const;

/** One run; the minimal fix's confirmation run (numerics.test.ts checks it) is skipped to keep these fast. */
async function run(name: keyof typeof FIXTURES, o: Partial<PipelineOptions> = {}): Promise<Report> {
  return (await runPipeline({ ...fx(name), ep: 'cpu', heads: FIXTURES[name], confirmMinimalFix: false, ...o })).report;
}
const tmpDirs: string[] = [];
const tmpDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-'));
  tmpDirs.push(d);
  return d;
};
after(() => tmpDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
/** Two lists of tensor statistics describe the same tensors (to FP32 rounding across graph splits). */
function assertSameStats(a: TensorStats[], b: TensorStats[]): void {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => {
    assert.deepEqual(x.shape, b[i].shape);
    for (const k of ['min', 'max', 'mean', 'std', 'maxAbs'] as const) {
      assert.ok(Math.abs(x[k] - b[i][k]) <= 1e-5 * Math.max(1, Math.abs(b[i][k])), `tensor ${i} ${k}: ${x[k]} vs ${b[i][k]}`);
    }
  });
}
const maxBlock = (r: Report) => Math.max(...r.blocks.map((b) => b.relL2));
const errs = (r: Report) => r.blocks.map((b) => b.relL2.toExponential(2)).join(' ');

describe('pipeline: FP32 matches the official model', function () {
  for (const name of Object.keys(FIXTURES) as (keyof typeof FIXTURES)[]) {
    it(`${name}: every block and the probabilities within 1e-5, top-1 equal, heads detected without being told`, async () => {
      const { report: r } = await runPipeline({ ...fx(name), ep: 'cpu', precision: 'fp32' });
      assert.equal(r.config.heads, FIXTURES[name], `detected ${r.config.heads} heads, tried ${JSON.stringify(r.config.headsTried)}`);
      assert.equal(r.config.headsSource, 'detected');
      assert.ok(r.blocks.length >= 2);
      for (const b of r.blocks) assert.ok(b.relL2 <= 1e-5, `block ${b.index}: ${b.relL2}`);
      assert.ok(r.probs.relL2 <= 1e-5, `probs ${r.probs.relL2}`);
      assert.ok(r.probs.top1Agree);
      assert.equal(r.diagnosis.verdict, 'pass');
      assert.equal(r.run.realization, 'fp32');
      console.log(`      ${name} fp32: ${errs(r)} | probs ${r.probs.relL2.toExponential(2)}`);
    });
  }
});

describe('pipeline: FP16 breaks at block 4 of d1_outlier and every fix repairs it', function () {
  it('plain: blocks 0-3 <= 5e-3, block 4 jumps >= 0.1, diagnosis names blocks.4.temporal_norm1 and channel 21', async () => {
    const r = await run('d1_outlier', { precision: 'fp16', layerNorm: 'plain' });
    console.log(`      d1 fp16 plain: ${errs(r)} | probs ${r.probs.relL2.toExponential(2)}`);
    assert.equal(r.run.realization, 'emulated');
    assert.match(r.run.label, /^FP16 emulated/);
    for (const b of r.blocks.slice(0, 4)) assert.ok(b.relL2 <= 5e-3, `block ${b.index}: ${b.relL2}`);
    assert.ok(r.blocks[4].relL2 >= 0.1, `block 4: ${r.blocks[4].relL2}`);
    assert.ok(r.blocks[4].jump);
    assert.equal(r.diagnosis.verdict, 'fail');
    assert.equal(r.diagnosis.firstBadBlock, 4);
    assert.equal(r.diagnosis.culprit?.layerNorm, 'blocks.4.temporal_norm1');
    assert.equal(r.diagnosis.culprit?.channel, 21);
    assert.match(r.diagnosis.sentence, /Block 4 temporal LayerNorm \(blocks\.4\.temporal_norm1\): \(x−mean\)² reaches 9\.\de\+4 > 65504 in channel 21 — FP16 overflow/);
    assert.match(r.diagnosis.trtexec ?? '', /--fp16 --precisionConstraints=obey --layerPrecisions=\/model\/blocks\.4\/temporal_norm1\/LayerNormalization:fp32/);
    const ln = r.blocks[4].layerNorms.find((l) => l.name === 'blocks.4.temporal_norm1')!;
    assert.ok(ln.overflowed && ln.infCount > 0 && ln.overFp16Count > 0);
    assert.ok(ln.maxSq > 65504);
    for (const b of r.blocks.slice(0, 4)) assert.ok(b.layerNorms.every((l) => !l.overflowed), `block ${b.index} has no overflow`);
  });
  for (const mode of ['expose', 'fp32', 'fused', 'prescaled'] as LayerNormMode[]) {
    it(`${mode}: every block and the probabilities <= 5e-3`, async () => {
      const r = await run('d1_outlier', { precision: 'fp16', layerNorm: mode });
      console.log(`      d1 fp16 ${mode}: ${errs(r)} | probs ${r.probs.relL2.toExponential(2)}`);
      assert.ok(maxBlock(r) <= 5e-3, errs(r));
      assert.ok(r.probs.relL2 <= 5e-3);
      assert.equal(r.diagnosis.verdict, 'pass');
      assert.ok(r.blocks.every((b) => b.layerNorms.every((l) => !l.overflowed)));
      if (mode === 'expose') {
        const names = r.blocks[4].exposed.map((t) => t.name);
        assert.deepEqual(names.filter((n) => n.startsWith('blocks.4.temporal_norm1')), ['blocks.4.temporal_norm1.diff', 'blocks.4.temporal_norm1.mean', 'blocks.4.temporal_norm1.std']);
        const d = r.blocks[4].exposed.find((t) => t.name === 'blocks.4.temporal_norm1.diff')!;
        assert.ok(d.maxAbs > 256, 'the exposed difference holds the massive activation');
        assert.equal(d.channelMaxAbs!.indexOf(Math.max(...d.channelMaxAbs!)), 21);
      }
    });
  }
  it('bf16 never overflows on d1: no inf, no jump at block 4 (emulated; 8-bit mantissa, so ~8x the fp16 error)', async () => {
    const r = await run('d1_outlier', { precision: 'bf16', layerNorm: 'plain' });
    console.log(`      d1 bf16 plain: ${errs(r)} | probs ${r.probs.relL2.toExponential(2)}`);
    assert.ok(r.blocks.every((b) => b.layerNorms.every((l) => l.infCount === 0 && !l.overflowed)));
    assert.ok(maxBlock(r) <= 4e-2, errs(r));
    assert.ok(r.blocks[4].relL2 <= 1.5 * r.blocks[3].relL2, `no jump at block 4: ${errs(r)}`);
  });
});

describe('pipeline: no outlier, no overflow (d2-d4)', function () {
  for (const name of ['d2_legacy', 'd3_half_weights', 'd4_geometry'] as const) {
    it(`${name}: every FP16 LayerNorm mode <= 5e-3`, async () => {
      for (const mode of LAYERNORM_MODES) {
        const r = await run(name, { precision: 'fp16', layerNorm: mode });
        assert.ok(maxBlock(r) <= 5e-3 && r.probs.relL2 <= 5e-3, `${mode}: ${errs(r)}`);
        assert.equal(r.diagnosis.verdict, 'pass');
      }
    });
  }
});

describe('pipeline: the ONNX graph as run', function () {
  it('saves a model that reloads in onnxruntime and gives the same outputs', async () => {
    const out = path.join(tmpDir(), 'd1_fp16.onnx');
    const { report } = await runPipeline({ ...fx('d1_outlier'), ep: 'cpu', heads: 4, precision: 'fp16', layerNorm: 'plain', saveOnnx: out, confirmMinimalFix: false });
    const bytes = fs.readFileSync(out);
    const engine = await createEngine({ ep: 'cpu', precision: 'fp16', layerNorm: 'plain', buildModel: () => bytes });
    const { readTestData } = await import('../../extension/core/formats/testdata');
    const data = await readTestData(fx('d1_outlier').data);
    const res = await engine.run({ video: data.video.data }, { video: [...data.video.shape] });
    await engine.release();
    const { diff } = await import('../../extension/core/compare/metrics');
    for (let i = 0; i < 12; i++) {
      const e = diff(res.get(`blocks.${i}.out`)!, data.blocks[i].data, 64).relL2;
      assert.ok(Math.abs(e - report.blocks[i].relL2) <= 1e-9 * Math.max(1, e), `block ${i}: ${e} vs ${report.blocks[i].relL2}`);
    }
  });
});

describe('pipeline: bad input gets a typed error naming the file', function () {
  const expectError = async (p: Promise<unknown>, code: string, file: string) => {
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof LabError, `not a LabError: ${e}`);
      assert.equal(e.code, code, e.message);
      assert.ok(e.message.includes(file), `message names ${file}: ${e.message}`);
      return true;
    });
  };
  it('checkpoint and test data that disagree (d1 weights, d2 data)', async () => {
    const data = fx('d2_legacy').data;
    await expectError(runPipeline({ weights: fx('d1_outlier').weights, data, ep: 'cpu' }), 'MISMATCH', data);
    try {
      await runPipeline({ weights: fx('d1_outlier').weights, data, ep: 'cpu' });
    } catch (e) {
      assert.match((e as Error).message, /4 frames, the checkpoint's time_embed has 8/);
      assert.match((e as Error).message, /48×48, the checkpoint expects 64×64/);
    }
  });
  it('a checkpoint that lacks TimeSformer weights lists what is missing', async () => {
    const { torchZip, torchTensor, f32bytes } = await import('./helpers/pyfiles');
    const file = path.join(tmpDir(), 'partial.pyth');
    const top = {
      $dict: [
        ['epoch', 1],
        ['model_state', { $dict: [['model.cls_token', torchTensor('FloatStorage', '0', 4, 0, [1, 1, 4], [4, 4, 1])], ['model.pos_embed', torchTensor('FloatStorage', '1', 8, 0, [1, 2, 4], [8, 4, 1])]] }],
      ],
    } as const;
    fs.writeFileSync(file, torchZip('partial', top as never, { '0': f32bytes([1, 2, 3, 4]), '1': f32bytes([0, 0, 0, 0, 1, 1, 1, 1]) }));
    await expectError(runPipeline({ weights: file, data: fx('d1_outlier').data }), 'MISSING_WEIGHTS', file);
    await assert.rejects(runPipeline({ weights: file, data: fx('d1_outlier').data }), /lacks \d+ TimeSformer weight\(s\): time_embed, patch_embed\.proj\.weight/);
  });
  it('a test data file given as the checkpoint', async () => {
    const wrong = fx('d1_outlier').data;
    await expectError(runPipeline({ weights: wrong, data: wrong }), 'NOT_A_CHECKPOINT', wrong);
    await assert.rejects(runPipeline({ weights: wrong, data: wrong }), /not a PyTorch checkpoint: the file is a Python pickle \(protocol \d\) without PyTorch's magic number — test data or a plain pickle\?/);
  });
  it('a missing file', async () => {
    const missing = path.join(os.tmpdir(), 'no-such-checkpoint.pyth');
    await expectError(runPipeline({ weights: missing, data: fx('d1_outlier').data }), 'FILE_NOT_FOUND', missing);
  });
  it('a head count that does not divide the width', async () => {
    await assert.rejects(runPipeline({ ...fx('d1_outlier'), heads: 5 }), (e: unknown) => e instanceof LabError && e.code === 'BAD_OPTION');
  });
});

describe('model: why the CPU EP emulates FP16', function () {
  it('a true fp16 graph (what WebGPU/CUDA get) is valid, but ORT CPU runs it in fp32 islands and hides the overflow', async () => {
    const { loadModel } = await import('../../extension/core/pipeline');
    const { readTestData } = await import('../../extension/core/formats/testdata');
    const { buildTimeSformer } = await import('../../extension/core/model/timesformer');
    const { diff } = await import('../../extension/core/compare/metrics');
    const m = await loadModel(fx('d1_outlier').weights);
    const data = await readTestData(fx('d1_outlier').data);
    const config = { ...m.base, heads: 4, headsSource: 'option' as const, headsTried: [] };
    const g = buildTimeSformer(m.weights, { config, batch: 1, precision: 'fp16', realization: 'native', layerNorm: 'plain', probes: true, prescaleShift: 3 });
    const engine = await createEngine({ ep: 'cpu', precision: 'fp16', layerNorm: 'plain', buildModel: () => g.model });
    const out = await engine.run({ video: data.video.data }, { video: [...data.video.shape] });
    await engine.release();
    const e4 = diff(out.get('blocks.4.out')!, data.blocks[4].data, 64).relL2;
    assert.ok(e4 < 5e-3, `no overflow visible on the CPU EP: block 4 ${e4}`);
    const { LN_STAT_FIELDS } = await import('../../extension/core/model/timesformer');
    const stats = out.get('blocks.4.temporal_norm1.stats')!;
    assert.ok(stats[LN_STAT_FIELDS.indexOf('overFp16Count')] > 0, 'squares past 65504 were there to overflow');
    assert.equal(stats[LN_STAT_FIELDS.indexOf('sqNonFinite')], 0, 'the fp16 square was computed in fp32: not one inf');
  });
});

describe('pipeline: fused attention (onnxruntime MultiHeadAttention, for GPU speed)', function () {
  it('matches the official model in FP32 and still shows the FP16 LayerNorm overflow at block 4', async () => {
    const f32 = await run('d1_outlier', { precision: 'fp32', attention: 'fused' });
    assert.ok(maxBlock(f32) <= 1e-5 && f32.probs.relL2 <= 1e-5, errs(f32));
    const f16 = await run('d1_outlier', { precision: 'fp16', layerNorm: 'plain', attention: 'fused' });
    assert.equal(f16.diagnosis.firstBadBlock, 4, errs(f16));
    assert.equal(f16.diagnosis.culprit?.channel, 21);
    const fixed = await run('d1_outlier', { precision: 'fp16', layerNorm: 'fused', attention: 'fused' });
    assert.ok(maxBlock(fixed) <= 5e-3, errs(fixed));
  });
});

describe('pipeline: an engine without probe outputs (as under TensorRT)', function () {
  it('still names the LayerNorm and the channel, from an fp32 probe run on the CPU', async () => {
    const r = await run('d1_outlier', { precision: 'fp16', layerNorm: 'plain', probes: false });
    assert.equal(r.run.extraOutputs, 0);
    assert.ok(r.log.some((l) => /fp32 probe run/.test(l)));
    assert.equal(r.diagnosis.firstBadBlock, 4);
    assert.equal(r.diagnosis.culprit?.layerNorm, 'blocks.4.temporal_norm1');
    assert.equal(r.diagnosis.culprit?.channel, 21);
    const ln = r.blocks[4].layerNorms.find((l) => l.name === 'blocks.4.temporal_norm1')!;
    assert.ok(ln.overflowed && ln.overFp16Count > 0 && ln.infCount === 0, JSON.stringify(ln));
    const fixed = await run('d1_outlier', { precision: 'fp16', layerNorm: 'fp32', probes: false });
    assert.equal(fixed.diagnosis.verdict, 'pass');
    assert.ok(fixed.blocks.every((b) => b.layerNorms.every((l) => !l.overflowed)), 'the fix is not reported as an overflow');
    assert.equal(fixed.diagnosis.culprit?.channel, 21, 'the risk is still named');
  });
});

describe('pipeline: one preparation for many modes, and runs without test data', function () {
  it('runModes reads the checkpoint and test data once and detects the heads once for all modes', async () => {
    const { runModes } = await import('../../extension/core/pipeline');
    const stages: string[] = [];
    const reports = await runModes({ ...fx('d1_outlier'), ep: 'cpu', precision: 'fp16', confirmMinimalFix: false }, ['plain', 'fp32'], { onProgress: (s) => stages.push(s) });
    assert.equal(stages.filter((s) => s === 'reading checkpoint').length, 1);
    assert.equal(stages.filter((s) => s === 'detecting heads').length, 1);
    assert.equal(stages.filter((s) => s === 'building graph').length, 2);
    assert.deepEqual(reports.map((r) => r.run.layerNorm), ['plain', 'fp32']);
    assert.equal(reports[0].diagnosis.firstBadBlock, 4);
    assert.equal(reports[1].diagnosis.verdict, 'pass');
    assert.ok(reports[0].run.timings.readMs > 0 && reports[1].run.timings.readMs === 0, 'the shared reading is charged to the first mode only');
    assert.ok(reports.every((r) => r.config.headsSource === 'detected' && r.config.heads === 4));
  });
  it('without test data the reference is our own FP32 graph on the CPU, on the same clip, with the same verdicts (errors within 10 %)', async () => {
    const { weights, data } = fx('d1_outlier');
    const withData = await run('d1_outlier', { precision: 'fp16', layerNorm: 'plain' });
    const self = (await runPipeline({ weights, input: data, heads: 4, ep: 'cpu', precision: 'fp16', layerNorm: 'plain', confirmMinimalFix: false })).report;
    assert.equal(self.inputs.reference.kind, 'self');
    assert.equal(self.inputs.input.kind, 'test-data');
    assert.equal(self.inputs.data, undefined);
    assert.equal(self.diagnosis.firstBadBlock, withData.diagnosis.firstBadBlock);
    assert.deepEqual(self.blocks.map((b) => b.passed), withData.blocks.map((b) => b.passed));
    self.blocks.forEach((b, i) => {
      const w = withData.blocks[i].relL2;
      assert.ok(Math.abs(b.relL2 - w) <= 0.1 * w, `block ${i}: self ${b.relL2} vs test data ${w}`);
    });
    assert.equal(self.diagnosis.culprit?.layerNorm, 'blocks.4.temporal_norm1');
  });
  it('a synthetic clip is deterministic per seed, and FP32 against itself is exact', async () => {
    const { syntheticVideo } = await import('../../extension/core/pipeline');
    const a = syntheticVideo([1, 3, 2, 4, 4], 7).data;
    assert.deepEqual(a, syntheticVideo([1, 3, 2, 4, 4], 7).data);
    assert.notDeepEqual(a, syntheticVideo([1, 3, 2, 4, 4], 8).data);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    assert.ok(Math.abs(mean) < 0.3);
    const r = (await runPipeline({ weights: fx('d2_legacy').weights, input: 'synthetic:3', ep: 'cpu', precision: 'fp32' })).report;
    assert.equal(r.inputs.input.label, 'synthetic clip (seed 3)');
    assert.equal(r.config.headsSource, 'assumed');
    // FP32 is its own reference here; what makes that right is that the reference an FP16 run of the
    // same clip computes (a separate FP32 run) holds the same numbers, and another seed's does not.
    const f16 = (seed: number) => runPipeline({ weights: fx('d2_legacy').weights, input: `synthetic:${seed}`, ep: 'cpu', precision: 'fp16', confirmMinimalFix: false });
    const [same, other] = [(await f16(3)).report, (await f16(4)).report];
    assertSameStats(r.blocks.map((b) => b.output), same.blocks.map((b) => b.reference));
    assert.ok(same.blocks.some((b) => b.relL2 > 0), 'the FP16 run is compared with that reference, not with itself');
    assert.notEqual(other.blocks[0].reference.mean, same.blocks[0].reference.mean, 'another seed, another clip');
  });
});

describe('pipeline: what a run costs, and what it does not do twice', function () {
  it('FP32 on the CPU without test data is its own reference: one engine, no second run of the same graph', async () => {
    const stages: string[] = [];
    const logs: string[] = [];
    const r = (await runPipeline({ weights: fx('d1_outlier').weights, ep: 'cpu', precision: 'fp32', heads: 4 }, { onProgress: (s) => stages.push(s), log: (l) => logs.push(l) })).report;
    assert.ok(!stages.includes('computing the FP32 reference'), stages.join(', '));
    assert.equal(logs.filter((l) => /^cpu: (session|first of \d+ segments) ready/.test(l)).length, 1, 'one CPU engine');
    assert.ok(logs.includes('reference: this run (the fp32 probe run on the CPU EP: FP32 of this model)'));
    assert.equal(r.inputs.reference.kind, 'self');
    assert.ok(r.blocks.every((b) => b.layerNorms.length === 3), 'LayerNorm statistics from its probes');
    // being its own reference is right only if it holds what a separately computed FP32 reference of
    // the same clip holds: the one an FP16 run computes
    const f16 = (await runPipeline({ weights: fx('d1_outlier').weights, ep: 'cpu', precision: 'fp16', heads: 4, confirmMinimalFix: false })).report;
    assert.ok(f16.blocks.some((b) => b.relL2 > 0), 'the FP16 run is compared with a reference computed apart');
    assertSameStats(r.blocks.map((b) => b.output), f16.blocks.map((b) => b.reference));
    assert.equal(r.probs.top1, f16.probs.refTop1, 'the same top-1 class');
    assert.deepEqual({ ...r.blocks[3].reference, name: '' }, { ...r.blocks[3].output, name: '' });
    assert.equal(r.blocks[3].reference.name, 'blocks.3.ref');
  });
  it('FP16 without test data computes the reference once for all modes, in one CPU run whose outputs are the blocks, the probabilities and the LayerNorm statistics', async () => {
    const logs: string[] = [];
    const { runModes } = await import('../../extension/core/pipeline');
    const reports = await runModes({ weights: fx('d1_outlier').weights, ep: 'cpu', precision: 'fp16', heads: 4, confirmMinimalFix: false }, ['plain', 'fp32'], { log: (l) => logs.push(l) });
    const graphs = logs.filter((l) => /^graph: /.test(l));
    assert.equal(logs.filter((l) => l === '[computing the FP32 reference] FP32 of this model on the CPU EP').length, 1);
    // 12 blocks, the probabilities, and per LayerNorm (3 per block and the final one) its statistics and channel maxima
    assert.equal(logs.filter((l) => /^fp32 probe run on the CPU EP: 87 outputs \(0\.4 MiB\), session \d+ ms, run \d+ ms$/.test(l)).length, 1, logs.join('\n'));
    assert.equal(graphs.length, 2, 'graph lines are the modes\' engines');
    assert.ok(reports[0].run.timings.referenceMs > 0 && reports[1].run.timings.referenceMs === 0);
    assert.equal(reports[0].diagnosis.firstBadBlock, 4);
    assert.equal(reports[1].diagnosis.verdict, 'pass');
  });
  it('a GPU engine\'s fp32 CPU run (self-reference, probe) goes on a worker thread beside it, with the same results as on the main thread', async () => {
    // 'auto' here (no GPU) falls back to the CPU EP after choosing to run the fp32 run beside it
    const { runModes } = await import('../../extension/core/pipeline');
    const run2 = async (ep: 'cpu' | 'auto', data: boolean) => {
      const logs: string[] = [];
      const d = fx('d1_outlier');
      const reports = await runModes({ weights: d.weights, ...(data ? { data: d.data } : {}), ep, precision: 'fp16', heads: 4, confirmMinimalFix: false }, ['plain', 'fp32'], { log: (l) => logs.push(l) });
      return { reports, logs };
    };
    for (const data of [false, true]) {
      const main = await run2('cpu', data);
      const beside = await run2('auto', data);
      const probeLines = (l: string[]) => l.filter((x) => x.startsWith('fp32 probe run on the CPU EP'));
      assert.equal(probeLines(beside.logs).length, 1, beside.logs.join('\n'));
      assert.match(probeLines(beside.logs)[0], /on a worker thread, beside the engine/);
      assert.doesNotMatch(probeLines(main.logs)[0], /worker thread/);
      for (let i = 0; i < 2; i++) {
        assert.deepEqual(beside.reports[i].blocks.map((b) => b.relL2), main.reports[i].blocks.map((b) => b.relL2), `data ${data}, mode ${i}`);
        assert.deepEqual(beside.reports[i].diagnosis, main.reports[i].diagnosis);
      }
      assert.equal(beside.reports[0].diagnosis.firstBadBlock, 4);
      assert.equal(beside.reports[0].inputs.reference.kind, data ? 'test-data' : 'self');
    }
  });
  it('the GPU helper gets half the sessions: heaviest first, expose 1.5, a plain FP16 mode\'s confirmation one more here', async () => {
    const { helperModes } = await import('../../extension/core/pipeline');
    const o = (layerNorm: LayerNormMode, x: Partial<PipelineOptions> = {}) => ({ precision: 'fp16' as const, layerNorm, ...x });
    // the CLI's 'all' order
    assert.deepEqual(helperModes(['plain', 'expose', 'fp32', 'fused', 'prescaled'].map((m) => o(m as LayerNormMode))), [false, true, true, false, true]);
    assert.deepEqual(helperModes([o('plain'), o('fp32')]), [false, true], 'plain and its confirmation here');
    assert.deepEqual(helperModes([o('plain', { confirmMinimalFix: false }), o('fp32')]), [true, false], 'without it, the first to the helper');
    assert.deepEqual(helperModes([o('fp32'), o('fused')]), [true, false]);
    assert.deepEqual(helperModes([o('plain', { precision: 'fp32' }), o('fp32', { precision: 'fp32' }), o('fused', { precision: 'fp32' })]), [true, false, true]);
  });
  it('several modes on a GPU provider run in two processes (the GPU helper runs the last ones; forced here on the CPU EP) with each mode\'s own results', async () => {
    const { runModes } = await import('../../extension/core/pipeline');
    const d = fx('d1_outlier');
    const modes = ['plain', 'fp32', 'fused', 'prescaled', 'expose'] as const;
    const go = async (helper: '0' | '1') => {
      const logs: string[] = [];
      const reports = await withEnv({ TIMESFORMER_LAB_GPU_HELPER: helper }, () => runModes({ ...d, ep: 'cpu', precision: 'fp16', heads: 4 }, [...modes], { log: (l) => logs.push(l) }));
      return { reports, logs };
    };
    const two = await go('1');
    const one = await go('0');
    // plain's confirmation is one more engine here; expose weighs 1.5
    assert.ok(two.logs.includes('modes: plain, fused in this process; fp32, prescaled, expose in the GPU helper process'), two.logs.join('\n'));
    for (const m of ['fp32', 'prescaled', 'expose']) assert.ok(two.logs.some((l) => l.startsWith(`(${m}) ran in the GPU helper process: session `)), m);
    assert.ok(!one.logs.some((l) => /helper/.test(l)));
    for (let i = 0; i < modes.length; i++) {
      const [a, b] = [two.reports[i], one.reports[i]];
      assert.equal(a.run.layerNorm, modes[i]);
      assert.deepEqual(a.blocks.map((x) => x.relL2), b.blocks.map((x) => x.relL2), modes[i]);
      assert.deepEqual(a.blocks.map((x) => x.layerNorms), b.blocks.map((x) => x.layerNorms), modes[i]);
      assert.deepEqual(a.diagnosis, b.diagnosis, modes[i]);
      assert.deepEqual(a.probs, b.probs, modes[i]);
      assert.equal(a.run.outputBytes, b.run.outputBytes, modes[i]);
      assert.ok(a.run.timings.helperPeakRssBytes! > 50 * 2 ** 20, 'the helper\'s memory is reported');
      assert.equal(b.run.timings.helperPeakRssBytes, undefined);
    }
    assert.equal(two.reports[0].diagnosis.firstBadBlock, 4);
    assert.equal(two.reports[0].diagnosis.minimalFix?.confirmed?.verdict, 'pass', 'the plain mode\'s minimal fix is confirmed in this process while the helper runs the others');
  });
  it('the Report gives the peak memory, the checkpoint\'s weight bytes and the bytes that left the engine', async () => {
    const r = await run('d1_outlier', { precision: 'fp16', layerNorm: 'plain' });
    const C = r.config.embedDim;
    const tokens = 1 + r.config.numPatches * r.config.frames;
    assert.equal(r.inputs.weightBytes, r.config.params * 4, 'float32 checkpoint');
    // the block outputs, the probabilities, and per LayerNorm (3 per block and the final one) its statistics and channel maxima
    const depth = r.config.depth;
    const expected = depth * tokens * C * 4 + r.config.numClasses * 4 + (3 * depth + 1) * (LN_STAT_FIELDS.length + C) * 4;
    assert.equal(r.run.outputBytes, expected);
    const peak = r.run.timings.peakRssBytes!;
    assert.ok(peak > 50 * 2 ** 20 && peak === Math.round(peak), `${peak}`);
  });
});
