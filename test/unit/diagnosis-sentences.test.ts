/**
 * The diagnosis's sentence, word for word, in the branches the other diagnosis tests do not reach
 * (mutation testing found them unpinned; docs/mutation.md): a passing run that a plain FP16
 * LayerNorm would break, a model without a classifier, only the probabilities failing, many causes,
 * and each candidate when nothing measured explains a failure.
 */
import { strict as assert } from 'assert';
import { describeLayerNorm, diagnose, torchDecomposedNodeNames, torchExportNodeName, trtexecCommand, type DiagnoseInput } from '../../extension/core/compare/diagnosis';
import { firstFailing, markJump, passes, worstBlock } from '../../extension/core/compare/verdict';
import { layerNormStats, tensorStats } from '../../extension/core/compare/metrics';
import { lnLimits, TENSORRT_FP16, type RealizationSpec } from '../../extension/core/model/realization';
import { LN_STAT_FIELDS, type LnStatField } from '../../extension/core/model/timesformer';
import type { BlockResult, LayerNormMode, LayerNormStats, ProbsResult } from '../../extension/core/report';

const EMULATED: RealizationSpec = { precision: 'fp16', realization: 'emulated', accumulate: 'fp32' };
const SQ = { maxSq: 9.7e4, overFp16Count: 128, sqInf: 128, sqNonFinite: 128 };

function ln(name: string, v: Partial<Record<LnStatField, number>>, spec: RealizationSpec, mode: LayerNormMode): LayerNormStats {
  const defaults: Record<LnStatField, number> = {
    maxSq: 900, overFp16Count: 0, maxSumSq: 9000, maxAbsSum: 200, inputNonFinite: 0, sqInf: 0, sqNonFinite: 0, varNonFinite: 0, meanNonFinite: 0,
  };
  const b = /^blocks\.(\d+)/.exec(name);
  const stats = Float32Array.from(LN_STAT_FIELDS.map((f) => v[f] ?? defaults[f]));
  const channels = Float32Array.from({ length: 64 }, (_, i) => (i === 21 ? 310 : 5));
  return layerNormStats({ name, block: b ? Number(b[1]) : null, mode }, 'engine', stats, channels, lnLimits(spec, mode, 3));
}

function run(errors: number[], o: {
  lns?: [string, Partial<Record<LnStatField, number>>][]; spec?: RealizationSpec; mode?: LayerNormMode; tolerance?: number; probs?: Partial<ProbsResult>;
  overrides?: Record<string, LayerNormMode>; heads?: DiagnoseInput['heads'];
} = {}) {
  const spec = o.spec ?? EMULATED;
  const mode = o.mode ?? 'plain';
  const tolerance = o.tolerance ?? 0.025;
  const stats = (o.lns ?? []).map(([n, v]) => ln(n, v, spec, o.overrides?.[n] ?? mode));
  const t = tensorStats('o', new Float32Array(4), [1, 4]);
  const blocks: BlockResult[] = errors.map((e, index) => ({
    index, relL2: e, maxAbs: e, cosine: 1, passed: e <= tolerance, jump: false, tokenError: [], output: t, reference: t, exposed: [],
    layerNorms: stats.filter((l) => l.block === index),
  }));
  const probs: ProbsResult = { relL2: 1e-3, maxAbs: 1e-4, top1: 1, refTop1: 1, top1Agree: true, ...o.probs };
  return diagnose({
    blocks, probs, finalNorm: stats.find((l) => l.block === null) ?? null, tolerance, spec, layerNorm: mode, layerNormOverrides: o.overrides,
    prescaleShift: 3, channels: 768, heads: o.heads,
  });
}

