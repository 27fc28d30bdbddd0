/**
 * The Report: plain, versioned, JSON-serializable data produced by the pipeline and rendered by the
 * CLI and the webview. Nothing here holds whole tensors: only statistics small enough to ship.
 * The words it is written in (precisions, modes, providers) and the pipeline's options are in
 * run-options.ts.
 */
import type { Accumulate, EpChoice, EpName, LayerNormMode, Precision, Realization } from './run-options';

// The names this module has always exported, from their rooms.
export { ACCUMULATE, EP_CHOICES, LAYERNORM_MODES, PRECISIONS, STAGES } from './run-options';
export type { Accumulate, EpChoice, EpName, LayerNormMode, PipelineHooks, PipelineOptions, Precision, Realization, Stage } from './run-options';

export const REPORT_VERSION = 2 as const;

/**
 * How a LayerNorm overflows in 16 bits: 'square' one (x−mean)² > 65504 (the seed's); 'sumSquares'
 * the sum over C of (x−mean)² > 65504 in a 16-bit reduction accumulator (= C × variance);
 * 'sumX' the sum of x over C > 65504 (the mean's accumulator); 'nonFiniteInput' inf/NaN already in
 * the LayerNorm's input (something before it overflowed).
 */
export type Mechanism = 'square' | 'sumSquares' | 'sumX' | 'nonFiniteInput';
export const MECHANISMS: readonly Mechanism[] = ['square', 'sumSquares', 'sumX', 'nonFiniteInput'];

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

/** One overflow mechanism of one LayerNorm, measured. */
export interface LnMechanism {
  kind: Mechanism;
  /**
   * The statistic: max (x−mean)² (square), max over rows of Σ_c (x−mean)² (sumSquares), max over
   * rows of |Σ_c x| (sumX), or the number of inf/NaN inputs (nonFiniteInput).
   */
  value: number;
  /** A 16-bit LayerNorm that also accumulates in 16 bits would hit it (value > 65504; any inf/NaN input). */
  wouldHit: boolean;
  /**
   * What this engine's realization of this LayerNorm tolerates (65504; 65504·4^k or 65504·2^k when
   * prescaled by 2^-k); null: not exposed (fp32 math, fp32 accumulation, or BF16's range).
   */
  limit: number | null;
  /** value > limit: this engine hits it. */
  fires: boolean;
  /** The engine's own tensors show it: inf/NaN in its square, its variance or its mean. */
  observed: boolean;
}

export interface LayerNormStats {
  /** Named after the model: `blocks.4.temporal_norm1`, `norm`. */
  name: string;
  block: number | null;
  /** How this engine built this LayerNorm (the run's mode, or its per-LayerNorm override). */
  mode: LayerNormMode;
  /** 'engine': measured in the engine's own graph on its own input; 'fp32-probe': from our FP32 graph on the CPU (engines without statistics outputs, TensorRT). */
  source: 'engine' | 'fp32-probe';
  /** max |x - mean| over the LayerNorm input, in fp32 math from what the engine fed it. */
  maxAbsDiff: number;
  /** max (x - mean)^2 in fp32 math. */
  maxSq: number;
  /** How many (x - mean)^2 values pass FP16's 65504. */
  overFp16Count: number;
  /** max over rows of Σ_c (x − mean)² = C × the row's variance: what a 16-bit reduction accumulator holds. */
  maxSumSq: number;
  /** max over rows of |Σ_c x|: what the mean's 16-bit accumulator holds. */
  maxAbsSum: number;
  /** inf/NaN values in the LayerNorm's input. */
  inputNonFinite: number;
  /** inf / NaN counts of the squared-difference tensor as the engine computed it (0 when it computes none). */
  infCount: number;
  nanCount: number;
  /** Rows whose variance / mean came out inf or NaN in the engine (decomposed LayerNorms). */
  varNonFinite: number;
  meanNonFinite: number;
  /** Channels with the largest max |x| of the LayerNorm input, largest first. */
  topChannels: { channel: number; maxAbs: number }[];
  /** Every mechanism, measured, with this engine's exposure to it. */
  mechanisms: LnMechanism[];
  /** True when a 16-bit overflow mechanism (square, sumSquares, sumX) fires in this engine's realization of this LayerNorm, or its own tensors show one. */
  overflowed: boolean;
}

export interface BlockResult {
  index: number;
  /** Seed metric: ||out - ref|| / ||ref|| over the patch tokens (class token dropped). */
  relL2: number;
  maxAbs: number;
  cosine: number;
  passed: boolean;
  /** True at the block where the error first jumps (>= 10x the previous block and over the tolerance). */
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
  /**
   * 'probabilities' (the classifier's softmax; absent in older Reports means this), or 'features':
   * the model has no classifier (HF TimesformerModel), so the final LayerNorm's class-token output
   * is compared instead; top1/refTop1 are then -1 and top1Agree is true (nothing to rank).
   */
  kind?: 'probabilities' | 'features';
  relL2: number;
  maxAbs: number;
  top1: number;
  refTop1: number;
  top1Agree: boolean;
  /** Class names of top1 and refTop1, when the checkpoint's configuration names its classes (HF id2label). */
  top1Label?: string;
  refTop1Label?: string;
}

