/**
 * The graph's view model: runs (Report summaries) -> lanes of nodes with status, color on a log
 * scale and a legend; a block's full result -> the inspector's rows. Pure (no DOM, no vscode):
 * bundled into the webview and unit-tested with mocha.
 */
import { interpolateBlues, interpolateOrRd } from 'd3-scale-chromatic';
import { hcl } from 'd3-color';
import type { BlockResult, LayerNormStats, ModelConfig, TensorStats } from '../extension/core/report';
import { fmtNum } from '../extension/core/markdown';
import type { BlockSummary, ReportSummary, RunView } from '../extension/host/protocol';

export { fmtNum };

// ---------------------------------------------------------------------------------------------
// Error scale: one absolute log scale for every view, anchored at the tolerance

export interface LegendTick {
  /** The error at this tick (for the scale's own tolerance). */
  value: number;
  /** Its ratio to the tolerance (1e-4 … 1e2). */
  ratio: number;
  label: string;
  /** Position along the legend, 0 (tolerance × 1e-4) .. 1 (tolerance × 100). */
  t: number;
}

export interface ErrorScale {
  /** The tolerance the legend is labeled with (the shown runs' own, when they share one). */
  tolerance: number;
  /** Whether every shown run has this tolerance (else the legend is in multiples of each run's). */
  uniform: boolean;
  /** 0..1 along the legend for an error of a run with tolerance `tol`; 0 for 0, 1 for inf/NaN. */
  t(error: number, tol?: number): number;
  color(error: number, tol?: number): string;
  /** One tick per decade, tolerance × 1e-4 … tolerance × 100. */
  ticks: LegendTick[];
  /** Where the tolerance sits (4 decades of 6: the pass/fail border). */
  toleranceTick: LegendTick;
}

/** The scale spans 4 decades below the tolerance and 2 above, whatever the errors shown. */
export const DECADES_BELOW = 4;
export const DECADES_ABOVE = 2;
const SPAN = DECADES_BELOW + DECADES_ABOVE;

/**
 * Diverging at the tolerance and colorblind-safe (blue against orange/red, the axis that
 * deuteranopia and protanopia keep): passing errors are pale to mid blue, failing ones orange to
 * dark red; the graph adds a hatch pattern and a ✗ to every failing block, so color is never the
 * only cue.
 */
export function errorColor(ratioLog10: number): string {
  if (ratioLog10 <= 0) return interpolateBlues(0.12 + 0.5 * Math.max(0, (ratioLog10 + DECADES_BELOW) / DECADES_BELOW));
  return interpolateOrRd(0.45 + 0.55 * Math.min(1, ratioLog10 / DECADES_ABOVE));
}

function ratioLog(error: number, tol: number): number {
  if (Number.isNaN(error) || error === Infinity) return DECADES_ABOVE;
  if (error <= 0) return -DECADES_BELOW;
  return Math.max(-DECADES_BELOW, Math.min(DECADES_ABOVE, Math.log10(error / tol)));
}

/** A legend value in as few digits as it has: 0.01, 0.25, 2.5e-6, 1e-6. */
function tickLabel(v: number): string {
  const r = Number(v.toPrecision(2));
  return r >= 1e-2 && r < 1e4 ? String(r) : r.toExponential();
}

export function errorScale(tolerances: readonly number[]): ErrorScale {
  const tolerance = tolerances[0] ?? 1e-2;
  const uniform = tolerances.every((x) => x === tolerance);
  const t = (e: number, tol = tolerance) => (ratioLog(e, tol) + DECADES_BELOW) / SPAN;
  const tick = (k: number): LegendTick => {
    const ratio = Number(`1e${k}`);
    const value = tolerance * ratio;
    const label = uniform ? tickLabel(value) : k === 0 ? 'tol' : `tol×1e${k}`;
    return { value, ratio, label, t: (k + DECADES_BELOW) / SPAN };
  };
  const ticks = Array.from({ length: SPAN + 1 }, (_, i) => tick(i - DECADES_BELOW));
  return {
    tolerance, uniform, t, ticks,
    color: (e, tol = tolerance) => errorColor(ratioLog(e, tol)),
    toleranceTick: { ...tick(0), label: uniform ? `tolerance ${fmtNum(tolerance)}` : 'tolerance of each run' },
  };
}

/** Black or white, whichever reads better on `fill`. */
export function textOn(fill: string): string {
  return hcl(fill).l > 55 ? '#000000' : '#ffffff';
}

// ---------------------------------------------------------------------------------------------
// Graph

export type PartKind = 'layernorm' | 'attention' | 'linear' | 'mlp' | 'add';

