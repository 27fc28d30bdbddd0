/**
 * The diagnosis's promises, on measured inputs: the seed's own TensorRT tables, and LayerNorm
 * statistics as the graph's statistics outputs carry them (parsed by the same layerNormStats()).
 * Every case of the issue: each overflow mechanism, BF16, a wrong head count, a weights/data
 * mismatch, nothing found; never a later block, never a fix already applied.
 */
import { strict as assert } from 'assert';
import { diagnose, torchDecomposedNodeNames, torchExportNodeName, trtexecCommand, type DiagnoseInput } from '../../extension/core/compare/diagnosis';
import { layerNormStats, tensorStats } from '../../extension/core/compare/metrics';
import { DEFAULT_TOLERANCE, defaultTolerance, markJump } from '../../extension/core/compare/verdict';
import { lnLimits, TENSORRT_FP16, type RealizationSpec } from '../../extension/core/model/realization';
import { LN_STAT_FIELDS, type LnStatField } from '../../extension/core/model/timesformer';
import type { BlockResult, LayerNormMode, LayerNormStats, ProbsResult } from '../../extension/core/report';

// The seed's measurements (TensorRT 7.2.3.4, full-size TimeSformer, released K400 weights): shared NOTES.
const SEED_FP32 = [0.0011, 0.0021, 0.0025, 0.0023, 0.0024, 0.0037, 0.0065, 0.0071, 0.0072, 0.0075, 0.0076, 0.0077];
const SEED_FP16 = [0.0043, 0.0054, 0.0061, 0.0069, 0.0093, 0.0131, 0.4091, 0.4308, 0.4407, 0.4607, 0.4582, 0.5576];
const SEED_FP16_EXPOSED = [0.0043, 0.0053, 0.0061, 0.0068, 0.0091, 0.0148, 0.0157, 0.0158, 0.0158, 0.0161, 0.0161, 0.0162];

const EMULATED: RealizationSpec = { precision: 'fp16', realization: 'emulated', accumulate: 'fp32' };
const NATIVE_ACC16: RealizationSpec = { precision: 'fp16', realization: 'native', accumulate: 'fp16' };
const NATIVE_ACC32: RealizationSpec = { precision: 'fp16', realization: 'native', accumulate: 'fp32' };

/** A LayerNorm's statistics as the graph's `<ln>.stats` / `<ln>.channels` outputs would carry them. */
function ln(
  name: string, v: Partial<Record<LnStatField, number>>,
  o: { spec?: RealizationSpec; mode?: LayerNormMode; source?: LayerNormStats['source']; C?: number; maxAbs?: number } = {},
): LayerNormStats {
  const block = /^blocks\.(\d+)/.exec(name) ? Number(/^blocks\.(\d+)/.exec(name)![1]) : null;
  const defaults: Record<LnStatField, number> = {
    maxSq: 900, overFp16Count: 0, maxSumSq: 9000, maxAbsSum: 200, inputNonFinite: 0, sqInf: 0, sqNonFinite: 0, varNonFinite: 0, meanNonFinite: 0,
  };
  const stats = Float32Array.from(LN_STAT_FIELDS.map((f) => v[f] ?? defaults[f]));
  const channels = Float32Array.from({ length: o.C ?? 64 }, (_, i) => (i === 21 ? o.maxAbs ?? 310 : 5 + (i % 7)));
  const mode = o.mode ?? 'plain';
  return layerNormStats({ name, block, mode }, o.source ?? 'engine', stats, channels, lnLimits(o.spec ?? EMULATED, mode, 3));
}

function blocks(errors: number[], lns: LayerNormStats[] = [], tolerance: number): BlockResult[] {
  const t = tensorStats('o', new Float32Array(4), [1, 4]);
  return errors.map((e, index) => ({
    index, relL2: e, maxAbs: e, cosine: 1, passed: e <= tolerance, jump: false, tokenError: [], output: t, reference: t, exposed: [],
    layerNorms: lns.filter((l) => l.block === index),
  }));
}

const probs = (relL2: number): ProbsResult => ({ relL2, maxAbs: relL2 / 10, top1: 1, refTop1: 1, top1Agree: relL2 < 0.5 });

function input(errors: number[], o: Partial<DiagnoseInput> & { lns?: LayerNormStats[]; probsErr?: number } = {}): DiagnoseInput {
  const spec = o.spec ?? EMULATED;
  const tolerance = o.tolerance ?? defaultTolerance(spec.precision);
  const lns = o.lns ?? [];
  return {
    blocks: blocks(errors, lns, tolerance), probs: probs(o.probsErr ?? 1e-3), finalNorm: lns.find((l) => l.block === null) ?? null, tolerance, spec,
    layerNorm: o.layerNorm ?? 'plain', layerNormOverrides: o.layerNormOverrides, prescaleShift: 3, channels: o.channels ?? 768, heads: o.heads, healthy: o.healthy,
  };
}