export interface Fallback {
  ep: EpName;
  reason: string;
}

/** A cause found at or before the first failing block. */
export interface Cause {
  layerNorm: string;
  block: number | null;
  mechanism: Mechanism;
  value: number;
  limit: number | null;
  /** observed: the engine's own tensors went inf/NaN; predicted: the statistics pass this realization's limit. */
  evidence: 'observed' | 'predicted';
  /** The channel with the largest |x| in that LayerNorm's input. */
  channel: number;
  text: string;
}

/** What a failure may come from when no cause explains it. */
export interface Candidate {
  /** range: a failing FP16 block's output holds inf, or its FP32 reference passes 65504 (an activation out of FP16's range). */
  kind: 'heads' | 'mismatch' | 'accumulation' | 'bf16-rounding' | 'tf32' | 'outside-layernorm' | 'range';
  text: string;
}

/** The smallest set of LayerNorms to keep in higher precision: those whose mechanism fires. */
export interface MinimalFix {
  layerNorms: string[];
  mode: 'fp32';
  /** Which mechanism makes each one necessary. */
  reasons: { layerNorm: string; mechanism: Mechanism; value: number; limit: number }[];
  /** trtexec keeping exactly these LayerNorms in FP32 (for the model as torch.onnx.export writes it, opset 17). */
  trtexec: string;
  /** The result of one run with only these LayerNorms fixed (absent when not run). */
  confirmed?: { verdict: 'pass' | 'fail'; firstBadBlock: number | null; worstBlock: number; worstRelL2: number; probsRelL2: number };
}

export interface Diagnosis {
  verdict: 'pass' | 'fail';
  firstBadBlock: number | null;
  /** The first block >= 10x its predecessor and over the tolerance. */
  jumpBlock: number | null;
  /** One sentence a user understands. */
  sentence: string;
  /** Causes at or before the first failing block, strongest evidence first. */
  causes: Cause[];
  /** When no cause explains the failure: what it may come from, most likely first. */
  candidates: Candidate[];
  /** The first LayerNorm cause (or, on a pass, the LayerNorm a plain FP16 LayerNorm would overflow). */
  culprit?: { layerNorm: string; block: number | null; channel: number; maxSq: number; overFp16Count: number };
  /** Ready trtexec line for the model as torch.onnx.export writes it, keeping the LayerNorms TensorRT's FP16 would overflow in FP32 (FP16 runs only). */
  trtexec?: string;
  /** LayerNorm modes that fix every cause, the mode already used left out. */
  fixes: LayerNormMode[];
  /** True when accumulating in fp32 (--accumulate fp32) fixes every cause. */
  accumulateFix: boolean;
  minimalFix?: MinimalFix;
}

