/**
 * The words of a run and what the pipeline takes: precisions, LayerNorm modes, accumulation,
 * execution providers, how a precision is realized, the pipeline's stages, its options and hooks.
 * Plain types and lists shared by the pipeline, the CLI, the host and the Report (report.ts).
 */
export type Precision = 'fp32' | 'fp16' | 'bf16';
export type LayerNormMode = 'plain' | 'expose' | 'fp32' | 'fused' | 'prescaled';
/**
 * Where GEMMs (MatMul, Conv, the attention products) and reductions (ReduceMean) accumulate on a
 * 16-bit graph: 'fp32' as TensorRT's and cuBLAS's tensor-core kernels do (fp16 operands, fp32 sums,
 * one rounding of the result), 'fp16' as the EP's raw fp16 kernels do (a worst-case view).
 */
export type Accumulate = 'fp32' | 'fp16';
export const ACCUMULATE: readonly Accumulate[] = ['fp32', 'fp16'];
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

/**
 * What a run is doing, one line per stage the user waits on (the progress notification, the
 * sidebar, the status bar), in the order they come. 'reading test data' only when there is test
 * data ('reading the clip' for a clip file; a synthetic clip takes no time); 'computing the FP32
 * reference' is the FP32 run on the CPU the comparison needs (the reference without test data,
 * else the healthy LayerNorm statistics of a plain FP16 run); 'confirming the minimal fix' is the
 * second engine and run a failing plain FP16 run's fix is proved by (its own engine and run are
 * its detail); 'waiting for the FP32 reference (CPU)' only when that FP32 run went beside a GPU
 * engine (on a worker thread) and is still running when the engine is done. Long stages repeat with
 * their progress as detail ("segment 2/4", "block 3/12").
 */
export type Stage = 'reading checkpoint' | 'reading test data' | 'reading the clip' | 'detecting heads' | 'computing the FP32 reference' | 'building graph' | 'building engine' | 'running' | 'waiting for the FP32 reference (CPU)' | 'comparing' | 'confirming the minimal fix';
export const STAGES: readonly Stage[] = ['reading checkpoint', 'reading test data', 'reading the clip', 'detecting heads', 'computing the FP32 reference', 'building graph', 'building engine', 'running', 'waiting for the FP32 reference (CPU)', 'comparing', 'confirming the minimal fix'];

/** What the pipeline takes (the CLI, the worker and the tests all build one of these). */
export interface PipelineOptions {
  weights: string;
  /** Test data (the seed's test_data.p). Absent: the reference is our own FP32 graph on the CPU EP. */
  data?: string;
  /**
   * The clip to run when there is no test data: `synthetic[:seed]` (default `synthetic:0`), a
   * test_data.p (its video), or a .npy array: the model's input (B, 3, T, H, W) as floats, or RGB
   * frames (T, H, W, 3) as uint8, normalized as the official loader does. With test data, its
   * video is the clip.
   */
  input?: string;
  /** Attention heads; from the checkpoint's config (HF num_attention_heads) when absent, else detected from the test data, else head dim 64. */
  heads?: number;
  /** uint8 frames clips (`--input frames.npy`): per-channel mean and std (1 or 3 values), overriding the checkpoint's configuration and the default 0.45 / 0.225. */
  mean?: number[];
  std?: number[];
  precision?: Precision; // default fp32
  layerNorm?: LayerNormMode; // default plain
  /** Per-LayerNorm modes by name (`blocks.4.norm2`), over `layerNorm`: the minimal fix. */
  layerNormOverrides?: Record<string, LayerNormMode>;
  /** 16-bit graphs: where GEMMs and reductions accumulate (default fp32, as TensorRT builds FP16). */
  accumulate?: Accumulate;
  /** After a failing FP16 run, run once more with only the minimal fix's LayerNorms in FP32 and record the result (default true). */
  confirmMinimalFix?: boolean;
  /** Run the engine this many more times after the first run and report the median (warm) time. */
  repeat?: number;
  ep?: EpChoice; // default cpu
  deviceId?: number;
  /** TensorRT engine cache folder (machine-scoped setting). */
  trtCacheDir?: string;
  /** Pass/fail threshold on the per-block rel L2 (default: per precision, see compare/verdict.ts). */
  tolerance?: number;
  /** Write the ONNX graph exactly as run. */
  saveOnnx?: string;
  /** prescaled mode: the LayerNorm input is divided by 2^prescaleShift (default 3: exact for |x-mean| up to 2047; 4 loses accuracy to fp16 subnormals and eps flushing). */
  prescaleShift?: number;
  /** Native fp16 graphs (WebGPU, CUDA): op types kept in fp32, e.g. Gemm,MatMul,Conv,Softmax,Gelu. */
  fp32Ops?: string[];
  /**
   * LayerNorm statistics computed in the engine graph, as small fp32 side outputs (`<ln>.stats`,
   * `<ln>.channels`; default true; never under TensorRT, where the statistics come from an fp32
   * probe run on the CPU instead).
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
