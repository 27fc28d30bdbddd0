/**
 * Compare: each block output against the reference (compare/blocks.ts, on worker threads), the
 * LayerNorm statistics (the engine's own outputs, or an fp32 probe run's where the engine carries
 * none), the exposed tensors of expose mode, and the final output — as the Report's block results.
 */
import type { BuiltGraph } from '../model/timesformer';
import { lnLimits, type RealizationSpec } from '../model/realization';
import type { WorkerPool } from '../parallel';
import { diff, layerNormStats, tensorStats, type BlockComparison } from '../compare/metrics';
import { compareBlocks } from '../compare/blocks';
import { inGraphComparisons } from '../compare/in-graph';
import { defaultTolerance } from '../compare/verdict';
import type { DiagnoseInput } from '../compare/diagnosis';
import { LabError } from '../errors';
import type { BlockResult, LayerNormMode, LayerNormStats, PipelineHooks, PipelineOptions, ProbsResult, TensorStats } from '../report';
import { blockOutput, type EngineRun } from './engine-run';
import type { Prepared } from './prepare';
import { throttled, type Voice } from './progress';
import { besideWait, type ProbeRun, type Reference } from './reference';

/** What the comparison computed on threads: each block against the reference, exposed tensors' statistics, and the probe run read for LayerNorm statistics. */
export interface Compared {
  /** Each block output against the reference (compareBlocks). */
  blocks: BlockComparison[];
  /** The exposed intermediates' statistics by name, when worker threads computed them. */
  exposed?: Map<string, TensorStats>;
  /** An fp32 probe run's outputs, when the engine had no statistics outputs. */
  probe?: ProbeRun;
}

export async function compareOutputs(p: Prepared, ref: Reference, run: Pick<EngineRun, 'g' | 'out'>, pool: WorkerPool | undefined, v: Voice, hooks: PipelineHooks): Promise<Compared> {
  const { g, out } = run;
  const { config } = p;
  let probe: ProbeRun | undefined;
  if (!g.layerNorms.some((l) => l.stats)) {
    // No statistics outputs in the engine (TensorRT: marking outputs changes its precision
    // choices). They come from the LayerNorm inputs of an fp32 run on the CPU.
    v.say('LayerNorm statistics from an fp32 probe run on the CPU (the engine ran without statistics outputs)');
    probe = await besideWait(p, p.fp32Probe(), v.stage, hooks);
  }
  // a paired graph compared its blocks with the reference inside itself: read its reductions
  const blocksP = g.inGraph ? Promise.resolve(inGraphComparisons(g.inGraph, out)) : compareBlocks(ref.blocks.map((r, i) => {
    const o = blockOutput(run, i);
    // the reference's statistics are the same for every mode (and a run that is its own reference has them)
    return { out: o, ref: r, outName: `blocks.${i}.out`, refName: ref.stats[i] || r === o ? undefined : `blocks.${i}.ref` };
  }), { S: config.numPatches, T: config.frames, C: config.embedDim, shape: ref.blockShape }, pool,
  // at most ~10 lines a second: a block is compared in ~40 ms at full size, on several threads
  throttled(100, (k, n) => hooks.onProgress?.('comparing', `block ${k}/${n}`)));
  blocksP.catch(() => undefined); // awaited below
  // expose mode: the statistics of every exposed intermediate (166 MiB at full size) on the threads
  // too, queued behind the blocks the threads were dealt (compareBlocks deals before it first waits):
  // a thread done with its blocks takes them instead of waiting for the last block
  const exposed = pool ? await exposedStats(g, out, config.embedDim, pool) : undefined;
  const blocks = await blocksP;
  return { blocks, exposed, probe };
}

/** The exposed tensors of a graph (expose mode: each LayerNorm's diff, mean and std) as tensorStats sees them. */
function exposedTensors(g: BuiltGraph, block: number | null | undefined, C: number): { name: string; shape: number[]; channels: boolean }[] {
  return g.layerNorms
    .filter((l) => block === undefined || l.block === block)
    .flatMap((l) => [l.diff, l.mean, l.std].filter((n): n is string => !!n))
    .map((name) => ({ name, shape: name.endsWith('.diff') ? [-1, C] : [-1], channels: name.endsWith('.diff') }));
}

/** exposedTensors' statistics computed on the pool's threads (the arrays are copied to them, not handed over). */
async function exposedStats(g: BuiltGraph, out: Map<string, Float32Array>, C: number, pool: WorkerPool): Promise<Map<string, TensorStats> | undefined> {
  const list = exposedTensors(g, undefined, C);
  if (!list.length) return undefined;
  const stats = await Promise.all(list.map((t) => {
    const a = out.get(t.name)!;
    const shape = t.channels ? [a.length / C, C] : [a.length];
    return pool.run<TensorStats>({ type: 'stats', name: t.name, a, shape, channels: t.channels }).catch(() => tensorStats(t.name, a, shape, t.channels));
  }));
  return new Map(stats.map((x) => [x.name, x]));
}