describe('diagnosis sentences: a passing run', () => {
  it('names the LayerNorm a plain FP16 LayerNorm would overflow, and the mode that avoids it', () => {
    const d = run([0.004, 0.006, 0.012, 0.009], { mode: 'fused', lns: [['blocks.1.norm1', { maxSq: 7e4 }], ['blocks.2.norm2', SQ]] });
    assert.equal(d.verdict, 'pass');
    assert.equal(d.sentence, 'All 4 blocks within 0.025 (worst 0.012 at block 2); probabilities rel err 1.0e-3, top-1 agrees. Block 1 spatial LayerNorm (blocks.1.norm1): (x−mean)² reaches 7.0e+4 > 65504 in channel 21 — it would overflow a plain FP16 LayerNorm; the \'fused\' LayerNorm mode avoids it.');
    assert.equal(d.culprit?.layerNorm, 'blocks.1.norm1');
    assert.equal(run([0.004], { mode: 'fused', spec: { precision: 'bf16', realization: 'emulated', accumulate: 'fp32' }, lns: [['blocks.0.norm1', { maxSq: 7e4 }]], tolerance: 0.05 }).culprit, undefined, 'BF16 has no 65504');
  });
  it('built to overflow (plain, its limit passed) and passing all the same: the engine kept it in range, not the mode', () => {
    // a TensorRT engine of the plain export that passed (trtexec, or outputs imported): TensorRT chose its own precisions
    const trt = run([0.004, 0.006], { spec: TENSORRT_FP16, mode: 'plain', lns: [['blocks.1.norm1', { maxSq: 9.7e4 }]] });
    assert.equal(trt.verdict, 'pass');
    assert.equal(trt.sentence, 'All 2 blocks within 0.025 (worst 6.0e-3 at block 1); probabilities rel err 1.0e-3, top-1 agrees. Block 1 spatial LayerNorm (blocks.1.norm1): (x−mean)² reaches 9.7e+4 > 65504 in channel 21 — it would overflow a plain FP16 LayerNorm, as this engine was asked to build it (\'plain\'); this TensorRT build kept it in range by its own choice of precisions or fusions, which another build need not repeat: the minimal fix or \'fp32\' pins it.');
    assert.doesNotMatch(trt.sentence, /avoids it/);
    // any other engine built plain, or prescaled past its limit, that passes
    const plain = run([0.004, 0.006], { mode: 'plain', lns: [['blocks.1.norm1', { maxSq: 9.7e4 }]] });
    assert.match(plain.sentence, /— it would overflow a plain FP16 LayerNorm, as this engine built it \('plain'\); its blocks stay within the tolerance all the same\.$/);
    // seen overflowing in the engine (its squares went inf), under a loose tolerance
    const seen = run([0.3, 0.4], { mode: 'plain', tolerance: 0.5, lns: [['blocks.1.norm1', SQ]] });
    assert.match(seen.sentence, /— it would overflow a plain FP16 LayerNorm, and did in this engine \('plain'\); its blocks stay within the tolerance all the same\.$/);
    const pre = run([0.004, 0.006], { mode: 'prescaled', lns: [['blocks.1.norm1', { maxSq: 9.7e4 * 64 }]] });
    assert.match(pre.sentence, /as this engine built it \('prescaled'\); its blocks stay/);
    // prescaled within its limit (65504 · 4^3): the mode avoids it
    assert.match(run([0.004, 0.006], { mode: 'prescaled', lns: [['blocks.1.norm1', { maxSq: 9.7e4 }]] }).sentence, /; the 'prescaled' LayerNorm mode avoids it\.$/);
  });
  it('under the minimal fix: "the minimal fix (X and N more LayerNorms in fp32)"', () => {
    const overrides: Record<string, LayerNormMode> = { 'blocks.1.norm1': 'fp32', 'blocks.1.norm2': 'fp32', 'blocks.2.norm2': 'fp32' };
    const d = run([0.004, 0.006, 0.012], { overrides, lns: [['blocks.1.norm1', { maxSq: 7e4 }]] });
    assert.match(d.sentence, /; the minimal fix \(blocks\.1\.norm1 and 2 more LayerNorms in fp32\) avoids it\.$/);
    const two = run([0.004, 0.006], { overrides: { 'blocks.1.norm1': 'fp32', 'blocks.0.norm2': 'fp32' }, lns: [['blocks.1.norm1', { maxSq: 7e4 }]] });
    assert.match(two.sentence, /; the minimal fix \(blocks\.1\.norm1 and 1 more LayerNorm in fp32\) avoids it\.$/);
    const one = run([0.004, 0.006], { overrides: { 'blocks.1.norm1': 'fp32' }, lns: [['blocks.1.norm1', { maxSq: 7e4 }]] });
    assert.match(one.sentence, /; the minimal fix \(blocks\.1\.norm1 in fp32\) avoids it\.$/);
  });
  it('a model without a classifier: the final LayerNorm output, not probabilities', () => {
    const d = run([0.004, 0.02], { probs: { kind: 'features', relL2: 2e-3 } as Partial<ProbsResult> });
    assert.equal(d.sentence, 'All 2 blocks within 0.025 (worst 0.02 at block 1); final LayerNorm output (the model has no classifier) rel err 2.0e-3.');
  });
  it('top-1 that differs is said', () => {
    assert.match(run([0.004], { probs: { top1Agree: false } }).sentence, /top-1 differs\.$/);
  });
});