export interface PartNode {
  id: string;
  label: string;
  kind: PartKind;
  /** For LayerNorm parts: the model's name (blocks.4.norm1) and whether it overflowed. */
  layerNorm?: string;
  overflowed?: boolean;
  /** Overflowed by this engine's limits, predicted from the FP32 run's statistics (a TensorRT engine's own values are not seen). */
  predicted?: boolean;
  overFp16Count?: number;
  /** What was measured for this part (LayerNorms: max (x−mean)² and how many squares pass 65504). */
  value?: string;
  /** LayerNorm parts: how this engine built it (a mode other than plain is not exposed to the FP16 square). */
  mode?: string;
}

/** A block's parts in the official TimeSformer's order (divided space-time attention). */
export const BLOCK_PARTS: readonly { key: string; label: string; kind: PartKind }[] = [
  { key: 'temporal_norm1', label: 'temporal LayerNorm', kind: 'layernorm' },
  { key: 'temporal_attn', label: 'temporal attention', kind: 'attention' },
  { key: 'temporal_fc', label: 'temporal fc', kind: 'linear' },
  { key: 'add_temporal', label: '+ temporal residual', kind: 'add' },
  { key: 'norm1', label: 'spatial LayerNorm', kind: 'layernorm' },
  { key: 'attn', label: 'spatial attention', kind: 'attention' },
  { key: 'add_spatial', label: '+ spatial residual', kind: 'add' },
  { key: 'norm2', label: 'LayerNorm (MLP)', kind: 'layernorm' },
  { key: 'mlp', label: 'MLP', kind: 'mlp' },
  { key: 'add_mlp', label: '+ MLP residual', kind: 'add' },
];

export interface LayerNormMark {
  name: string;
  short: string;
  overflowed: boolean;
  /**
   * `overflowed` is a prediction: the statistics are the FP32 run's (LayerNormStats.source
   * 'fp32-probe': an engine that gives no statistics of its own, TensorRT), judged by this
   * engine's limits. Drawn hollow, and a passing run's verdict says the engine kept it in range.
   */
  predicted: boolean;
  overFp16Count: number;
}

export interface BlockNode {
  kind: 'block';
  id: string;
  index: number;
  label: string;
  error: number;
  status: 'pass' | 'fail';
  jump: boolean;
  /** The first failing block of its run: where it breaks. */
  break: boolean;
  color: string;
  textColor: string;
  layerNorms: LayerNormMark[];
  parts: PartNode[];
  tooltip: string[];
}

export interface StageNode {
  kind: 'stage';
  id: 'patch_embed' | 'norm' | 'head';
  label: string;
  /** Second line when there is no error to show. */
  sub?: string;
  /** Head: probabilities error; others undefined (not compared on their own). */
  error?: number;
  status?: 'pass' | 'fail';
  color?: string;
  textColor?: string;
  /** Final norm: its overflow mark. */
  layerNorm?: LayerNormMark;
  tooltip: string[];
}

export type GraphNode = StageNode | BlockNode;

export interface Lane {
  runId: string;
  /** The run's identity (checkpoint, data, options, time) and a short title. */
  label: string;
  short: string;
  /** "reference: a_test_data.p" or "reference: FP32 of this model (CPU)". */
  reference: string;
  tolerance: number;
  verdict: 'pass' | 'fail';
  sentence: string;
  /** Index of the first failing block (the break), or null. */
  breakAt: number | null;
  nodes: GraphNode[];
  /** The minimal fix's confirmation run is still running: the sentence's last words are to come. */
  confirming: boolean;
}

export interface GraphModel {
  lanes: Lane[];
  scale: ErrorScale;
}

const LN_SHORT: Record<string, string> = { temporal_norm1: 'T', norm1: 'S', norm2: 'M', norm: 'N' };

/** Whether an overflow of `l` is predicted from FP32 statistics rather than measured in the engine. */
const predictedOf = (l: LayerNormStats) => l.overflowed && l.source === 'fp32-probe';

function mark(l: LayerNormStats): LayerNormMark {
  return { name: l.name, short: LN_SHORT[l.name.split('.').pop() ?? ''] ?? '?', overflowed: l.overflowed, predicted: predictedOf(l), overFp16Count: l.overFp16Count };
}

/** Whether any LayerNorm mark of the model is a prediction (the legend then says what the hollow mark means). */
export function hasPredicted(m: GraphModel): boolean {
  return m.lanes.some((lane) => lane.nodes.some((n) => (n.kind === 'block' ? n.layerNorms : n.layerNorm ? [n.layerNorm] : []).some((x) => x.predicted)));
}

