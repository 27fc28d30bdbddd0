import { strict as assert } from 'assert';
import {
  float32ToHalfBits, halfBitsToFloat, roundToHalfInPlace, Tensor, float32ToBfloat16Bits, bfloat16BitsToFloat32, float32ToHalfArray,
  float32ToBfloat16Array, halfBitsToFloat32,
} from '../../extension/core/tensor';
import { LabError } from '../../extension/core/errors';
import { diff, layerNormStats, tensorStats, tokenErrors } from '../../extension/core/compare/metrics';
import { diagnose, markJump, torchExportNodeName } from '../../extension/core/compare/diagnosis';
import { explainProviderError, optimizationLevel, providerOrder, realizationFor, realizationLabel } from '../../extension/core/engine/providers';
import { headCandidates } from '../../extension/core/model/config';
import { parseReportJson, reportToJson, type BlockResult, type LayerNormStats } from '../../extension/core/report';

describe('tensor: fp16 and bf16 conversions round like the hardware', () => {
  it('rounds to nearest even, overflows to inf past 65504 and keeps subnormals', () => {
    assert.equal(halfBitsToFloat(float32ToHalfBits(1)), 1);
    assert.equal(halfBitsToFloat(float32ToHalfBits(65504)), 65504);
    assert.equal(halfBitsToFloat(float32ToHalfBits(65519)), 65504); // below the rounding midpoint
    assert.equal(halfBitsToFloat(float32ToHalfBits(65520)), Infinity); // midpoint rounds to even = inf
    assert.equal(halfBitsToFloat(float32ToHalfBits(300 * 300)), Infinity); // the LayerNorm square of a massive activation
    assert.equal(halfBitsToFloat(float32ToHalfBits(2 ** -24)), 2 ** -24);
    assert.equal(halfBitsToFloat(float32ToHalfBits(2 ** -26)), 0);
    assert.equal(halfBitsToFloat(float32ToHalfBits(1 + 2 ** -11)), 1); // tie -> even
    assert.equal(halfBitsToFloat(float32ToHalfBits(1 + 3 * 2 ** -11)), 1 + 2 ** -9);
    assert.ok(Number.isNaN(halfBitsToFloat(float32ToHalfBits(NaN))));
    assert.equal(halfBitsToFloat(float32ToHalfBits(-2.5)), -2.5);
  });
  it('bf16 keeps the fp32 range (no overflow at 9e4)', () => {
    const b = bfloat16BitsToFloat32(new Uint16Array([float32ToBfloat16Bits(90000)]));
    assert.ok(Math.abs(b[0] - 90000) / 90000 < 2 ** -8);
    const a = roundToHalfInPlace(Float32Array.from([300.7]), 'bf16');
    assert.equal(a[0], 300);
  });
  it('the whole-array conversions give the scalar ones\' bits on 4 M float32 patterns (every exponent, ties, subnormals, inf, NaN)', () => {
    // bit patterns i * 1023 (odd stride: every exponent and low mantissa bits), both signs, and the edges
    const n = 1 << 22;
    const a = new Float32Array(n + 12);
    const u = new Uint32Array(a.buffer);
    for (let i = 0; i < n; i++) u[i] = (Math.imul(i, 1023) + (i & 1 ? 0x80000000 : 0)) >>> 0;
    a.set([65504, 65519.99, 65520, -65520, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14, 2 ** -14 - 2 ** -25, -0, Infinity, NaN], n);
    const half = float32ToHalfArray(a);
    const rounded = roundToHalfInPlace(a, 'fp16', new Float32Array(a.length));
    const bf = float32ToBfloat16Array(a);
    const bfRounded = roundToHalfInPlace(a, 'bf16', new Float32Array(a.length));
    const back = halfBitsToFloat32(half);
    const same = (x: number, y: number) => Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y));
    let bad = 0;
    for (let i = 0; i < a.length; i++) {
      const h = float32ToHalfBits(a[i]);
      const isNaN = Number.isNaN(a[i]);
      if (isNaN ? (half[i] & 0x7c00) !== 0x7c00 || !(half[i] & 0x3ff) : half[i] !== h) bad++;
      if (!same(rounded[i], halfBitsToFloat(h)) || !same(back[i], halfBitsToFloat(half[i]))) bad++;
      const b = float32ToBfloat16Bits(a[i]);
      if (bf[i] !== b || !same(bfRounded[i], bfloat16BitsToFloat32(Uint16Array.of(b))[0])) bad++;
    }
    assert.equal(bad, 0);
    assert.deepEqual([...rounded.subarray(n, n + 4)], [65504, 65504, Infinity, -Infinity]);
    assert.ok(Object.is(rounded[n + 9], -0), 'the sign of zero is kept');
  });
  it('checks the size against the shape at construction', () => {
    assert.throws(() => new Tensor('float32', [2, 3], new Float32Array(5)), (e: unknown) => e instanceof LabError && e.code === 'BAD_TENSOR');
    assert.equal(new Tensor('float16', [2], new Uint16Array([float32ToHalfBits(1.5), float32ToHalfBits(-2)])).toFloat32()[1], -2);
  });
});

