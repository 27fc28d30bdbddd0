/**
 * Promises that hand-made and Stryker mutants showed no test held (issue 23; docs/mutation.md).
 * Each test names the promise and fails under the mutant it was written against. These are pure and
 * fast (mutation testing runs them per mutant); the ones that run the pipeline are in
 * promises-pipeline.test.ts.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { diagnose, type DiagnoseInput } from '../../extension/core/compare/diagnosis';
import { layerNormStats, tensorStats } from '../../extension/core/compare/metrics';
import { defaultTolerance } from '../../extension/core/compare/verdict';
import { LabError } from '../../extension/core/errors';
import { BASE_GLOBALS, unpickle } from '../../extension/core/formats';
import { MAX_HEADER_BYTES, openSafetensors } from '../../extension/core/formats/safetensors';
import { describeSignature, disagreements, type DataSignature, type ModelSignature } from '../../extension/core/inspect';
import { agreement, nameScore, pairTestData, type Inspection } from '../../extension/host/pairing';
import { lnLimits, type RealizationSpec } from '../../extension/core/model/realization';
import { LN_STAT_FIELDS, type GraphOptions, type LnStatField } from '../../extension/core/model/timesformer';
import { engineCacheKey, graphOptions } from '../../extension/core/pipeline';
import type { BlockResult, LayerNormMode, LayerNormStats, ModelConfig, ProbsResult } from '../../extension/core/report';
import { type Py, pickle2 } from './helpers/pyfiles';
import { rejects } from './helpers/errors';

let tmp = '';
before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-promises-'))));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ---- the diagnosis: with several causes, every offered fix clears them all ----

const ACC16: RealizationSpec = { precision: 'fp16', realization: 'native', accumulate: 'fp16' };
const ACC32: RealizationSpec = { precision: 'fp16', realization: 'native', accumulate: 'fp32' };
const EMULATED: RealizationSpec = { precision: 'fp16', realization: 'emulated', accumulate: 'fp32' };
const ALL_MODES: LayerNormMode[] = ['fp32', 'fused', 'prescaled', 'expose'];

/** A LayerNorm's statistics as the graph's outputs carry them, judged under `mode` on `spec`. */
interface LnSpec { name: string; v: Partial<Record<LnStatField, number>> }
function lnStats(l: LnSpec, spec: RealizationSpec, mode: LayerNormMode): LayerNormStats {
  const defaults: Record<LnStatField, number> = {
    maxSq: 900, overFp16Count: 0, maxSumSq: 9000, maxAbsSum: 200, inputNonFinite: 0, sqInf: 0, sqNonFinite: 0, varNonFinite: 0, meanNonFinite: 0,
  };
  const block = Number(/^blocks\.(\d+)/.exec(l.name)![1]);
  const stats = Float32Array.from(LN_STAT_FIELDS.map((f) => l.v[f] ?? defaults[f]));
  const channels = Float32Array.from({ length: 64 }, (_, i) => (i === 21 ? 310 : 5));
  return layerNormStats({ name: l.name, block, mode }, 'engine', stats, channels, lnLimits(spec, mode, 3));
}

/** The diagnosis of a run whose LayerNorms `lns` hold these statistics, all in `mode`. */
function diagnoseWith(lns: LnSpec[], spec: RealizationSpec, mode: LayerNormMode) {
  const tolerance = defaultTolerance('fp16');
  const stats = lns.map((l) => lnStats(l, spec, mode));
  const t = tensorStats('o', new Float32Array(4), [1, 4]);
  const errors = [0.003, 0.004, 0.005, 0.006, 0.3, 0.4, 0.5];
  const blocks: BlockResult[] = errors.map((e, index) => ({
    index, relL2: e, maxAbs: e, cosine: 1, passed: e <= tolerance, jump: false, tokenError: [], output: t, reference: t, exposed: [],
    layerNorms: stats.filter((l) => l.block === index),
  }));
  const probs: ProbsResult = { relL2: 0.9, maxAbs: 0.1, top1: 1, refTop1: 1, top1Agree: false };
  const input: DiagnoseInput = { blocks, probs, finalNorm: null, tolerance, spec, layerNorm: mode, prescaleShift: 3, channels: 768 };
  return diagnose(input);
}
const overflowCauses = (d: ReturnType<typeof diagnose>) => d.causes.filter((c) => c.mechanism !== 'nonFiniteInput');

