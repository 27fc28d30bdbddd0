/**
 * Turns per-block errors and LayerNorm statistics into a verdict, the cause of the first failing
 * block (or the candidates when nothing measured explains it), the fixes that address that cause
 * and the minimal fix. Pure.
 *
 * Rules: only causes at or before the first failing block are named (never a later block's);
 * observed evidence (the engine's own square, variance or mean went inf) ranks before predicted
 * (the statistics pass this realization's limit); a fix already applied is never offered; an FP32
 * or BF16 run gets no overflow fix and no trtexec `--fp16` line (BF16 has FP32's range).
 */
import type {
  BlockResult, Candidate, Cause, Diagnosis, LayerNormMode, LayerNormStats, LnMechanism, Mechanism, MinimalFix, ModelConfig, ProbsResult,
} from '../report';
import { FP16_MAX } from '../tensor';
import { fmtNum } from '../markdown';
import { lnLimits, TENSORRT_FP16, type LnLimits, type RealizationSpec } from '../model/realization';
import { firstFailing, markJump } from './verdict';

export { markJump } from './verdict';

export function describeLayerNorm(name: string): string {
  const m = /^blocks\.(\d+)\.(temporal_norm1|norm1|norm2)$/.exec(name);
  if (!m) return name === 'norm' ? 'Final LayerNorm (norm)' : `LayerNorm ${name}`;
  const kind = { temporal_norm1: 'temporal', norm1: 'spatial', norm2: 'MLP' }[m[2] as 'temporal_norm1' | 'norm1' | 'norm2'];
  return `Block ${m[1]} ${kind} LayerNorm (${name})`;
}

/** Module path of a LayerNorm as torch.onnx.export scopes it: `blocks.6.norm1` -> `/model/blocks.6/norm1`. */
function torchScope(name: string): string {
  const m = /^blocks\.(\d+)\.(\w+)$/.exec(name);
  return m ? `/model/blocks.${m[1]}/${m[2]}` : `/model/${name}`;
}

/** Node name of a LayerNorm in the graph `torch.onnx.export` (opset 17) writes for the official model. */
export function torchExportNodeName(name: string): string {
  return `${torchScope(name)}/LayerNormalization`;
}

/**
 * Node names of a decomposed LayerNorm as torch.onnx.export writes it below opset 17 (and as our
 * plain LayerNorm is named): ReduceMean, Sub, Pow, ReduceMean_1, Add, Sqrt, Div, Mul, Add_1.
 */
export function torchDecomposedNodeNames(name: string): string[] {
  const s = torchScope(name);
  return ['ReduceMean', 'Sub', 'Pow', 'ReduceMean_1', 'Add', 'Sqrt', 'Div', 'Mul', 'Add_1'].map((op) => `${s}/${op}`);
}

/**
 * trtexec building an FP16 engine that keeps these LayerNorms in FP32. `form`: how the ONNX file
 * holds them, one LayerNormalization node each (torch.onnx.export at opset 17, TensorRT >= 8.6) or
 * decomposed (an older export; TensorRT >= 8.4 for --layerPrecisions).
 */
export function trtexecCommand(layerNorms: string[], o: { form?: 'fused' | 'decomposed'; onnx?: string } = {}): string {
  const names = layerNorms.flatMap((n) => (o.form === 'decomposed' ? torchDecomposedNodeNames(n) : [torchExportNodeName(n)]));
  const plan = (o.onnx ?? 'timesformer.onnx').replace(/\.onnx$/, '') + '_fp16.plan';
  return `trtexec --onnx=${o.onnx ?? 'timesformer.onnx'} --fp16 --precisionConstraints=obey --layerPrecisions=${names.map((n) => `${n}:fp32`).join(',')} --saveEngine=${plan}`;
}