describe('compare: metrics', () => {
  it('computes the seed metric over the patch tokens, skipping the class token', () => {
    const ref = Float32Array.from([100, 100, 1, 2, 3, 4]);
    const out = Float32Array.from([0, 0, 1, 2, 3, 5]);
    const d = diff(out, ref, 2);
    assert.ok(Math.abs(d.relL2 - 1 / Math.sqrt(30)) < 1e-12);
    assert.equal(d.maxAbs, 1);
    assert.ok(d.cosine > 0.99 && d.cosine < 1);
  });
  it('treats inf/NaN in the output as an infinite error', () => {
    assert.equal(diff(Float32Array.from([Infinity, 1]), Float32Array.from([1, 1])).relL2, Infinity);
  });
  it('lays out per-token errors as [frame][patch] from (patch, frame) order', () => {
    // S=2 patches, T=2 frames, C=1: tokens cls, (s0,t0), (s0,t1), (s1,t0), (s1,t1)
    const ref = Float32Array.from([9, 1, 1, 1, 1]);
    const out = Float32Array.from([0, 1, 1, 1, 2]); // only patch 1 of frame 1 is off
    assert.deepEqual(tokenErrors(out, ref, 2, 2, 1), [[0, 0], [0, 1]]);
  });
  it('tensor statistics count values past 65504 and per-channel maxima', () => {
    const s = tensorStats('x', Float32Array.from([1, -70000, NaN, Infinity, 2, 3]), [3, 2]);
    assert.equal(s.overFp16, 1);
    assert.equal(s.nanCount, 1);
    assert.equal(s.infCount, 1);
    assert.equal(s.maxAbs, 70000);
    assert.deepEqual(s.channelMaxAbs, [2, 70000], 'finite values only');
    assert.equal(s.histogram.counts.reduce((a, b) => a + b, 0), 4);
  });
  it('LayerNorm statistics find the massive-activation channel and the overflowing squares', () => {
    const C = 8;
    const x = new Float32Array(2 * C).fill(1);
    x[5] = 300; // row 0, channel 5
    const sq = new Float32Array(2 * C);
    sq[5] = Infinity;
    const s = layerNormStats('blocks.4.temporal_norm1', 4, x, C, sq, true);
    assert.equal(s.topChannels[0].channel, 5);
    assert.ok(Math.abs(s.maxAbsDiff - (300 - 299 / 8 - 1)) < 1e-9);
    assert.equal(s.overFp16Count, 1);
    assert.equal(s.infCount, 1);
    assert.ok(s.overflowed);
    assert.ok(!layerNormStats('n', 0, x, C, new Float32Array(2 * C), true).overflowed, 'no inf in the engine square: no overflow');
    assert.ok(layerNormStats('n', 0, x, C, undefined, true).overflowed, 'unprobed 16-bit square past 65504 counts as overflow');
  });
});

function block(index: number, relL2: number, ln?: Partial<LayerNormStats>): BlockResult {
  const stats = tensorStats('o', new Float32Array(4), [1, 4]);
  const layerNorms: LayerNormStats[] = ln
    ? [{ name: `blocks.${index}.temporal_norm1`, block: index, maxAbsDiff: 295, maxSq: 87025, overFp16Count: 8, infCount: 8, nanCount: 0, topChannels: [{ channel: 21, maxAbs: 300 }], overflowed: true, ...ln }]
    : [];
  return { index, relL2, maxAbs: relL2, cosine: 1, passed: relL2 <= 1e-2, jump: false, tokenError: [], output: stats, reference: stats, layerNorms, exposed: [] };
}

describe('report: JSON', () => {
  it('round-trips non-finite numbers, which plain JSON would turn into null', () => {
    const r = { relL2: Infinity, cosine: NaN, n: -Infinity, ok: 1e-3 };
    assert.deepEqual(parseReportJson(reportToJson(r)), r);
    assert.match(reportToJson(r), /"Infinity"/);
  });
});