describe('diagnosis sentences: a failing run', () => {
  it('only the probabilities fail: the final LayerNorm is a cause, blocks are not judged past it', () => {
    const d = run([0.004, 0.006], { probs: { relL2: 0.3, top1Agree: false }, lns: [['norm', SQ], ['blocks.1.norm2', { maxSq: 800 }]] });
    assert.equal(d.firstBadBlock, null);
    assert.deepEqual(d.causes.map((c) => [c.layerNorm, c.block]), [['norm', null]]);
    assert.match(d.sentence, /^Every block passes but the probabilities fail \(rel err 0\.3 > 0\.025\)\. Final LayerNorm \(norm\): \(x−mean\)² reaches 9\.7e\+4 > 65504 in channel 21/);
    const f = run([0.004], { probs: { relL2: 0.3, kind: 'features' } as Partial<ProbsResult> });
    assert.match(f.sentence, /^Every block passes but the final LayerNorm output \(no classifier\) fails \(rel err 0\.3 > 0\.025\), and no LayerNorm overflows\. Candidates: 1\) rounding outside the LayerNorms/);
  });
  it('many causes: four named, the rest counted; the minimal fix lists four and "…"', () => {
    const names = ['blocks.0.temporal_norm1', 'blocks.0.norm1', 'blocks.0.norm2', 'blocks.1.temporal_norm1', 'blocks.1.norm1', 'blocks.1.norm2'];
    const d = run([0.004, 0.3], { lns: names.map((n) => [n, SQ]) });
    assert.match(d.sentence, /^Block 1 fails \(rel err 0\.3 > 0\.025\)\. Block 0 temporal LayerNorm \(blocks\.0\.temporal_norm1\): .*\. Also at or before it: blocks\.0\.norm1, blocks\.0\.norm2, blocks\.1\.temporal_norm1, blocks\.1\.norm1 and 1 more\. Fix: LayerNorm in FP32, fused LayerNormalization, or prescaled\. Minimal fix: 6 LayerNorms in FP32 \(blocks\.0\.temporal_norm1, blocks\.0\.norm1, blocks\.0\.norm2, blocks\.1\.temporal_norm1, …\)\.$/);
    assert.deepEqual(d.minimalFix?.layerNorms, names);
    const two = run([0.004, 0.3], { lns: [[names[0], SQ], [names[4], SQ]] });
    assert.match(two.sentence, /Also at or before it: blocks\.1\.norm1\. Fix: .* Minimal fix: 2 LayerNorms in FP32 \(blocks\.0\.temporal_norm1, blocks\.1\.norm1\)\.$/);
    const single = run([0.004, 0.3], { lns: [[names[4], SQ]] });
    assert.match(single.sentence, /Minimal fix: 1 LayerNorm in FP32 \(blocks\.1\.norm1\)\.$/);
    assert.doesNotMatch(single.sentence, /Also at or before it/);
  });
  it('one fix is named alone; two with "or"', () => {
    const d = run([0.004, 0.3], { mode: 'prescaled', lns: [['blocks.1.norm1', { maxSq: 5e6, overFp16Count: 9, sqInf: 9, sqNonFinite: 9 }]], overrides: {} });
    assert.match(d.sentence, /Fix: LayerNorm in FP32, or fused LayerNormalization\./);
    const fusedOnly = run([0.004, 0.3], { lns: [['blocks.1.norm1', { maxSq: 5e6, overFp16Count: 9, sqInf: 9, sqNonFinite: 9 }]], overrides: { 'blocks.1.norm1': 'fp32' } });
    assert.deepEqual(fusedOnly.fixes, ['fused', 'expose'], 'fp32 is applied to it already');
    assert.match(fusedOnly.sentence, /Fix: fused LayerNormalization\./);
  });
});

