/**
 * The graph a mode asks for, from its options: GraphOptions, the TensorRT cache's key, the CPU EP's
 * segmented form, and whether two options build the same graph. No reading, no running.
 */
import * as crypto from 'crypto';
import { buildSegmented, buildTimeSformer, type BuiltGraph, type GraphOptions, type Weights } from '../model/timesformer';
import type { RealizationSpec } from '../model/realization';
import { realizationFor } from '../engine/providers';
import type { LayerNormMode, ModelConfig, PipelineOptions, Realization } from '../report';

/**
 * Op types native fp16 graphs keep in fp32 beyond what `accumulate` does: none. (Measured on an H100
 * through WebGPU, fp16-accumulated GEMMs were the largest error source — the patch-embedding Conv
 * alone: d1 blocks 0-2 at 9.2e-3 / 1.2e-2 / 1.4e-2 in fp16, 3.5e-3 / 4.6e-3 / 5.5e-3 in fp32 — and
 * the default fp32 accumulation now covers Conv, MatMul and the reductions.)
 */
export const DEFAULT_FP32_OPS: readonly string[] = [];

/**
 * The TensorRT engine cache's folder name: the weights and every option that shapes the graph (the
 * LayerNorm mode and overrides, precision, accumulation, prescale shift, fp32 ops, attention, batch,
 * heads...), so that changing any of them never reuses an engine built for another graph.
 */
export function engineCacheKey(weightsDigest: string, g: GraphOptions): string {
  const { config, ...shape } = g;
  return crypto.createHash('sha256').update(`${weightsDigest}|${config.heads}|${JSON.stringify(shape)}`).digest('hex').slice(0, 24);
}

export function graphOptions(config: ModelConfig, batch: number, o: PipelineOptions, realization: Realization, extra?: Partial<GraphOptions>): GraphOptions {
  return {
    config, batch, precision: o.precision ?? 'fp32', realization, layerNorm: o.layerNorm ?? 'plain', layerNormOverrides: o.layerNormOverrides,
    accumulate: o.accumulate ?? 'fp32', probes: o.probes ?? true, prescaleShift: o.prescaleShift ?? 3, fp32Ops: o.fp32Ops ?? DEFAULT_FP32_OPS,
    attention: o.attention ?? 'decomposed', ...extra,
  };
}

/**
 * Blocks per segment of a graph that runs on the CPU EP (buildSegmented: each segment's session is
 * created before its run and released after it, so one segment's weights and activations are held at
 * a time; 0: the whole graph in one session). TIMESFORMER_LAB_SEGMENT_BLOCKS overrides it.
 */
export function cpuSegmentBlocks(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.TIMESFORMER_LAB_SEGMENT_BLOCKS;
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : 1;
}

/** The graph as the CPU EP runs it: segmented (cpuSegmentBlocks), or whole where `whole` asks (repeated timing runs keep one session). */
export function cpuGraph(weights: Weights, o: GraphOptions, whole = false): BuiltGraph {
  const n = cpuSegmentBlocks();
  return whole || n === 0 ? buildTimeSformer(weights, o) : buildSegmented(weights, o, n);
}

/** Whether two graph options build the same graph (the config object is the same preparation's). */
export function sameGraph(a: GraphOptions, b: GraphOptions): boolean {
  const key = (g: GraphOptions) => JSON.stringify({ ...g, config: undefined, layerNormOverrides: Object.keys(g.layerNormOverrides ?? {}).length ? g.layerNormOverrides : undefined });
  return key(a) === key(b);
}

/** Every LayerNorm mode a graph of these options holds: the mode and its per-LayerNorm overrides. */
export function layerNormModesOf(o: PipelineOptions): LayerNormMode[] {
  return [o.layerNorm ?? 'plain', ...Object.values(o.layerNormOverrides ?? {})];
}

/** The realization `o` asks for, as far as it is known before an engine loads (the limits are the same for native and emulated). */
export function intendedSpec(o: PipelineOptions): RealizationSpec {
  const precision = o.precision ?? 'fp32';
  const ep = o.ep === undefined || o.ep === 'auto' ? 'cpu' : o.ep;
  return { precision, realization: realizationFor(ep, precision), accumulate: o.accumulate ?? 'fp32' };
}
