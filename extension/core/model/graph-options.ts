/**
 * What a TimeSformer graph is built from and what building one gives back: the options (precision,
 * realization, LayerNorm modes, segments, probes), the LayerNorm statistics' layout, the built
 * graph's names, and which weights a graph reads in which form (shared with the weight store).
 */
import type { Accumulate, LayerNormMode, ModelConfig, Precision, Realization } from '../report';
import type { ModelSource } from './model-file';
import { accumulates16, FP32_ACCUMULATED_OPS, type RealizationSpec } from './realization';
import type { WeightStore } from './weight-store';


/**
 * The weights by key without the checkpoint's prefix (`blocks.0.attn.qkv.weight`): float32 arrays in
 * memory (the initializers are then inline), or a WeightStore (external data; the pipeline's way).
 */
export type Weights = ReadonlyMap<string, Float32Array> | WeightStore;

/** Which part of a weight an initializer holds: all of it, all of it transposed from (rows, cols), or elements [start, end). */
export interface WeightLayout {
  transpose?: readonly [rows: number, cols: number];
  range?: readonly [start: number, end: number];
}

export interface GraphOptions {
  config: ModelConfig;
  batch: number;
  precision: Precision;
  realization: Realization;
  layerNorm: LayerNormMode;
  /** Per-LayerNorm modes by name (`blocks.4.norm2`), over `layerNorm` (the minimal fix mixes modes in one graph). */
  layerNormOverrides?: Readonly<Record<string, LayerNormMode>>;
  /** 16-bit graphs: where GEMMs and reductions accumulate (default fp32, as TensorRT builds FP16). */
  accumulate?: Accumulate;
  /** Build only the first `depthLimit` blocks and no head (head detection). */
  depthLimit?: number;
  /**
   * Build only blocks [from, to) (a segment; see buildSegmented): with from > 0 the graph's input is
   * `blocks.<from-1>.out` (fp32, (B, 1+S·T, C): the previous segment's output) instead of the video;
   * the final LayerNorm and head only when `to` is the model's depth.
   */
  blocks?: readonly [from: number, to: number];
  /**
   * LayerNorm statistics as small fp32 side outputs (`<ln>.stats`: LN_STAT_FIELDS; `<ln>.channels`:
   * per-channel max |x|), computed in the graph from the LayerNorm's input as the engine fed it and
   * from its own square, variance and mean. Never under TensorRT: outputs change its precision choices.
   */
  probes: boolean;
  /**
   * The statistics per batch element, for a batch of independent clips (a sweep): `<ln>.stats`
   * (B, LN_STAT_FIELDS) and `<ln>.channels` (B, C) instead of one set over the whole batch.
   */
  probesPerClip?: boolean;
  /** Expose every block's output (default true; the export for TensorRT has only `probs`). */
  blockOutputs?: boolean;
  /** An fp32-mode LayerNorm in an fp32 graph: decomposed (default) or one LayerNormalization node (the export for TensorRT). */
  fp32LayerNormForm?: 'decomposed' | 'fused';
  /** prescaled mode: divide the LayerNorm input by 2^prescaleShift. */
  prescaleShift: number;
  /**
   * Native fp16 graphs only: op types computed in fp32 (inputs cast up, result cast back), on top
   * of what `accumulate` already does, e.g. ['Softmax', 'Gelu', 'Pow'] (an expert override).
   */
  fp32Ops?: readonly string[];
  /**
   * 'decomposed' (default): MatMul, Softmax, MatMul, every op in the chosen precision, as an
   * exporter writes it. 'fused': onnxruntime's com.microsoft.MultiHeadAttention (one kernel; its
   * softmax accumulates in fp32), for speed on GPU providers.
   */
  attention?: 'decomposed' | 'fused';
}

/**
 * Layout of a LayerNorm's `<ln>.stats` output. The first five come from the LayerNorm's input x as
 * the engine fed it, in fp32 math: max (x−mean)², how many (x−mean)² pass 65504, max over rows of
 * Σ(x−mean)², max over rows of |Σx|, inf/NaN inputs. The last four count inf/NaN in the engine's
 * own square, variance and mean (-1: this LayerNorm computes none, e.g. a fused one).
 */
export const LN_STAT_FIELDS = ['maxSq', 'overFp16Count', 'maxSumSq', 'maxAbsSum', 'inputNonFinite', 'sqInf', 'sqNonFinite', 'varNonFinite', 'meanNonFinite'] as const;
export type LnStatField = (typeof LN_STAT_FIELDS)[number];

export interface LayerNormTensors {
  name: string;
  block: number | null;
  /** How this LayerNorm was built (the graph's mode or its override). */
  mode: LayerNormMode;
  /** `<ln>.stats` (LN_STAT_FIELDS) and `<ln>.channels` (max |x| per channel) outputs. */
  stats?: string;
  channels?: string;
  /** Exposed intermediates (expose mode). */
  diff?: string;
  mean?: string;
  std?: string;
}

