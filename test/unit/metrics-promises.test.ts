/**
 * The comparison's numbers, promise by promise, on hand-made tensors of a few values (issue 23:
 * mutation testing of compare/metrics.ts and compare/blocks.ts). Pure and fast: each mutant of
 * these files is judged here in milliseconds, not through a pipeline run.
 */
import { strict as assert } from 'assert';
import { compareBlock, diff, histogram, largestChannels, layerNormStats, tensorStats, tokenErrors } from '../../extension/core/compare/metrics';
import { compareBlocks, comparePool, PARALLEL_COMPARE_MIN_VALUES, type BlockJob } from '../../extension/core/compare/blocks';
import type { WorkerPool } from '../../extension/core/parallel';
import { LN_STAT_FIELDS } from '../../extension/core/model/timesformer';
import type { LnLimits } from '../../extension/core/model/realization';
import type { LayerNormStats } from '../../extension/core/report';

const f32 = (...v: number[]) => Float32Array.from(v);
const close = (a: number, b: number, what: string, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${what}: ${a}, expected ${b}`);

describe('diff: relative L2, max |a − b| and cosine', () => {
  const ref = f32(1, -2, 4, 0.5);
  it('a tensor against itself scaled by 1.01: rel L2 0.01, max |a − b| 0.01 × max |ref|, cosine 1', () => {
    const d = diff(ref.map((x) => x * 1.01), ref);
    close(d.relL2, 0.01, 'relL2', 1e-7);
    close(d.maxAbs, 0.04, 'maxAbs', 1e-6);
    close(d.cosine, 1, 'cosine', 1e-12);
  });
  it('opposite vectors: cosine −1, rel L2 2, max |a − b| twice the largest value', () => {
    const d = diff(ref.map((x) => -x), ref);
    close(d.cosine, -1, 'cosine', 1e-12);
    close(d.relL2, 2, 'relL2', 1e-12);
    assert.equal(d.maxAbs, 8);
  });
  it('orthogonal vectors: cosine 0, rel L2 √2', () => {
    const d = diff(f32(0, 3), f32(3, 0));
    assert.equal(d.cosine, 0);
    close(d.relL2, Math.SQRT2, 'relL2', 1e-12);
    assert.equal(d.maxAbs, 3);
  });
  it('the largest difference is the max, wherever it lies (not the last one)', () => {
    assert.equal(diff(f32(5, 1, 1), f32(1, 1, 0)).maxAbs, 4);
    assert.equal(diff(f32(1, 1, 0), f32(5, 1, 1)).maxAbs, 4);
  });
  it('elements before `from` are left out (the class token): a difference there counts for nothing', () => {
    const d = diff(f32(100, 1, 2), f32(-7, 1, 2), 1);
    assert.deepEqual(d, { relL2: 0, maxAbs: 0, cosine: 1 });
    assert.ok(diff(f32(100, 1, 2), f32(-7, 1, 2), 0).relL2 > 1);
  });
  it('a reference of zeros: the absolute L2 instead of a division by zero; cosine 1 if both are zero, 0 if one is', () => {
    const d = diff(f32(3, 4), f32(0, 0));
    assert.equal(d.relL2, 5);
    assert.equal(d.cosine, 0);
    assert.deepEqual(diff(f32(0, 0), f32(0, 0)), { relL2: 0, maxAbs: 0, cosine: 1 });
    assert.equal(diff(f32(0, 0), f32(1, 0)).cosine, 0);
    assert.equal(diff(f32(0, 0), f32(1, 0)).relL2, 1);
  });
  it('inf or NaN in the output makes the error infinite and the cosine NaN, wherever it lies', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const at of [0, 2]) {
        const a = f32(1, 2, 3);
        a[at] = bad;
        const d = diff(a, f32(1, 2, 3));
        assert.equal(d.relL2, Infinity);
        assert.equal(d.maxAbs, Infinity);
        assert.ok(Number.isNaN(d.cosine));
      }
    }
  });
  it('tensors of different lengths are refused, naming both lengths', () => {
    assert.throws(() => diff(f32(1, 2), f32(1, 2, 3)), /diff: length 2 vs 3/);
  });
});

describe('tokenErrors: one relative error per (frame, patch), the class token dropped', () => {
  // S = 2 patches, T = 3 frames, C = 2 channels; token 1 + s*T + t
  const S = 2, T = 3, C = 2;
  const ref = () => Float32Array.from({ length: (1 + S * T) * C }, (_, i) => 1 + (i % 5));
  it('a change in patch 1 of frame 2 shows there and nowhere else; one in the class token nowhere', () => {
    const r = ref();
    const out = ref();
    const base = (1 + 1 * T + 2) * C;
    out[base] = r[base] * 1.5;
    out[0] = 1000; // the class token
    const g = tokenErrors(out, r, S, T, C);
    assert.equal(g.length, T);
    for (let t = 0; t < T; t++) {
      assert.equal(g[t].length, S);
      for (let s = 0; s < S; s++) {
        const want = t === 2 && s === 1 ? (0.5 * r[base]) / Math.hypot(r[base], r[base + 1]) : 0;
        close(g[t][s], want, `frame ${t} patch ${s}`, 1e-7);
      }
    }
  });
  it('a token with inf or NaN is infinite; a token whose reference is zero gets its absolute error', () => {
    const r = ref();
    const out = ref();
    out[(1 + 0 * T + 1) * C + 1] = NaN; // patch 0 frame 1
    const z = (1 + 1 * T + 0) * C; // patch 1 frame 0
    r[z] = 0;
    r[z + 1] = 0;
    out[z] = 3;
    out[z + 1] = 4;
    const g = tokenErrors(out, r, S, T, C);
    assert.equal(g[1][0], Infinity);
    assert.equal(g[0][1], 5);
    assert.equal(g[0][0], 0);
  });
});

describe('histogram', () => {
  it('32 bins by default over [min, max]; the max lands in the last bin; NaN and ±inf are not counted', () => {
    const h = histogram(f32(0, 1, 2, 3, NaN, Infinity, -Infinity));
    assert.equal(h.counts.length, 32);
    assert.equal(h.edges.length, 33);
    assert.equal(h.edges[0], 0);
    close(h.edges[32], 3, 'last edge');
    assert.equal(h.counts.reduce((a, b) => a + b), 4);
    assert.equal(h.counts[31], 1);
    assert.equal(h.counts[0], 1);
  });
  it('its own range is the min and max wherever they lie', () => {
    assert.deepEqual(histogram(f32(3, 0, 1, 2), 3), { edges: [0, 1, 2, 3], counts: [1, 1, 2] });
  });
  it('3 bins over [0, 3]: edges 0, 1, 2, 3 and one value per bin but the last, which holds 2 and 3', () => {
    const h = histogram(f32(0, 1, 2, 3), 3);
    assert.deepEqual(h.edges, [0, 1, 2, 3]);
    assert.deepEqual(h.counts, [1, 1, 2]);
  });
  it('a half-given range is no range: the tensor\'s own is used', () => {
    assert.deepEqual(histogram(f32(0, 4), 2, 1), { edges: [0, 2, 4], counts: [1, 1] });
    assert.deepEqual(histogram(f32(0, 4), 2, undefined, 1), { edges: [0, 2, 4], counts: [1, 1] });
  });
  it('a given range: values outside it are left out', () => {
    const h = histogram(f32(-5, 0, 0.5, 1, 9), 2, 0, 1);
    assert.deepEqual(h.edges, [0, 0.5, 1]);
    assert.deepEqual(h.counts, [1, 2]);
  });
  it('a constant tensor: one bin holding every finite value; no finite value: an empty bin at 0', () => {
    assert.deepEqual(histogram(f32(2, 2, NaN, 2)), { edges: [2, 2], counts: [3] });
    assert.deepEqual(histogram(f32(NaN, Infinity)), { edges: [0, 0], counts: [0] });
    assert.deepEqual(histogram(f32()), { edges: [0, 0], counts: [0] });
  });
});

describe('tensorStats', () => {
  it('min, max, mean, std and max |x| of the finite values; NaN and inf counted apart', () => {
    const s = tensorStats('x', f32(3, -3, 2, NaN, Infinity, -Infinity, 4), [7], false);
    assert.equal(s.name, 'x');
    assert.deepEqual(s.shape, [7]);
    assert.equal(s.min, -3);
    assert.equal(s.max, 4);
    assert.equal(s.mean, 1.5);
    close(s.std, Math.sqrt((2.25 + 20.25 + 0.25 + 6.25) / 4), 'std');
    assert.equal(s.maxAbs, 4);
    assert.equal(s.nanCount, 1);
    assert.equal(s.infCount, 2);
    assert.equal(s.channelMaxAbs, undefined);
    assert.equal(s.histogram.counts.reduce((a, b) => a + b), 4);
    assert.equal(s.histogram.edges[0], -3);
    assert.equal(s.histogram.edges[32], 4);
  });
  it('counts every value past 65504 in magnitude (65504 itself fits FP16), either sign', () => {
    assert.equal(tensorStats('x', f32(65504, -65504, 65505, -65505, 70000, 1), [6]).overFp16, 3);
  });
  it('per-channel max |x| over the last dimension, inf and NaN not taken as a maximum', () => {
    const s = tensorStats('x', f32(1, -5, 0.5, -2, 3, NaN, 4, Infinity, -1), [3, 3]);
    assert.deepEqual(s.channelMaxAbs, [4, 5, 1]);
    assert.equal(tensorStats('x', f32(1, -5, 0.5, -2), [2, 2], false).channelMaxAbs, undefined, 'not asked');
    assert.equal(tensorStats('x', f32(1, -5, 0.5), [3, 1]).channelMaxAbs, undefined, 'one channel: max |x| says it');
    assert.equal(tensorStats('x', f32(1, -5, 0.5), []).channelMaxAbs, undefined, 'a scalar shape');
  });
  it('values that are not rows of the last dimension: statistics over all of them, no channels', () => {
    const s = tensorStats('x', f32(1, -5, 2, 7, 3), [2, 3]);
    assert.equal(s.channelMaxAbs, undefined);
    assert.deepEqual([s.min, s.max, s.infCount, s.nanCount, s.mean], [-5, 7, 0, 0, 1.6]);
  });
  it('a tensor with no finite value: zeros, not ±inf', () => {
    const s = tensorStats('x', f32(NaN, Infinity), [2]);
    assert.deepEqual([s.min, s.max, s.mean, s.std, s.maxAbs], [0, 0, 0, 0, 0]);
    assert.deepEqual(s.histogram, { edges: [0, 0], counts: [0] });
  });
  it('std of a constant tensor is 0 (never the root of a negative rounding error)', () => {
    // Σx²/n − mean² of 100 × 0.7 in float64 is −1.1e-15
    const s = tensorStats('x', new Float32Array(100).fill(0.7), [100]);
    assert.equal(s.std, 0);
  });
});

describe('compareBlock: one block output against its reference', () => {
  const S = 2, T = 2, C = 3;
  const n = (1 + S * T) * C;
  const ref = () => Float32Array.from({ length: n }, (_, i) => ((i * 7) % 11) - 5 + 0.25);
  it('the class token is dropped from the block error but kept in the output statistics', () => {
    const r = ref();
    const out = ref();
    out[1] = 90000; // class token, channel 1
    const b = compareBlock(out, r, S, T, C, [1, 1 + S * T, C], 'o', 'r');
    assert.deepEqual(b.diff, { relL2: 0, maxAbs: 0, cosine: 1 });
    assert.equal(b.output.max, 90000);
    assert.equal(b.output.overFp16, 1);
    assert.equal(b.output.channelMaxAbs![1], 90000);
    assert.ok(b.tokenError.every((row) => row.every((e) => e === 0)));
    assert.notEqual(b.reference!.max, 90000);
  });
  it('gives exactly what diff(out, ref, C), tokenErrors and tensorStats give, inf and NaN included', () => {
    const r = ref();
    const out = r.map((x, i) => x * (1 + 0.01 * (i % 4)) - (i % 3) * 0.125);
    out[5] = 70000;
    out[2 * C + 2] = -80000;
    out[3 * C + 2] = 65504; // fits FP16: not counted
    for (let c = 0; c < C; c++) r[2 * C + c] = 0; // a token whose reference is zero: its absolute error
    const shape = [1, 1 + S * T, C];
    for (const poison of [false, true]) {
      const o = Float32Array.from(out);
      if (poison) {
        o[3 * C + 1] = NaN;
        o[4 * C] = -Infinity;
      }
      const b = compareBlock(o, r, S, T, C, shape, 'o', 'r');
      assert.deepEqual(b.diff, diff(o, r, C));
      assert.deepEqual(b.tokenError, tokenErrors(o, r, S, T, C));
      assert.deepEqual(b.output, tensorStats('o', o, shape));
      assert.deepEqual(b.reference, tensorStats('r', r, shape));
    }
  });
  it('with no reference name, no reference statistics (they are known already)', () => {
    const b = compareBlock(ref(), ref(), S, T, C, [1, 5, C], 'o');
    assert.equal('reference' in b, false);
  });
  it('rows past the tokens (a batch of two) count in the error but have no place in the token grid', () => {
    const r = Float32Array.from({ length: 2 * n }, (_, i) => 1 + (i % 3));
    const out = Float32Array.from(r);
    out[n + C + 1] = 2 * r[n + C + 1]; // second sample, patch 0 frame 0
    const b = compareBlock(out, r, S, T, C, [2, 1 + S * T, C], 'o');
    assert.ok(b.diff.relL2 > 0);
    assert.deepEqual(b.diff, diff(out, r, C));
    assert.deepEqual(b.tokenError, [[0, 0], [0, 0]], 'one error per frame and patch of the first sample');
  });
  it('refuses outputs that are not rows of C values with 1 + S·T tokens, naming the sizes', () => {
    assert.throws(() => compareBlock(f32(1, 2, 3), f32(1, 2), 1, 1, 1, [3], 'o'), /compareBlock: length 3 vs 2/);
    assert.throws(() => compareBlock(new Float32Array(4), new Float32Array(4), 1, 1, 1, [4], 'o'), /4 values are not rows of 1 with 2 tokens/);
    assert.throws(() => compareBlock(new Float32Array(7), new Float32Array(7), 1, 1, 2, [7], 'o'), /7 values are not rows of 2/);
    assert.throws(() => compareBlock(new Float32Array(6), new Float32Array(6), 1, 3, 2, [6], 'o'), /6 values are not rows of 2 with 4 tokens/);
    assert.doesNotThrow(() => compareBlock(new Float32Array(6), new Float32Array(6), 2, 1, 2, [6], 'o'));
  });
});

describe('layerNormStats: a LayerNorm\'s measured statistics, judged against the engine\'s limits', () => {
  const ln = { name: 'blocks.3.norm1', block: 3, mode: 'plain' as const };
  const fp16: LnLimits = { square: 65504, sumSquares: 65504, sumX: 65504 };
  const none: LnLimits = { square: null, sumSquares: null, sumX: null };
  const stats = (v: Partial<Record<(typeof LN_STAT_FIELDS)[number], number>>) => Float32Array.from(LN_STAT_FIELDS, (k) => v[k] ?? 0);
  const mech = (s: LayerNormStats, kind: string) => s.mechanisms.find((m) => m.kind === kind)!;

  it('counts every square past 65504 and names the channel of the largest among the top three', () => {
    const s = layerNormStats(ln, 'fp32-probe', stats({ maxSq: 90000, overFp16Count: 7 }), f32(2, 300, 1, 250, 0.5), fp16);
    assert.equal(s.overFp16Count, 7);
    assert.equal(s.maxSq, 90000);
    close(s.maxAbsDiff, 300, 'max |x − mean|', 1e-9);
    assert.deepEqual(s.topChannels, [{ channel: 1, maxAbs: 300 }, { channel: 3, maxAbs: 250 }, { channel: 0, maxAbs: 2 }]);
    assert.deepEqual([s.name, s.block, s.mode, s.source], ['blocks.3.norm1', 3, 'plain', 'fp32-probe']);
  });
  it('largestChannels: the same top three as sorting every channel (ties to the lower channel), a NaN first, fewer channels than asked', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let t = 0; t < 50; t++) {
      // few distinct values, so that ties are common
      const ch = Float32Array.from({ length: 1 + Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 8) * 0.5);
      const sorted = Array.from(ch, (maxAbs, channel) => ({ channel, maxAbs })).sort((a, b) => b.maxAbs - a.maxAbs || a.channel - b.channel);
      assert.deepEqual(largestChannels(ch, 3), sorted.slice(0, 3));
    }
    assert.deepEqual(largestChannels(f32(5, NaN, 9, Infinity), 3).map((c) => c.channel), [1, 3, 2]);
    assert.deepEqual(largestChannels(f32(4), 3), [{ channel: 0, maxAbs: 4 }]);
    assert.deepEqual(largestChannels(f32(4, 5), 0), []);
  });
  it('a square over the limit fires and overflows; one at the limit does not; with no limit (not exposed) nothing fires', () => {
    const over = layerNormStats(ln, 'fp32-probe', stats({ maxSq: 65505 }), f32(1), fp16);
    assert.deepEqual(mech(over, 'square'), { kind: 'square', value: 65505, wouldHit: true, limit: 65504, fires: true, observed: false });
    assert.equal(over.overflowed, true);
    const at = layerNormStats(ln, 'fp32-probe', stats({ maxSq: 65504 }), f32(1), fp16);
    assert.equal(mech(at, 'square').fires, false);
    assert.equal(mech(at, 'square').wouldHit, false);
    assert.equal(at.overflowed, false);
    const exposed = layerNormStats(ln, 'fp32-probe', stats({ maxSq: 1e6, maxSumSq: 1e9, maxAbsSum: 1e6 }), f32(1), none);
    assert.ok(exposed.mechanisms.every((m) => !m.fires && m.limit === (m.kind === 'nonFiniteInput' ? 0 : null)));
    assert.equal(mech(exposed, 'square').wouldHit, true, 'it would hit FP16 all the same');
    assert.equal(exposed.overflowed, false);
  });
  it('each mechanism is judged against its own limit (a prescaled LayerNorm tolerates 4^k squares, 2^k sums)', () => {
    const limits: LnLimits = { square: 65504 * 64, sumSquares: 65504 * 64, sumX: 65504 * 8 };
    const s = layerNormStats(ln, 'fp32-probe', stats({ maxSq: 65504 * 63, maxSumSq: 65504 * 65, maxAbsSum: 65504 * 7 }), f32(1), limits);
    assert.deepEqual(s.mechanisms.map((m) => [m.kind, m.fires]), [['square', false], ['sumSquares', true], ['sumX', false], ['nonFiniteInput', false]]);
    const x = layerNormStats(ln, 'fp32-probe', stats({ maxAbsSum: 65504 * 9 }), f32(1), limits);
    assert.equal(mech(x, 'sumX').fires, true);
    assert.equal(mech(x, 'sumX').value, 65504 * 9);
    assert.equal(x.overflowed, true);
  });
  it('observed only on the engine\'s own input: an inf square is the square; an inf variance with finite squares is the sum of squares; an inf mean is the sum', () => {
    const sq = stats({ maxSq: 70000, sqInf: 2, sqNonFinite: 3, varNonFinite: 4 });
    const e = layerNormStats(ln, 'engine', sq, f32(1), none);
    assert.deepEqual(e.mechanisms.map((m) => [m.kind, m.observed]), [['square', true], ['sumSquares', false], ['sumX', false], ['nonFiniteInput', false]]);
    assert.equal(e.overflowed, true, 'observed though no limit fires');
    assert.equal(e.infCount, 2);
    assert.equal(e.nanCount, 1);
    assert.equal(e.varNonFinite, 4);
    assert.equal(layerNormStats(ln, 'fp32-probe', sq, f32(1), none).mechanisms.some((m) => m.observed), false, 'our FP32 probe observes nothing');
    const v = layerNormStats(ln, 'engine', stats({ varNonFinite: 1 }), f32(1), none);
    assert.deepEqual(v.mechanisms.map((m) => m.observed), [false, true, false, false]);
    const m = layerNormStats(ln, 'engine', stats({ meanNonFinite: 1, sqInf: 5, sqNonFinite: 5, varNonFinite: 1 }), f32(1), none);
    assert.deepEqual(m.mechanisms.map((x) => x.observed), [false, false, true, false], 'an inf mean makes every square inf after it: only the sum is observed');
    assert.equal(m.meanNonFinite, 1);
  });
  it('an input already inf or NaN is its own mechanism, and hides the others (they cannot be told apart)', () => {
    const s = layerNormStats(ln, 'engine', stats({ inputNonFinite: 3, sqInf: 3, sqNonFinite: 3, varNonFinite: 1, maxSq: 10 }), f32(1), fp16);
    assert.deepEqual(mech(s, 'nonFiniteInput'), { kind: 'nonFiniteInput', value: 3, wouldHit: true, limit: 0, fires: true, observed: true });
    assert.equal(mech(s, 'square').observed, false);
    assert.equal(s.inputNonFinite, 3);
    assert.equal(s.overflowed, false, 'a non-finite input is not an overflow of this LayerNorm');
    const probe = layerNormStats(ln, 'fp32-probe', stats({ inputNonFinite: 3 }), f32(1), fp16);
    assert.equal(mech(probe, 'nonFiniteInput').observed, false);
    const clean = layerNormStats(ln, 'engine', stats({}), f32(1), fp16);
    assert.deepEqual(mech(clean, 'nonFiniteInput'), { kind: 'nonFiniteInput', value: 0, wouldHit: false, limit: 0, fires: false, observed: false });
  });
  it('−1 in an engine-only field (this LayerNorm computes no such tensor) reads as 0', () => {
    const s = layerNormStats(ln, 'engine', stats({ sqInf: -1, sqNonFinite: -1, varNonFinite: -1, meanNonFinite: -1 }), f32(1), fp16);
    assert.deepEqual([s.infCount, s.nanCount, s.varNonFinite, s.meanNonFinite], [0, 0, 0, 0]);
    assert.equal(s.mechanisms.some((m) => m.observed), false);
  });
  it('a stats vector of the wrong length is refused, naming the LayerNorm', () => {
    assert.throws(() => layerNormStats(ln, 'engine', new Float32Array(LN_STAT_FIELDS.length - 1), f32(1), fp16), new RegExp(`blocks\\.3\\.norm1\\.stats has ${LN_STAT_FIELDS.length - 1} values, expected ${LN_STAT_FIELDS.length}`));
  });
});

describe('compareBlocks: every block compared once, in order, by this thread or a pool\'s', () => {
  const S = 1, T = 2, C = 2;
  const dims = { S, T, C, shape: [1, 3, C] };
  const jobs: BlockJob[] = Array.from({ length: 5 }, (_, k) => {
    const ref = Float32Array.from({ length: 6 }, (_, i) => 1 + i + k);
    const out = ref.map((x, i) => x * (1 + 0.01 * k) + (i === 3 ? k : 0));
    return { out, ref, outName: `block${k}`, refName: k % 2 ? `ref${k}` : undefined };
  });
  // computed in the tests, not while the file loads: a mutant that breaks compareBlock fails a test
  const alone = () => jobs.map((j) => compareBlock(j.out, j.ref, S, T, C, dims.shape, j.outName, j.refName));

  /**
   * A stand-in for a pool of threads (parallel.test.ts runs the real one): `room` slots, answering
   * with what a thread would answer, or failing like a thread that died. It records what it was sent.
   */
  const fakePool = (room: number, fail: boolean) => {
    const got: string[] = [];
    const pool = {
      room: () => room,
      run: (job: { type: string; out: Float32Array; ref: Float32Array; S: number; T: number; C: number; shape: number[]; outName: string; refName?: string }) => {
        assert.equal(job.type, 'compare', 'a thread knows the job by its type');
        got.push(job.outName);
        if (fail) return Promise.reject(new Error('a worker thread stopped'));
        return Promise.resolve(compareBlock(job.out, job.ref, job.S, job.T, job.C, job.shape, `${job.outName}`, job.refName));
      },
    };
    return { pool: pool as unknown as WorkerPool, got };
  };

  it('with no pool, this thread compares every block: the same results as compareBlock, in job order', async () => {
    assert.deepEqual(await compareBlocks(jobs, dims), alone());
    assert.deepEqual(await compareBlocks([], dims), []);
  });
  it('a pool takes blocks from the first while this thread takes them from the last; each block once', async () => {
    for (const room of [2, 3]) {
      const { pool, got } = fakePool(room, false);
      const r = await compareBlocks(jobs, dims, pool);
      assert.deepEqual(r, alone());
      // blocks 0 and 1 (2 with room 3) at once, 2 and 3 as this thread finishes block 4; none twice
      assert.deepEqual(got, ['block0', 'block1', 'block2', 'block3'], `room ${room}`);
    }
  });
  it('a pool with no room gets nothing', async () => {
    const { pool, got } = fakePool(0, false);
    assert.deepEqual(await compareBlocks(jobs, dims, pool), alone());
    assert.deepEqual(got, []);
  });
  it('a thread that fails leaves its block to this one: the results are the same', async () => {
    const { pool, got } = fakePool(2, true);
    assert.deepEqual(await compareBlocks(jobs, dims, pool), alone());
    assert.ok(got.length >= 2);
  });
  it('threads only for large comparisons on a machine with cores to spare', async () => {
    // a fixture's 12 blocks of 33 tokens × 64 channels stay here
    assert.equal(comparePool(12 * 33 * 64, 8), undefined);
    assert.equal(comparePool(PARALLEL_COMPARE_MIN_VALUES - 1, 4), undefined);
    assert.equal(comparePool(PARALLEL_COMPARE_MIN_VALUES, 1), undefined);
    assert.equal(comparePool(PARALLEL_COMPARE_MIN_VALUES, 0), undefined);
    // the full-size model's 12 blocks of 1,569 tokens × 768 channels go to threads
    assert.ok(12 * 1569 * 768 >= PARALLEL_COMPARE_MIN_VALUES);
    const pool = comparePool(12 * 1569 * 768, 2);
    try {
      assert.ok(pool, 'a pool of threads');
      assert.equal(pool!.size, 2);
    } finally {
      await pool?.close();
    }
  });
});