/**
 * Applying each offered fix (a LayerNorm mode, or fp32 accumulation) leaves no overflow; a mode not
 * offered leaves one. "Applying" re-judges the same values under the fixed engine's limits, without
 * the inf/NaN the broken engine saw (those are what a fix removes, when it fixes).
 */
function assertEveryFixClearsAll(lns: LnSpec[], spec: RealizationSpec): ReturnType<typeof diagnose> {
  const d = diagnoseWith(lns, spec, 'plain');
  assert.ok(overflowCauses(d).length >= 2, `two causes: ${d.sentence}`);
  const values = lns.map((l) => ({ ...l, v: { ...l.v, sqInf: 0, sqNonFinite: 0, varNonFinite: 0, meanNonFinite: 0 } }));
  assert.equal(overflowCauses(diagnoseWith(values, spec, 'plain')).length, overflowCauses(d).length, 'the values alone predict the same causes');
  for (const mode of ALL_MODES) {
    const after = overflowCauses(diagnoseWith(values, spec, mode));
    if (d.fixes.includes(mode)) assert.deepEqual(after.map((c) => c.text), [], `offered fix ${mode} leaves causes`);
    else assert.ok(after.length > 0, `${mode} clears every cause, but it was not offered (offered: ${d.fixes.join(', ')})`);
  }
  const acc32 = overflowCauses(diagnoseWith(values, { ...spec, accumulate: 'fp32' }, 'plain'));
  if (d.accumulateFix) assert.deepEqual(acc32.map((c) => c.text), [], '--accumulate fp32 was offered but leaves causes');
  else if (spec.accumulate === 'fp16') assert.ok(acc32.length > 0, '--accumulate fp32 clears every cause, but it was not offered');
  return d;
}

describe('promise: with two causes, every offered fix clears both (and every mode that clears both is offered)', () => {
  it('a square prescaling fixes (block 2) and one it does not (block 4): prescaled is not offered', () => {
    const d = assertEveryFixClearsAll([
      { name: 'blocks.2.norm1', v: { maxSq: 9.7e4, overFp16Count: 128, sqInf: 128, sqNonFinite: 128 } },
      { name: 'blocks.4.norm1', v: { maxSq: 5e6, overFp16Count: 9, sqInf: 9, sqNonFinite: 9 } },
    ], EMULATED);
    assert.deepEqual(d.fixes, ['fp32', 'fused', 'expose']);
    assert.doesNotMatch(d.sentence, /prescaled/);
  });
  it('a square and a sum of squares on fp16 accumulation: --accumulate fp32 clears only the sum, so it is not offered', () => {
    const d = assertEveryFixClearsAll([
      { name: 'blocks.1.norm1', v: { maxSumSq: 7e4, varNonFinite: 40 } },
      { name: 'blocks.3.norm2', v: { maxSq: 9.7e4, overFp16Count: 128, sqInf: 128, sqNonFinite: 128 } },
    ], ACC16);
    assert.equal(d.accumulateFix, false);
    assert.doesNotMatch(d.sentence, /--accumulate fp32/);
  });
  it('two sums on fp16 accumulation: --accumulate fp32 clears both, and is offered', () => {
    const d = assertEveryFixClearsAll([
      { name: 'blocks.1.norm1', v: { maxSumSq: 7e4, varNonFinite: 40 } },
      { name: 'blocks.2.norm2', v: { maxAbsSum: 7.1e4, meanNonFinite: 3 } },
    ], ACC16);
    assert.equal(d.accumulateFix, true);
    assert.match(d.sentence, /or --accumulate fp32\./);
  });
  it('a sum of x that 2^-3 does not bring under 65504 (6e5 / 8 = 75,000): prescaled is not offered', () => {
    const d = assertEveryFixClearsAll([
      { name: 'blocks.0.norm1', v: { maxSumSq: 7e4, varNonFinite: 40 } },
      { name: 'blocks.2.norm2', v: { maxAbsSum: 6e5, meanNonFinite: 3 } },
    ], ACC16);
    assert.ok(!d.fixes.includes('prescaled'), d.fixes.join(', '));
    // and one it does bring under (5e5 / 8 = 62,500): offered
    const ok = assertEveryFixClearsAll([
      { name: 'blocks.0.norm1', v: { maxSumSq: 7e4, varNonFinite: 40 } },
      { name: 'blocks.2.norm2', v: { maxAbsSum: 5e5, meanNonFinite: 3 } },
    ], ACC16);
    assert.ok(ok.fixes.includes('prescaled'), ok.fixes.join(', '));
  });
  it('a sum of squares that 4^-3 does not bring under 65504 (5e6 / 64): prescaled is not offered; 4e6 / 64 is', () => {
    const no = assertEveryFixClearsAll([
      { name: 'blocks.0.norm1', v: { maxSumSq: 5e6, varNonFinite: 40 } },
      { name: 'blocks.2.norm2', v: { maxAbsSum: 7e4, meanNonFinite: 3 } },
    ], ACC16);
    assert.ok(!no.fixes.includes('prescaled'), no.fixes.join(', '));
    const yes = assertEveryFixClearsAll([
      { name: 'blocks.0.norm1', v: { maxSumSq: 4e6, varNonFinite: 40 } },
      { name: 'blocks.2.norm2', v: { maxAbsSum: 7e4, meanNonFinite: 3 } },
    ], ACC16);
    assert.ok(yes.fixes.includes('prescaled'), yes.fixes.join(', '));
  });
  it('fp32 accumulation has no 16-bit sums: the same statistics leave only the squares', () => {
    const d = diagnoseWith([{ name: 'blocks.1.norm1', v: { maxSumSq: 7e4 } }, { name: 'blocks.3.norm2', v: { maxSq: 9.7e4, overFp16Count: 128 } }], ACC32, 'plain');
    assert.deepEqual(overflowCauses(d).map((c) => [c.layerNorm, c.mechanism]), [['blocks.3.norm2', 'square']]);
  });
});

