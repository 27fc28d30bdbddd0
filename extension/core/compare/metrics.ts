/** Pure comparison and statistics over Float32Arrays. No onnxruntime, no vscode. */
import { FP16_MAX } from '../tensor';
import type { Histogram, LayerNormMode, LayerNormStats, LnMechanism, Mechanism, TensorStats } from '../report';
import { LN_STAT_FIELDS, type LnStatField } from '../model/graph-options';
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
  return diffOf(d2, r2, a2, dot, maxAbs, bad);
}

/** A Diff from its sums: Σ(a−b)², Σb², Σa², Σab over the finite values, max |a−b|, and whether any value was not finite. */
export function diffOf(d2: number, r2: number, a2: number, dot: number, maxAbs: number, bad: boolean): Diff {
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
  const counts = new Float64Array(bins);
  const w = (mx - mn) / bins;
  const last = bins - 1;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    // NaN fails both comparisons; ±inf lies outside a finite range
    if (!(v >= mn && v <= mx)) continue;
    const k = Math.floor((v - mn) / w);
    counts[k < last ? k : last]++;
  }
  const edges = Array.from({ length: bins + 1 }, (_, i) => mn + i * w);
  return { edges, counts: Array.from(counts) };
}

function countFinite(a: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i])) n++;
  return n;
}

/** Running statistics of one tensor (tensorStats), row by row. */
interface StatsAcc {
  mn: number;
  mx: number;
  sum: number;
  sum2: number;
  n: number;
  nan: number;
  inf: number;
  over: number;
  maxAbs: number;
  /** Max |x| per channel (inf/NaN count as 0: they are counted apart). */
  ch?: Float64Array;
}

function statsAcc(channels: number): StatsAcc {
  return { mn: Infinity, mx: -Infinity, sum: 0, sum2: 0, n: 0, nan: 0, inf: 0, over: 0, maxAbs: 0, ch: channels > 0 ? new Float64Array(channels) : undefined };
}

/** Add a[at .. at + len) to `s` (value c of the row is channel c). The sums run in element order, so any split into rows gives the same bits. */
function accRow(s: StatsAcc, a: Float32Array, at: number, len: number): void {
  let { mn, mx, sum, sum2, n, nan, inf, over, maxAbs } = s;
  const ch = s.ch;
  for (let c = 0; c < len; c++) {
    const v = a[at + c];
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
    if (ch && av > ch[c]) ch[c] = av;
  }
  s.mn = mn;
  s.mx = mx;
  s.sum = sum;
  s.sum2 = sum2;
  s.n = n;
  s.nan = nan;
  s.inf = inf;
  s.over = over;
  s.maxAbs = maxAbs;
}

/** The TensorStats of what `s` saw of `a`: the histogram is a second pass, over the range the first found. */
function finishStats(name: string, a: Float32Array, shape: readonly number[], s: StatsAcc): TensorStats {
  const { n } = s;
  const mean = n ? s.sum / n : 0;
  return {
    name,
    shape: [...shape],
    min: n ? s.mn : 0,
    max: n ? s.mx : 0,
    mean,
    std: n ? Math.sqrt(Math.max(0, s.sum2 / n - mean * mean)) : 0,
    maxAbs: s.maxAbs,
    nanCount: s.nan,
    infCount: s.inf,
    overFp16: s.over,
    histogram: n ? histogram(a, 32, s.mn, s.mx) : histogram(a), // the finite range is known: one pass fewer
    channelMaxAbs: s.ch ? Array.from(s.ch) : undefined,
  };
}

/** Summary statistics of a tensor; channels = size of the last dimension for per-channel max |x|. */
export function tensorStats(name: string, a: Float32Array, shape: readonly number[], withChannels = true): TensorStats {
  const C = shape.length ? shape[shape.length - 1] : 1;
  const rows = withChannels && C > 1 && a.length % C === 0;
  const s = statsAcc(rows ? C : 0);
  if (rows) for (let o = 0; o < a.length; o += C) accRow(s, a, o, C);
  else accRow(s, a, 0, a.length);
  return finishStats(name, a, shape, s);
}

/** What compareBlock finds: diff(out, ref, C), tokenErrors, the output's statistics and, when asked, the reference's. */
export interface BlockComparison {
  diff: Diff;
  tokenError: number[][];
  output: TensorStats;
  reference?: TensorStats;
}

/**
 * A block output (B, 1 + S*T, C) against its reference in one pass over both (and one more for
 * the histograms) instead of one pass per measure: diff(out, ref, C) (the class token left out),
 * tokenErrors(out, ref, S, T, C), tensorStats(outName, out, shape) and, with `refName`,
 * tensorStats(refName, ref, shape) — bit for bit those functions' results (the same float64 sums
 * in the same order; test/unit/core.test.ts compares them, inf and NaN included). At full size a
 * block is 1.2 M values: this is most of the comparison's time, twelve times per mode.
 */
