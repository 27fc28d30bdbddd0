/**
 * The pipeline's promises, held in milliseconds (issue 23; docs/mutation.md, module `pipeline`):
 * checkAgreement (does the test data describe the checkpoint?) and judge (each block against the
 * reference with the tolerance, LayerNorm overflow marks per block, the final output) called
 * directly with small hand-made inputs, no model run. promises-pipeline.test.ts holds the same
 * promises end to end.
 */
import { strict as assert } from 'assert';
import { diff, tensorStats, type BlockComparison } from '../../extension/core/compare/metrics';
import { defaultTolerance } from '../../extension/core/compare/verdict';
import { LabError } from '../../extension/core/errors';
import type { TestData } from '../../extension/core/formats/testdata';
import { LN_STAT_FIELDS, type BuiltGraph, type LayerNormTensors, type LnStatField } from '../../extension/core/model/graph-options';
import { judge, type Compared } from '../../extension/core/pipeline/compare';
import type { EngineRun } from '../../extension/core/pipeline/engine-run';
import { checkAgreement, type LoadedModel } from '../../extension/core/pipeline/load';
import type { Prepared } from '../../extension/core/pipeline/prepare';
import type { Reference } from '../../extension/core/pipeline/reference';
import type { LayerNormMode, PipelineOptions } from '../../extension/core/report';

// ---- checkAgreement ----

/** A checkpoint of 2 frames of 32×32 in 16-pixel patches (4 patches), width 8, 10 classes, `depth` blocks. */
function model(over: Partial<LoadedModel['base']> = {}): LoadedModel {
  const base = { frames: 2, imageSize: 32, patchSize: 16, numPatches: 4, embedDim: 8, numClasses: 10, depth: 4, ...over };
  return { weightsPath: '/ckpt/model.pyth', base } as unknown as LoadedModel;
}
const t = (shape: number[]) => ({ shape, data: new Float32Array(0), dtype: 'float32' });
/** Test data that agrees with model(): video (1, 3, 2, 32, 32), blocks (1, 1 + 4·2, 8), 10 probabilities. */
function data(over: { video?: number[]; probs?: number[]; blocks?: number[][] } = {}): TestData {
  const blocks = over.blocks ?? Array.from({ length: 4 }, () => [1, 9, 8]);
  return { path: '/data/test.safetensors', video: t(over.video ?? [1, 3, 2, 32, 32]), probs: t(over.probs ?? [1, 10]), blocks: blocks.map(t) } as unknown as TestData;
}
/** checkAgreement's refusal: a MISMATCH naming the test data file and the checkpoint; its message. */
function refusal(m: LoadedModel, d: TestData): string {
  try {
    checkAgreement(m, d);
  } catch (e) {
    assert.ok(e instanceof LabError, `a LabError, not ${String(e)}`);
    assert.equal(e.code, 'MISMATCH');
    assert.equal(e.file, d.path, 'the error names the test data file');
    assert.match(e.message, /checkpoint \/ckpt\/model\.pyth and test data disagree: /);
    return e.message;
  }
  assert.fail('the test data was accepted');
}