describe('verdict: calibrated per precision on the seed\'s own tables', () => {
  it('defaults: FP32/TF32 0.01, FP16 0.025, BF16 0.05', () => {
    assert.deepEqual(DEFAULT_TOLERANCE, { fp32: 0.01, fp16: 0.025, bf16: 0.05 });
  });
  it('the seed\'s healthy FP16 engine (LayerNorm exposed, up to 0.0162) passes every block', () => {
    const d = diagnose(input(SEED_FP16_EXPOSED, { probsErr: 0.0033 }));
    assert.equal(d.verdict, 'pass', d.sentence);
    assert.equal(d.jumpBlock, null);
    assert.match(d.sentence, /^All 12 blocks within 0\.025 \(worst 0\.016 at block 11\)/);
  });
  it('the seed\'s broken FP16 engine fails at block 6, where its error jumps 0.0131 -> 0.409', () => {
    const d = diagnose(input(SEED_FP16, { probsErr: 1.0183 }));
    assert.equal(d.verdict, 'fail');
    assert.equal(d.firstBadBlock, 6);
    assert.equal(d.jumpBlock, 6);
    assert.match(d.sentence, /^Block 6 fails \(rel err 0\.41 > 0\.025\)/);
  });
  it('the seed\'s FP32 engine (TF32 GEMMs, up to 0.0077) passes; at a 0.005 tolerance it fails without an FP16 fix or trtexec line', () => {
    const tf32: RealizationSpec = { precision: 'fp32', realization: 'tensorrt', accumulate: 'fp32' };
    assert.equal(diagnose(input(SEED_FP32, { spec: tf32, probsErr: 0.0031 })).verdict, 'pass');
    const lns = [ln('blocks.6.temporal_norm1', { maxSq: 9.7e4, overFp16Count: 128 }, { spec: tf32, source: 'fp32-probe' })];
    const d = diagnose(input(SEED_FP32, { spec: tf32, tolerance: 0.005, lns }));
    assert.equal(d.firstBadBlock, 6);
    assert.equal(d.jumpBlock, null, 'a slow climb is no jump');
    assert.deepEqual(d.causes, []);
    assert.deepEqual(d.fixes, []);
    assert.equal(d.trtexec, undefined);
    assert.equal(d.minimalFix, undefined);
    assert.equal(d.candidates[0].kind, 'tf32');
  });
  it('a jump is >= 10x the previous block AND over the tolerance', () => {
    const t = 0.025;
    assert.equal(markJump(blocks([1e-4, 2e-3, 3e-3], [], t), t), null, 'tenfold but within the tolerance');
    assert.equal(markJump(blocks([2e-2, 3e-2, 4e-2], [], t), t), null, 'over the tolerance but no tenfold rise');
    const bs = blocks([2e-3, 3e-3, 0.13, 0.2], [], t);
    assert.equal(markJump(bs, t), 2);
    assert.ok(bs[2].jump && !bs[3].jump);
  });
});