export function compareBlock(out: Float32Array, ref: Float32Array, S: number, T: number, C: number, shape: readonly number[], outName: string, refName?: string): BlockComparison {
  if (out.length !== ref.length) throw new Error(`compareBlock: length ${out.length} vs ${ref.length}`);
  if (C < 2 || out.length % C !== 0 || out.length < (1 + S * T) * C) throw new Error(`compareBlock: ${out.length} values are not rows of ${C} with ${1 + S * T} tokens`);
  const grid: number[][] = Array.from({ length: T }, () => new Array<number>(S).fill(0));
  const so = statsAcc(C);
  const sr = refName !== undefined ? statsAcc(C) : undefined;
  // row 0, the class token: statistics only (it is not compared)
  accRow(so, out, 0, C);
  if (sr) accRow(sr, ref, 0, C);
  const ch = so.ch!;
  let { mn, mx, sum, sum2, nan, inf, over, maxAbs } = so;
  let d2 = 0;
  let r2 = 0;
  let a2 = 0;
  let dot = 0;
  let maxDiff = 0;
  let bad = false;
  const rows = out.length / C;
  const tokens = 1 + S * T;
  for (let r = 1; r < rows; r++) {
    const at = r * C;
    if (sr) accRow(sr, ref, at, C);
    let td2 = 0;
    let tr2 = 0;
    let tbad = false;
    for (let c = 0; c < C; c++) {
      const x = out[at + c];
      const y = ref[at + c];
      const d = x - y;
      const dd = d * d;
      const yy = y * y;
      td2 += dd;
      tr2 += yy;
      if (x - x === 0) {
        // finite: the output's statistics, then the error sums (diff's, in the same order)
        if (x < mn) mn = x;
        if (x > mx) mx = x;
        const xx = x * x;
        sum += x;
        sum2 += xx;
        const ax = Math.abs(x);
        if (ax > maxAbs) maxAbs = ax;
        if (ax > FP16_MAX) over++;
        if (ax > ch[c]) ch[c] = ax;
        d2 += dd;
        r2 += yy;
        a2 += xx;
        dot += x * y;
        const ad = Math.abs(d);
        if (ad > maxDiff) maxDiff = ad;
      } else {
        if (Number.isNaN(x)) nan++;
        else inf++;
        tbad = bad = true;
      }
    }
    if (r < tokens) {
      const k = r - 1;
      grid[k % T][Math.floor(k / T)] = tbad ? Infinity : tr2 > 0 ? Math.sqrt(td2 / tr2) : Math.sqrt(td2);
    }
  }
  so.n = out.length - nan - inf;
  Object.assign(so, { mn, mx, sum, sum2, nan, inf, over, maxAbs });
  return {
    diff: diffOf(d2, r2, a2, dot, maxDiff, bad),
    tokenError: grid,
    output: finishStats(outName, out, shape, so),
    ...(sr ? { reference: finishStats(refName!, ref, shape, sr) } : {}),
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
    // an input that already holds inf/NaN makes every statistic inf or NaN: that overflow is upstream's
    // (nonFiniteInput), not this LayerNorm's own arithmetic, and no LayerNorm mode removes it
    return { kind, value, wouldHit: value > FP16_MAX, limit, fires: cleanInput && limit !== null && value > limit, observed: fromEngine && cleanInput && observed };
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
 * The `k` channels of largest max-abs, largest first; a tie goes to the lower channel, and a NaN
 * (a channel that went non-finite) ranks above every number. One pass, no per-channel objects:
 * a sweep reads 2 × 37 LayerNorms of 768 channels a clip, where sorting them all took ~20 ms.
 */
export function largestChannels(channels: Float32Array, k: number): { channel: number; maxAbs: number }[] {
  const rank = (v: number) => (Number.isNaN(v) ? Infinity : v);
  const top: { channel: number; maxAbs: number }[] = [];
  if (k <= 0) return top;
  for (let c = 0; c < channels.length; c++) {
    const v = channels[c];
    if (top.length === k) {
      if (!(rank(v) > rank(top[k - 1].maxAbs))) continue;
      top.pop();
    }
    let i = top.length;
    while (i > 0 && rank(v) > rank(top[i - 1].maxAbs)) i--;
    top.splice(i, 0, { channel: c, maxAbs: v });
  }
  return top;
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
  const topChannels = largestChannels(channels, 3);
  return {
    name: ln.name, block: ln.block, mode: ln.mode, source,
    maxAbsDiff: Math.sqrt(v.maxSq), maxSq: v.maxSq, overFp16Count: f('overFp16Count'), maxSumSq: v.maxSumSq, maxAbsSum: v.maxAbsSum,
    inputNonFinite: v.inputNonFinite, infCount: v.sqInf, nanCount: v.sqNonFinite - v.sqInf, varNonFinite: v.varNonFinite, meanNonFinite: v.meanNonFinite,
    topChannels, mechanisms: ms,
    overflowed: ms.some((m) => m.kind !== 'nonFiniteInput' && (m.fires || m.observed)),
  };
}