describe('promise: test data of another model is refused as MISMATCH naming the file and the cause', () => {
  it('test data that describes the checkpoint is accepted (with and without a classifier)', () => {
    assert.doesNotThrow(() => checkAgreement(model(), data()));
    assert.doesNotThrow(() => checkAgreement(model({ numClasses: 0 }), data({ probs: [1, 8] })), 'a model without classifier outputs embedDim values');
    assert.doesNotThrow(() => checkAgreement(model(), data({ blocks: [[1, 9, 8]] })), 'fewer block outputs than blocks is fine');
  });

  it('a video of 4 channels is refused, naming the channels', () => {
    const msg = refusal(model(), data({ video: [1, 4, 2, 32, 32] }));
    assert.match(msg, /the video has 4 channels, expected 3/);
  });

  it('a video of 3 frames for a 2-frame time_embed is refused', () => {
    assert.match(refusal(model(), data({ video: [1, 3, 3, 32, 32] })), /the video has 3 frames, the checkpoint's time_embed has 2/);
  });

  it('a video of the wrong height alone, or the wrong width alone, is refused', () => {
    assert.match(refusal(model(), data({ video: [1, 3, 2, 48, 32] })), /the video is 48×32, the checkpoint expects 32×32 \(pos_embed has 4 patches of 16\)/);
    assert.match(refusal(model(), data({ video: [1, 3, 2, 32, 48] })), /the video is 32×48, the checkpoint expects 32×32/);
  });

  it('a model without classifier: a final output that is not embedDim wide is refused, naming both', () => {
    const msg = refusal(model({ numClasses: 0 }), data({ probs: [1, 10] }));
    assert.match(msg, /the final output has 10 values per clip; a model without a classifier outputs its final LayerNorm's class token \(8\)/);
    assert.doesNotMatch(msg, /classes, the head has/);
  });

  it('9 probabilities for a 10-class head are refused', () => {
    const msg = refusal(model(), data({ probs: [1, 9] }));
    assert.match(msg, /the probabilities have 9 classes, the head has 10/);
    assert.doesNotMatch(msg, /without a classifier/);
  });

  it('more block outputs than the checkpoint has blocks are refused', () => {
    const msg = refusal(model({ depth: 3 }), data());
    assert.match(msg, /the test data has 4 block outputs, the checkpoint has 3 blocks/);
    assert.doesNotMatch(msg, /block \d output has shape/);
  });

  it('each wrong dimension of a block output (rank, batch, token count, width) (a rank-4 array whose first three sizes agree too) is refused, naming the block and both shapes', () => {
    const cases: [number[], RegExp][] = [
      [[9, 8], /block 2 output has shape \[9, 8\], expected \[1, 9, 8\]/],
      [[1, 9, 8, 2], /block 2 output has shape \[1, 9, 8, 2\], expected \[1, 9, 8\]/],
      [[2, 9, 8], /block 2 output has shape \[2, 9, 8\], expected \[1, 9, 8\]/],
      [[1, 10, 8], /block 2 output has shape \[1, 10, 8\], expected \[1, 9, 8\]/],
      [[1, 9, 16], /block 2 output has shape \[1, 9, 16\], expected \[1, 9, 8\]/],
    ];
    for (const [shape, re] of cases) {
      const blocks = [[1, 9, 8], [1, 9, 8], shape, [1, 9, 8]];
      const msg = refusal(model(), data({ blocks }));
      assert.match(msg, re, `block 2 of shape [${shape}]`);
      assert.doesNotMatch(msg, /block [013] output/, 'only block 2 is named');
    }
  });

  it('with 12 mismatching blocks only 8 problems are listed, separated by "; "', () => {
    const m = model({ depth: 12 });
    const blocks = Array.from({ length: 12 }, () => [1, 7, 8]);
    const msg = refusal(m, data({ blocks }));
    const listed = msg.slice(msg.indexOf('disagree: ') + 'disagree: '.length).split('; ');
    assert.equal(listed.length, 8);
    assert.deepEqual(listed, Array.from({ length: 8 }, (_, i) => `block ${i} output has shape [1, 7, 8], expected [1, 9, 8]`));
    // other problems count too: channels and frames take 2 of the 8 places
    const msg2 = refusal(m, data({ video: [1, 4, 3, 32, 32], blocks }));
    const listed2 = msg2.slice(msg2.indexOf('disagree: ') + 'disagree: '.length).split('; ');
    assert.equal(listed2.length, 8);
    assert.match(listed2[7], /^block 5 output/);
  });
});

// ---- judge ----

const C = 4;
/** A LayerNorm's statistics outputs: maxSq as given, the rest small. */
function lnOut(maxSq: number): Float32Array {
  const defaults: Record<LnStatField, number> = {
    maxSq, overFp16Count: 0, maxSumSq: 100, maxAbsSum: 10, inputNonFinite: 0, sqInf: 0, sqNonFinite: 0, varNonFinite: 0, meanNonFinite: 0,
  };
  return Float32Array.from(LN_STAT_FIELDS.map((f) => defaults[f]));
}

interface Setup {
  numClasses?: number;
  labels?: string[];
  /** The engine's final output and the reference's. */
  probs?: [number[], number[]];
  /** relL2 of each block's comparison. */
  errors?: number[];
  /** LayerNorms with statistics: name, built mode, maxSq. */
  lns?: [string, LayerNormMode, number][];
  probe?: boolean;
  exposeBlock?: number;
  noProbs?: boolean;
  realization?: 'native' | 'emulated' | 'fp32' | 'tensorrt';
}
function setup(s: Setup = {}) {
  const errors = s.errors ?? [0.001, 0.002];
  const [probsOut, refProbs] = s.probs ?? [[0.1, 0.7, 0.2], [0.2, 0.6, 0.2]];
  const out = new Map<string, Float32Array>();
  const layerNorms: LayerNormTensors[] = (s.lns ?? []).map(([name, mode, maxSq]) => {
    out.set(`${name}.stats`, lnOut(maxSq));
    out.set(`${name}.channels`, Float32Array.from({ length: C }, (_, i) => i + 1));
    const block = /^blocks\.(\d+)/.exec(name);
    return { name, block: block ? Number(block[1]) : null, mode, stats: `${name}.stats`, channels: `${name}.channels` };
  });
  if (s.exposeBlock !== undefined) {
    const name = `blocks.${s.exposeBlock}.norm1`;
    layerNorms.push({ name, block: s.exposeBlock, mode: 'expose', diff: `${name}.diff`, mean: `${name}.mean` });
    out.set(`${name}.diff`, Float32Array.from({ length: 3 * C }, (_, i) => i - 5));
    out.set(`${name}.mean`, Float32Array.from([1, -2, 3]));
  }
  if (!s.noProbs) out.set('probs', Float32Array.from(probsOut));
  const g = { layerNorms, probsName: 'probs' } as unknown as BuiltGraph;
  const config = { numPatches: 1, frames: 1, embedDim: C, numClasses: s.numClasses ?? 3, depth: errors.length };
  const p = { config, model: { labels: s.labels } } as unknown as Prepared;
  const st = (name: string) => tensorStats(name, new Float32Array([1, 2, 3, 4]), [1, C]);
  const ref = { blocks: errors.map(() => new Float32Array(2 * C)), blockShape: [1, 2, C], probs: Float32Array.from(refProbs), stats: errors.map(() => undefined) } as unknown as Reference;
  const blocks: BlockComparison[] = errors.map((e, i) => ({ diff: { relL2: e, maxAbs: e * 2, cosine: 1 - e }, tokenError: [[e]], output: st(`blocks.${i}.out`) }));
  const run = { g: s.probe ? ({ layerNorms: [], probsName: 'probs' } as unknown as BuiltGraph) : g, out, engine: { realization: s.realization ?? 'native' } } as unknown as Pick<EngineRun, 'g' | 'out' | 'engine'>;
  if (s.probe) {
    // the engine carries no statistics: the fp32 probe's graph does
    run.out = new Map([['probs', Float32Array.from(probsOut)]]);
    if (s.noProbs) run.out.delete('probs');
  }
  const c: Compared = { blocks, probe: s.probe ? { g, out } : undefined };
  return { p, ref, run, c };
}
/** Options without a weights path (judge does not read it). */
const opts = (o: Partial<PipelineOptions> = {}) => o as PipelineOptions;
function judged(s: Setup, o: Partial<PipelineOptions> = {}) {
  const { p, ref, run, c } = setup(s);
  return { j: judge(p, opts(o), ref, run, c), ref };
}

describe('promise: judge compares each block with the tolerance and marks LayerNorm overflows on their block', () => {
  it('without options: FP32, plain LayerNorm, FP32 accumulation, prescale shift 3, the FP32 default tolerance', () => {
    const { j } = judged({});
    assert.deepEqual(j.spec, { precision: 'fp32', realization: 'native', accumulate: 'fp32' });
    assert.equal(j.layerNorm, 'plain');
    assert.deepEqual(j.layerNormOverrides, {});
    assert.equal(j.prescaleShift, 3);
    assert.equal(j.tolerance, defaultTolerance('fp32'));
  });

  it('the options given are kept: FP16 accumulation, prescale shift 5, the layerNorm mode, the tolerance', () => {
    const { j } = judged({}, { precision: 'fp16', accumulate: 'fp16', prescaleShift: 5, layerNorm: 'prescaled', tolerance: 0.5 });
    assert.deepEqual(j.spec, { precision: 'fp16', realization: 'native', accumulate: 'fp16' });
    assert.equal(j.prescaleShift, 5);
    assert.equal(j.layerNorm, 'prescaled');
    assert.equal(j.tolerance, 0.5);
  });

  it('a block exactly at the tolerance passes, just above fails; blocks are not marked as jumps here', () => {
    const tol = 0.01;
    const { j } = judged({ errors: [tol, tol * (1 + 1e-9), tol / 2] }, { tolerance: tol });
    assert.deepEqual(j.blocks.map((b) => b.passed), [true, false, true]);
    assert.deepEqual(j.blocks.map((b) => b.jump), [false, false, false]);
    assert.deepEqual(j.blocks.map((b) => b.index), [0, 1, 2]);
    assert.deepEqual(j.blocks.map((b) => [b.relL2, b.maxAbs, b.cosine]), [[tol, 2 * tol, 1 - tol], [tol * (1 + 1e-9), 2 * tol * (1 + 1e-9), 1 - tol * (1 + 1e-9)], [tol / 2, tol, 1 - tol / 2]]);
  });

  it('the reference\'s statistics are set on first use (named blocks.i.ref) and reused', () => {
    const { p, ref, run, c } = setup({});
    const j = judge(p, opts(), ref, run, c);
    assert.equal(ref.stats[1]!.name, 'blocks.1.ref');
    assert.equal(j.blocks[1].reference, ref.stats[1]);
    const again = judge(p, opts(), ref, run, c);
    assert.equal(again.blocks[1].reference, ref.stats[1]);
  });

  it('a LayerNorm whose (x−mean)² passes 65504 in FP16 is marked on its block\'s temporal/spatial/MLP LayerNorm, in that order', () => {
    const lns: [string, LayerNormMode, number][] = [
      ['blocks.1.norm2', 'plain', 100], ['blocks.1.temporal_norm1', 'plain', 70000], ['blocks.1.norm1', 'plain', 100], ['blocks.0.norm1', 'plain', 100],
    ];
    const { j } = judged({ lns }, { precision: 'fp16', accumulate: 'fp16' });
    assert.deepEqual(j.blocks[1].layerNorms.map((l) => l.name), ['blocks.1.temporal_norm1', 'blocks.1.norm1', 'blocks.1.norm2']);
    assert.deepEqual(j.blocks[1].layerNorms.map((l) => l.overflowed), [true, false, false]);
    assert.deepEqual(j.blocks[0].layerNorms.map((l) => l.name), ['blocks.0.norm1'], 'a block shows only the LayerNorms it has');
    assert.equal(j.blocks[1].layerNorms[0].source, 'engine');
    assert.equal(j.finalNorm, null, 'no final LayerNorm statistics: null');
  });

  it('the engine\'s statistics are judged by the mode each LayerNorm was built in', () => {
    const { j } = judged({ lns: [['blocks.0.norm1', 'fp32', 70000], ['blocks.0.norm2', 'plain', 70000]] }, { precision: 'fp16', layerNorm: 'plain' });
    assert.deepEqual(j.blocks[0].layerNorms.map((l) => [l.mode, l.overflowed]), [['fp32', false], ['plain', true]]);
  });

  it('an fp32 probe\'s statistics are judged by the run\'s mode and overrides, as fp32-probe', () => {
    const lns: [string, LayerNormMode, number][] = [['blocks.0.norm1', 'plain', 70000], ['blocks.0.norm2', 'plain', 70000], ['norm', 'plain', 100]];
    const { j } = judged({ lns, probe: true }, { precision: 'fp16', layerNorm: 'fp32', layerNormOverrides: { 'blocks.0.norm2': 'plain' } });
    assert.deepEqual(j.blocks[0].layerNorms.map((l) => [l.name, l.mode, l.source]), [['blocks.0.norm1', 'fp32', 'fp32-probe'], ['blocks.0.norm2', 'plain', 'fp32-probe']]);
    assert.equal(j.finalNorm?.name, 'norm', 'the final LayerNorm\'s statistics');
    assert.equal(j.finalNorm?.source, 'fp32-probe');
    const plain = judged({ lns, probe: true }, { precision: 'fp16' }).j;
    assert.deepEqual(plain.blocks[0].layerNorms.map((l) => l.mode), ['plain', 'plain'], 'without a mode: plain');
  });

  it('exposed tensors without threads\' statistics are computed here, in their own shapes', () => {
    const { j } = judged({ exposeBlock: 1 });
    const ex = j.blocks[1].exposed;
    assert.deepEqual(ex.map((e) => e.name), ['blocks.1.norm1.diff', 'blocks.1.norm1.mean']);
    const d = Float32Array.from({ length: 3 * C }, (_, i) => i - 5);
    assert.deepEqual(ex[0], tensorStats('blocks.1.norm1.diff', d, [3, C], true));
    assert.deepEqual(ex[0].shape, [3, C]);
    assert.deepEqual(ex[1].shape, [3]);
    assert.deepEqual(j.blocks[0].exposed, []);
  });

  it('an engine that returned no final output is an ENGINE_FAILED LabError', () => {
    const { p, ref, run, c } = setup({ noProbs: true });
    assert.throws(() => judge(p, opts(), ref, run, c), (e: unknown) => e instanceof LabError && e.code === 'ENGINE_FAILED' && /the engine returned no final output/.test(e.message));
  });

  it('the probabilities: error, the top class of each (the first on a tie), agreement and labels', () => {
    const po = [0.1, 0.7, 0.2];
    const pr = [0.2, 0.6, 0.2];
    const { j } = judged({ probs: [po, pr], labels: ['cat', 'dog', 'eel'] });
    const d = diff(Float32Array.from(po), Float32Array.from(pr));
    assert.deepEqual(j.probs, { kind: 'probabilities', relL2: d.relL2, maxAbs: d.maxAbs, top1: 1, refTop1: 1, top1Agree: true, top1Label: 'dog', refTop1Label: 'dog' });
    const tie = judged({ probs: [[0.4, 0.4, 0.2], [0.1, 0.3, 0.6]] }).j.probs;
    assert.equal(tie.top1, 0, 'the first of equal values');
    assert.equal(tie.refTop1, 2);
    assert.equal(tie.top1Agree, false);
    assert.equal(tie.top1Label, undefined, 'no labels, no label');
    assert.ok(!('top1Label' in tie) && !('refTop1Label' in tie));
    const mid = judged({ probs: [[0.1, 0.5, 0.4], [0.3, 0.2, 0.1]], labels: ['cat', 'dog'] }).j.probs;
    assert.deepEqual([mid.top1, mid.refTop1, mid.top1Label, mid.refTop1Label], [1, 0, 'dog', 'cat']);
  });

  it('a model without classifier compares its final output like a block: features, nothing ranked', () => {
    const po = [1, 2, 3, 4];
    const pr = [1, 2, 3, 5];
    const { j } = judged({ numClasses: 0, probs: [po, pr], labels: ['a', 'b', 'c', 'd'] });
    const d = diff(Float32Array.from(po), Float32Array.from(pr));
    assert.deepEqual(j.probs, { kind: 'features', relL2: d.relL2, maxAbs: d.maxAbs, top1: -1, refTop1: -1, top1Agree: true });
  });
});