describe('diagnosis: every 16-bit overflow of a LayerNorm, named', () => {
  it('(a) one (x−mean)² past 65504, seen in the engine: names the LayerNorm and channel, every fix, the trtexec line', () => {
    const lns = ['temporal_norm1', 'norm1', 'norm2'].map((k) => ln(`blocks.6.${k}`, { maxSq: 9.7e4, overFp16Count: 128, sqInf: 128, sqNonFinite: 128, varNonFinite: 1568 }, { spec: EMULATED }));
    const d = diagnose(input(SEED_FP16, { lns }));
    assert.equal(d.causes[0].layerNorm, 'blocks.6.temporal_norm1');
    assert.equal(d.causes[0].mechanism, 'square');
    assert.equal(d.causes[0].evidence, 'observed');
    assert.equal(d.causes[0].channel, 21);
    assert.match(d.sentence, /^Block 6 fails \(rel err 0\.41 > 0\.025\)\. Block 6 temporal LayerNorm \(blocks\.6\.temporal_norm1\): \(x−mean\)² reaches 9\.7e\+4 > 65504 in channel 21 — FP16 overflow, seen in the engine \(128 values pass 65504/);
    assert.match(d.sentence, /Also at or before it: blocks\.6\.norm1, blocks\.6\.norm2\. Fix: LayerNorm in FP32, fused LayerNormalization, or prescaled\./);
    assert.deepEqual(d.fixes, ['fp32', 'fused', 'prescaled', 'expose']);
    assert.equal(d.accumulateFix, false);
    assert.deepEqual(d.culprit, { layerNorm: 'blocks.6.temporal_norm1', block: 6, channel: 21, maxSq: 9.7e4, overFp16Count: 128 });
    assert.equal(d.trtexec, trtexecCommand(['blocks.6.temporal_norm1', 'blocks.6.norm1', 'blocks.6.norm2']));
    assert.deepEqual(d.minimalFix?.layerNorms, ['blocks.6.temporal_norm1', 'blocks.6.norm1', 'blocks.6.norm2']);
  });
  it('(b) the sum of (x−mean)² over C past 65504 in a 16-bit accumulator: C × variance, with --accumulate fp32 as a fix; TensorRT (fp32 reduce) would not hit it', () => {
    // block 3 at full size: variance 91 over 768 channels, no single square near 65504
    const b3 = ln('blocks.3.norm1', { maxSq: 2.1e3, maxSumSq: 7.0e4, varNonFinite: 40 }, { spec: NATIVE_ACC16 });
    const errs = [0.013, 0.017, 0.019, 0.345, 0.43, 0.5, 0.55, 0.6, 0.62, 0.65, 0.68, 0.71];
    const d = diagnose(input(errs, { spec: NATIVE_ACC16, lns: [b3] }));
    assert.equal(d.firstBadBlock, 3);
    assert.deepEqual(d.causes.map((c) => [c.layerNorm, c.mechanism, c.evidence]), [['blocks.3.norm1', 'sumSquares', 'observed']]);
    assert.match(d.sentence, /the sum of \(x−mean\)² over its 768 channels reaches 7\.0e\+4 > 65504 \(variance 91\) — the 16-bit accumulator of its ReduceMean overflows, seen in the engine/);
    assert.match(d.sentence, /Fix: LayerNorm in FP32, fused LayerNormalization, prescaled, or --accumulate fp32\./);
    assert.ok(d.accumulateFix);
    assert.deepEqual(d.fixes, ['fp32', 'fused', 'prescaled', 'expose'], 'prescaling by 2^-3 divides the sum by 64');
    assert.equal(d.trtexec, undefined, 'no LayerNorm squares past 65504: TensorRT\'s FP16 needs no pin');
    assert.deepEqual(d.minimalFix?.layerNorms, ['blocks.3.norm1']);
    // the same statistics with fp32 accumulation: nothing fires
    const acc32 = ln('blocks.3.norm1', { maxSq: 2.1e3, maxSumSq: 7.0e4 }, { spec: NATIVE_ACC32 });
    assert.ok(!acc32.overflowed);
    assert.ok(acc32.mechanisms.find((m) => m.kind === 'sumSquares')!.wouldHit, 'it would hit a 16-bit accumulator');
    assert.equal(acc32.mechanisms.find((m) => m.kind === 'sumSquares')!.limit, null, 'this realization is not exposed');
  });
  it('(c) the sum of x past 65504 (the mean\'s accumulator)', () => {
    // the inf mean makes the squares and the variance after it inf too: only the mean tells
    const l = ln('blocks.2.norm2', { maxSq: 1.2e3, maxSumSq: 2e4, maxAbsSum: 7.1e4, meanNonFinite: 3, sqInf: 192, sqNonFinite: 192, varNonFinite: 3 }, { spec: NATIVE_ACC16 });
    const d = diagnose(input([0.01, 0.012, 0.3], { spec: NATIVE_ACC16, lns: [l] }));
    assert.deepEqual(d.causes.map((c) => [c.mechanism, c.evidence]), [['sumX', 'observed']]);
    assert.match(d.sentence, /the sum of x over its channels reaches 7\.1e\+4 > 65504 — the mean's 16-bit accumulator overflows/);
    assert.ok(d.accumulateFix);
    assert.ok(d.fixes.includes('prescaled'), '7.1e4 / 2^3 is in range');
  });
  it('(d) inf/NaN already in the input: the cause is upstream, no LayerNorm mode is offered', () => {
    const l = ln('blocks.5.norm2', { inputNonFinite: 40, maxSq: NaN, maxSumSq: NaN }, { spec: NATIVE_ACC32 });
    const d = diagnose(input([0.002, 0.002, 0.002, 0.003, 0.003, 0.4], { spec: NATIVE_ACC32, lns: [l] }));
    assert.deepEqual(d.causes.map((c) => [c.layerNorm, c.mechanism]), [['blocks.5.norm2', 'nonFiniteInput']]);
    assert.match(d.sentence, /its input already holds 40 inf\/NaN values — an op before it overflowed FP16, not the LayerNorm's own arithmetic\. No LayerNorm mode fixes this/);
    assert.deepEqual(d.fixes, []);
    assert.equal(d.culprit, undefined, 'no LayerNorm to fix: the host offers no one-click fix');
    assert.equal(d.minimalFix, undefined);
    assert.ok(!l.overflowed);
  });
  it('(d) an inf input whose square is inf: still upstream\'s — no LayerNorm fix, no minimal fix, no trtexec line; it names the ops before it and, from FP32, an activation out of range', () => {
    const before = ln('blocks.2.temporal_norm1', { maxSq: 900 });
    const inf = ln('blocks.2.norm1', { inputNonFinite: 16, maxSq: Infinity, maxSumSq: Infinity, maxAbsSum: Infinity, overFp16Count: 752, sqInf: 752, sqNonFinite: 800 });
    assert.ok(inf.mechanisms.every((m) => m.kind === 'nonFiniteInput' || (!m.fires && !m.observed)), 'its own mechanisms neither fire nor are seen');
    assert.ok(!inf.overflowed);
    // in FP32 the input of blocks.2.norm1 reaches 7.0e4: past FP16's range before the LayerNorm runs
    const healthy = [ln('blocks.2.temporal_norm1', { maxSq: 900 }, { source: 'fp32-probe' }), ln('blocks.2.norm1', { maxSq: 4.9e9, overFp16Count: 752 }, { source: 'fp32-probe', maxAbs: 7e4 })];
    const d = diagnose(input([0.002, 0.002, Infinity], { lns: [before, inf], healthy }));
    assert.deepEqual(d.causes.map((c) => [c.layerNorm, c.mechanism]), [['blocks.2.norm1', 'nonFiniteInput']]);
    assert.deepEqual([d.fixes, d.minimalFix, d.trtexec, d.culprit], [[], undefined, undefined, undefined]);
    assert.match(d.sentence, /its input already holds 16 inf\/NaN values — an op before it overflowed FP16, not the LayerNorm's own arithmetic; it went inf in block 2's temporal attention, its temporal_fc and their residual add \(blocks\.2\.temporal_norm1's input was still finite\); in FP32 that input reaches 7\.0e\+4 in channel 21, past FP16's 65504: the activation itself is out of FP16's range, so no precision of the LayerNorm helps\. No LayerNorm mode fixes this/);
    // without healthy statistics: only where it went inf
    assert.doesNotMatch(diagnose(input([0.002, 0.002, Infinity], { lns: [before, inf] })).sentence, /in FP32 that input/);
    // the span of ops for each kind of LayerNorm, and none when the one before had an inf input too
    const at = (name: string, prevFinite = true) => diagnose(input([0.002, 0.002, 0.002, Infinity], {
      lns: [ln('blocks.0.temporal_norm1', { inputNonFinite: prevFinite ? 0 : 3 }), ln(name, { inputNonFinite: 5 })],
    })).sentence;
    assert.match(at('blocks.3.temporal_norm1'), /it went inf in block 2's MLP and its residual add \(blocks\.0\.temporal_norm1's input was still finite\)/);
    assert.match(at('blocks.3.norm2'), /it went inf in block 3's spatial attention, its projection and their residual add/);
    const finalNorm = diagnose(input([0.002, 0.002], { lns: [ln('blocks.1.norm2', {}), ln('norm', { inputNonFinite: 5 })], probsErr: Infinity }));
    assert.match(finalNorm.sentence, /Final LayerNorm \(norm\): its input already holds 5 inf\/NaN values — .*; it went inf in the last block's MLP and its residual add \(blocks\.1\.norm2's input was still finite\)/);
    const after = diagnose(input([0.002, 0.002, 0.002, Infinity], { lns: [ln('blocks.0.temporal_norm1', { inputNonFinite: 3 }), ln('blocks.3.norm2', { inputNonFinite: 5 })] }));
    assert.equal(after.causes.length, 2);
    for (const c of after.causes) assert.doesNotMatch(c.text, /it went inf in/, `${c.layerNorm}: the LayerNorm before it had an inf input too, or there is none`);
    // the range's edge: 65504 itself is FP16's largest finite value
    const edge = (maxAbs: number) => diagnose(input([0.002, 0.002, Infinity], { lns: [before, inf], healthy: [ln('blocks.2.norm1', { maxSq: 4e9 }, { source: 'fp32-probe', maxAbs })] })).sentence;
    assert.doesNotMatch(edge(65504), /in FP32 that input reaches/);
    assert.match(edge(65520), /in FP32 that input reaches 6\.6e\+4/);
  });
  it('an input past FP16\'s range in FP32 is left out of the minimal fix and the trtexec line; the LayerNorms a precision helps stay', () => {
    const engine = [ln('blocks.1.norm2', { maxSq: 9.7e4, overFp16Count: 128, sqInf: 128, sqNonFinite: 128 })];
    const healthy = [
      ln('blocks.1.norm2', { maxSq: 9.7e4, overFp16Count: 128 }, { source: 'fp32-probe' }),
      ln('blocks.2.norm1', { maxSq: 4.9e9, overFp16Count: 752 }, { source: 'fp32-probe', maxAbs: 7e4 }),
    ];
    const d = diagnose(input([0.002, 0.2, Infinity], { lns: engine, healthy }));
    assert.deepEqual(d.minimalFix?.layerNorms, ['blocks.1.norm2']);
    assert.equal(d.trtexec, trtexecCommand(['blocks.1.norm2']));
  });
  it('prescaled by 2^-3 tolerates 64× larger squares; past that it fires, and the applied fix is not offered again', () => {
    const under = ln('blocks.4.norm1', { maxSq: 9.7e4, overFp16Count: 128 }, { mode: 'prescaled' });
    assert.ok(!under.overflowed);
    assert.equal(under.mechanisms[0].limit, 65504 * 64);
    const over = ln('blocks.4.norm1', { maxSq: 5e6, overFp16Count: 128, sqInf: 3, sqNonFinite: 3 }, { mode: 'prescaled' });
    const d = diagnose(input([0.002, 0.002, 0.002, 0.002, 0.2], { layerNorm: 'prescaled', lns: [over] }));
    assert.equal(d.causes[0].mechanism, 'square');
    assert.match(d.causes[0].text, /\(prescaled: limit 4\.2e\+6\)/);
    assert.deepEqual(d.fixes, ['fp32', 'fused', 'expose']);
  });
  it('observed evidence ranks before predicted, then graph order', () => {
    const pred = ln('blocks.4.norm2', { maxSq: 7e4, overFp16Count: 2 }, { source: 'fp32-probe' });
    const seen = ln('blocks.5.temporal_norm1', { maxSq: 9e4, overFp16Count: 9, sqInf: 9, sqNonFinite: 9 });
    const d = diagnose(input([0.002, 0.002, 0.002, 0.002, 0.02, 0.3], { lns: [pred, seen] }));
    assert.deepEqual(d.causes.map((c) => [c.layerNorm, c.evidence]), [['blocks.5.temporal_norm1', 'observed'], ['blocks.4.norm2', 'predicted']]);
  });
});

describe('diagnosis: the first failing block, or what it cannot explain', () => {
  it('never blames a later block: an overflow only after the first failing block is not a cause', () => {
    const later = ln('blocks.7.temporal_norm1', { maxSq: 9.7e4, overFp16Count: 128, sqInf: 128, sqNonFinite: 128 });
    const d = diagnose(input([0.002, 0.003, 0.003, 0.004, 0.005, 0.01, 0.03, 0.4], { lns: [later] }));
    assert.equal(d.firstBadBlock, 6);
    assert.deepEqual(d.causes, []);
    assert.equal(d.culprit, undefined);
    assert.doesNotMatch(d.sentence, /blocks\.7/);
    assert.match(d.sentence, /^Block 6 fails \(rel err 0\.03 > 0\.025\), and nothing measured at or before it explains it: no LayerNorm there overflows\. Candidates: 1\) rounding outside the LayerNorms/);
  });
  it('nothing found on fp16-accumulating kernels: accumulation noise, with --accumulate fp32', () => {
    const d = diagnose(input([0.028, 0.03, 0.031], { spec: NATIVE_ACC16 }));
    assert.equal(d.firstBadBlock, 0);
    assert.deepEqual(d.candidates.map((c) => c.kind), ['accumulation']);
    assert.match(d.candidates[0].text, /--accumulate fp32 accumulates in fp32 as TensorRT does/);
  });
  it('BF16: no overflow is possible (FP32\'s range), no overflow fix and no trtexec line; rounding is the candidate', () => {
    const bf16: RealizationSpec = { precision: 'bf16', realization: 'emulated', accumulate: 'fp32' };
    const big = ln('blocks.1.norm1', { maxSq: 9.7e4, overFp16Count: 128 }, { spec: bf16 });
    assert.ok(!big.overflowed && big.mechanisms[0].wouldHit && big.mechanisms[0].limit === null);
    assert.equal(diagnose(input([0.019, 0.026, 0.031], { spec: bf16, lns: [big] })).verdict, 'pass', 'ours emulated on a narrow model');
    const d = diagnose(input([0.04, 0.06, 0.07], { spec: bf16, lns: [big] }));
    assert.equal(d.verdict, 'fail');
    assert.deepEqual(d.causes, []);
    assert.deepEqual(d.fixes, []);
    assert.equal(d.trtexec, undefined);
    assert.equal(d.minimalFix, undefined);
    assert.deepEqual(d.candidates.map((c) => c.kind), ['bf16-rounding']);
    assert.match(d.sentence, /BF16 has FP32's range, so nothing overflows/);
    assert.doesNotMatch(d.sentence, /overflows FP16|Fix:/);
  });
  it('a wrong head count: block 0 at 0.88 in FP32, and head detection\'s evidence names the count that reproduces it', () => {
    const fp32: RealizationSpec = { precision: 'fp32', realization: 'fp32', accumulate: 'fp32' };
    const heads = { heads: 6, source: 'option' as const, tried: [{ heads: 12, block0RelL2: 0.9 }, { heads: 6, block0RelL2: 0.88 }, { heads: 4, block0RelL2: 2.1e-7 }] };
    const d = diagnose(input([0.88, 0.9, 0.92], { spec: fp32, heads }));
    assert.equal(d.firstBadBlock, 0);
    assert.deepEqual(d.candidates.map((c) => c.kind), ['heads'], 'a count that reproduces the reference rules out a mismatch');
    assert.match(d.candidates[0].text, /with 6 heads \(given\) block 0 is off by 0\.88, with 4 heads it matches the reference \(rel err 2\.1e-7\); run with --heads 4/);
    assert.deepEqual(d.fixes, []);
    assert.equal(d.trtexec, undefined, 'no trtexec --fp16 line for an FP32 run');
  });
  it('a given head count without evidence is a candidate; with every count tried and none fitting, weights and data do not belong together', () => {
    const fp32: RealizationSpec = { precision: 'fp32', realization: 'fp32', accumulate: 'fp32' };
    const none = diagnose(input([0.7, 0.8], { spec: fp32, heads: { heads: 12, source: 'assumed', tried: [] } }));
    assert.deepEqual(none.candidates.map((c) => c.kind), ['heads', 'mismatch']);
    assert.match(none.candidates[0].text, /12 heads were assumed, not detected/);
    const tried = diagnose(input([0.7, 0.8], { spec: fp32, heads: { heads: 4, source: 'option', tried: [{ heads: 4, block0RelL2: 0.7 }, { heads: 1, block0RelL2: 0.72 }, { heads: 2, block0RelL2: 0.71 }] } }));
    assert.deepEqual(tried.candidates.map((c) => c.kind), ['mismatch'], 'every head count was tried: heads are ruled out');
    assert.match(tried.candidates[0].text, /block 0 is already off by 0\.7 in FP32/);
  });
  it('a gross block-0 failure in FP16 points at heads or the data, not at FP16', () => {
    const d = diagnose(input([0.88, 0.9], { heads: { heads: 6, source: 'option', tried: [{ heads: 6, block0RelL2: 0.88 }, { heads: 4, block0RelL2: 1e-6 }] } }));
    assert.deepEqual(d.candidates.map((c) => c.kind), ['heads'], 'measured: 4 heads reproduce the reference, so neither the data nor FP16 rounding is a candidate');
    const none = diagnose(input([0.88, 0.9], { heads: { heads: 6, source: 'option', tried: [{ heads: 6, block0RelL2: 0.88 }, { heads: 4, block0RelL2: 0.9 }] } }));
    assert.deepEqual(none.candidates.map((c) => c.kind), ['mismatch', 'outside-layernorm'], 'no count fits: the data, or FP16');
  });
  it('the mismatch candidate claims only what was measured on this pair: no "matches the official model to 3e-6" for weights and data never run together in FP32 (issue 17, 2)', () => {
    const unmeasured = diagnose(input([0.88, 0.9], { heads: { heads: 3, source: 'config', tried: [] } }));
    const m = unmeasured.candidates.find((c) => c.kind === 'mismatch')!;
    assert.equal(m.text, 'weights and reference that do not belong together: block 0 is already off by 0.88');
    assert.doesNotMatch(unmeasured.sentence, /official model|3e-6/);
    const measured = diagnose(input([0.88, 0.9], { heads: { heads: 3, source: 'config', tried: [{ heads: 3, block0RelL2: 0.87 }, { heads: 6, block0RelL2: 0.9 }] } }));
    assert.equal(measured.candidates.find((c) => c.kind === 'mismatch')!.text, 'weights and reference that do not belong together: block 0 is already off by 0.88, and by 0.87 in our FP32 graph on the same pair');
  });
  it('an FP16 block whose output holds inf, or whose FP32 reference passes 65504, with no LayerNorm overflow: an activation out of range, first; no rounding beside it', () => {
    const i = input([0.002, 0.002, Infinity]);
    i.blocks[2].output = tensorStats('o', Float32Array.from([1, Infinity, 2, 3]), [1, 4]);
    i.blocks[2].reference = tensorStats('r', Float32Array.from([1, 7e4, 2, 3]), [1, 4]);
    const d = diagnose(i);
    assert.deepEqual(d.candidates.map((c) => c.kind), ['range']);
    assert.equal(d.candidates[0].text, 'block 2\'s output leaves FP16\'s range: the FP32 reference reaches 7.0e+4 in channel 1, past FP16\'s 65504 — an activation out of range, not a LayerNorm; keep the ops of block 2 that make it in FP32 (--fp32-ops) or rescale them');
    assert.match(d.sentence, /^Block 2 fails \(rel err inf > 0\.025\): no LayerNorm at or before it overflows, but its output leaves FP16's range\. Candidates: 1\) block 2's output/);
    // inf in the output with a reference in range: the count is what is known
    const j = input([0.002, Infinity]);
    j.blocks[1].output = tensorStats('o', Float32Array.from([1, Infinity, Infinity, 3]), [1, 4]);
    assert.match(diagnose(j).candidates[0].text, /^block 1's output leaves FP16's range: FP16 holds 2 inf values there — /);
    // a reference past 65504 where FP16 gave a large finite value (saturated): the reference says it, without a channel when it has none
    const k = input([0.002, 0.3]);
    k.blocks[1].output = tensorStats('o', Float32Array.from([1, 65504, 2, 3]), [1, 4]);
    k.blocks[1].reference = tensorStats('r', Float32Array.from([1, 7e4, 2, 3]), [1, 4], false);
    assert.match(diagnose(k).candidates[0].text, /^block 1's output leaves FP16's range: the FP32 reference reaches 7\.0e\+4, past FP16's 65504 — /);
    // two channels at the top: the first
    const tie = input([0.002, 0.3]);
    tie.blocks[1].reference = tensorStats('r', Float32Array.from([7e4, 7e4, 2, 3]), [1, 4]);
    assert.match(diagnose(tie).candidates[0].text, /reaches 7\.0e\+4 in channel 0,/);
    // BF16 and FP32 have no such range: not a candidate
    const bf = input([0.002, 0.002, 0.3], { spec: { precision: 'bf16', realization: 'emulated', accumulate: 'fp32' } });
    bf.blocks[2].reference = tensorStats('r', Float32Array.from([1, 7e4, 2, 3]), [1, 4]);
    assert.ok(!diagnose(bf).candidates.some((c) => c.kind === 'range'));
  });
  it('every block passes but the probabilities fail: the final norm may be the cause', () => {
    const norm = ln('norm', { maxSq: 7.3e4, overFp16Count: 1, sqInf: 1, sqNonFinite: 1 });
    const d = diagnose(input([0.002, 0.002], { lns: [norm], probsErr: 0.15 }));
    assert.equal(d.verdict, 'fail');
    assert.equal(d.firstBadBlock, null);
    assert.equal(d.causes[0].layerNorm, 'norm');
    assert.match(d.sentence, /^Every block passes but the probabilities fail \(rel err 0\.15 > 0\.025\)\. Final LayerNorm \(norm\)/);
  });
  it('a pass still names what a plain FP16 LayerNorm would overflow, and what avoids it here', () => {
    const fixed = ln('blocks.1.norm1', { maxSq: 9.7e4, overFp16Count: 128 }, { mode: 'fp32' });
    const d = diagnose(input([0.002, 0.003], { layerNorm: 'fp32', lns: [fixed] }));
    assert.equal(d.verdict, 'pass');
    assert.match(d.sentence, /Block 1 spatial LayerNorm \(blocks\.1\.norm1\): \(x−mean\)² reaches 9\.7e\+4 > 65504 in channel 21 — it would overflow a plain FP16 LayerNorm; the 'fp32' LayerNorm mode avoids it\./);
    assert.deepEqual(d.fixes, []);
    const minimal = diagnose(input([0.002, 0.003], { layerNormOverrides: { 'blocks.1.norm1': 'fp32' }, lns: [fixed] }));
    assert.match(minimal.sentence, /the minimal fix \(blocks\.1\.norm1 in fp32\) avoids it/);
  });
});

describe('diagnosis: the minimal fix and the TensorRT line', () => {
  it('reads the set from the healthy statistics (inputs the failure has not damaged yet), in graph order', () => {
    const engine = [ln('blocks.4.temporal_norm1', { maxSq: 9.7e4, overFp16Count: 128, sqInf: 128, sqNonFinite: 128 })];
    // past the failure the engine's own inputs are damaged; the FP32 graph's say blocks 5 and norm also overflow, block 3 does not
    const healthy = [
      ln('blocks.3.norm2', { maxSq: 1.2e3 }, { source: 'fp32-probe' }), ln('norm', { maxSq: 7.3e4, overFp16Count: 1 }, { source: 'fp32-probe' }),
      ln('blocks.5.norm1', { maxSq: 1.0e5, overFp16Count: 136 }, { source: 'fp32-probe' }), ln('blocks.4.temporal_norm1', { maxSq: 9.7e4, overFp16Count: 128 }, { source: 'fp32-probe' }),
    ];
    const d = diagnose(input([0.002, 0.003, 0.004, 0.001, 0.13, 0.2], { lns: engine, healthy }));
    assert.deepEqual(d.minimalFix?.layerNorms, ['blocks.4.temporal_norm1', 'blocks.5.norm1', 'norm']);
    assert.deepEqual(d.minimalFix?.reasons.map((r) => r.mechanism), ['square', 'square', 'square']);
    assert.equal(d.minimalFix?.trtexec, trtexecCommand(['blocks.4.temporal_norm1', 'blocks.5.norm1', 'norm']));
    assert.equal(d.trtexec, d.minimalFix?.trtexec, 'with fp32 accumulation, TensorRT needs the same set');
  });
  it('the engine\'s own overflows count up to its first one: past it the inputs are damaged (the set the one-click minimal mode computes from the healthy statistics)', () => {
    // blocks.3.norm2 overflows; its collapsed output then pushes blocks.4.temporal_norm1 over too, which in FP32 stays in range
    const engine = [
      ln('blocks.3.norm2', { maxSq: 6.6e4, overFp16Count: 2, sqInf: 2, sqNonFinite: 2 }),
      ln('blocks.4.temporal_norm1', { maxSq: 8e4, overFp16Count: 5, sqInf: 5, sqNonFinite: 5 }),
    ];
    const healthy = [ln('blocks.3.norm2', { maxSq: 6.6e4, overFp16Count: 2 }, { source: 'fp32-probe' }), ln('blocks.4.temporal_norm1', { maxSq: 3e4 }, { source: 'fp32-probe' })];
    const d = diagnose(input([0.002, 0.002, 0.002, 0.02, 0.036], { lns: engine, healthy }));
    assert.deepEqual(d.causes.map((c) => c.layerNorm), ['blocks.3.norm2', 'blocks.4.temporal_norm1'], 'both are named as seen');
    assert.deepEqual(d.minimalFix?.layerNorms, ['blocks.3.norm2']);
    // the first engine overflow is kept even where the FP32 statistics sit just under the limit (FP16 rounding pushed it over)
    const edge = diagnose(input([0.002, 0.002, 0.002, 0.02, 0.036], { lns: engine, healthy: [ln('blocks.3.norm2', { maxSq: 65400 }, { source: 'fp32-probe' })] }));
    assert.deepEqual(edge.minimalFix?.layerNorms, ['blocks.3.norm2']);
    // predicted in the engine (its square past the limit, nothing inf yet) counts as well as seen
    const predicted = [ln('blocks.3.norm2', { maxSq: 6.6e4, overFp16Count: 2 }), engine[1]];
    assert.deepEqual(diagnose(input([0.002, 0.002, 0.002, 0.02, 0.036], { lns: predicted, healthy: [] })).minimalFix?.layerNorms, ['blocks.3.norm2']);
    // an inf input is not an overflow of its own: the first overflow is the one after it
    const upstream = [ln('blocks.1.norm1', { inputNonFinite: 4 }), ln('blocks.1.norm2', { maxSq: 9.7e4, overFp16Count: 9, sqInf: 9, sqNonFinite: 9 })];
    assert.deepEqual(diagnose(input([0.002, 0.3], { lns: upstream, healthy: [] })).minimalFix?.layerNorms, ['blocks.1.norm2']);
    // without healthy statistics: every engine overflow up to the first failing block, none after it
    const noHealthy = [ln('blocks.1.norm1', { maxSq: 9.7e4, overFp16Count: 9, sqInf: 9, sqNonFinite: 9 }), ln('blocks.1.norm2', { maxSq: 7e4, overFp16Count: 1 }), ln('blocks.3.norm1', { maxSq: 9.7e4, overFp16Count: 9, sqInf: 9, sqNonFinite: 9 })];
    assert.deepEqual(diagnose(input([0.002, 0.3, 0.4, 0.5], { lns: noHealthy })).minimalFix?.layerNorms, ['blocks.1.norm1', 'blocks.1.norm2']);
  });
  it('LayerNorms the run already keeps in FP32 are part of the minimal fix (the set a plain export needs) when a plain LayerNorm there would overflow', () => {
    const engine = [ln('blocks.4.temporal_norm1', { maxSq: 9.7e4, overFp16Count: 128 }, { mode: 'fp32' }), ln('blocks.4.norm1', { maxSq: 1e5, overFp16Count: 136, sqInf: 136, sqNonFinite: 136 })];
    const healthy = [
      ln('blocks.4.temporal_norm1', { maxSq: 9.7e4, overFp16Count: 128 }, { source: 'fp32-probe' }),
      ln('blocks.4.norm1', { maxSq: 1e5, overFp16Count: 136 }, { source: 'fp32-probe' }),
      ln('blocks.4.norm2', { maxSq: 900 }, { source: 'fp32-probe' }),
    ];
    const d = diagnose(input([0.002, 0.002, 0.002, 0.002, 0.092], { lns: engine, healthy, layerNormOverrides: { 'blocks.4.temporal_norm1': 'fp32', 'blocks.4.norm2': 'fp32' } }));
    assert.deepEqual(d.minimalFix?.layerNorms, ['blocks.4.temporal_norm1', 'blocks.4.norm1'], 'the kept one that would overflow, not the kept one that would not');
    assert.equal(d.minimalFix?.trtexec, trtexecCommand(['blocks.4.temporal_norm1', 'blocks.4.norm1']));
  });
  it('trtexec names the nodes torch.onnx.export writes: one LayerNormalization each (opset 17) or the decomposed ops', () => {
    assert.equal(torchExportNodeName('blocks.11.norm2'), '/model/blocks.11/norm2/LayerNormalization');
    assert.equal(torchExportNodeName('norm'), '/model/norm/LayerNormalization');
    assert.deepEqual(torchDecomposedNodeNames('blocks.6.temporal_norm1'), [
      '/model/blocks.6/temporal_norm1/ReduceMean', '/model/blocks.6/temporal_norm1/Sub', '/model/blocks.6/temporal_norm1/Pow',
      '/model/blocks.6/temporal_norm1/ReduceMean_1', '/model/blocks.6/temporal_norm1/Add', '/model/blocks.6/temporal_norm1/Sqrt',
      '/model/blocks.6/temporal_norm1/Div', '/model/blocks.6/temporal_norm1/Mul', '/model/blocks.6/temporal_norm1/Add_1',
    ]);
    assert.equal(trtexecCommand(['blocks.2.temporal_norm1']), 'trtexec --onnx=timesformer.onnx --fp16 --precisionConstraints=obey --layerPrecisions=/model/blocks.2/temporal_norm1/LayerNormalization:fp32 --saveEngine=timesformer_fp16.plan');
    assert.match(trtexecCommand(['norm'], { form: 'decomposed', onnx: 'x.onnx' }), /^trtexec --onnx=x\.onnx .*--layerPrecisions=\/model\/norm\/ReduceMean:fp32,.*\/model\/norm\/Add_1:fp32 --saveEngine=x_fp16\.plan$/);
  });
});

describe('compare: LayerNorm statistics from the graph\'s outputs', () => {
  it('judges each mechanism against the realization\'s limit and tells seen from predicted', () => {
    const l = ln('blocks.4.temporal_norm1', { maxSq: 9.7e4, overFp16Count: 128, maxSumSq: 1.05e5, maxAbsSum: 469, sqInf: 120, sqNonFinite: 128, varNonFinite: 64 });
    assert.equal(l.maxAbsDiff, Math.sqrt(Math.fround(9.7e4)));
    assert.deepEqual([l.infCount, l.nanCount], [120, 8]);
    assert.deepEqual(l.topChannels[0], { channel: 21, maxAbs: 310 });
    const by = Object.fromEntries(l.mechanisms.map((m) => [m.kind, m]));
    assert.ok(by.square.fires && by.square.observed);
    assert.ok(by.sumSquares.wouldHit && by.sumSquares.limit === null && !by.sumSquares.fires, 'fp32 accumulation: not exposed');
    assert.ok(!by.sumSquares.observed, 'the variance is inf because the squares are: not the accumulator');
    assert.ok(l.overflowed);
    const probe = ln('blocks.4.temporal_norm1', { maxSq: 9.7e4, sqInf: 5, sqNonFinite: 5 }, { source: 'fp32-probe' });
    assert.ok(probe.mechanisms[0].fires && !probe.mechanisms[0].observed, 'an fp32 probe can only predict');
  });
  it('a LayerNorm that computes no square (fused) reports -1 fields as 0, and TensorRT\'s plain LayerNorm is exposed to its square only', () => {
    const fused = ln('blocks.0.norm1', { sqInf: -1, sqNonFinite: -1, varNonFinite: -1, meanNonFinite: -1, maxSq: 9.7e4 }, { mode: 'fused' });
    assert.deepEqual([fused.infCount, fused.nanCount, fused.varNonFinite, fused.meanNonFinite], [0, 0, 0, 0]);
    assert.ok(!fused.overflowed);
    assert.deepEqual(lnLimits(TENSORRT_FP16, 'plain', 3), { square: 65504, sumSquares: null, sumX: null });
    assert.deepEqual(lnLimits(NATIVE_ACC16, 'prescaled', 3), { square: 65504 * 64, sumSquares: 65504 * 64, sumX: 65504 * 8 });
    assert.deepEqual(lnLimits({ precision: 'bf16', realization: 'emulated', accumulate: 'fp16' }, 'plain', 3), { square: null, sumSquares: null, sumX: null });
  });
});