describe('compare: diagnosis', () => {
  it('finds the jump at >= 10x the previous block or over the tolerance', () => {
    const bs = [block(0, 1e-3), block(1, 2e-3), block(2, 3e-2), block(3, 4e-2)];
    assert.equal(markJump(bs, 1e-2), 2);
    assert.ok(bs[2].jump && !bs[3].jump);
    const tenfold = [block(0, 1e-4), block(1, 2e-3)];
    assert.equal(markJump(tenfold, 1e-2), 1);
    assert.equal(markJump([block(0, 1e-7), block(1, 2e-6)], 1e-2), null, 'fp32-level noise is no jump');
  });
  it('names the LayerNorm and the channel, and gives a trtexec line', () => {
    const bs = [block(0, 2e-3), block(1, 3e-3), block(2, 0.13, {}), block(3, 0.2)];
    const d = diagnose({ blocks: bs, probs: { relL2: 0.15, maxAbs: 1e-3, top1: 1, refTop1: 1, top1Agree: true }, finalNorm: null, tolerance: 1e-2, precision: 'fp16', layerNorm: 'plain', realization: 'emulated' });
    assert.equal(d.verdict, 'fail');
    assert.equal(d.firstBadBlock, 2);
    assert.equal(d.culprit?.layerNorm, 'blocks.2.temporal_norm1');
    assert.equal(d.culprit?.channel, 21);
    assert.match(d.sentence, /Block 2 temporal LayerNorm .*8\.7e\+4 > 65504 in channel 21 — FP16 overflow.*Fix: LayerNorm in FP32, fused LayerNormalization, or prescaled/);
    assert.equal(d.trtexec, 'trtexec --onnx=timesformer.onnx --fp16 --precisionConstraints=obey --layerPrecisions=/model/blocks.2/temporal_norm1/LayerNormalization:fp32 --saveEngine=timesformer_fp16.plan');
    assert.deepEqual(d.fixes, ['fp32', 'fused', 'prescaled', 'expose']);
  });
  it('passes and still warns about the LayerNorm a fix protects', () => {
    const bs = [block(0, 2e-3), block(1, 3e-3, { overflowed: false, infCount: 0 })];
    const d = diagnose({ blocks: bs, probs: { relL2: 2e-4, maxAbs: 1e-5, top1: 3, refTop1: 3, top1Agree: true }, finalNorm: null, tolerance: 1e-2, precision: 'fp16', layerNorm: 'fp32', realization: 'emulated' });
    assert.equal(d.verdict, 'pass');
    assert.match(d.sentence, /^All 2 blocks within 0\.01 .*'fp32' LayerNorm mode avoids it/);
  });
  it('maps LayerNorm names to the nodes torch.onnx.export writes', () => {
    assert.equal(torchExportNodeName('blocks.11.norm2'), '/model/blocks.11/norm2/LayerNormalization');
    assert.equal(torchExportNodeName('norm'), '/model/norm/LayerNormalization');
  });
});

describe('engine: providers', () => {
  it('auto tries TensorRT, CUDA, WebGPU, then CPU; an explicit choice falls back to the ones after it', () => {
    assert.deepEqual(providerOrder('auto'), ['tensorrt', 'cuda', 'webgpu', 'cpu']);
    assert.deepEqual(providerOrder('webgpu'), ['webgpu', 'cpu']);
    assert.deepEqual(providerOrder('cpu'), ['cpu']);
  });
  it('realizes FP16 per provider and labels emulation as emulation', () => {
    assert.equal(realizationFor('cpu', 'fp16'), 'emulated');
    assert.equal(realizationFor('webgpu', 'fp16'), 'native');
    assert.equal(realizationFor('cuda', 'fp16'), 'native');
    assert.equal(realizationFor('tensorrt', 'fp16'), 'tensorrt');
    assert.equal(realizationFor('webgpu', 'bf16'), 'emulated');
    assert.equal(realizationFor('cpu', 'fp32'), 'fp32');
    assert.match(realizationLabel('cpu', 'fp16', 'emulated'), /^FP16 emulated \(CPU EP/);
  });
  it('keeps a plain or prescaled LayerNorm decomposed on a true fp16 graph without probes (no LayerNormFusion)', () => {
    assert.equal(optimizationLevel('native', 'plain', false), 'basic');
    assert.equal(optimizationLevel('native', 'prescaled', false), 'basic');
    assert.equal(optimizationLevel('native', 'plain', true), 'all', 'probe outputs block the fusion');
    assert.equal(optimizationLevel('native', 'fused', false), 'all');
    assert.equal(optimizationLevel('emulated', 'plain', false), 'all', 'the Casts block the fusion');
  });
  it('explains provider load failures in words a user can act on', () => {
    assert.match(explainProviderError('tensorrt', 'OrtSessionOptionsAppendExecutionProvider_TensorRT: Failed to load shared library'), /^TensorRT provider library not found/);
    assert.match(explainProviderError('cuda', 'Failed to load shared library'), /^CUDA provider library not found/);
    assert.match(explainProviderError('webgpu', 'Failed to get a WebGPU adapter: No supported adapters'), /^no WebGPU adapter/);
  });
});

describe('model: head candidates', () => {
  it('tries head dims 64, 16, 24 first and keeps head dims >= 8', () => {
    assert.deepEqual(headCandidates(768).slice(0, 3), [12, 48, 32]);
    assert.deepEqual(headCandidates(64), [1, 4, 2, 8]);
    assert.ok(headCandidates(48).every((h) => 48 / h >= 8));
  });
});