const fmt = (x: number) => fmtNum(x, 2);
const LN_ORDER: Record<string, number> = { temporal_norm1: 0, norm1: 1, norm2: 2 };
const MECH_ORDER: Record<Mechanism, number> = { square: 0, sumSquares: 1, sumX: 2, nonFiniteInput: 3 };
/** Graph order of a LayerNorm: block, then temporal, spatial, MLP; the final norm last. */
function lnRank(l: { block: number | null; name: string }): number {
  return (l.block ?? 1e6) * 4 + (LN_ORDER[l.name.split('.').pop() ?? ''] ?? 3);
}

function mechanismValue(l: LayerNormStats, m: Exclude<Mechanism, 'nonFiniteInput'>): number {
  return m === 'square' ? l.maxSq : m === 'sumSquares' ? l.maxSumSq : l.maxAbsSum;
}

/** The overflow mechanisms of `l`'s statistics that pass `limits`. */
export function firingUnder(l: LayerNormStats, limits: LnLimits): { mechanism: Exclude<Mechanism, 'nonFiniteInput'>; value: number; limit: number }[] {
  const out: { mechanism: Exclude<Mechanism, 'nonFiniteInput'>; value: number; limit: number }[] = [];
  for (const m of ['square', 'sumSquares', 'sumX'] as const) {
    const limit = limits[m];
    const value = mechanismValue(l, m);
    if (limit !== null && value > limit) out.push({ mechanism: m, value, limit });
  }
  return out;
}

/** max |x| of a LayerNorm's input (its largest channel's). */
function inputMax(l: LayerNormStats): number {
  return l.topChannels[0]?.maxAbs ?? 0;
}

/**
 * The LayerNorm's input itself is past FP16's range (on these statistics, FP32's): FP16 holds inf
 * there before the LayerNorm runs, so keeping the LayerNorm in FP32 cannot help.
 */
export function inputOutOfRange(l: LayerNormStats): boolean {
  return inputMax(l) > FP16_MAX;
}

/** The ops between the LayerNorm before `name` (graph order) and it: where an inf in its input came from. */
function opsBefore(name: string): string {
  const m = /^blocks\.(\d+)\.(temporal_norm1|norm1|norm2)$/.exec(name);
  if (!m) return 'the last block\'s MLP and its residual add';
  const b = Number(m[1]);
  switch (m[2]) {
    case 'temporal_norm1':
      // (block 0's has no LayerNorm before it: never asked)
      return `block ${b - 1}'s MLP and its residual add`;
    case 'norm1':
      return `block ${b}'s temporal attention, its temporal_fc and their residual add`;
    default:
      return `block ${b}'s spatial attention, its projection and their residual add`;
  }
}

/**
 * Where an inf/NaN input of `l` came from: the ops after the LayerNorm before it (when that one's
 * input was still finite), and — from the healthy statistics — whether the activation itself
 * leaves FP16's range in FP32.
 */
function upstreamText(l: LayerNormStats, d: DiagnoseInput, all: readonly LayerNormStats[]): string {
  const prev = all.filter((x) => lnRank(x) < lnRank(l)).pop();
  let s = prev && prev.inputNonFinite === 0 ? `; it went inf in ${opsBefore(l.name)} (${prev.name}'s input was still finite)` : '';
  const h = d.healthy?.find((x) => x.name === l.name);
  if (h && inputOutOfRange(h)) {
    s += `; in FP32 that input reaches ${fmt(inputMax(h))} in channel ${h.topChannels[0].channel}, past FP16's ${FP16_MAX}: the activation itself is out of FP16's range, so no precision of the LayerNorm helps`;
  }
  return s;
}