/** LayerNorm statistics from a graph's `<ln>.stats` / `<ln>.channels` outputs, each judged by `limitsFor`. */
export function statsFrom(
  g: BuiltGraph, out: Map<string, Float32Array>, source: LayerNormStats['source'],
  limitsFor: (name: string, mode: LayerNormMode) => ReturnType<typeof lnLimits>, modeFor: (name: string, built: LayerNormMode) => LayerNormMode,
): Map<string, LayerNormStats> {
  const res = new Map<string, LayerNormStats>();
  for (const ln of g.layerNorms) {
    const st = ln.stats ? out.get(ln.stats) : undefined;
    const ch = ln.channels ? out.get(ln.channels) : undefined;
    if (!st || !ch) continue;
    const mode = modeFor(ln.name, ln.mode);
    res.set(ln.name, layerNormStats({ name: ln.name, block: ln.block, mode }, source, st, ch, limitsFor(ln.name, mode)));
  }
  return res;
}

/**
 * A mode's results as the Report holds them, and the settings they were judged by: what the
 * diagnosis reads (DiagnoseInput), before diagnoseRun adds the model's width and its evidence.
 */
export type Judged = Omit<DiagnoseInput, 'channels' | 'heads' | 'healthy' | 'layerNormOverrides'> & { layerNormOverrides: Record<string, LayerNormMode> };

/** The block results, LayerNorm statistics and final output of a run against its reference (sets the reference's statistics on first use). */
export function judge(p: Prepared, o: PipelineOptions, ref: Reference, run: Pick<EngineRun, 'g' | 'out' | 'engine'>, c: Compared): Judged {
  const { g, out, engine } = run;
  const { config } = p;
  const precision = o.precision ?? 'fp32';
  const layerNorm = o.layerNorm ?? 'plain';
  const overrides = o.layerNormOverrides ?? {};
  const tolerance = o.tolerance ?? defaultTolerance(precision);
  const accumulate = o.accumulate ?? 'fp32';
  const shift = o.prescaleShift ?? 3;
  const spec: RealizationSpec = { precision, realization: engine.realization, accumulate };
  const { embedDim: C } = config;
  const limitsFor = (_name: string, mode: LayerNormMode) => lnLimits(spec, mode, shift);
  // an fp32 probe graph is plain everywhere: its statistics are judged by the engine's own modes
  const lnStats = c.probe
    ? statsFrom(c.probe.g, c.probe.out, 'fp32-probe', limitsFor, (name) => overrides[name] ?? layerNorm)
    : statsFrom(g, out, 'engine', limitsFor, (_n, built) => built);
  const blocks: BlockResult[] = c.blocks.map((cmp, i) => {
    const { diff: d, output } = cmp;
    ref.stats[i] ??= cmp.reference ?? { ...output, name: `blocks.${i}.ref` };
    const exposed = exposedTensors(g, i, C).map((t) => {
      const a = out.get(t.name)!;
      return c.exposed?.get(t.name) ?? tensorStats(t.name, a, t.channels ? [a.length / C, C] : [a.length], t.channels);
    });
    return {
      index: i,
      relL2: d.relL2,
      maxAbs: d.maxAbs,
      cosine: d.cosine,
      passed: d.relL2 <= tolerance,
      jump: false,
      tokenError: cmp.tokenError,
      output,
      reference: ref.stats[i],
      layerNorms: ['temporal_norm1', 'norm1', 'norm2'].map((k) => lnStats.get(`blocks.${i}.${k}`)).filter((x): x is LayerNormStats => !!x),
      exposed,
    };
  });
  const probsOut = g.probsName ? out.get(g.probsName) : undefined;
  if (!probsOut) throw new LabError('ENGINE_FAILED', 'the engine returned no final output');
  const pd = diff(probsOut, ref.probs);
  const argmax = (a: Float32Array) => a.reduce((bi, v, i, arr) => (v > arr[bi] ? i : bi), 0);
  let probs: ProbsResult;
  if (config.numClasses === 0) {
    // no classifier: the final LayerNorm's class token, compared like a block (nothing to rank)
    probs = { kind: 'features', relL2: pd.relL2, maxAbs: pd.maxAbs, top1: -1, refTop1: -1, top1Agree: true };
  } else {
    const top1 = argmax(probsOut);
    const refTop1 = argmax(ref.probs);
    const labels = p.model.labels;
    probs = {
      kind: 'probabilities', relL2: pd.relL2, maxAbs: pd.maxAbs, top1, refTop1, top1Agree: top1 === refTop1,
      ...(labels?.[top1] ? { top1Label: labels[top1] } : {}), ...(labels?.[refTop1] ? { refTop1Label: labels[refTop1] } : {}),
    };
  }
  const finalNorm = lnStats.get('norm') ?? null;
  return { blocks, probs, finalNorm, tolerance, spec, layerNorm, layerNormOverrides: overrides, prescaleShift: shift };
}