function lnLine(l: LayerNormStats): string {
  const top = l.topChannels[0];
  return `${l.name}: max (x−mean)² ${fmtNum(l.maxSq)}, ${l.overFp16Count} > 65504${l.overflowed ? ' — OVERFLOWED' : ''}${top ? `, top channel ${top.channel}` : ''}`;
}

function blockNode(b: BlockSummary, tolerance: number, scale: ErrorScale, runId: string, breakAt: number | null): BlockNode {
  const color = scale.color(b.relL2, tolerance);
  const byKey = new Map(b.layerNorms.map((l) => [l.name.split('.').pop() ?? '', l]));
  const parts = BLOCK_PARTS.map((p): PartNode => {
    const ln = p.kind === 'layernorm' ? byKey.get(p.key) : undefined;
    return {
      id: `${runId}:${b.index}:${p.key}`, label: p.label, kind: p.kind,
      ...(ln ? {
        layerNorm: ln.name, overflowed: ln.overflowed, predicted: predictedOf(ln), overFp16Count: ln.overFp16Count, mode: ln.mode,
        // a LayerNorm built otherwise than plain (the minimal fix's FP32 ones, a fix mode) says so in
        // place of the count, which then is not an overflow (the count stays in the tooltip)
        value: `(x−μ)² ≤ ${fmtNum(ln.maxSq)}${ln.mode !== 'plain' ? ` · ${ln.mode}` : ln.overFp16Count ? ` · ${ln.overFp16Count} > 65504` : ''}`,
      } : {}),
    };
  });
  const status = b.passed ? 'pass' : 'fail';
  const isBreak = breakAt === b.index;
  return {
    kind: 'block', id: `${runId}:${b.index}`, index: b.index, label: `block ${b.index}`,
    error: b.relL2, status, jump: b.jump, break: isBreak, color, textColor: textOn(color),
    layerNorms: b.layerNorms.map(mark), parts,
    tooltip: [
      `Block ${b.index} — ${status === 'pass' ? 'pass' : 'FAIL'}${isBreak ? ': the first failing block (the break)' : b.jump ? ' (error jumps here)' : ''}`,
      `rel L2 ${fmtNum(b.relL2)} (tolerance ${fmtNum(tolerance)}, ${b.relL2 > 0 && Number.isFinite(b.relL2) ? `${fmtNum(b.relL2 / tolerance)}× it` : 'no finite ratio'})`,
      `max |Δ| ${fmtNum(b.maxAbs)}, cosine ${Number.isFinite(b.cosine) ? b.cosine.toFixed(5) : 'NaN'}`,
      ...b.layerNorms.filter((l) => l.overflowed || l.overFp16Count > 0).map(lnLine),
    ],
  };
}

function lane(run: RunView, scale: ErrorScale): Lane {
  const r: ReportSummary = run.summary;
  const headColor = scale.color(r.probs.relL2, r.tolerance);
  const breakAt = r.diagnosis.firstBadBlock ?? r.blocks.find((b) => !b.passed)?.index ?? null;
  const nodes: GraphNode[] = [
    { kind: 'stage', id: 'patch_embed', label: 'patch', sub: 'embedding', tooltip: ['Patch embedding (Conv, stride = patch) + position and time embeddings'] },
    ...r.blocks.map((b) => blockNode(b, r.tolerance, scale, run.id, breakAt)),
    {
      kind: 'stage', id: 'norm', label: 'norm', sub: 'LayerNorm',
      layerNorm: r.finalNorm ? mark(r.finalNorm) : undefined,
      tooltip: ['Final LayerNorm (norm)', ...(r.finalNorm ? [lnLine(r.finalNorm)] : [])],
    },
    {
      kind: 'stage', id: 'head', label: 'head', error: r.probs.relL2,
      status: r.probs.relL2 <= r.tolerance ? 'pass' : 'fail', color: headColor, textColor: textOn(headColor),
      tooltip: [
        `Head → probabilities: rel L2 ${fmtNum(r.probs.relL2)} (tolerance ${fmtNum(r.tolerance)})`,
        `top-1 ${r.probs.top1} vs reference ${r.probs.refTop1} (${r.probs.top1Agree ? 'agrees' : 'differs'})`,
      ],
    },
  ];
  return {
    runId: run.id, label: run.label, short: run.short, reference: run.reference, tolerance: r.tolerance,
    verdict: r.diagnosis.verdict, sentence: r.diagnosis.sentence, breakAt, nodes, confirming: !!run.confirming,
  };
}

