/** Pure comparison and statistics over Float32Arrays. No onnxruntime, no vscode. */
import { FP16_MAX } from '../tensor';
import type { Histogram, LayerNormMode, LayerNormStats, LnMechanism, Mechanism, TensorStats } from '../report';
import { LN_STAT_FIELDS, type LnStatField } from '../model/timesformer';
import type { LnLimits } from '../model/realization';

/** Sums kept in float64. */
export interface Diff {
  relL2: number;
  maxAbs: number;
  cosine: number;
}

/** ||a - b|| / ||b||, max |a - b| and cosine over elements [from, a.length). inf/NaN in `a` make the error infinite. */
export function diff(a: Float32Array, ref: Float32Array, from = 0): Diff {
  if (a.length !== ref.length) throw new Error(`diff: length ${a.length} vs ${ref.length}`);
  let d2 = 0;
  let r2 = 0;
  let a2 = 0;
  let dot = 0;
  let maxAbs = 0;
  let bad = false;
  for (let i = from; i < a.length; i++) {
    const x = a[i];
    const y = ref[i];
    if (!Number.isFinite(x)) {
      bad = true;
      continue;
    }
    const d = x - y;
    d2 += d * d;
    r2 += y * y;
    a2 += x * x;
    dot += x * y;
    const ad = Math.abs(d);
    if (ad > maxAbs) maxAbs = ad;
  }
  if (bad) return { relL2: Infinity, maxAbs: Infinity, cosine: NaN };
  return {
    relL2: r2 > 0 ? Math.sqrt(d2 / r2) : Math.sqrt(d2),
    maxAbs,
    cosine: a2 > 0 && r2 > 0 ? dot / Math.sqrt(a2 * r2) : a2 === r2 ? 1 : 0,
  };
}

/**
 * Per-token relative error of a block output (1, 1+S*T, C) in (patch, frame) order, as [frame][patch].
 */
export function tokenErrors(out: Float32Array, ref: Float32Array, S: number, T: number, C: number): number[][] {
  const grid: number[][] = Array.from({ length: T }, () => new Array<number>(S).fill(0));
  for (let s = 0; s < S; s++) {
    for (let t = 0; t < T; t++) {
      const base = (1 + s * T + t) * C;
      let d2 = 0;
      let r2 = 0;
      let bad = false;
      for (let c = 0; c < C; c++) {
        const x = out[base + c];
        if (!Number.isFinite(x)) bad = true;
        const d = x - ref[base + c];
        d2 += d * d;
        r2 += ref[base + c] * ref[base + c];
      }
      grid[t][s] = bad ? Infinity : r2 > 0 ? Math.sqrt(d2 / r2) : Math.sqrt(d2);
    }
  }
  return grid;
}

export function histogram(a: Float32Array, bins = 32, lo?: number, hi?: number): Histogram {
  let mn = Infinity;
  let mx = -Infinity;
  if (lo === undefined || hi === undefined) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (Number.isFinite(v)) {
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
    }
  } else {
    mn = lo;
    mx = hi;
  }
  if (!Number.isFinite(mn)) return { edges: [0, 0], counts: [0] };
  if (mx === mn) return { edges: [mn, mx], counts: [countFinite(a)] };
  const counts = new Array<number>(bins).fill(0);
  const w = (mx - mn) / bins;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (!Number.isFinite(v) || v < mn || v > mx) continue;
    counts[Math.min(bins - 1, Math.floor((v - mn) / w))]++;
  }
  const edges = Array.from({ length: bins + 1 }, (_, i) => mn + i * w);
  return { edges, counts };
}

function countFinite(a: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i])) n++;
  return n;
}

/** Summary statistics of a tensor; channels = size of the last dimension for per-channel max |x|. */
export function tensorStats(name: string, a: Float32Array, shape: readonly number[], withChannels = true): TensorStats {
  let mn = Infinity;
  let mx = -Infinity;
  let sum = 0;
  let sum2 = 0;
  let n = 0;
  let nan = 0;
  let inf = 0;
  let over = 0;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (Number.isNaN(v)) {
      nan++;
      continue;
    }
    if (!Number.isFinite(v)) {
      inf++;
      continue;
    }
    if (v < mn) mn = v;
    if (v > mx) mx = v;
    sum += v;
    sum2 += v * v;
    n++;
    const av = Math.abs(v);
    if (av > maxAbs) maxAbs = av;
    if (av > FP16_MAX) over++;
  }
  const mean = n ? sum / n : 0;
  const C = shape.length ? shape[shape.length - 1] : 1;
  let channelMaxAbs: number[] | undefined;
  if (withChannels && C > 1 && a.length % C === 0) {
    // row by row (no modulo per value), into a typed array
    const ch = new Float64Array(C);
    for (let o = 0; o < a.length; o += C) {
      for (let c = 0; c < C; c++) {
        const v = a[o + c];
        const av = Number.isFinite(v) ? Math.abs(v) : 0; // inf/NaN are counted apart
        if (av > ch[c]) ch[c] = av;
      }
    }
    channelMaxAbs = Array.from(ch);
  }
  return {
    name,
    shape: [...shape],
    min: n ? mn : 0,
    max: n ? mx : 0,
    mean,
    std: n ? Math.sqrt(Math.max(0, sum2 / n - mean * mean)) : 0,
    maxAbs,
    nanCount: nan,
    infCount: inf,
    overFp16: over,
    histogram: n ? histogram(a, 32, mn, mx) : histogram(a), // the finite range is known: one pass fewer
    channelMaxAbs,
  };
}

