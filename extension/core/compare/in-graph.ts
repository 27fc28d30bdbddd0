/**
 * A paired graph's block comparisons (model/paired-graph.ts: the graph under test and its FP32
 * reference in one model, each block pair reduced inside it) as compareBlock gives them on the
 * host: the Diff, the per-token errors, both tensors' statistics. The sums are the graph's fp32
 * reductions (the host sums in float64: the two agree to ~1e-6 relative, test/unit/paired-graph.test.ts);
 * the histogram of a block is not reduced in the graph: a one-bin histogram over [min, max].
 */
import type { TensorStats } from '../report';
import { IN_GRAPH_DIFF, IN_GRAPH_STATS, type InGraphComparison } from '../model/graph-options';
import { LabError } from '../errors';
import { diffOf, type BlockComparison } from './metrics';

function get(out: ReadonlyMap<string, Float32Array>, name: string, length: number): Float32Array {
  const a = out.get(name);
  if (!a || a.length !== length) throw new LabError('ENGINE_FAILED', `the paired engine returned ${a ? `${a.length} values` : 'nothing'} for ${name} (expected ${length})`);
  return a;
}

/** TensorStats from IN_GRAPH_STATS and the per-channel max |x|. */
export function statsFromSums(name: string, shape: readonly number[], s: Float32Array, channels: Float32Array): TensorStats {
  const v = Object.fromEntries(IN_GRAPH_STATS.map((k, i) => [k, s[i]])) as Record<(typeof IN_GRAPH_STATS)[number], number>;
  const n = v.n;
  const mean = n ? v.sum / n : 0;
  const min = n ? v.min : 0;
  const max = n ? v.max : 0;
  return {
    name,
    shape: [...shape],
    min,
    max,
    mean,
    std: n ? Math.sqrt(Math.max(0, v.sum2 / n - mean * mean)) : 0,
    maxAbs: v.maxAbs,
    nanCount: v.nan,
    infCount: v.inf,
    overFp16: v.over,
    histogram: { edges: n ? [min, max] : [0, 0], counts: [n] },
    channelMaxAbs: Array.from(channels),
  };
}

/** Each block's comparison, read from a paired graph's outputs. */
export function inGraphComparisons(c: InGraphComparison, out: ReadonlyMap<string, Float32Array>): BlockComparison[] {
  const { S, T, C, shape } = c;
  const N = shape[1];
  return c.blocks.map((b, i) => {
    const d = get(out, b.diff, IN_GRAPH_DIFF.length);
    const [d2, r2, a2, dot, maxAbs, bad] = d;
    const tok = get(out, b.tokens, N - 1);
    // tokenErrors: [frame][patch], a token with inf/NaN is infinitely wrong
    const grid = Array.from({ length: T }, (_, t) => Array.from({ length: S }, (_, s) => {
      const e = tok[s * T + t];
      return Number.isNaN(e) ? Infinity : e;
    }));
    return {
      diff: diffOf(d2, r2, a2, dot, maxAbs, bad > 0),
      tokenError: grid,
      output: statsFromSums(`blocks.${i}.out`, shape, get(out, b.outStats, IN_GRAPH_STATS.length), get(out, b.outChannels, C)),
      reference: statsFromSums(`blocks.${i}.ref`, shape, get(out, b.refStats, IN_GRAPH_STATS.length), get(out, b.refChannels, C)),
    };
  });
}