describe('diagnosis sentences: candidates when nothing measured explains the failure', () => {
  const texts = (d: ReturnType<typeof diagnose>) => d.candidates.map((c) => `${c.kind}: ${c.text}`);
  it('block 0 grossly off: a better head count tried, or heads not detected, then weights and reference that do not belong together', () => {
    const better = run([0.5, 0.6], { heads: { heads: 4, source: 'assumed', tried: [{ heads: 4, block0RelL2: 0.5 }, { heads: 8, block0RelL2: 2e-6 }, { heads: 2, block0RelL2: 5e-6 }] } });
    assert.deepEqual(texts(better), [
      'heads: a wrong head count: with 4 heads (assumed) block 0 is off by 0.5, with 8 heads it matches the reference (rel err 2.0e-6); run with --heads 8',
    ], 'the count that reproduces the reference is the explanation: no mismatch, no rounding beside it');
    const given = run([0.5], { heads: { heads: 4, source: 'option', tried: [] } });
    assert.equal(texts(given)[0], 'heads: a wrong head count: 4 heads were given, not detected (the count is not in the weights); give test data to detect it');
    const detected = run([0.5], { heads: { heads: 4, source: 'detected', tried: [{ heads: 4, block0RelL2: 0.5 }, { heads: 8, block0RelL2: 0.4 }] } });
    assert.equal(detected.candidates[0].kind, 'mismatch', 'no head count fits better: heads ruled out');
    const fp32 = run([0.05], { spec: { precision: 'fp32', realization: 'fp32', accumulate: 'fp32' }, tolerance: 0.01 });
    assert.deepEqual(fp32.candidates.map((c) => c.kind), ['mismatch']);
    assert.match(fp32.candidates[0].text, /off by 0\.05 in FP32$/);
    const small = run([0.03, 0.04]);
    assert.deepEqual(small.candidates.map((c) => c.kind), ['outside-layernorm'], 'FP16 block 0 only slightly off: no mismatch');
  });
  it('per realization: BF16 rounding, fp16 accumulation, the ops left in fp16, TF32', () => {
    assert.deepEqual(run([0.004, 0.3], { spec: { precision: 'bf16', realization: 'emulated', accumulate: 'fp32' }, tolerance: 0.05 }).candidates.map((c) => c.kind), ['bf16-rounding']);
    assert.deepEqual(run([0.004, 0.3], { spec: { precision: 'fp16', realization: 'native', accumulate: 'fp16' } }).candidates.map((c) => c.kind), ['accumulation']);
    const trt = run([0.004, 0.3], { spec: { precision: 'fp16', realization: 'tensorrt', accumulate: 'fp32' } });
    assert.deepEqual(texts(trt), ['accumulation: accumulation noise in the ops left in fp16 (Softmax, GELU, residual adds); --fp32-ops keeps more of them in fp32']);
    const native32 = run([0.004, 0.3], { spec: { precision: 'fp16', realization: 'native', accumulate: 'fp32' } });
    assert.match(texts(native32)[0], /^accumulation: accumulation noise in the ops left in fp16/);
    const tf32 = run([0.004, 0.02], { spec: { precision: 'fp32', realization: 'tensorrt', accumulate: 'fp32' }, tolerance: 0.01 });
    assert.deepEqual(tf32.candidates.map((c) => c.kind), ['tf32', 'mismatch']);
    assert.match(tf32.sentence, /no LayerNorm there overflows \(FP32 has no 16-bit range to overflow\)\. Candidates: 1\) TF32 GEMMs/);
  });
});

