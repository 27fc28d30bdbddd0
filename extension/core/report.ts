/**
 * The Report: plain, versioned, JSON-serializable data produced by the pipeline and rendered by the
 * CLI and the webview. Nothing here holds whole tensors: only statistics small enough to ship.
 */
export const REPORT_VERSION = 1 as const;

export type Precision = 'fp32' | 'fp16' | 'bf16';
export type LayerNormMode = 'plain' | 'expose' | 'fp32' | 'fused' | 'prescaled';
export type EpName = 'tensorrt' | 'cuda' | 'webgpu' | 'cpu';
export type EpChoice = EpName | 'auto';
export const PRECISIONS: readonly Precision[] = ['fp32', 'fp16', 'bf16'];
export const LAYERNORM_MODES: readonly LayerNormMode[] = ['plain', 'expose', 'fp32', 'fused', 'prescaled'];
export const EP_CHOICES: readonly EpChoice[] = ['auto', 'tensorrt', 'cuda', 'webgpu', 'cpu'];

/** How the chosen precision was realized on the chosen execution provider. */
export type Realization =
  | 'fp32' // plain fp32 graph
  | 'emulated' // fp32 graph with Cast(to=FLOAT16|BFLOAT16)->Cast(to=FLOAT) after every op (CPU EP)
  | 'native' // true fp16 graph with fp32 inputs/outputs (GPU EPs)
  | 'tensorrt'; // fp32 graph, TensorRT picks the precisions (trt_fp16_enable)

export interface ModelConfig {
  embedDim: number;
  depth: number;
  heads: number;
  /**
   * option: given by the user; detected: block 0 of the test data reproduced with this count;
   * config: read from the checkpoint's own configuration; assumed: none of those (head dim 64).
   */
  headsSource: 'option' | 'detected' | 'config' | 'assumed';
  /** Block-0 rel error of every head count tried during detection (empty when not detected). */
  headsTried: { heads: number; block0RelL2: number }[];
  frames: number;
  imageSize: number;
  patchSize: number;
  /** Patches per frame (S = (imageSize / patchSize)^2). */
  numPatches: number;
  gridSize: number;
  numClasses: number;
  mlpHidden: number;
  params: number;
  layerNormEps: number;
}

export interface Histogram {
  /** Bin edges (length counts.length + 1), over finite values; log-free, linear bins. */
  edges: number[];
  counts: number[];
}

export interface TensorStats {
  name: string;
  shape: number[];
  min: number;
  max: number;
  mean: number;
  std: number;
  maxAbs: number;
  nanCount: number;
  infCount: number;
  /** Finite values with |x| > 65504 (they would be inf in FP16). */
  overFp16: number;
  histogram: Histogram;
  /** Max |x| per channel (last dimension); the massive-activation channel stands out. */
  channelMaxAbs?: number[];
}

export interface LayerNormStats {
  /** Named after the model: `blocks.4.temporal_norm1`, `norm`. */
  name: string;
  block: number | null;
  /** max |x - mean| over the LayerNorm input, computed in fp32 from what the engine fed it. */
  maxAbsDiff: number;
  /** max (x - mean)^2 in fp32 math. */
  maxSq: number;
  /** How many (x - mean)^2 values pass FP16's 65504. */
  overFp16Count: number;
  /** inf / NaN counts of the squared-difference tensor as the engine computed it (when probed). */
  infCount: number;
  nanCount: number;
  /** Channels with the largest max |x| of the LayerNorm input, largest first. */
  topChannels: { channel: number; maxAbs: number }[];
  /** True when the engine's own LayerNorm produced inf/NaN, or (x - mean)^2 passes 65504 in a 16-bit-rounded precision. */
  overflowed: boolean;
}

export interface BlockResult {
  index: number;
  /** Seed metric: ||out - ref|| / ||ref|| over the patch tokens (class token dropped). */
  relL2: number;
  maxAbs: number;
  cosine: number;
  passed: boolean;
  /** True at the block where the error first jumps (>= 10x the previous block, or over the tolerance). */
  jump: boolean;
  /** Per-token relative error, [frame][patch] (T x S). */
  tokenError: number[][];
  output: TensorStats;
  reference: TensorStats;
  layerNorms: LayerNormStats[];
  /** LayerNorm intermediates (diff, mean, std) when the mode exposes them. */
  exposed: TensorStats[];
}

export interface ProbsResult {
  relL2: number;
  maxAbs: number;
  top1: number;
  refTop1: number;
  top1Agree: boolean;
}

export interface Fallback {
  ep: EpName;
  reason: string;
}

export interface Diagnosis {
  verdict: 'pass' | 'fail';
  firstBadBlock: number | null;
  /** One sentence a user understands. */
  sentence: string;
  culprit?: { layerNorm: string; block: number | null; channel: number; maxSq: number; overFp16Count: number };
  /** Ready trtexec line for the exported model, keeping the culprit LayerNorms in fp32. */
  trtexec?: string;
  fixes: LayerNormMode[];
}