/** The mechanisms a LayerNorm's statistics reveal, judged against this engine's limits. */
function mechanisms(
  v: { maxSq: number; maxSumSq: number; maxAbsSum: number; inputNonFinite: number; sqInf: number; sqNonFinite: number; varNonFinite: number; meanNonFinite: number },
  limits: LnLimits, fromEngine: boolean,
): LnMechanism[] {
  const cleanInput = v.inputNonFinite === 0;
  const m = (kind: Exclude<Mechanism, 'nonFiniteInput'>, value: number, observed: boolean): LnMechanism => {
    const limit = limits[kind];
    return { kind, value, wouldHit: value > FP16_MAX, limit, fires: limit !== null && value > limit, observed: fromEngine && cleanInput && observed };
  };
  // an inf mean (its accumulator overflowed) makes every x − mean, square and variance inf after it:
  // only the first tensor to go inf tells which mechanism it was
  const meanOk = v.meanNonFinite === 0;
  return [
    m('square', v.maxSq, v.sqInf > 0 && meanOk),
    // the variance went inf/NaN although every square was finite: its accumulator overflowed
    m('sumSquares', v.maxSumSq, v.varNonFinite > 0 && v.sqNonFinite === 0 && meanOk),
    m('sumX', v.maxAbsSum, v.meanNonFinite > 0),
    { kind: 'nonFiniteInput', value: v.inputNonFinite, wouldHit: v.inputNonFinite > 0, limit: 0, fires: v.inputNonFinite > 0, observed: fromEngine && v.inputNonFinite > 0 },
  ];
}

/**
 * A LayerNorm's statistics from the graph's `<ln>.stats` (LN_STAT_FIELDS) and `<ln>.channels`
 * outputs, with each overflow mechanism judged against `limits` (this engine's realization of
 * this LayerNorm, see realization.ts). `source` says whose input was measured: the engine's own
 * ('engine') or our FP32 graph's on the CPU ('fp32-probe': nothing can be observed, only predicted).
 */
export function layerNormStats(
  ln: { name: string; block: number | null; mode: LayerNormMode }, source: LayerNormStats['source'],
  stats: Float32Array, channels: Float32Array, limits: LnLimits,
): LayerNormStats {
  if (stats.length !== LN_STAT_FIELDS.length) throw new Error(`${ln.name}.stats has ${stats.length} values, expected ${LN_STAT_FIELDS.length}`);
  const f = (k: LnStatField) => stats[LN_STAT_FIELDS.indexOf(k)];
  const engine = (k: LnStatField) => Math.max(0, f(k)); // -1: this LayerNorm computes no such tensor
  const v = {
    maxSq: f('maxSq'), maxSumSq: f('maxSumSq'), maxAbsSum: f('maxAbsSum'), inputNonFinite: f('inputNonFinite'),
    sqInf: engine('sqInf'), sqNonFinite: engine('sqNonFinite'), varNonFinite: engine('varNonFinite'), meanNonFinite: engine('meanNonFinite'),
  };
  const ms = mechanisms(v, limits, source === 'engine');
  const topChannels = Array.from(channels, (m, channel) => ({ channel, maxAbs: m }))
    .sort((a, b) => b.maxAbs - a.maxAbs)
    .slice(0, 3);
  return {
    name: ln.name, block: ln.block, mode: ln.mode, source,
    maxAbsDiff: Math.sqrt(v.maxSq), maxSq: v.maxSq, overFp16Count: f('overFp16Count'), maxSumSq: v.maxSumSq, maxAbsSum: v.maxAbsSum,
    inputNonFinite: v.inputNonFinite, infCount: v.sqInf, nanCount: v.sqNonFinite - v.sqInf, varNonFinite: v.varNonFinite, meanNonFinite: v.meanNonFinite,
    topChannels, mechanisms: ms,
    overflowed: ms.some((m) => m.kind !== 'nonFiniteInput' && (m.fires || m.observed)),
  };
}