/**
 * Lanes for the shown runs (in `shown` order; unknown ids skipped), one per run, nodes aligned by
 * index, on the one error scale (each run's colors anchored at its own tolerance).
 */
export function buildGraph(runs: readonly RunView[], shown: readonly string[]): GraphModel {
  const byId = new Map(runs.map((r) => [r.id, r]));
  const visible = shown.map((id) => byId.get(id)).filter((r): r is RunView => !!r);
  const scale = errorScale(visible.map((r) => r.summary.tolerance));
  return { lanes: visible.map((r) => lane(r, scale)), scale };
}

// ---------------------------------------------------------------------------------------------
// Inspector

export interface TensorRow {
  name: string;
  shape: string;
  stats: { label: string; value: string }[];
  nanCount: number;
  infCount: number;
  overFp16: number;
  histogram: { x0: number; x1: number; count: number }[];
  channels?: number[];
  /** The channel with the largest max |x| and how far it stands above the median channel. */
  topChannel?: { channel: number; maxAbs: number; timesMedian: number };
}

export interface LayerNormRow {
  name: string;
  overflowed: boolean;
  maxAbsDiff: string;
  maxSq: string;
  overFp16Count: number;
  infCount: number;
  nanCount: number;
  topChannels: { channel: number; maxAbs: string }[];
}

export interface Heatmap {
  frames: number;
  grid: number;
  /** [frame][row][col] colors and values. */
  cells: { value: number; color: string }[][][];
  max: number;
}

export interface InspectorModel {
  title: string;
  status: 'pass' | 'fail';
  error: string;
  tensors: TensorRow[];
  layerNorms: LayerNormRow[];
  heatmap: Heatmap;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : 0;
}

export function tensorRow(t: TensorStats): TensorRow {
  const h = t.histogram;
  let topChannel: TensorRow['topChannel'];
  if (t.channelMaxAbs?.length) {
    const ch = t.channelMaxAbs;
    const channel = ch.reduce((bi, v, i) => (v > ch[bi] ? i : bi), 0);
    const med = median(ch);
    topChannel = { channel, maxAbs: ch[channel], timesMedian: med > 0 ? ch[channel] / med : Infinity };
  }
  return {
    name: t.name,
    shape: `[${t.shape.join(', ')}]`,
    stats: [
      { label: 'min', value: fmtNum(t.min) }, { label: 'max', value: fmtNum(t.max) },
      { label: 'mean', value: fmtNum(t.mean) }, { label: 'std', value: fmtNum(t.std) },
      { label: 'max |x|', value: fmtNum(t.maxAbs) },
    ],
    nanCount: t.nanCount, infCount: t.infCount, overFp16: t.overFp16,
    histogram: h.counts.map((count, i) => ({ x0: h.edges[i], x1: h.edges[i + 1], count })),
    channels: t.channelMaxAbs,
    topChannel,
  };
}

function layerNormRow(l: LayerNormStats): LayerNormRow {
  return {
    name: l.name, overflowed: l.overflowed, maxAbsDiff: fmtNum(l.maxAbsDiff), maxSq: fmtNum(l.maxSq),
    overFp16Count: l.overFp16Count, infCount: l.infCount, nanCount: l.nanCount,
    topChannels: l.topChannels.map((c) => ({ channel: c.channel, maxAbs: fmtNum(c.maxAbs) })),
  };
}

/** Per-token error [frame][patch] -> T grids of gridSize x gridSize (patches row-major). */
export function heatmap(tokenError: readonly (readonly number[])[], gridSize: number, scale: ErrorScale, tolerance = scale.tolerance): Heatmap {
  let max = 0;
  const cells = tokenError.map((frame) =>
    Array.from({ length: gridSize }, (_, r) =>
      Array.from({ length: gridSize }, (_, c) => {
        const value = frame[r * gridSize + c] ?? NaN;
        if (value > max) max = value;
        return { value, color: scale.color(value, tolerance) };
      })));
  return { frames: tokenError.length, grid: gridSize, cells, max };
}

export function inspectorModel(b: BlockResult, config: Pick<ModelConfig, 'gridSize'>, scale: ErrorScale, runLabel: string, tolerance = scale.tolerance): InspectorModel {
  return {
    title: `Block ${b.index} — ${runLabel}`,
    status: b.passed ? 'pass' : 'fail',
    error: fmtNum(b.relL2),
    tensors: [b.output, b.reference, ...b.exposed].map(tensorRow),
    layerNorms: b.layerNorms.map(layerNormRow),
    heatmap: heatmap(b.tokenError, config.gridSize, scale, tolerance),
  };
}