function causeText(l: LayerNormStats, m: LnMechanism, evidence: Cause['evidence'], C: number | undefined, upstream = ''): string {
  const who = describeLayerNorm(l.name);
  const channel = l.topChannels[0]?.channel;
  const limit = m.limit !== null && m.limit !== FP16_MAX ? ` (prescaled: limit ${fmt(m.limit)})` : '';
  const seen = evidence === 'observed' ? 'seen in the engine' : 'predicted from the statistics';
  switch (m.kind) {
    case 'square':
      return `${who}: (x−mean)² reaches ${fmt(m.value)} > ${FP16_MAX}${limit} in channel ${channel} — FP16 overflow, ${seen} (${l.overFp16Count} values pass 65504; the normalized tokens collapse)`;
    case 'sumSquares':
      return `${who}: the sum of (x−mean)² over its ${C ?? ''} channels reaches ${fmt(m.value)} > ${FP16_MAX}${limit} (variance ${fmt(m.value / (C ?? 1))}) — the 16-bit accumulator of its ReduceMean overflows, ${seen}: the variance turns inf and the normalized tokens collapse`;
    case 'sumX':
      return `${who}: the sum of x over its channels reaches ${fmt(m.value)} > ${FP16_MAX}${limit} — the mean's 16-bit accumulator overflows, ${seen}`;
    case 'nonFiniteInput':
      return `${who}: its input already holds ${m.value} inf/NaN values — an op before it overflowed FP16, not the LayerNorm's own arithmetic${upstream}`;
  }
}

/** LayerNorm modes that remove mechanism `m` of value `v` (prescaled only if 2^-k brings it under 65504). */
function modesFixing(m: Mechanism, v: number, prescaleShift: number): LayerNormMode[] {
  if (m === 'nonFiniteInput') return [];
  const scale = m === 'sumX' ? 2 ** prescaleShift : 4 ** prescaleShift;
  return ['fp32', 'fused', ...(v / scale <= FP16_MAX ? (['prescaled'] as const) : []), 'expose'];
}

export interface DiagnoseInput {
  blocks: BlockResult[];
  probs: ProbsResult;
  finalNorm: LayerNormStats | null;
  tolerance: number;
  /** How the engine realized the precision (its label says the same). */
  spec: RealizationSpec;
  layerNorm: LayerNormMode;
  layerNormOverrides?: Readonly<Record<string, LayerNormMode>>;
  prescaleShift: number;
  /** Width (C): the sum-of-squares sentence quotes the variance. */
  channels?: number;
  /** The head count used, where it came from, and block 0's error for every head count tried. */
  heads?: { heads: number; source: ModelConfig['headsSource']; tried: { heads: number; block0RelL2: number }[] };
  /**
   * LayerNorm statistics of our FP32 graph on the CPU (inputs not yet damaged by the failure): the
   * minimal fix and the TensorRT line judge every LayerNorm on them.
   */
  healthy?: LayerNormStats[];
}