export interface RunInfo {
  precision: Precision;
  layerNorm: LayerNormMode;
  /** LayerNorms built in another mode than `layerNorm` (the minimal fix), by name. */
  layerNormOverrides: Record<string, LayerNormMode>;
  /** Where 16-bit GEMMs and reductions accumulate (see `realization` and `label` for what that means on this EP). */
  accumulate: Accumulate;
  requestedEp: EpChoice;
  ep: EpName;
  realization: Realization;
  /** e.g. "FP16 emulated (CPU EP: fp32 graph, FP16 rounding after every op; fp32 accumulation)". */
  label: string;
  fallbacks: Fallback[];
  engine: { cache: 'none' | 'built' | 'reused'; cacheKey?: string };
  /**
   * readMs, headsMs and referenceMs belong to the preparation shared by every mode of one pipeline
   * call (reported on each mode's Report; 0 when an earlier mode already paid them).
   */
  timings: {
    readMs: number; headsMs: number; referenceMs: number; buildGraphMs: number; sessionMs: number; runMs: number; compareMs: number; totalMs: number;
    /** Peak resident memory of the process that ran the pipeline, up to the end of this mode: in the extension's engine process, since this request began (Linux: VmHWM reset per request, core/peak-rss.ts; elsewhere the process's peak, maxRSS). */
    peakRssBytes?: number;
    /** Median of the repeated runs (`repeat`), without the first run's warm-up. */
    warmRunMs?: number;
    /**
     * The minimal fix's confirmation run (a second engine, after this mode's own stages and not in
     * totalMs): its whole time, and the process's peak resident memory up to its end.
     */
    confirmMs?: number;
    confirmPeakRssBytes?: number;
    /**
     * Bytes of the weight store's files (model/weight-store.ts) at the end of this mode (and of its
     * confirmation run), and whether they are RAM (a tmpfs such as /dev/shm): memory the process
     * holds that peakRssBytes does not count. Memory of the run: peakRssBytes + storeBytes at most.
     */
    storeBytes?: number;
    storeInMemory?: boolean;
    /** Peak resident memory of the GPU helper process, when it ran some of the modes (a process of its own: not in peakRssBytes). */
    helperPeakRssBytes?: number;
  };
  /** Number of values the graph exposes beyond probabilities and block outputs. */
  extraOutputs: number;
  /** Bytes of the outputs that left the engine in its run (from the GPU on a GPU provider). */
  outputBytes?: number;
  /**
   * Set by the engine process (core/warm.ts) that kept this run's preparation or engines from an
   * earlier request: `prepared`, the checkpoint, clip and FP32 reference were not read or computed
   * again; `sessionsReused` / `sessionsBuilt`, the engines (the mode's and its minimal fix's
   * confirmation) run again as kept / built for this request. Absent from a CLI run. Nothing else
   * of the Report differs from a cold run's but the times and the log.
   */
  warm?: { prepared: boolean; sessionsReused: number; sessionsBuilt: number };
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
/** How a video file or frames folder became the clip (InputInfo.video): see core/video/. */
export interface VideoProvenance {
  /** e.g. "ffmpeg 4.1 (@ffmpeg-installer/linux-x64)". */
  decoder: string;
  /** The demuxer ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi"; a folder: its first frame's, "png_pipe"). */
  container: string;
  codec: string;
  /** The decoded frames' size, before the transform. */
  width: number;
  height: number;
  /** The rate the view was sampled at. */
  fps: number;
  fpsSource: 'stream' | 'assumed (a frames folder has no rate: DATA.TARGET_FPS)';
  durationS?: number;
  /** Frames decoded (decoding stops after the last one the view takes); a folder: the frames it holds. */
  framesRead: number;
  /** The clip ended before the view did: the last frame stands for the missing ones, as in the official loader. */
  clipEnded: boolean;
  /** The frame index taken for each of the clip's T frames. */
  indices: number[];
  /** A frames folder: the file taken for each of the T frames. */
  files?: string[];
  /** The temporal sampling in words (the official test view). */
  sampling: string;
  /** The spatial transform and normalization in words. */
  transform: string;
  /** Where the preprocessing settings came from (the checkpoint's cfg, preprocessor_config.json, defaults). */
  preprocessSource: string;
}

export interface InputInfo {
  /** 'video': a video file or a folder of frames, decoded and preprocessed here (see `video`). */
  kind: 'test-data' | 'npy' | 'frames' | 'synthetic' | 'video';
  /** e.g. "video of d1_outlier_test_data.p", "synthetic (seed 0)". */
  label: string;
  path?: string;
  seed?: number;
  /** (B, 3, T, H, W) */
  shape: number[];
  /** uint8 frames only: how they were normalized (x / 255, then (x − mean) / std per channel) and why. */
  normalization?: { mean: number[]; std: number[]; source: string };
  /** kind 'video' only: which frames were taken and how they were transformed. */
  video?: VideoProvenance;
}

/** Which model the weights are (official TimeSformer or HuggingFace transformers), and whether it has a classifier. */
export interface ModelInfo {
  kind: 'official' | 'huggingface';
  /** e.g. TimesformerForVideoClassification (config.json's architectures). */
  architecture?: string;
  /** False without a classifier: the final LayerNorm's class-token output is compared instead of probabilities. */
  head: boolean;
  /** Where the configuration came from: config.json's path, or "cfg in the checkpoint". */
  config?: string;
  /** The weight files read (several for a sharded HF checkpoint). */
  files: string[];
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
    /** The model the weights describe (absent in Reports from before HuggingFace support). */
    model?: ModelInfo;
  };
  config: ModelConfig;
  run: RunInfo;
  tolerance: number;
  /** 'precision': the default for the run's precision (see compare/verdict.ts); 'option': the user's. */
  toleranceSource: 'precision' | 'option';
  blocks: BlockResult[];
  probs: ProbsResult;
  /** LayerNorm statistics of the final norm. */
  finalNorm: LayerNormStats | null;
  diagnosis: Diagnosis;
  log: string[];
}

/** JSON with inf/NaN kept as the strings "Infinity", "-Infinity", "NaN" (plain JSON writes null). */
export function reportToJson(value: unknown, indent = 1): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), indent);
}

export function parseReportJson<T = Report>(text: string): T {
  return JSON.parse(text, (_k, v) => (v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v === 'NaN' ? NaN : v)) as T;
}
