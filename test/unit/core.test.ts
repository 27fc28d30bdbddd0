import { strict as assert } from 'assert';
import {
  float32ToHalfBits, halfBitsToFloat, roundToHalfInPlace, Tensor, float32ToBfloat16Bits, bfloat16BitsToFloat32, float32ToHalfArray,
  float32ToBfloat16Array, halfBitsToFloat32,
} from '../../extension/core/tensor';
import { LabError } from '../../extension/core/errors';
import { diff, tensorStats, tokenErrors } from '../../extension/core/compare/metrics';
import { explainProviderError, optimizationLevel, providerOrder, realizationFor, realizationLabel } from '../../extension/core/engine/providers';
import { headCandidates } from '../../extension/core/model/config';
import { parseReportJson, reportToJson } from '../../extension/core/report';

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
});

describe('report: JSON', () => {
  it('round-trips non-finite numbers, which plain JSON would turn into null', () => {
    const r = { relL2: Infinity, cosine: NaN, n: -Infinity, ok: 1e-3 };
    assert.deepEqual(parseReportJson(reportToJson(r)), r);
    assert.match(reportToJson(r), /"Infinity"/);
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
  it('labels say where a 16-bit graph accumulates, and what the emulation cannot model', () => {
    assert.match(realizationLabel('webgpu', 'fp16', 'native', 'fp32'), /MatMul, Conv, attention and ReduceMean accumulate in fp32 as TensorRT's kernels do/);
    assert.match(realizationLabel('webgpu', 'fp16', 'native', 'fp16'), /the EP's own fp16 kernels: fp16 accumulation, a worst case/);
    assert.match(realizationLabel('cpu', 'fp16', 'emulated', 'fp16'), /reductions' 16-bit overflow .* not as the per-addition rounding of long dot products/);
    // BF16 has FP32's range: its 16-bit accumulation rounds, it cannot overflow
    assert.match(realizationLabel('cpu', 'bf16', 'emulated', 'fp16'), /bf16 accumulation modelled only as the reductions' sum rounded to bf16 before the division \(no overflow: BF16 has FP32's range\)/);
    assert.doesNotMatch(realizationLabel('cpu', 'bf16', 'emulated', 'fp16'), /16-bit overflow/);
    assert.match(realizationLabel('cpu', 'fp16', 'emulated', 'fp32'), /each result rounded once: fp32 accumulation/);
    assert.match(realizationLabel('tensorrt', 'fp16', 'tensorrt', 'fp16'), /TensorRT picks layer precisions; its GEMMs and reductions accumulate in fp32/);
    assert.equal(realizationLabel('cpu', 'fp32', 'fp32', 'fp16'), 'FP32 (CPU EP)');
  });
  it('keeps a plain or prescaled LayerNorm decomposed on a true fp16 graph without probes (no LayerNormFusion)', () => {
    assert.equal(optimizationLevel('native', 'plain', false), 'disabled');
    assert.equal(optimizationLevel('native', 'prescaled', false), 'disabled');
    assert.equal(optimizationLevel('native', 'plain', true), 'all', 'probe outputs block the fusion');
    assert.equal(optimizationLevel('native', 'fused', false), 'all');
    assert.equal(optimizationLevel('emulated', 'plain', false), 'all', 'the Casts block the fusion');
    assert.equal(optimizationLevel('native', ['fp32', 'plain'], false), 'disabled', 'one plain LayerNorm among fixed ones (the minimal fix) is enough');
    assert.equal(optimizationLevel('native', ['fused', 'fp32'], false), 'all');
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