// ---- pairing: test data that does not belong to the checkpoint ----

describe('promise: test data whose block outputs have another token count is named as not belonging', () => {
  const m: ModelSignature = { kind: 'checkpoint', format: 'zip', hf: false, frames: 8, imageSize: 32, patchSize: 16, embedDim: 64, depth: 12, numClasses: 10 };
  const d: DataSignature = { kind: 'test-data', batch: 1, frames: 8, height: 32, width: 32, numClasses: 10, depth: 12, tokens: 33, embedDim: 64 };
  it('1 + (32/16)² × 8 = 33 tokens agree; 17 tokens do not, and the sentence says so', () => {
    assert.deepEqual(disagreements(m, d), []);
    assert.deepEqual(disagreements(m, { ...d, tokens: 17 }), ['17 tokens per block output, the checkpoint makes 33']);
    assert.deepEqual(disagreements(m, { ...d, tokens: undefined }), [], 'no block outputs: nothing to compare');
  });
  it('each disagreement in words: width or height alone, channels, classes, a model without a classifier; tokens only when all else agrees', () => {
    assert.deepEqual(disagreements(m, { ...d, width: 16, tokens: 17 }), ['32×16 video, the checkpoint expects 32×32']);
    assert.deepEqual(disagreements(m, { ...d, height: 16 }), ['16×32 video, the checkpoint expects 32×32']);
    assert.deepEqual(disagreements(m, { ...d, embedDim: 48 }), ['width 48, the checkpoint has 64']);
    assert.deepEqual(disagreements(m, { ...d, embedDim: undefined }), []);
    assert.deepEqual(disagreements(m, { ...d, numClasses: 9 }), ['9 classes, the checkpoint has 10']);
    assert.deepEqual(disagreements(m, { ...d, depth: 13 }), ['13 block outputs, the checkpoint has 12 blocks']);
    assert.deepEqual(disagreements(m, { ...d, frames: 4 }), ['4 frames, the checkpoint has 8']);
    const features = { ...m, numClasses: 0 };
    assert.deepEqual(disagreements(features, { ...d, numClasses: 64 }), [], 'its final output is the width');
    assert.deepEqual(disagreements(features, { ...d, numClasses: 10 }), ['10 final outputs, the checkpoint (no classifier) outputs 64']);
    assert.equal(describeSignature(m), '8×32², width 64, 12 blocks, 10 classes');
    assert.equal(describeSignature(features), '8×32², width 64, 12 blocks, no classifier');
    assert.equal(describeSignature(d), '8×32², width 64, 12 blocks, 10 classes');
    assert.equal(describeSignature({ ...d, width: 16, embedDim: undefined }), '8×32×16, 12 blocks, 10 classes');
  });
});

