/**
 * The ONNX model for TensorRT: our FP32 graph with the chosen LayerNorm realization (one mode, or
 * plain with a set of LayerNorms kept in FP32, e.g. the minimal fix), no emulation casts, no
 * statistics outputs, only `probs` as output (a marked output changes what TensorRT keeps in FP32;
 * the expose mode's outputs stay, as that mode asks), and node names as torch.onnx.export writes
 * them for the official model, so that the trtexec `--layerPrecisions` line that comes with it
 * names nodes that are in it.
 */
import * as fs from 'fs';
import { LabError } from './errors';
import { buildTimeSformer } from './model/timesformer';
import { lnLimits, TENSORRT_FP16 } from './model/realization';
import { firingUnder, trtexecCommand } from './compare/diagnosis';
import { healthyStats, type Prepared } from './pipeline';
import type { LayerNormMode } from './report';

export interface TensorRtExportOptions {
  /** Every LayerNorm's mode, or 'minimal': plain, with the LayerNorms TensorRT's FP16 would overflow (read from the statistics) in FP32. Default plain. */
  layerNorm?: LayerNormMode | 'minimal';
  /** LayerNorms kept in FP32 on top of `layerNorm` (by name: blocks.4.norm2, norm). */
  fixLayerNorms?: readonly string[];
  /** How an FP32 LayerNorm is written: one LayerNormalization node (opset 17, TensorRT >= 8.6; default) or decomposed (TensorRT >= 8.4). */
  form?: 'fused' | 'decomposed';
  prescaleShift?: number;
  /** File name the trtexec line names (default timesformer.onnx). */
  onnxName?: string;
  /** Also mark every block output (`blocks.<i>.out`) as a graph output: the same graph, for localization (the TensorRT bundle's model_marked.onnx). */
  markBlocks?: boolean;
}

export interface TensorRtExport {
  /** The graph (its weights are external data in the preparation's store when it has one: use write()). */
  model: Uint8Array;
  /** Write the model as one self-contained .onnx file (weights inline); returns its size in bytes. */
  write(file: string): number;
  layerNorm: LayerNormMode;
  /** LayerNorms built in FP32 (to be kept there by the trtexec line). */
  fixed: string[];
  /** trtexec for an FP16 engine keeping `fixed` in FP32; absent when none is fixed. */
  trtexec?: string;
  /** Every node name of the graph. */
  nodeNames: string[];
  /** Graph outputs. */
  outputs: string[];
}

/** Build the FP32 graph for TensorRT from a preparation (weights, head count; the clip for 'minimal'). */
export async function exportForTensorRt(p: Prepared, o: TensorRtExportOptions = {}): Promise<TensorRtExport> {
  const shift = o.prescaleShift ?? p.options.prescaleShift ?? 3;
  let layerNorm: LayerNormMode = o.layerNorm === 'minimal' || o.layerNorm === undefined ? 'plain' : o.layerNorm;
  const fixed = new Set<string>(o.fixLayerNorms ?? []);
  if (o.layerNorm === 'minimal') {
    // what TensorRT's FP16 overflows (fp16 squares, fp32 reductions), on our FP32 graph's inputs
    const limits = lnLimits(TENSORRT_FP16, 'plain', shift);
    for (const h of await healthyStats(p)) if (firingUnder(h, limits).length) fixed.add(h.name);
    p.say(`export: ${fixed.size} LayerNorm(s) TensorRT's FP16 would overflow, kept in FP32: ${[...fixed].join(', ') || 'none'}`);
  }
  if (layerNorm === 'fp32') {
    layerNorm = 'plain';
    for (const n of layerNormNames(p.config.depth)) fixed.add(n);
  }
  const built = buildTimeSformer(p.model.weights, {
    config: p.config, batch: p.video.shape[0], precision: 'fp32', realization: 'fp32', layerNorm,
    layerNormOverrides: Object.fromEntries([...fixed].map((n) => [n, 'fp32' as const])),
    probes: false, blockOutputs: !!o.markBlocks, fp32LayerNormForm: o.form ?? 'fused', prescaleShift: shift, attention: 'decomposed',
  });
  const { onnx } = await import('onnx-proto');
  const graph = onnx.ModelProto.decode(built.model).graph!;
  const nodeNames = (graph.node ?? []).map((n) => n.name ?? '');
  const order = layerNormNames(p.config.depth);
  const list = order.filter((n) => fixed.has(n));
  if (list.length !== fixed.size) throw new LabError('BAD_OPTION', `unknown LayerNorm name(s): ${[...fixed].filter((n) => !order.includes(n)).join(', ')}`);
  return {
    model: built.model, layerNorm, fixed: list, nodeNames, outputs: (graph.output ?? []).map((x) => x.name ?? ''),
    write: (file) => {
      built.writeOnnx(file);
      return fs.statSync(file).size;
    },
    trtexec: list.length ? trtexecCommand(list, { form: o.form ?? 'fused', onnx: o.onnxName }) : undefined,
  };
}

/** Every LayerNorm of a TimeSformer of this depth, in graph order. */
export function layerNormNames(depth: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < depth; i++) out.push(`blocks.${i}.temporal_norm1`, `blocks.${i}.norm1`, `blocks.${i}.norm2`);
  return [...out, 'norm'];
}