export interface BuiltGraph {
  /** The encoded model (of a segmented graph: built when asked for); with a WeightStore its initializers point at the store's files. */
  readonly model: Uint8Array;
  /** What onnxruntime loads. */
  source: ModelSource;
  /** Write the model as one self-contained .onnx file (weights inline, streamed from the store). */
  writeOnnx(file: string): void;
  inputName: string;
  probsName: string | null;
  blockNames: string[];
  layerNorms: LayerNormTensors[];
  nodeCount: number;
  initializerBytes: number;
  /** Output names other than probabilities and block outputs. */
  extraOutputs: string[];
  /**
   * A graph paired with its reference (paired-graph.ts): its block outputs are compared inside it
   * and are not outputs; these name the reductions that compare/in-graph.ts reads instead.
   */
  inGraph?: InGraphComparison;
  /** Its outputs packed into one (packed-outputs.ts: a paired graph's, a single GPU run's): where each named output lies in a clip's row. */
  packed?: PackedOutputs;
}

/** Outputs concatenated into one (B, perClip) output `name`: each part `length` values from `offset` of a clip's row. */
export interface PackedOutputs {
  name: string;
  parts: { name: string; offset: number; length: number }[];
  perClip: number;
}

/**
 * Whether the graph takes a checkpoint weight transposed: nn.Linear weights (out, in) become
 * MatMul's (in, out) (see linear()). A WeightStore filled with this layout serves them without a
 * transpose per graph.
 */
export function takesTransposed(key: string): boolean {
  return /(^|\.)(qkv|proj|temporal_fc|fc1|fc2|head)\.weight$/.test(key) && !key.startsWith('patch_embed.');
}

/**
 * Whether a native fp16 graph reads this weight as fp16 values held in float32 (F16_AS_F32): the
 * weights and biases of the linears and of the patch embedding, when those ops accumulate in fp32.
 */
export function readsAsF32(key: string, spec: RealizationSpec, fp32Ops: readonly string[] = []): boolean {
  if (spec.realization !== 'native' || spec.precision !== 'fp16') return false;
  const fp32 = (op: string) => (!accumulates16(spec) && FP32_ACCUMULATED_OPS.includes(op)) || fp32Ops.includes(op);
  if (key.startsWith('patch_embed.proj.')) return fp32('Conv');
  return /(^|\.)(qkv|proj|temporal_fc|fc1|fc2|head)\.(weight|bias)$/.test(key) && (fp32('MatMul') || fp32('Gemm'));
}

export function describe(o: Pick<GraphOptions, 'precision' | 'realization' | 'layerNorm' | 'config' | 'layerNormOverrides' | 'accumulate'>): string {
  const over = Object.entries(o.layerNormOverrides ?? {});
  return `TimeSformer divided space-time, ${o.config.depth} blocks, C=${o.config.embedDim}, heads=${o.config.heads}, ` +
    `${o.config.frames}x${o.config.imageSize}x${o.config.imageSize}; precision ${o.precision} (${o.realization}` +
    `${o.precision !== 'fp32' ? `, ${o.accumulate ?? 'fp32'} accumulation` : ''}), LayerNorm ${o.layerNorm}` +
    (over.length ? ` (${over.map(([k, m]) => `${k}: ${m}`).join(', ')})` : '');
}

// ---- a paired graph's comparison outputs (paired-graph.ts writes them, compare/in-graph.ts reads them)

/** Order of a `cmp/blocks.<i>.diff` output: Σ(a−b)², Σb², Σa², Σab, max |a−b|, non-finite values of a (over elements [C, end), as diff(a, b, C)). */
export const IN_GRAPH_DIFF = ['d2', 'r2', 'a2', 'dot', 'maxAbs', 'bad'] as const;
/** Order of a `cmp/blocks.<i>.{out,ref}.stats` output: finite count, NaN, ±inf, finite |x| > 65504, min, max, Σx, Σx², max |x| (finite values). */
export const IN_GRAPH_STATS = ['n', 'nan', 'inf', 'over', 'min', 'max', 'sum', 'sum2', 'maxAbs'] as const;

/** The names of one block's in-graph comparison outputs. */
export interface InGraphBlock {
  /** IN_GRAPH_DIFF. */
  diff: string;
  /** Per-token relative error of batch 0's patch tokens, in token order (patch-major, frame-minor): (N − 1) values. */
  tokens: string;
  /** IN_GRAPH_STATS and max |x| per channel of the block output under test, and of the reference. */
  outStats: string;
  outChannels: string;
  refStats: string;
  refChannels: string;
}

/** What a paired graph computes of its blocks, for compare/in-graph.ts. */
export interface InGraphComparison {
  blocks: InGraphBlock[];
  /** The block outputs' shape (B, 1 + S·T, C). */
  shape: number[];
  S: number;
  T: number;
  C: number;
}