export function diagnose(d: DiagnoseInput): Diagnosis {
  const { blocks, probs, tolerance } = d;
  const jumpBlock = markJump(blocks, tolerance);
  const firstBad = firstFailing(blocks);
  const probsFail = !(probs.relL2 <= tolerance);
  const pass = firstBad === null && !probsFail;
  const all = [...blocks.flatMap((b) => b.layerNorms), ...(d.finalNorm ? [d.finalNorm] : [])].sort((a, b) => lnRank(a) - lnRank(b));
  const modeOf = (name: string) => d.layerNormOverrides?.[name] ?? d.layerNorm;
  const fp16 = d.spec.precision === 'fp16';

  if (pass) {
    const worst = blocks.reduce((w, b) => (b.relL2 > w.relL2 ? b : w), blocks[0]);
    const final = probs.kind === 'features'
      ? `final LayerNorm output (the model has no classifier) rel err ${fmt(probs.relL2)}`
      : `probabilities rel err ${fmt(probs.relL2)}, top-1 ${probs.top1Agree ? 'agrees' : 'differs'}`;
    const head = `All ${blocks.length} blocks within ${fmt(tolerance)} (worst ${fmt(worst?.relL2 ?? 0)} at block ${worst?.index ?? 0}); ${final}.`;
    // the LayerNorm a plain FP16 LayerNorm would overflow, and what keeps it in range here
    const risky = fp16 ? all.find((l) => l.mechanisms.some((m) => m.kind === 'square' && m.wouldHit)) : undefined;
    let sentence = head;
    if (risky) {
      const sq = risky.mechanisms.find((m) => m.kind === 'square')!;
      // the minimal fix keeps several LayerNorms in FP32: say how many, not only the first
      const kept = Object.entries(d.layerNormOverrides ?? {}).filter(([, m]) => m !== d.layerNorm).length;
      const how = d.layerNormOverrides?.[risky.name]
        ? `the minimal fix (${risky.name}${kept > 1 ? ` and ${kept - 1} more LayerNorm${kept > 2 ? 's' : ''}` : ''} in ${modeOf(risky.name)})`
        : `the '${modeOf(risky.name)}' LayerNorm mode`;
      const what = `${describeLayerNorm(risky.name)}: (x−mean)² reaches ${fmt(sq.value)} > ${FP16_MAX} in channel ${risky.topChannels[0]?.channel} — it would overflow a plain FP16 LayerNorm`;
      // Built so that it overflows (its limit passed) and yet every block passes: the mode did not
      // avoid it, the engine did (a TensorRT build picks its own precisions and fusions, and its
      // statistics, from our FP32 run, cannot show what it did). Say so, and what pins it.
      const mode = modeOf(risky.name);
      sentence += !sq.fires
        ? ` ${what}; ${how} avoids it.`
        : sq.observed
          ? ` ${what}, and did in this engine ('${mode}'); its blocks stay within the tolerance all the same.`
          : d.spec.realization === 'tensorrt'
            ? ` ${what}, as this engine was asked to build it ('${mode}'); this TensorRT build kept it in range by its own choice of precisions or fusions, which another build need not repeat: the minimal fix or 'fp32' pins it.`
            : ` ${what}, as this engine built it ('${mode}'); its blocks stay within the tolerance all the same.`;
    }
    return {
      verdict: 'pass', firstBadBlock: null, jumpBlock, sentence, causes: [], candidates: [], fixes: [], accumulateFix: false,
      culprit: risky ? culpritOf(risky) : undefined,
    };
  }

  // Causes at or before the first failing block (the final norm too when only the probabilities fail).
  const limitBlock = firstBad ?? Infinity;
  const upTo = all.filter((l) => (l.block ?? Infinity) <= limitBlock || (firstBad === null && l.block === null));
  const causes: (Cause & { stats: LayerNormStats })[] = [];
  for (const l of upTo) {
    for (const m of l.mechanisms) {
      if (!(m.fires || m.observed)) continue;
      const evidence: Cause['evidence'] = m.observed ? 'observed' : 'predicted';
      causes.push({
        layerNorm: l.name, block: l.block, mechanism: m.kind, value: m.value, limit: m.limit, evidence,
        channel: l.topChannels[0]?.channel ?? -1, text: causeText(l, m, evidence, d.channels, m.kind === 'nonFiniteInput' ? upstreamText(l, d, all) : ''), stats: l,
      });
    }
  }
  causes.sort((a, b) => (a.evidence === b.evidence ? 0 : a.evidence === 'observed' ? -1 : 1) || lnRank(a.stats) - lnRank(b.stats) || MECH_ORDER[a.mechanism] - MECH_ORDER[b.mechanism]);
  const where = firstBad !== null
    ? `Block ${firstBad} fails (rel err ${fmt(blocks[firstBad].relL2)} > ${fmt(tolerance)})`
    : `Every block passes but the ${probs.kind === 'features' ? 'final LayerNorm output (no classifier)' : 'probabilities'} fail${probs.kind === 'features' ? 's' : ''} (rel err ${fmt(probs.relL2)} > ${fmt(tolerance)})`;
  const overflowCauses = causes.filter((c) => c.mechanism !== 'nonFiniteInput');

  // Fixes: the LayerNorm modes that remove every cause, less the one already applied.
  let fixes: LayerNormMode[] = [];
  let accumulateFix = false;
  if (fp16 && overflowCauses.length) {
    const sets = overflowCauses.map((c) => modesFixing(c.mechanism, c.value, d.prescaleShift).filter((m) => m !== modeOf(c.layerNorm)));
    fixes = sets.reduce((acc, s) => acc.filter((m) => s.includes(m)));
    accumulateFix = d.spec.accumulate === 'fp16' && overflowCauses.every((c) => c.mechanism === 'sumSquares' || c.mechanism === 'sumX');
  }

  const minimalFix = fp16 && overflowCauses.length ? minimal(d, firstBad, all) : undefined;
  // TensorRT's exposure (fp16 squares, fp32 reductions), on inputs the failure has not damaged yet
  let trtexec: string | undefined;
  if (fp16 && overflowCauses.length) {
    const judged = d.healthy ?? upTo;
    const trt = judged.filter((l) => !inputOutOfRange(l) && firingUnder(l, lnLimits(TENSORRT_FP16, 'plain', d.prescaleShift)).length).sort((a, b) => lnRank(a) - lnRank(b));
    if (trt.length) trtexec = trtexecCommand(trt.map((l) => l.name));
  }

  let sentence: string;
  let candidates: Candidate[] = [];
  if (causes.length) {
    const [first, ...rest] = causes;
    const others = [...new Set(rest.map((c) => c.layerNorm).filter((n) => n !== first.layerNorm))];
    sentence = `${where}. ${first.text}.`;
    if (others.length) sentence += ` Also at or before it: ${others.slice(0, 4).join(', ')}${others.length > 4 ? ` and ${others.length - 4} more` : ''}.`;
    const words: Record<LayerNormMode, string> = { fp32: 'LayerNorm in FP32', fused: 'fused LayerNormalization', prescaled: 'prescaled', expose: 'exposed', plain: 'plain' };
    const options = [...fixes.filter((m) => m !== 'expose').map((m) => words[m]), ...(accumulateFix ? ['--accumulate fp32'] : [])];
    if (options.length) sentence += ` Fix: ${options.length > 1 ? options.slice(0, -1).join(', ') + ', or ' + options[options.length - 1] : options[0]}.`;
    else if (!overflowCauses.length) sentence += ' No LayerNorm mode fixes this; keep the op that overflows in FP32 (--fp32-ops) or find it upstream.';
    if (minimalFix) sentence += ` Minimal fix: ${minimalFix.layerNorms.length} LayerNorm${minimalFix.layerNorms.length > 1 ? 's' : ''} in FP32 (${minimalFix.layerNorms.slice(0, 4).join(', ')}${minimalFix.layerNorms.length > 4 ? ', …' : ''}).`;
  } else {
    const range = fp16 && firstBad !== null ? rangeCandidate(blocks[firstBad]) : undefined;
    // an output out of range is measured, and rounding or accumulation noise does not make inf
    candidates = range ? [range, ...candidatesFor(d, firstBad).filter((c) => c.kind !== 'outside-layernorm' && c.kind !== 'accumulation')] : candidatesFor(d, firstBad);
    const nothing = range
      ? `${where}: no LayerNorm at or before it overflows, but its output leaves FP16's range.`
      : firstBad !== null
        ? `${where}, and nothing measured at or before it explains it: no LayerNorm there overflows${fp16 ? '' : ` (${d.spec.precision.toUpperCase()} has no 16-bit range to overflow)`}.`
        : `${where}, and no LayerNorm overflows.`;
    sentence = `${nothing} Candidates: ${candidates.map((c, i) => `${i + 1}) ${c.text}`).join('; ')}.`;
  }
  const firstLn = overflowCauses[0];
  return {
    verdict: 'fail', firstBadBlock: firstBad, jumpBlock, sentence,
    causes: causes.map(({ stats: _s, ...c }) => c), candidates,
    culprit: firstLn ? culpritOf(firstLn.stats) : undefined,
    trtexec, fixes, accumulateFix, minimalFix,
  };
}