export interface RunInfo {
  precision: Precision;
  layerNorm: LayerNormMode;
  requestedEp: EpChoice;
  ep: EpName;
  realization: Realization;
  /** e.g. "FP16 emulated (CPU EP: fp32 graph, FP16 rounding after every op)". */
  label: string;
  fallbacks: Fallback[];
  engine: { cache: 'none' | 'built' | 'reused'; cacheKey?: string };
  /**
   * readMs, headsMs and referenceMs belong to the preparation shared by every mode of one pipeline
   * call (reported on each mode's Report; 0 when an earlier mode already paid them).
   */
  timings: {
    readMs: number; headsMs: number; referenceMs: number; buildGraphMs: number; sessionMs: number; runMs: number; compareMs: number; totalMs: number;
    /** Peak resident memory of the process that ran the pipeline, up to the end of this mode (maxRSS). */
    peakRssBytes?: number;
  };
  /** Number of values the graph exposes beyond probabilities and block outputs. */
  extraOutputs: number;
  /** Bytes of the outputs that left the engine in its run (from the GPU on a GPU provider). */
  outputBytes?: number;
}

/**
 * What the engine's outputs were compared with: the per-block outputs stored in a test-data file
 * (made by PyTorch), or our own FP32 graph run on the CPU EP on the same clip ("self"; ours
 * matches the official model to <= 3e-6 per block).
 */
export interface ReferenceInfo {
  kind: 'test-data' | 'self';
  /** e.g. "test data d1_outlier_test_data.p (PyTorch)" or "FP32 of this model (CPU EP)". */
  label: string;
  path?: string;
}

/** The clip the engine ran on. */
export interface InputInfo {
  kind: 'test-data' | 'npy' | 'frames' | 'synthetic';
  /** e.g. "video of d1_outlier_test_data.p", "synthetic (seed 0)". */
  label: string;
  path?: string;
  seed?: number;
  /** (B, 3, T, H, W) */
  shape: number[];
}

export interface Report {
  version: typeof REPORT_VERSION;
  tool: 'timesformer-precision-lab';
  createdAt: string;
  inputs: {
    weights: string;
    /** Test data file, when one was given. */
    data?: string;
    weightsFormat: string;
    weightsDtype: string;
    /** Bytes of the checkpoint's weights in their own dtypes (peak memory is judged against this). */
    weightBytes?: number;
    reference: ReferenceInfo;
    input: InputInfo;
  };
  config: ModelConfig;
  run: RunInfo;
  tolerance: number;
  blocks: BlockResult[];
  probs: ProbsResult;
  /** LayerNorm statistics of the final norm. */
  finalNorm: LayerNormStats | null;
  diagnosis: Diagnosis;
  log: string[];
}

export type Stage = 'reading checkpoint' | 'reading test data' | 'detecting heads' | 'computing reference' | 'building graph' | 'building engine' | 'running' | 'comparing';
export const STAGES: readonly Stage[] = ['reading checkpoint', 'reading test data', 'detecting heads', 'computing reference', 'building graph', 'building engine', 'running', 'comparing'];

/** What the pipeline takes (the CLI, the worker and the tests all build one of these). */
export interface PipelineOptions {
  weights: string;
  /** Test data (the seed's test_data.p). Absent: the reference is our own FP32 graph on the CPU EP. */
  data?: string;
  /**
   * The clip to run when there is no test data: `synthetic[:seed]` (default `synthetic:0`) or a
   * test_data.p (its video). With test data, its video is the clip.
   */
  input?: string;
  /** Attention heads; detected from the test data when absent (else from the checkpoint's config, else head dim 64). */
  heads?: number;
  precision?: Precision; // default fp32
  layerNorm?: LayerNormMode; // default plain
  ep?: EpChoice; // default cpu
  deviceId?: number;
  /** TensorRT engine cache folder (machine-scoped setting). */
  trtCacheDir?: string;
  /** Pass/fail threshold on the per-block rel L2 (default 1e-2). */
  tolerance?: number;
  /** Write the ONNX graph exactly as run. */
  saveOnnx?: string;
  /** prescaled mode: the LayerNorm input is divided by 2^prescaleShift (default 3: exact for |x-mean| up to 2047; 4 loses accuracy to fp16 subnormals and eps flushing). */
  prescaleShift?: number;
  /** Native fp16 graphs (WebGPU, CUDA): op types kept in fp32, e.g. Gemm,MatMul,Conv,Softmax,Gelu. */
  fp32Ops?: string[];
  /**
   * LayerNorm probe outputs (`<ln>.in`, `<ln>.sq`) in the engine graph (default true; never under
   * TensorRT, where the statistics come from an fp32 probe run on the CPU instead).
   */
  probes?: boolean;
  /** Attention as exported (decomposed, default) or onnxruntime's fused MultiHeadAttention kernel. */
  attention?: 'decomposed' | 'fused';
}

export interface PipelineHooks {
  onProgress?: (stage: Stage, detail?: string) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** JSON with inf/NaN kept as the strings "Infinity", "-Infinity", "NaN" (plain JSON writes null). */
export function reportToJson(value: unknown, indent = 1): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), indent);
}

export function parseReportJson<T = Report>(text: string): T {
  return JSON.parse(text, (_k, v) => (v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v === 'NaN' ? NaN : v)) as T;
}