describe('diagnosis words: LayerNorm names, the trtexec line, the jump', () => {
  it('describes every LayerNorm by block and kind, and anything else by its name', () => {
    assert.equal(describeLayerNorm('blocks.11.temporal_norm1'), 'Block 11 temporal LayerNorm (blocks.11.temporal_norm1)');
    assert.equal(describeLayerNorm('blocks.3.norm1'), 'Block 3 spatial LayerNorm (blocks.3.norm1)');
    assert.equal(describeLayerNorm('blocks.0.norm2'), 'Block 0 MLP LayerNorm (blocks.0.norm2)');
    assert.equal(describeLayerNorm('norm'), 'Final LayerNorm (norm)');
    for (const odd of ['blocks.3.norm1x', 'xblocks.3.norm1', 'blocks.3.norm3']) assert.equal(describeLayerNorm(odd), `LayerNorm ${odd}`);
  });
  it('the trtexec line names each LayerNorm as torch.onnx.export scopes it, fused or decomposed, and its plan after the ONNX file', () => {
    assert.equal(trtexecCommand(['blocks.10.norm1', 'norm'], { onnx: 'v2.onnx.onnx' }),
      'trtexec --onnx=v2.onnx.onnx --fp16 --precisionConstraints=obey --layerPrecisions=/model/blocks.10/norm1/LayerNormalization:fp32,/model/norm/LayerNormalization:fp32 --saveEngine=v2.onnx_fp16.plan');
    assert.equal(trtexecCommand(['norm'], { onnx: 'model' }), 'trtexec --onnx=model --fp16 --precisionConstraints=obey --layerPrecisions=/model/norm/LayerNormalization:fp32 --saveEngine=model_fp16.plan');
    assert.deepEqual(torchDecomposedNodeNames('blocks.2.norm2').slice(0, 2), ['/model/blocks.2/norm2/ReduceMean', '/model/blocks.2/norm2/Sub']);
    assert.equal(torchExportNodeName('xblocks.2.norm2'), '/model/xblocks.2.norm2/LayerNormalization');
  });
  it('a jump: at least 10× the block before it and over the tolerance; a block passes at exactly the tolerance, NaN fails', () => {
    const t = tensorStats('o', new Float32Array(4), [1, 4]);
    const bs = (errs: number[]): BlockResult[] => errs.map((e, index) => ({ index, relL2: e, maxAbs: e, cosine: 1, passed: passes(e, 0.025), jump: false, tokenError: [], output: t, reference: t, exposed: [] as never, layerNorms: [] }));
    assert.equal(markJump(bs([0.003, 0.03]), 0.025), 1, 'exactly 10×');
    assert.equal(markJump(bs([0.0031, 0.03]), 0.025), null, 'just under 10×');
    assert.equal(markJump(bs([0.0025, 0.025]), 0.025), null, 'at the tolerance is no failure, so no jump');
    assert.equal(markJump(bs([0, 0.5]), 0.025), null, 'nothing to jump from');
    const jumped = bs([0.001, 0.002, 0.5, 0.9]);
    assert.equal(markJump(jumped, 0.025), 2);
    assert.deepEqual(jumped.map((b) => b.jump), [false, false, true, false], 'only the first jump is marked');
    assert.equal(passes(0.025, 0.025), true);
    assert.equal(passes(NaN, 0.025), false);
    assert.equal(firstFailing(bs([0.01, NaN, 0.5])), 1);
    assert.equal(firstFailing(bs([0.01, 0.02])), null);
    // the worst block: the largest error, a NaN above every number, the first on a tie
    assert.equal(worstBlock(bs([0.01, 0.3, 0.2])).index, 1);
    assert.equal(worstBlock(bs([0.01, NaN, 0.5])).index, 1);
    assert.equal(worstBlock(bs([NaN, 0.5, NaN])).index, 0);
    assert.equal(worstBlock(bs([0.2, Infinity, 0.2])).index, 1);
    assert.equal(worstBlock(bs([0.2, 0.2])).index, 0);
    assert.equal(worstBlock(bs([0.2])).index, 0);
  });
  it('a head count is offered only when block 0 then matches to under 1e-3 and 10× better', () => {
    const offered = (tried: { heads: number; block0RelL2: number }[], b0 = 0.5) => run([b0, 0.6], { heads: { heads: 4, source: 'assumed', tried: [{ heads: 4, block0RelL2: b0 }, ...tried] } }).candidates[0].text;
    assert.match(offered([{ heads: 8, block0RelL2: 0.01 }]), /^weights and reference that do not belong together/, '0.01 is not a match');
    assert.match(offered([{ heads: 8, block0RelL2: 9e-4 }]), /with 8 heads it matches/);
    assert.match(offered([{ heads: 8, block0RelL2: 9e-4 }, { heads: 2, block0RelL2: 1e-6 }]), /with 2 heads it matches the reference \(rel err 1\.0e-6\); run with --heads 2$/, 'the best of them');
    const fp32 = (tried: { heads: number; block0RelL2: number }[]) => run([5e-3, 6e-3], { spec: { precision: 'fp32', realization: 'fp32', accumulate: 'fp32' }, tolerance: 1e-3, heads: { heads: 4, source: 'assumed', tried: [{ heads: 4, block0RelL2: 5e-3 }, ...tried] } }).candidates[0].text;
    assert.match(fp32([{ heads: 8, block0RelL2: 9e-4 }]), /^weights and reference/, 'under 1e-3 but not 10× better than 5e-3');
    assert.match(fp32([{ heads: 8, block0RelL2: 4e-4 }]), /with 8 heads it matches/);
  });
});