function culpritOf(l: LayerNormStats): NonNullable<Diagnosis['culprit']> {
  return { layerNorm: l.name, block: l.block, channel: l.topChannels[0]?.channel ?? -1, maxSq: l.maxSq, overFp16Count: l.overFp16Count };
}

/**
 * The smallest set of LayerNorms to keep in FP32, for a plain FP16 LayerNorm everywhere else (the
 * set the one-click 'minimal' mode computes, pipeline/diagnose.ts minimalOptions, and the trtexec
 * line keeps): every LayerNorm whose mechanism fires under plain limits on the healthy statistics
 * (our FP32 graph's inputs, which no failure has damaged), those the run already keeps in FP32
 * included; and the engine's own first LayerNorm that overflows at or before the first failing
 * block — past it the engine's inputs are damaged by that overflow, so its later ones are not
 * evidence (without healthy statistics, every one up to the first failing block). A LayerNorm
 * whose input itself is past FP16's range is left out: no precision of the LayerNorm helps it.
 */
export function minimal(d: DiagnoseInput, firstBad: number | null, engineLns: readonly LayerNormStats[] /* in graph order */): MinimalFix | undefined {
  const reasons = new Map<string, MinimalFix['reasons'][number] & { rank: number }>();
  const add = (l: LayerNormStats, mechanism: Mechanism, value: number, limit: number | null) => {
    if (!inputOutOfRange(l) && !reasons.has(l.name)) reasons.set(l.name, { layerNorm: l.name, mechanism, value, limit: limit ?? FP16_MAX, rank: lnRank(l) });
  };
  const firing = (l: LayerNormStats) => l.mechanisms.filter((m) => m.kind !== 'nonFiniteInput' && (m.fires || m.observed));
  const seen = engineLns.filter((l) => (l.block ?? Infinity) <= (firstBad ?? Infinity) && firing(l).length);
  // without healthy statistics the engine's are the only evidence: all of them up to the first failing block
  for (const l of d.healthy ? seen.slice(0, 1) : seen) for (const m of firing(l)) add(l, m.kind, m.value, m.limit);
  const plain = lnLimits(d.spec, 'plain', d.prescaleShift);
  for (const h of d.healthy ?? []) for (const f of firingUnder(h, plain)) add(h, f.mechanism, f.value, f.limit);
  if (!reasons.size) return undefined;
  const list = [...reasons.values()].sort((a, b) => a.rank - b.rank);
  const layerNorms = list.map((r) => r.layerNorm);
  return { layerNorms, mode: 'fp32', reasons: list.map(({ rank: _r, ...r }) => r), trtexec: trtexecCommand(layerNorms) };
}

