/** A small synthetic Report (shaped like d1_outlier's FP16 run) for tests of pure view code. */
import type { BlockResult, LayerNormStats, Report, TensorStats } from '../../../extension/core/report';

export function tensor(name: string, shape: number[], channelMaxAbs?: number[]): TensorStats {
  return {
    name, shape, min: -35, max: 318, mean: 5, std: 38, maxAbs: 318, nanCount: 0, infCount: 0, overFp16: 0,
    histogram: { edges: [-35, 0, 318], counts: [10, 20] }, channelMaxAbs,
  };
}

export function layerNorm(name: string, block: number | null, overflowed: boolean, overFp16Count = overflowed ? 128 : 0): LayerNormStats {
  const maxSq = overflowed ? 9.7e4 : 1200;
  return {
    name, block, mode: 'plain', source: 'engine', maxAbsDiff: Math.sqrt(maxSq), maxSq, overFp16Count, maxSumSq: maxSq * 1.5, maxAbsSum: 400,
    inputNonFinite: 0, infCount: overflowed ? overFp16Count : 0, nanCount: 0, varNonFinite: 0, meanNonFinite: 0,
    topChannels: [{ channel: 21, maxAbs: 317 }, { channel: 15, maxAbs: 35 }],
    mechanisms: [
      { kind: 'square', value: maxSq, wouldHit: overflowed, limit: 65504, fires: overflowed, observed: overflowed },
      { kind: 'sumSquares', value: maxSq * 1.5, wouldHit: overflowed, limit: null, fires: false, observed: false },
      { kind: 'sumX', value: 400, wouldHit: false, limit: null, fires: false, observed: false },
      { kind: 'nonFiniteInput', value: 0, wouldHit: false, limit: 0, fires: false, observed: false },
    ],
    overflowed,
  };
}

/** Blocks with the given errors; blocks at or after `overflowFrom` have overflowed LayerNorms. */
export function makeReport(errors: number[], o: { tolerance?: number; overflowFrom?: number; T?: number; grid?: number; C?: number } = {}): Report {
  const tolerance = o.tolerance ?? 1e-2;
  const T = o.T ?? 2;
  const grid = o.grid ?? 2;
  const C = o.C ?? 8;
  const ch = Array.from({ length: C }, (_, i) => (i === 5 ? 300 : 10 + i));
  const blocks: BlockResult[] = errors.map((e, i) => {
    const over = o.overflowFrom !== undefined && i >= o.overflowFrom;
    return {
      index: i, relL2: e, maxAbs: e * 100, cosine: 1 - e, passed: e <= tolerance, jump: i === o.overflowFrom,
      tokenError: Array.from({ length: T }, (_, t) => Array.from({ length: grid * grid }, (_, p) => e * (1 + 0.1 * t + 0.01 * p))),
      output: tensor(`blocks.${i}.out`, [1, 1 + T * grid * grid, C], ch),
      reference: tensor(`blocks.${i}.ref`, [1, 1 + T * grid * grid, C], ch),
      layerNorms: ['temporal_norm1', 'norm1', 'norm2'].map((k) => layerNorm(`blocks.${i}.${k}`, i, over)),
      exposed: [],
    };
  });
  const firstBad = blocks.find((b) => !b.passed)?.index ?? null;
  return {
    version: 2, tool: 'timesformer-precision-lab', createdAt: '2026-11-25T00:00:00.000Z',
    inputs: {
      weights: '/w/d1_outlier.pyth', data: '/w/d1_outlier_test_data.p', weightsFormat: 'zip', weightsDtype: 'float32',
      reference: { kind: 'test-data', label: 'test data d1_outlier_test_data.p (PyTorch)', path: '/w/d1_outlier_test_data.p' },
      input: { kind: 'test-data', label: 'video of d1_outlier_test_data.p', path: '/w/d1_outlier_test_data.p', shape: [1, 3, T, 16 * grid, 16 * grid] },
    },
    config: {
      embedDim: C, depth: errors.length, heads: 4, headsSource: 'detected', headsTried: [], frames: T, imageSize: 16 * grid, patchSize: 16,
      numPatches: grid * grid, gridSize: grid, numClasses: 10, mlpHidden: 4 * C, params: 1000, layerNormEps: 1e-6,
    },
    run: {
      precision: 'fp16', layerNorm: 'plain', layerNormOverrides: {}, accumulate: 'fp32', requestedEp: 'cpu', ep: 'cpu', realization: 'emulated', label: 'FP16 emulated (CPU EP)',
      fallbacks: [], engine: { cache: 'none' }, timings: { readMs: 1, headsMs: 1, referenceMs: 0, buildGraphMs: 1, sessionMs: 1, runMs: 1, compareMs: 1, totalMs: 1234 }, extraOutputs: 0,
    },
    tolerance,
    toleranceSource: 'option',
    blocks,
    probs: { relL2: firstBad === null ? 1e-4 : 0.15, maxAbs: 0.01, top1: 3, refTop1: 3, top1Agree: true },
    finalNorm: layerNorm('norm', null, o.overflowFrom !== undefined),
    diagnosis: {
      verdict: firstBad === null ? 'pass' : 'fail', firstBadBlock: firstBad, jumpBlock: o.overflowFrom ?? null, causes: [], candidates: [], accumulateFix: false,
      sentence: firstBad === null ? 'All blocks within 0.01.' : `Block ${firstBad} fails.`, fixes: firstBad === null ? [] : ['fp32', 'fused', 'prescaled', 'expose'],
    },
    log: ['a log line'],
  };
}

/** d1_outlier with FP16 and plain LayerNorm: blocks 0-3 pass, 4 jumps to 0.13, then up to 0.4. */
export const D1_FP16_ERRORS = [2.5e-3, 3.2e-3, 3.8e-3, 1.1e-3, 0.131, 0.207, 0.254, 0.306, 0.327, 0.343, 0.372, 0.405];
/** d1_outlier with the FP32 LayerNorm fix. */
export const D1_FIXED_ERRORS = [1.9e-3, 2.6e-3, 3.1e-3, 9.1e-4, 9.7e-4, 1e-3, 1.1e-3, 1.1e-3, 1.2e-3, 1.3e-3, 1.3e-3, 1.4e-3];