// ---- the TensorRT engine cache: one folder per graph ----

describe('promise: the TensorRT engine cache never reuses an engine built for another graph', () => {
  const config = { heads: 4 } as ModelConfig;
  const base = graphOptions(config, 1, { weights: 'w.pyth', precision: 'fp16', layerNorm: 'plain' }, 'tensorrt');
  const key = (g: Partial<GraphOptions>, heads = 4) => engineCacheKey('w'.repeat(64), { ...base, ...g, config: { ...config, heads } });
  it('a key per LayerNorm mode, override, precision, accumulation, prescale shift, fp32 op set, attention, batch, head count and weights', () => {
    const keys = new Map<string, string>([['base', key({})]]);
    for (const m of ['fused', 'fp32', 'prescaled', 'expose'] as const) keys.set(`layerNorm ${m}`, key({ layerNorm: m }));
    keys.set('override', key({ layerNormOverrides: { 'blocks.4.norm1': 'fp32' } }));
    keys.set('bf16', key({ precision: 'bf16' }));
    keys.set('accumulate fp16', key({ accumulate: 'fp16' }));
    keys.set('prescale shift 4', key({ prescaleShift: 4 }));
    keys.set('fp32 ops', key({ fp32Ops: ['Softmax'] }));
    keys.set('attention', key({ attention: base.attention === 'decomposed' ? 'fused' : 'decomposed' }));
    keys.set('batch 2', key({ batch: 2 }));
    keys.set('heads 8', key({}, 8));
    keys.set('other weights', engineCacheKey('v'.repeat(64), base));
    const seen = new Map<string, string>();
    for (const [what, k] of keys) {
      assert.match(k, /^[0-9a-f]{24}$/);
      assert.ok(!seen.has(k), `${what} shares its engine with ${seen.get(k)}`);
      seen.set(k, what);
    }
    assert.equal(key({}), keys.get('base'), 'the same graph finds its engine again');
  });
});

// ---- the readers' budgets ----

describe('promise: the readers\' budgets trip on what they guard, not on something checked before', () => {
  it('a safetensors header claiming 100,000,001 bytes in a 100 MB sparse file is refused by the header cap, before anything is allocated', async () => {
    const file = path.join(tmp, 'huge_header.safetensors');
    const n = MAX_HEADER_BYTES + 1;
    const fh = await fs.promises.open(file, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(n));
    await fh.write(len, 0, 8, 0);
    await fh.truncate(8 + n + 16); // a hole: the file is large enough for the header it claims
    await fh.close();
    const before = process.memoryUsage().arrayBuffers;
    await rejects(openSafetensors(file), 'BAD_WEIGHTS', file, `the header claims ${n} bytes, more than the ${MAX_HEADER_BYTES} a safetensors header may have`);
    assert.ok(process.memoryUsage().arrayBuffers - before < 32 * 2 ** 20, 'the header was never read');
  });
  for (const fn of ['bytes', 'bytearray']) {
    it(`${fn}() of a memoized 100,000-item list, 1,000 times, is paid for at every use`, async () => {
      const big: Py = { $put: 1, value: { $list: Array.from({ length: 100_000 }, (_, i) => i % 100) } };
      const calls = Array.from({ length: 1000 }, (): Py => ({ $call: { $global: `builtins.${fn}` }, args: [{ $get: 1 }] }));
      await rejects(() => unpickle(pickle2({ $list: [big, ...calls] }), { globals: BASE_GLOBALS, file: 'bytes.p' }), 'LIMIT_EXCEEDED', 'bytes.p', 'units of work');
      const ok = unpickle(pickle2({ $list: [big, ...calls.slice(0, 2)] }), { globals: BASE_GLOBALS }) as unknown[];
      assert.equal((ok[1] as Uint8Array).length, 100_000);
      assert.equal((ok[1] as Uint8Array)[199], 99);
    });
  }
});

// ---- pairing: which test data goes with a checkpoint ----