/**
 * A failing FP16 block whose output holds inf, or whose FP32 reference passes 65504: an activation
 * out of FP16's range (a bias or a weight row too large), whatever the LayerNorms do.
 */
function rangeCandidate(b: BlockResult): Candidate | undefined {
  const ref = b.reference;
  if (!(b.output.infCount > 0 || ref.overFp16 > 0)) return undefined;
  const ch = ref.channelMaxAbs?.length ? ref.channelMaxAbs.reduce((best, v, i, a) => (v > a[best] ? i : best), 0) : undefined;
  const reach = ref.overFp16 > 0 ? `the FP32 reference reaches ${fmt(ref.maxAbs)}${ch !== undefined ? ` in channel ${ch}` : ''}, past FP16's ${FP16_MAX}` : `FP16 holds ${b.output.infCount} inf values there`;
  return { kind: 'range', text: `block ${b.index}'s output leaves FP16's range: ${reach} — an activation out of range, not a LayerNorm; keep the ops of block ${b.index} that make it in FP32 (--fp32-ops) or rescale them` };
}

/** What a failure no measurement explains may come from, most likely first. */
function candidatesFor(d: DiagnoseInput, firstBad: number | null): Candidate[] {
  const out: Candidate[] = [];
  const p = d.spec.precision;
  const b0 = d.blocks[0]?.relL2 ?? 0;
  const grossAtBlock0 = firstBad === 0 && !(b0 < 0.1);
  if (firstBad === 0 && (grossAtBlock0 || p === 'fp32')) {
    const h = d.heads;
    const better = (h?.tried ?? []).filter((t) => t.heads !== h!.heads && t.block0RelL2 < Math.min(1e-3, b0 / 10)).sort((a, b) => a.block0RelL2 - b.block0RelL2);
    const src = h ? { option: 'given', config: 'read from the checkpoint', assumed: 'assumed', detected: 'detected' }[h.source] : '';
    if (h && better.length) {
      // measured: another head count reproduces the reference, which rules out a mismatch and rounding
      return [{ kind: 'heads', text: `a wrong head count: with ${h.heads} heads (${src}) block 0 is off by ${fmt(b0)}, with ${better[0].heads} heads it matches the reference (rel err ${fmt(better[0].block0RelL2)}); run with --heads ${better[0].heads}` }];
    }
    if (h && h.source !== 'detected' && h.tried.length === 0) {
      // (when every head count was tried and none fits, heads are ruled out)
      out.push({ kind: 'heads', text: `a wrong head count: ${h.heads} heads were ${src}, not detected (the count is not in the weights); give test data to detect it` });
    }
    // Only what was measured on this pair: this FP32 run's block 0, or head detection's FP32 block 0 with the count used.
    const fp32b0 = p === 'fp32' ? undefined : h?.tried.find((t) => t.heads === h.heads)?.block0RelL2;
    const measured = p === 'fp32' ? ' in FP32' : fp32b0 !== undefined ? `, and by ${fmt(fp32b0)} in our FP32 graph on the same pair` : '';
    out.push({ kind: 'mismatch', text: `weights and reference that do not belong together: block 0 is already off by ${fmt(b0)}${measured}` });
  }
  if (p === 'bf16') {
    out.push({ kind: 'bf16-rounding', text: 'BF16 rounding: its 8-bit mantissa gives errors about 8× FP16\'s (PyTorch\'s own BF16 reaches 1.6e-2–2.8e-2 per block); BF16 has FP32\'s range, so nothing overflows' });
  }
  if (p === 'fp16') {
    if (d.spec.accumulate === 'fp16' && d.spec.realization === 'native') {
      out.push({ kind: 'accumulation', text: 'fp16 accumulation in the execution provider\'s MatMul and Conv kernels (dot products of 768–3072 terms); --accumulate fp32 accumulates in fp32 as TensorRT does' });
    } else if (d.spec.realization === 'emulated') {
      out.push({ kind: 'outside-layernorm', text: 'rounding outside the LayerNorms: large activations keep 11 significant bits; --fp32-ops on a GPU provider narrows down which op (the emulation rounds each op\'s result once, not each addition of a dot product)' });
    } else {
      out.push({ kind: 'accumulation', text: 'accumulation noise in the ops left in fp16 (Softmax, GELU, residual adds); --fp32-ops keeps more of them in fp32' });
    }
  }
  if (p === 'fp32' && d.spec.realization === 'tensorrt') {
    out.push({ kind: 'tf32', text: 'TF32 GEMMs (TensorRT\'s default on Ampere and later, 10-bit mantissa; the seed\'s FP32 engine reached 7.7e-3)' });
  }
  if (p === 'fp32' && firstBad !== 0) {
    out.push({ kind: 'mismatch', text: 'a reference from another model or clip: FP32 matches the official model to 3e-6 per block' });
  }
  return out;
}