describe('promise: test data is paired by agreement first, then by name; generic words do not count', () => {
  it('name scores: <stem>_test_data 100, the same stem 90, a prefix 80, 10 per shared word, 1 for the same folder', () => {
    const cases: [string, string, number][] = [
      ['a/d1_outlier.pyth', 'b/d1_outlier_test_data.p', 100],
      ['a/D1.PTH', 'b/d1-test-data.pkl', 100],
      ['a/x.safetensors', 'b/x_testdata.pickle', 100],
      ['a/run7.ckpt', 'b/run7.p', 90],
      ['a/abc.pt', 'b/abcdef.bin', 80],
      ['a/ab.pt', 'b/abcd.p', 0],
      ['a/ab.pt', 'a/abcd.p', 1],
      ['a/timesformer_k400_model.pyth', 'b/k400_test_data.p', 10],
      ['a/timesformer_k400_model.pyth', 'a/k400_timesformer.p', 21],
      ['a/x.pyth', 'b/y.p', 0],
    ];
    for (const [c, d, s] of cases) assert.equal(nameScore(c, d), s, `${c} / ${d}`);
    for (const w of ['model', 'models', 'test', 'data', 'testdata', 'weights', 'checkpoint', 'ckpt', 'state', 'dict', 'pytorch', 'final', 'best', 'p', 'pkl']) {
      assert.equal(nameScore(`a/one_${w}.pyth`, `b/two_${w}.p`), 0, `"${w}" is generic`);
    }
  });
  const sig = (numClasses: number): Inspection => ({ state: 'ok', signature: { kind: 'test-data', batch: 1, frames: 8, height: 32, width: 32, numClasses, depth: 12, tokens: 33, embedDim: 64 } });
  const ck: Inspection = { state: 'ok', signature: { kind: 'checkpoint', format: 'zip', hf: false, frames: 8, imageSize: 32, patchSize: 16, embedDim: 64, depth: 12, numClasses: 10 } };
  it('the agreement in words: agree, disagree, or why it is not known yet', () => {
    assert.deepEqual(agreement(ck, sig(10), 'd.p'), { status: 'agree', detail: '8×32², width 64, 12 blocks, 10 classes' });
    assert.deepEqual(agreement(ck, sig(9), 'd.p'), { status: 'disagree', problems: ['9 classes, the checkpoint has 10'] });
    assert.equal(agreement(ck, sig(9), null).status, 'self');
    assert.deepEqual(agreement(undefined, sig(10), 'd.p'), { status: 'unknown', reason: 'reading the checkpoint…' });
    assert.deepEqual(agreement(ck, { state: 'pending' }, 'd.p'), { status: 'unknown', reason: 'reading the test data…' });
    assert.deepEqual(agreement(ck, { state: 'skipped', reason: 'Restricted Mode' }, 'd.p'), { status: 'unknown', reason: 'Restricted Mode' });
    assert.deepEqual(agreement({ state: 'error', code: 'BAD_PICKLE', message: 'truncated' }, sig(10), 'd.p'), { status: 'unknown', reason: 'the checkpoint could not be read: truncated' });
    assert.deepEqual(agreement(sig(10), ck, 'd.p'), { status: 'unknown', reason: 'not a checkpoint and test data' });
  });
  it('pairs the best name among those that agree; else a name match not read yet; else none', () => {
    const files: Record<string, Inspection | undefined> = {
      'w/m.pyth': ck, 'w/m_test_data.p': sig(9), 'w/other.p': sig(10), 'w/m_extra.p': sig(10), 'w/unread_q.p': { state: 'pending' },
    };
    const look = (p: string) => files[p];
    assert.equal(pairTestData('w/m.pyth', ['w/other.p', 'w/m_test_data.p', 'w/m_extra.p'], look), 'w/m_extra.p', 'the best-named file disagrees: the best among those that agree');
    assert.equal(pairTestData('w/m.pyth', ['w/m_test_data.p', 'w/unread_q.p'], look), null, 'the unread one shares no word with "m", the other disagrees');
    files['w/mx_test_data.p'] = { state: 'pending' };
    assert.equal(pairTestData('w/mx.pyth', ['w/m_test_data.p', 'w/mx_test_data.p'], (p) => (p === 'w/mx.pyth' ? ck : files[p])), 'w/mx_test_data.p', 'not read yet, but its name fits');
    assert.equal(pairTestData('w/m.pyth', ['w/b.p', 'w/a.p'].map((p) => ((files[p] = sig(10)), p)), look), 'w/a.p', 'equal names: the first by path');
  });
});
