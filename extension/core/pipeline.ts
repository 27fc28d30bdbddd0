/**
 * load -> build -> run -> compare -> Report. Used by the CLI, the worker and the tests; no vscode.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabError, type LabErrorCode } from './errors';
import { readTestData, type TestData } from './formats/testdata';
import { openRegularFile } from './formats/file';
import { readNpy } from './formats/npy';
import { inferConfig } from './model/config';
import { checkHfSizes } from './model/hf';
import { DEFAULT_NORMALIZATION, openModelSource, type Normalization, type VideoConfig } from './model/load';
import { isVideoSpec, readVideoClip, videoClipOptions } from './video';
import { headCandidatesFor, streamModelWeights, type CheckingSink } from './model/validate';
import { buildSegmented, buildTimeSformer, readsAsF32, takesTransposed, type BuiltGraph, type GraphOptions, type Weights } from './model/timesformer';
import { WeightStore, type StoredKind, type StoreUsage } from './model/weight-store';
import { defaultThreads, startPool, type CpuRunResult, type WorkerPool } from './parallel';
import { lnLimits, type RealizationSpec } from './model/realization';
import { Tensor, findNonFinite, unravelIndex, type DType } from './tensor';
import { createEngine, runOnce, type Engine, type RanOnce } from './engine/session';
import { GpuHelper } from './helper';
import { realizationFor, realizationLabel } from './engine/providers';
import { diff, layerNormStats, tensorStats, type BlockComparison } from './compare/metrics';
import { compareBlocks, comparePool } from './compare/blocks';
import { diagnose, firingUnder, type DiagnoseInput } from './compare/diagnosis';
import { defaultTolerance } from './compare/verdict';
import { validateOptions } from './options';
import {
  REPORT_VERSION, type BlockResult, type EpName, type InputInfo, type ModelInfo, type LayerNormMode, type LayerNormStats, type ModelConfig, type PipelineHooks,
  type PipelineOptions, type ProbsResult, type Realization, type Report, type ReferenceInfo, type Stage, type TensorStats,
} from './report';

/** A LayerNorm mode, or 'minimal': plain, with only the LayerNorms whose mechanism fires (read from the statistics) in FP32. */
export type LayerNormChoice = LayerNormMode | 'minimal';

export interface LoadedModel<W extends Weights = Weights> {
  weightsPath: string;
  /** 'zip' | 'legacy' (torch.save), or another reader's name. */
  format: string;
  dtype: string;
  /** In memory (loadModel: tests, the latency bench) or in a WeightStore (openModel: the pipeline). */
  weights: W;
  /** Bytes of the weights the graph uses, in the checkpoint's own dtypes (the yardstick of peak memory). */
  weightBytes: number;
  base: Omit<ModelConfig, 'heads' | 'headsSource' | 'headsTried'>;
  /** The head count, when the checkpoint's own configuration states it. */
  heads?: number;
  /** Class names by index (HF config.json's id2label). */
  labels?: string[];
  /** How frames become the model's input, when the checkpoint's configuration says. */
  normalization?: Normalization;
  /** How a video becomes the clip, when the checkpoint says (core/video). */
  videoConfig?: VideoConfig;
  /** Official or HuggingFace, with or without a classifier, which files. */
  source: ModelInfo;
}

function check(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new LabError('CANCELLED', 'cancelled');
}

/**
 * Read the checkpoint (official .pyth, HuggingFace folder, safetensors: see model/load.ts), infer
 * the configuration and load the weights the graph uses as float32, checked finite, in memory
 * (tests, the latency bench; the pipeline uses openModel).
 */
export async function loadModel(weightsPath: string): Promise<LoadedModel<Map<string, Float32Array>>> {
  const weights = new Map<string, Float32Array>();
  const m = await readModel(weightsPath, (k, _shape, data) => weights.set(k, data));
  return { ...m, weights };
}

/**
 * The same into a WeightStore: each weight is converted to float32, checked, written in the
 * graph's layout (and in `kinds`, the forms the coming graphs will want) and dropped, so that no
 * copy of the model stays in this process.
 */
/** Checkpoints from this size on are converted on worker threads (the fixtures, a few MB, are not). */
export const PARALLEL_READ_MIN_BYTES = 64 * 2 ** 20;

export async function openModel(
  weightsPath: string, store: WeightStore, kinds: readonly StoredKind[] | ((key: string) => readonly StoredKind[]) = [], threads?: number,
): Promise<LoadedModel<WeightStore>> {
  const kindsOf = typeof kinds === 'function' ? kinds : () => kinds;
  // the check, transpose and conversion of each weight run on worker threads while this one reads
  // the next (store.put: fused into one pass per weight; on this thread when there are none, and
  // for small checkpoints, where starting threads costs more than it saves)
  const n = threads ?? (sizeOf(weightsPath) >= PARALLEL_READ_MIN_BYTES ? defaultThreads() : 0);
  store.startWorkers(n);
  try {
    const sink: CheckingSink = { put: (k, shape, data) => store.put(k, shape, data, takesTransposed(k), kindsOf(k)), window: 2 * Math.max(1, n) };
    const m = await readModel(weightsPath, sink);
    return { ...m, weights: store };
  } finally {
    await store.stopWorkers();
  }
}

async function readModel(
  weightsPath: string, sink: ((key: string, shape: readonly number[], data: Float32Array) => unknown) | CheckingSink,
): Promise<Omit<LoadedModel, 'weights'>> {
  const src = await openModelSource(weightsPath);
  try {
    const entries = src.entries;
    const inferred = inferConfig(entries, weightsPath, { headOptional: src.headOptional });
    if (src.hfConfig) checkHfSizes(src.hfConfig, inferred);
    const base = { ...inferred, layerNormEps: src.layerNormEps ?? inferred.layerNormEps };
    const { dtype, bytes } = await streamModelWeights(entries, base, weightsPath, sink, src.loadMany);
    const labels = src.labels && base.numClasses > 0 ? src.labels.slice(0, base.numClasses) : undefined;
    return {
      weightsPath, format: src.format, dtype, weightBytes: bytes, base, heads: src.heads, labels, normalization: src.normalization, videoConfig: src.videoConfig,
      source: { ...src.info, head: base.numClasses > 0 },
    };
  } finally {
    await src.close();
  }
}

/**
 * The weight forms a run's engine graphs will ask for, written while the checkpoint is read. The
 * FP32 reference and FP32 graphs use the float32 bytes every store holds; `auto` may end anywhere,
 * so its forms are made when a graph asks. A native fp16 graph reads the weights of its
 * fp32-accumulated ops (linears, the patch embedding) as fp16 values held in float32, the rest as
 * fp16 (timesformer.ts, readsAsF32).
 */
function expectedKinds(o: PipelineOptions): (key: string) => readonly StoredKind[] {
  const precision = o.precision ?? 'fp32';
  if (precision === 'fp32' || o.ep === 'auto') return () => [];
  const r = realizationFor(o.ep ?? 'cpu', precision);
  if (r === 'native') {
    const spec = { precision, realization: r, accumulate: o.accumulate ?? 'fp32' } as const;
    return (key) => (readsAsF32(key, spec, o.fp32Ops ?? DEFAULT_FP32_OPS) ? ['f32.f16'] : ['f16']);
  }
  if (r === 'emulated') return () => [precision === 'bf16' ? 'f32.bf16' : 'f32.f16'];
  return () => [];
}

/** The test data must describe the same model: frames, image size, width, classes, depth. */
export function checkAgreement(m: LoadedModel, d: TestData): void {
  const c = m.base;
  const [B, ch, T, H, W] = d.video.shape;
  const problems: string[] = [];
  if (ch !== 3) problems.push(`the video has ${ch} channels, expected 3`);
  if (T !== c.frames) problems.push(`the video has ${T} frames, the checkpoint's time_embed has ${c.frames}`);
  if (H !== c.imageSize || W !== c.imageSize) problems.push(`the video is ${H}×${W}, the checkpoint expects ${c.imageSize}×${c.imageSize} (pos_embed has ${c.numPatches} patches of ${c.patchSize})`);
  const outputs = d.probs.shape[d.probs.shape.length - 1];
  if (c.numClasses === 0 && outputs !== c.embedDim) problems.push(`the final output has ${outputs} values per clip; a model without a classifier outputs its final LayerNorm's class token (${c.embedDim})`);
  if (c.numClasses > 0 && outputs !== c.numClasses) problems.push(`the probabilities have ${outputs} classes, the head has ${c.numClasses}`);
  if (d.blocks.length > c.depth) problems.push(`the test data has ${d.blocks.length} block outputs, the checkpoint has ${c.depth} blocks`);
  const tokens = 1 + c.numPatches * c.frames;
  d.blocks.forEach((b, i) => {
    if (b.shape.length !== 3 || b.shape[0] !== B || b.shape[1] !== tokens || b.shape[2] !== c.embedDim) {
      if (problems.length < 8) problems.push(`block ${i} output has shape [${b.shape.join(', ')}], expected [${B}, ${tokens}, ${c.embedDim}]`);
    }
  });
  if (problems.length) {
    throw new LabError('MISMATCH', `checkpoint ${m.weightsPath} and test data disagree: ${problems.join('; ')}`, d.path);
  }
}

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
function cpuGraph(weights: Weights, o: GraphOptions, whole = false): BuiltGraph {
  const n = cpuSegmentBlocks();
  return whole || n === 0 ? buildTimeSformer(weights, o) : buildSegmented(weights, o, n);
}

/**
 * Heads are not in the weights: build block 0 alone for each candidate head count, run it in fp32
 * on the CPU and keep the one whose output matches the reference block 0.
 */
export async function detectHeads(m: LoadedModel, d: TestData, log?: (s: string) => void): Promise<{ heads: number; tried: { heads: number; block0RelL2: number }[] }> {
  if (d.blocks.length === 0) throw new LabError('HEADS_UNDETECTED', 'the test data has no block outputs to detect the head count from; pass --heads', d.path);
  const tried: { heads: number; block0RelL2: number }[] = [];
  const B = d.video.shape[0];
  for (const heads of headCandidatesFor(m.base.embedDim, m.weightsPath)) {
    const config: ModelConfig = { ...m.base, heads, headsSource: 'detected', headsTried: [] };
    const g = buildTimeSformer(m.weights, { config, batch: B, precision: 'fp32', realization: 'fp32', layerNorm: 'plain', depthLimit: 1, probes: false, prescaleShift: 0 });
    const { out } = await runFp32OnCpu(g, d.video);
    const e = diff(out.get('blocks.0.out')!, d.blocks[0].data, 0).relL2;
    tried.push({ heads, block0RelL2: e });
    log?.(`heads ${heads} (head dim ${m.base.embedDim / heads}): block 0 rel err ${e.toExponential(2)}`);
    if (e < 1e-4) return { heads, tried };
  }
  const best = tried.reduce((a, b) => (b.block0RelL2 < a.block0RelL2 ? b : a));
  if (best.block0RelL2 < 1e-2) return { heads: best.heads, tried };
  throw Object.assign(
    new LabError('HEADS_UNDETECTED', `no head count reproduces block 0 of the test data (best: ${best.heads} heads, rel err ${best.block0RelL2.toExponential(2)}); the checkpoint and test data may not belong together, or pass --heads`, d.path),
    { tried },
  );
}

/** One run of an fp32 graph on the CPU EP (head detection, the self-reference and LayerNorm probe run). */
function runFp32OnCpu(g: BuiltGraph, video: Tensor<'float32'>, onSegment?: (done: number, total: number) => void): Promise<Pick<RanOnce, 'out' | 'sessionMs' | 'runMs' | 'bytes'>> {
  return runOnce({ ep: 'cpu', precision: 'fp32', layerNorm: 'plain', buildModel: () => g.source, onSegment }, g.inputName, video.data, [...video.shape]);
}

/**
 * runFp32OnCpu on a worker thread of its own, so that the calling thread can build a GPU engine
 * meanwhile (onnxruntime-node's session creation and run block their thread). Undefined where no
 * thread can start or onnxruntime does not load in one (the caller then runs it itself); a
 * LabError from the run is the run's error.
 */
async function runFp32OnCpuThread(g: BuiltGraph, video: Tensor<'float32'>, say: (s: string) => void, onSegment?: (done: number, total: number) => void): Promise<Awaited<ReturnType<typeof runFp32OnCpu>> | undefined> {
  const pool = startPool(1);
  if (!pool) return undefined;
  try {
    const clip = video.data.slice(); // its own buffer, handed over whole
    // all cores but two (the engine's thread, and what feeds the GPU), not spinning when idle
    const threads = Math.max(1, os.availableParallelism() - 2);
    const r = await pool.run<CpuRunResult>({ type: 'cpuRun', source: g.source, inputName: g.inputName, video: clip, dims: [...video.shape], threads }, [clip.buffer], onSegment);
    return { out: new Map(r.outputs), sessionMs: r.sessionMs, runMs: r.runMs, bytes: r.bytes };
  } catch (e) {
    const code = (e as { code?: LabErrorCode }).code;
    if (code) throw new LabError(code, (e as Error).message);
    say(`fp32 run on a worker thread failed (${(e as Error).message}); running it on the main thread`);
    return undefined;
  } finally {
    void pool.close();
  }
}

/** The weights' bytes, every file of them (a sharded HF checkpoint has several; a folder is not a file). */
async function sha256Files(paths: readonly string[]): Promise<string> {
  const h = crypto.createHash('sha256');
  for (const path of paths) for await (const chunk of fs.createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export interface PipelineResult {
  report: Report;
}

/** The per-block outputs and probabilities the engine is compared with. */
export interface Reference {
  info: ReferenceInfo;
  /** One (B, 1 + S*T, C) array per block, tokens in the official (patch, frame) order. */
  blocks: Float32Array[];
  blockShape: number[];
  probs: Float32Array;
  /** Statistics of each reference block, computed by the first mode that compares and reused. */
  stats: (TensorStats | undefined)[];
}

/** Where the fp32 probe run goes: `beside` a GPU engine on a worker thread, or on the calling thread. */
export interface ProbeHow {
  beside?: boolean;
}

/**
 * Everything a run needs before its mode is chosen, read and computed once per pipeline call and
 * shared by every LayerNorm mode: the weights, the clip, the head count and the reference.
 */
export interface Prepared {
  options: PipelineOptions;
  model: LoadedModel;
  /** The test data, when one was given. */
  data?: TestData;
  video: Tensor<'float32'>;
  input: InputInfo;
  config: ModelConfig;
  /** The reference, or a promise of it (the self-reference is computed on first use; `beside`: see fp32Probe). */
  reference(how?: ProbeHow): Promise<Reference>;
  /**
   * Outputs of our FP32 graph on the CPU EP with LayerNorm statistics, run once and kept: the
   * self-reference, the statistics of engines that carry none (TensorRT), and the healthy
   * statistics the minimal fix is read from. The first call decides where it runs: `beside`, on a
   * worker thread (while this thread builds a GPU engine), else on this thread.
   */
  fp32Probe(how?: ProbeHow): Promise<{ g: BuiltGraph; out: Map<string, Float32Array> }>;
  /** The options of fp32Probe()'s graph, for a mode run that would build the same graph. */
  probeGraphOptions: GraphOptions;
  /** Whether fp32Probe() has run (or started). */
  hasProbe(): boolean;
  /**
   * fp32Probe()'s run while it runs beside an engine (undefined when it does not, or has ended):
   * the last segment it finished, and a listener for the next ones (besideWait).
   */
  besideRun(): { what: string; segment?: [number, number]; listen(f?: (done: number, total: number) => void): void } | undefined;
  /**
   * Take a mode's own run as fp32Probe()'s: a mode that builds that very graph on the CPU EP
   * (FP32, plain) is the same computation, so it is not run twice.
   */
  adoptProbe(g: BuiltGraph, out: Map<string, Float32Array>): void;
  /** Remove the weights' folder (after the last mode). */
  close(): void;
  /**
   * Block 0's error for every head count (head detection), also when the count was given: the
   * diagnosis's evidence for a wrong head count. Empty without test data.
   */
  headsEvidence(): Promise<{ heads: number; block0RelL2: number }[]>;
  /** Preparation times not yet charged to a Report (the first mode reports them). */
  pending: { readMs: number; headsMs: number; referenceMs: number };
  say(line: string): void;
  log: string[];
}

/** The deterministic clip used when there is no test data: N(0, 1) values as a normalized video has. */
export function syntheticVideo(shape: readonly number[], seed: number): Tensor<'float32'> {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  // mulberry32 + Box-Muller: the same clip on every machine for a given seed
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(next(), 1e-12);
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return new Tensor('float32', shape, out);
}

/**
 * The clip: `synthetic[:seed]`, a test-data file (its video), or a `.npy` array — the model's
 * input (B, 3, T, H, W) as floats, or frames (T, H, W, 3) / (B, T, H, W, 3) as uint8, normalized
 * as the official data loader does.
 */
export async function readClip(spec: string | undefined, m: LoadedModel, o: PipelineOptions): Promise<{ video: Tensor<'float32'>; input: InputInfo }> {
  const c = m.base;
  const shape = [1, 3, c.frames, c.imageSize, c.imageSize];
  const syn = /^synthetic(?::(\d+))?$/.exec(spec ?? 'synthetic');
  if (syn) {
    const seed = syn[1] === undefined ? 0 : Number(syn[1]);
    return { video: syntheticVideo(shape, seed), input: { kind: 'synthetic', label: `synthetic clip (seed ${seed})`, seed, shape } };
  }
  const path = spec!;
  if (/\.npy$/i.test(path) || (await startsWith(path, '\x93NUMPY'))) {
    const norm = clipNormalization(m, o);
    // the header is checked against the model before the data is read
    return clipFromArray(await readNpy(path, (h) => clipLayout(h.dtype, h.shape, m, path)), m, path, norm);
  }
  if (await isVideoSpec(path)) return readVideoClip(path, videoClipOptions(m, clipNormalization(m, o)));
  const d = await readTestData(path, m.base);
  return { video: d.video, input: { kind: 'test-data', label: `video of ${basename(path)}`, path, shape: [...d.video.shape] } };
}

async function startsWith(path: string, magic: string): Promise<boolean> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = (await openRegularFile(path)).handle; // never a FIFO or a device
    const b = Buffer.alloc(magic.length);
    const { bytesRead } = await fh.read(b, 0, b.length, 0);
    return bytesRead === b.length && b.toString('latin1') === magic;
  } catch {
    return false; // the reader that follows names the problem
  } finally {
    await fh?.close();
  }
}

/** --mean/--std, else the checkpoint's own configuration, else the official loader's defaults. */
export function clipNormalization(m: Pick<LoadedModel, 'normalization'>, o: Pick<PipelineOptions, 'mean' | 'std'>): Normalization {
  const given = (v: number[] | undefined, what: string) => {
    if (v === undefined) return undefined;
    const t = v.length === 1 ? [v[0], v[0], v[0]] : v;
    if (t.length !== 3 || !t.every(Number.isFinite) || (what === 'std' && !t.every((x) => x > 0))) {
      throw new LabError('BAD_OPTION', `--${what} expects 1 or 3 ${what === 'std' ? 'positive ' : ''}numbers (R,G,B), got ${v.join(',')}`);
    }
    return t;
  };
  const mean = given(o.mean, 'mean');
  const std = given(o.std, 'std');
  const base = m.normalization ?? DEFAULT_NORMALIZATION;
  if (!mean && !std) return base;
  return { mean: mean ?? base.mean, std: std ?? base.std, source: `--mean/--std${mean && std ? '' : ` (the rest from ${base.source})`}` };
}

/**
 * A .npy clip as the model's input. uint8 frames are normalized exactly as the official loader
 * does in float32: x / 255, minus the mean, divided by the std (each step rounded to float32, as
 * PyTorch computes it), then (T, H, W, C) → (C, T, H, W). Sizes are never changed: a clip of
 * another size is refused.
 */
/** The most a clip may be as the model's float32 input: 1 GiB (a full-size clip is 4.8 MB; batch 200 of them fits). */
export const MAX_CLIP_BYTES = 2 ** 30;

/**
 * Whether an array of this dtype and shape is a clip of this model (clipFromArray's rules), and
 * within MAX_CLIP_BYTES: known from a .npy's header, before its data is read.
 */
export function clipLayout(dtype: DType, shape: readonly number[], m: Pick<LoadedModel, 'base' | 'weightsPath'>, path: string): void {
  const c = m.base;
  const dims = `(${shape.join(', ')})`;
  const bad = (msg: string): never => {
    throw new LabError('BAD_CLIP', msg, path);
  };
  const sizeProblems = (T: number, H: number, W: number) => {
    const p: string[] = [];
    if (T !== c.frames) p.push(`${T} frames, the model takes ${c.frames}`);
    if (H !== c.imageSize || W !== c.imageSize) p.push(`${H}×${W} pixels, the model takes ${c.imageSize}×${c.imageSize} (resize the short side and crop the centre first, as the official test loader does)`);
    if (p.length) throw new LabError('MISMATCH', `the clip ${dims} and checkpoint ${m.weightsPath} disagree: ${p.join('; ')}`, path);
  };
  const r = shape.length;
  let B: number;
  if (dtype === 'uint8') {
    if ((r !== 4 && r !== 5) || shape[r - 1] !== 3) bad(`uint8 frames must be (T, H, W, 3) or (B, T, H, W, 3) RGB, got ${dims}`);
    B = r === 4 ? 1 : shape[0];
    sizeProblems(shape[r - 4], shape[r - 3], shape[r - 2]);
  } else if (dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16') {
    if (!((r === 4 && shape[0] === 3) || (r === 5 && shape[1] === 3))) {
      bad(`a ${dtype} clip must be the model's input (B, 3, T, H, W), already normalized, got ${dims}` + (shape[r - 1] === 3 ? '; frames (T, H, W, 3) must be uint8 to be normalized here' : ''));
    }
    B = r === 4 ? 1 : shape[0];
    sizeProblems(shape[r - 3], shape[r - 2], shape[r - 1]);
  } else {
    return bad(`a clip must be float (B, 3, T, H, W) or uint8 frames (T, H, W, 3); this array is ${dtype} ${dims}`);
  }
  const bytes = B * 3 * c.frames * c.imageSize ** 2 * 4;
  if (bytes > MAX_CLIP_BYTES) {
    throw new LabError('LIMIT_EXCEEDED', `the clip ${dims} is ${B.toLocaleString('en-US')} clips, ${(bytes / 2 ** 30).toFixed(1)} GiB as the model's float32 input; the lab takes at most ${MAX_CLIP_BYTES / 2 ** 30} GiB (${Math.floor(MAX_CLIP_BYTES / (bytes / B))} clips of this model) at once`, path);
  }
}

export function clipFromArray(t: Tensor, m: Pick<LoadedModel, 'base' | 'weightsPath'>, path: string, norm: Normalization): { video: Tensor<'float32'>; input: InputInfo } {
  const c = m.base;
  const dims = `(${t.shape.join(', ')})`;
  const bad = (msg: string): never => {
    throw new LabError('BAD_CLIP', msg, path);
  };
  clipLayout(t.dtype, t.shape, m, path);
  const sizeProblems = (T: number, H: number, W: number) => {
    const p: string[] = [];
    if (T !== c.frames) p.push(`${T} frames, the model takes ${c.frames}`);
    if (H !== c.imageSize || W !== c.imageSize) p.push(`${H}×${W} pixels, the model takes ${c.imageSize}×${c.imageSize} (resize the short side and crop the centre first, as the official test loader does)`);
    if (p.length) throw new LabError('MISMATCH', `the clip ${dims} and checkpoint ${m.weightsPath} disagree: ${p.join('; ')}`, path);
  };
  if (t.dtype === 'uint8') {
    const r = t.shape.length;
    if ((r !== 4 && r !== 5) || t.shape[r - 1] !== 3) bad(`uint8 frames must be (T, H, W, 3) or (B, T, H, W, 3) RGB, got ${dims}`);
    const [B, T, H, W] = r === 4 ? [1, ...t.shape.slice(0, 3)] : t.shape.slice(0, 4);
    sizeProblems(T, H, W);
    const x = t.data as Uint8Array;
    const out = new Float32Array(B * 3 * T * H * W);
    const f = Math.fround;
    const mean = norm.mean.map(f);
    const std = norm.std.map(f);
    const hw = H * W;
    for (let b = 0; b < B; b++) {
      for (let ti = 0; ti < T; ti++) {
        for (let p = 0; p < hw; p++) {
          const src = ((b * T + ti) * hw + p) * 3;
          for (let ch = 0; ch < 3; ch++) out[((b * 3 + ch) * T + ti) * hw + p] = f(f(f(x[src + ch] / 255) - mean[ch]) / std[ch]);
        }
      }
    }
    const shape = [B, 3, T, H, W];
    const fmt = (v: number[]) => v.map((n) => +n.toFixed(4)).join(', ');
    return {
      video: new Tensor('float32', shape, out),
      input: { kind: 'frames', label: `frames of ${basename(path)} (/255, mean ${fmt(norm.mean)}, std ${fmt(norm.std)}: ${norm.source})`, path, shape, normalization: norm },
    };
  }
  if (t.dtype === 'float32' || t.dtype === 'float64' || t.dtype === 'float16' || t.dtype === 'bfloat16') {
    const r = t.shape.length;
    if (r === 4 && t.shape[0] === 3) return clipFromArray(new Tensor(t.dtype, [1, ...t.shape], t.data), m, path, norm);
    if (r !== 5 || t.shape[1] !== 3) {
      bad(`a ${t.dtype} clip must be the model's input (B, 3, T, H, W), already normalized, got ${dims}` + (t.shape[r - 1] === 3 ? '; frames (T, H, W, 3) must be uint8 to be normalized here' : ''));
    }
    sizeProblems(t.shape[2], t.shape[3], t.shape[4]);
    const video = t.asFloat32() as Tensor<'float32'>;
    // NaN or infinity in the input is the clip's, not the precision's (the run would blame FP16)
    const nf = findNonFinite(video.data);
    if (nf) throw new LabError('NON_FINITE', `the clip holds ${nf.value} at (${unravelIndex(nf.index, video.shape).join(', ')})${nf.count > 1 ? ` (${nf.count.toLocaleString('en-US')} non-finite values in all)` : ''}: the input is broken, not the precision`, path);
    return { video, input: { kind: 'npy', label: `${basename(path)} (the model's input, ${t.dtype})`, path, shape: [...t.shape] } };
  }
  return bad(`a clip must be float (B, 3, T, H, W) or uint8 frames (T, H, W, 3); this array is ${t.dtype} ${dims}`);
}

function basename(p: string): string {
  return p.replace(/\\/g, '/').split('/').pop() ?? p;
}

function checkClip(m: LoadedModel, video: Tensor<'float32'>, file: string | undefined): void {
  const c = m.base;
  const [B, ch, T, H, W] = video.shape;
  const problems: string[] = [];
  if (video.shape.length !== 5) problems.push(`the clip has shape [${video.shape.join(', ')}], expected (B, 3, T, H, W)`);
  else {
    if (B < 1) problems.push('the clip has batch size 0');
    if (ch !== 3) problems.push(`the clip has ${ch} channels, expected 3`);
    if (T !== c.frames) problems.push(`the clip has ${T} frames, the checkpoint's time_embed has ${c.frames}`);
    if (H !== c.imageSize || W !== c.imageSize) problems.push(`the clip is ${H}×${W}, the checkpoint expects ${c.imageSize}×${c.imageSize}`);
  }
  if (problems.length) throw new LabError('MISMATCH', `checkpoint ${m.weightsPath} and the clip disagree: ${problems.join('; ')}`, file);
}

/**
 * Read the checkpoint, the test data (or the clip) once; settle the head count; describe the
 * reference. Nothing here depends on the precision or the LayerNorm mode.
 */
export async function prepare(o: PipelineOptions, hooks: PipelineHooks = {}): Promise<Prepared> {
  const log: string[] = [];
  const say = (s: string) => {
    log.push(s);
    hooks.log?.(s);
  };
  const stage = (s: Stage, detail?: string) => {
    check(hooks.signal);
    hooks.onProgress?.(s, detail);
    say(`[${s}]${detail ? ' ' + detail : ''}`);
  };
  validateOptions(o);
  if (o.heads !== undefined && (!Number.isInteger(o.heads) || o.heads <= 0)) throw new LabError('BAD_OPTION', `heads must be a positive integer, got ${o.heads}`);
  const t0 = performance.now();
  stage('reading checkpoint', o.weights);
  const store = WeightStore.create({ expectBytes: sizeOf(o.weights) });
  say(`weight store: ${store.dir} (${store.usage().inMemory ? 'a memory file system: its bytes are RAM, beside the RSS' : 'on disk'}; ${store.why}; about 1-3x the model's float32 weights); removed when this run ends, on Ctrl-C, SIGTERM and SIGHUP`);
  try {
    return await prepareWith(store, o, hooks, { log, say, stage, t0 });
  } catch (e) {
    store.close();
    throw e;
  }
}

async function prepareWith(
  store: WeightStore, o: PipelineOptions, hooks: PipelineHooks,
  { log, say, stage, t0 }: { log: string[]; say: (s: string) => void; stage: (s: Stage, detail?: string) => void; t0: number },
): Promise<Prepared> {
  const m = await openModel(o.weights, store, expectedKinds(o));
  let data: TestData | undefined;
  let clip: { video: Tensor<'float32'>; input: InputInfo };
  if (o.data) {
    stage('reading test data', o.data);
    data = await readTestData(o.data, m.base);
    checkAgreement(m, data);
    clip = { video: data.video, input: { kind: 'test-data', label: `video of ${basename(o.data)}`, path: o.data, shape: [...data.video.shape] } };
  } else {
    // no test data: nothing to read but a clip file (a synthetic clip is made in no time)
    if (o.input && !/^synthetic(:\d+)?$/.test(o.input)) stage('reading the clip', o.input);
    clip = await readClip(o.input, m, o);
    checkClip(m, clip.video, clip.input.path);
  }
  const readMs = performance.now() - t0;
  const kind = m.source.kind === 'huggingface' ? `HuggingFace ${m.source.architecture ?? 'TimeSformer'}` : 'official TimeSformer';
  const head = m.base.numClasses > 0 ? `${m.base.numClasses} classes${m.labels ? ' (named)' : ''}` : 'no classifier: the final LayerNorm output is compared instead of probabilities';
  say(`model: ${kind}, ${m.base.depth} blocks, C=${m.base.embedDim}, ${m.base.frames}×${m.base.imageSize}², patch ${m.base.patchSize}, ${head}, ${m.base.params} params (${m.format} checkpoint, ${m.dtype})`);

  const t1 = performance.now();
  let heads = o.heads;
  let headsSource: ModelConfig['headsSource'] = 'option';
  let headsTried: { heads: number; block0RelL2: number }[] = [];
  if (heads !== undefined) {
    if (m.base.embedDim % heads !== 0) throw new LabError('BAD_OPTION', `embed dim ${m.base.embedDim} is not divisible by ${heads} heads`, o.weights);
  } else if (m.heads !== undefined) {
    // the checkpoint's own configuration (HF num_attention_heads) is authoritative
    heads = m.heads;
    headsSource = 'config';
    say(`heads: ${heads} (from the checkpoint's configuration)`);
  } else if (data) {
    // test data without block outputs is no evidence for a head count: detectHeads says so (HEADS_UNDETECTED)
    stage('detecting heads');
    const r = await detectHeads(m, data, say);
    heads = r.heads;
    headsTried = r.tried;
    headsSource = 'detected';
    say(`heads: ${heads} (detected: block 0 matches the reference)`);
  } else {
    heads = headCandidatesFor(m.base.embedDim, o.weights)[0];
    headsSource = 'assumed';
    say(`heads: ${heads} (assumed: head dim ${m.base.embedDim / heads}; no test data to detect it from, pass --heads to set it)`);
  }
  // a verdict over zero blocks would say every block passes having compared none
  if (data && data.blocks.length === 0) throw new LabError('BAD_TEST_DATA', 'the test data has no block outputs: there is nothing to compare block by block (test_data.p holds (video, [probs, [block 0 output, block 1 output, ...]]))', data.path);
  const config: ModelConfig = { ...m.base, heads, headsSource, headsTried };
  const headsMs = performance.now() - t1;

  let probe: Promise<{ g: BuiltGraph; out: Map<string, Float32Array> }> | undefined;
  const pending = { readMs, headsMs, referenceMs: 0 };
  const probeGraphOptions: GraphOptions = { ...graphOptions(config, clip.video.shape[0], o, 'fp32'), precision: 'fp32', layerNorm: 'plain', layerNormOverrides: undefined, probes: true };
  // the probe run beside an engine, while it runs: how far it is, and who waits for it (besideWait)
  type BesideRun = { what: string; segment?: [number, number]; listener?: (k: number, n: number) => void };
  let beside: BesideRun | undefined;
  const fp32Probe = (how: ProbeHow = {}) => {
    probe ??= (async () => {
      // waited on unless it runs beside an engine (then the engine's stages are what the user sees,
      // and besideWait's stage once the engine is done before it)
      const what = data ? 'LayerNorm statistics: FP32 of this model on the CPU EP' : 'FP32 of this model on the CPU EP';
      if (!how.beside) stage('computing the FP32 reference', what);
      const run: BesideRun | undefined = how.beside ? (beside = { what }) : undefined;
      const onSegment = run
        ? (k: number, n: number) => { run.segment = [k, n]; run.listener?.(k, n); }
        : (k: number, n: number) => hooks.onProgress?.('computing the FP32 reference', `${what}, segment ${k}/${n}`);
      const t = performance.now();
      try {
        const g = cpuGraph(m.weights, probeGraphOptions);
        const onThread = how.beside ? await runFp32OnCpuThread(g, clip.video, say, onSegment) : undefined;
        const { out, sessionMs, runMs, bytes } = onThread ?? (await runFp32OnCpu(g, clip.video, onSegment));
        pending.referenceMs += performance.now() - t;
        say(`fp32 probe run on the CPU EP${onThread ? ' (on a worker thread, beside the engine)' : ''}: ${out.size} outputs (${(bytes / 2 ** 20).toFixed(1)} MiB), session ${sessionMs.toFixed(0)} ms, run ${runMs.toFixed(0)} ms`);
        return { g, out };
      } finally {
        if (run) beside = undefined;
      }
    })();
    return probe;
  };
  let reference: Promise<Reference> | undefined;
  let headsEvidence: Promise<{ heads: number; block0RelL2: number }[]> | undefined;
  const prepared: Prepared = {
    options: o, model: m, data, video: clip.video, input: clip.input, config, pending, say, log,
    fp32Probe, probeGraphOptions,
    hasProbe: () => !!probe,
    besideRun: () => beside && { what: beside.what, segment: beside.segment, listen: (f) => void (beside && (beside.listener = f)) },
    adoptProbe: (g, out) => {
      if (probe) throw new Error('the fp32 probe run exists already');
      probe = Promise.resolve({ g, out });
    },
    close: () => store.close(),
    headsEvidence: () => {
      headsEvidence ??= !data || !data.blocks.length ? Promise.resolve([]) : headsTried.length ? Promise.resolve(headsTried) : (async () => {
        try {
          return (await detectHeads(m, data, say)).tried;
        } catch (e) {
          // no head count reproduces block 0: the list of what each gives is still the evidence
          const tried = (e as { tried?: { heads: number; block0RelL2: number }[] }).tried;
          if (tried) return tried;
          throw e;
        }
      })();
      return headsEvidence;
    },
    reference: (how?: ProbeHow) => {
      reference ??= data
        ? Promise.resolve({
          info: { kind: 'test-data', label: `test data ${basename(data.path)} (PyTorch)`, path: data.path },
          blocks: data.blocks.map((b) => b.data), blockShape: [...(data.blocks[0]?.shape ?? [])], probs: data.probs.data, stats: [],
        })
        : (async () => {
          const { g, out } = await fp32Probe(how);
          const B = clip.video.shape[0];
          const tokens = 1 + config.numPatches * config.frames;
          return {
            info: { kind: 'self', label: 'FP32 of this model (CPU EP)' },
            blocks: g.blockNames.map((n) => out.get(n)!), blockShape: [B, tokens, config.embedDim], probs: out.get(g.probsName!)!, stats: [],
          };
        })();
      return reference;
    },
  };
  return prepared;
}

/** One run of the whole pipeline in one mode (the CLI and the extension's single runs). */
export async function runPipeline(o: PipelineOptions, hooks: PipelineHooks = {}): Promise<PipelineResult> {
  const p = await prepare(o, hooks);
  try {
    return await runMode(p, o, hooks);
  } finally {
    p.close();
  }
}

/**
 * Several LayerNorm modes over one preparation: the checkpoint and test data are read once, the
 * heads detected once, the FP32 CPU results reused; each mode's engine is released before the next.
 * 'minimal' runs plain with only the LayerNorms whose mechanism fires kept in FP32.
 */
export async function runModes(o: PipelineOptions, modes: readonly LayerNormChoice[], hooks: PipelineHooks & { onResult?: (r: PipelineResult) => void } = {}): Promise<Report[]> {
  // a second process for half the GPU sessions (helper.ts), started first: its onnxruntime and
  // GPU device come up while this process reads the checkpoint
  const helper = helperWanted(o, modes) ? GpuHelper.start() : undefined;
  const warm = helper?.warm(o.ep as EpName).catch((e: Error) => ({ available: false, reason: e.message }));
  let p: Prepared | undefined;
  try {
    p = await prepare(o, hooks);
    // the fp32 CPU run that GPU modes will want (the self-reference without test data; the probe a
    // plain FP16 mode is diagnosed from) starts now, on a worker thread, beside their engine (under
    // 'auto' also when the engine falls back to the CPU EP: a segmented run holds little)
    if (besideEngine(o) && (!p.data || (o.precision === 'fp16' && modes.some((m) => m === 'plain' || m === 'minimal')))) {
      p.fp32Probe({ beside: true }).catch(() => undefined); // awaited by the mode that needs it
    }
    const opts: PipelineOptions[] = [];
    for (const choice of modes) {
      const saveOnnx = o.saveOnnx && modes.length > 1 ? o.saveOnnx.replace(/(\.onnx)?$/, `.${choice}.onnx`) : o.saveOnnx;
      // 'minimal' reads the probe run's statistics: a wait of its own while it runs beside
      const mode = choice === 'minimal' ? await besideWait(p, minimalOptions(p, o), (s, d) => hooks.onProgress?.(s, d), hooks) : { layerNorm: choice };
      opts.push({ ...o, ...mode, saveOnnx });
    }
    const w = await warm;
    if (helper && w && !w.available) p.say(`modes: all in this process (the GPU helper process cannot load ${o.ep}: ${w.reason ?? 'unknown'})`);
    const results = helper && w?.available ? await runWithHelper(p, opts, modes, helper, hooks) : undefined;
    const reports: Report[] = [];
    for (let i = 0; i < opts.length; i++) {
      const r = results?.[i] ?? (await runMode(p, opts[i], modeHooks(hooks, modes, i)));
      hooks.onResult?.(r);
      reports.push(r.report);
    }
    return reports;
  } finally {
    helper?.close();
    p?.close();
  }
}

/**
 * `what` (the self-reference, the probe) from the fp32 run beside the engine: when that run is still
 * going — the engine was done first — the wait is a stage of its own, with the run's segments.
 */
async function besideWait<T>(p: Prepared, what: Promise<T>, stage: (s: Stage, detail?: string) => void, hooks: PipelineHooks): Promise<T> {
  const run = p.besideRun();
  if (!run) return what;
  const detail = (seg?: [number, number]) => `${run.what}, on a worker thread${seg ? `, segment ${seg[0]}/${seg[1]}` : ''}`;
  stage('waiting for the FP32 reference (CPU)', detail(run.segment));
  run.listen((k, n) => hooks.onProgress?.('waiting for the FP32 reference (CPU)', detail([k, n])));
  try {
    return await what;
  } finally {
    run.listen(undefined);
  }
}

/** Calls of `f` at most every `ms` milliseconds, and always the last (done === total). */
function throttled(ms: number, f: (done: number, total: number) => void): (done: number, total: number) => void {
  let last = -Infinity;
  return (done, total) => {
    const now = performance.now();
    if (done < total && now - last < ms) return;
    last = now;
    f(done, total);
  };
}

/** Several modes: each stage of mode i says which ("mode 2/3 fp32: cpu, FP16 LayerNorm fp32"). */
function modeHooks(hooks: PipelineHooks, modes: readonly LayerNormChoice[], i: number): PipelineHooks {
  if (modes.length < 2 || !hooks.onProgress) return hooks;
  const on = hooks.onProgress;
  return { ...hooks, onProgress: (s, d) => on(s, `mode ${i + 1}/${modes.length} ${modes[i]}${d ? `: ${d}` : ''}`) };
}

/**
 * Whether the fp32 CPU run (the self-reference, the probe) goes beside the engine, on a worker
 * thread, while this thread builds and runs it: for any provider but the CPU EP, where threads can
 * start. Before a CPU engine it runs first (two CPU runs at once would share the cores and hold both
 * runs' memory).
 */
function besideEngine(o: PipelineOptions): boolean {
  return (o.ep ?? 'cpu') !== 'cpu' && defaultThreads() > 0;
}

/** Every LayerNorm mode a graph of these options holds: the mode and its per-LayerNorm overrides. */
function layerNormModesOf(o: PipelineOptions): LayerNormMode[] {
  return [o.layerNorm ?? 'plain', ...Object.values(o.layerNormOverrides ?? {})];
}

/**
 * Whether a run of these modes gets a GPU helper process: two modes or more on WebGPU or CUDA
 * (named: under 'auto' the provider is known only once one loads), not for timing runs (--repeat).
 * TIMESFORMER_LAB_GPU_HELPER=0 turns it off; =1 also gives one to the CPU EP (tests: no GPU here).
 */
function helperWanted(o: PipelineOptions, modes: readonly LayerNormChoice[]): boolean {
  const env = process.env.TIMESFORMER_LAB_GPU_HELPER;
  return modes.length > 1 && (o.ep === 'webgpu' || o.ep === 'cuda' || (o.ep === 'cpu' && env === '1')) && !o.repeat && env !== '0';
}

/**
 * Which modes the GPU helper process runs: the sessions split evenly between the two processes,
 * greedily, heaviest first. A mode weighs 1, expose 1.5 (four times the outputs, its run twice as
 * long); a plain FP16 mode's minimal fix's confirmation is one more engine, always in this process
 * (it is decided here, after the comparison), wherever the mode itself runs. Ties go to the helper.
 */
export function helperModes(opts: readonly Pick<PipelineOptions, 'precision' | 'layerNorm' | 'confirmMinimalFix' | 'layerNormOverrides'>[]): boolean[] {
  const confirms = (x: (typeof opts)[number]) => x.precision === 'fp16' && (x.layerNorm ?? 'plain') === 'plain' && !Object.keys(x.layerNormOverrides ?? {}).length && x.confirmMinimalFix !== false;
  const weight = (x: (typeof opts)[number]) => ((x.layerNorm ?? 'plain') === 'expose' ? 1.5 : 1);
  let here = opts.filter(confirms).length;
  let there = 0;
  const far = opts.map(() => false);
  const order = opts.map((x, i) => i).sort((a, b) => weight(opts[b]) - weight(opts[a]) || a - b);
  for (const i of order) {
    if (there <= here) {
      far[i] = true;
      there += weight(opts[i]);
    } else here += weight(opts[i]);
  }
  // something for each process: the helper is there to share the work
  if (far.every(Boolean)) far[0] = false;
  return far;
}

/**
 * The modes on two processes (helperModes): the helper runs its modes (each model built here,
 * saved in the weight store's folder and run there) while this process runs the others. Each mode
 * is compared here, as its outputs arrive; each mode's lines carry its name. A mode the helper
 * could not run is run here.
 */
async function runWithHelper(p: Prepared, opts: readonly PipelineOptions[], modes: readonly LayerNormChoice[], helper: GpuHelper, hooks: PipelineHooks): Promise<PipelineResult[]> {
  const store = p.model.weights instanceof WeightStore ? p.model.weights : undefined;
  if (!store) throw new Error('runWithHelper: the weights are not in a store');
  const n = opts.length;
  const far = helperModes(opts);
  const B = p.video.shape[0];
  const ep = opts[0].ep as EpName;
  const precision = opts[0].precision ?? 'fp32';
  const realization = realizationFor(ep, precision);
  const videoFile = path.join(store.dir, 'video.f32');
  fs.writeFileSync(videoFile, new Uint8Array(p.video.data.buffer, p.video.data.byteOffset, p.video.data.byteLength));
  const hooksFor = (i: number): PipelineHooks => ({ ...modeHooks(hooks, modes, i), log: hooks.log && ((l: string) => hooks.log!(`(${modes[i]}) ${l}`)) });
  const sent = opts.map((x, i) => ({ x, i })).filter(({ i }) => far[i]).map(({ x, i }) => {
    const t = performance.now();
    const g = buildTimeSformer(p.model.weights, graphOptions(p.config, B, x, realization));
    const buildGraphMs = performance.now() - t;
    const run = helper.run({
      model: g.source as string, ep, precision, layerNorm: x.layerNorm ?? 'plain', layerNormModes: layerNormModesOf(x), probes: x.probes,
      inputName: g.inputName, videoFile, dims: [...p.video.shape], outFile: path.join(store.dir, `outputs-${i}.f32`),
    });
    run.catch(() => undefined); // awaited below, in order
    return { i, g, buildGraphMs, run };
  });
  const names = (there: boolean) => opts.filter((_, i) => far[i] === there).map((x) => x.layerNorm ?? 'plain').join(', ');
  p.say(`modes: ${names(false)} in this process; ${names(true)} in the GPU helper process`);
  const results: PipelineResult[] = new Array(n);
  let helperPeak = 0;
  // one set of threads for every mode's comparison (with a set per mode, the modes compared at once
  // each held threads and their copies of the blocks: peak 2.1-2.2 GB at full size in device run 18,
  // 1.9-2.0 GB with one set in run 19)
  const { depth, numPatches, frames, embedDim } = p.config;
  const pool = comparePool(n * depth * B * (1 + numPatches * frames) * embedDim, defaultThreads());
  const here = (async () => {
    for (let i = 0; i < n; i++) if (!far[i]) results[i] = await runMode(p, opts[i], hooksFor(i), undefined, pool);
  })();
  const there = (async () => {
    for (const s of sent) {
      let given: GivenEngine | undefined;
      try {
        const r = await s.run;
        helperPeak = Math.max(helperPeak, r.helperPeakRssBytes);
        given = { engine: ranEngine({ ...r, cache: 'none' }, r.outputs, r.outputBytes, r.sessionMs, r.runMs, s.buildGraphMs), g: s.g };
        hooksFor(s.i).log?.(`ran in the GPU helper process: session ${r.sessionMs.toFixed(0)} ms, run ${r.runMs.toFixed(0)} ms`);
      } catch (e) {
        hooksFor(s.i).log?.(`the GPU helper process could not run it (${(e as Error).message}); running it here`);
      }
      results[s.i] = await runMode(p, opts[s.i], hooksFor(s.i), given, pool);
    }
  })();
  try {
    await Promise.all([here, there]);
  } finally {
    void pool?.close();
  }
  fs.rmSync(videoFile, { force: true });
  for (const r of results) r.report.run.timings.helperPeakRssBytes = Math.max(helperPeak, helper.peakRssBytes);
  return results;
}

/** An engine that has run already (elsewhere, or for several modes, or outside: imported TensorRT outputs): run() gives these outputs. */
export function ranEngine(
  e: Pick<Engine, 'ep' | 'realization' | 'fallbacks' | 'cache'>, out: Map<string, Float32Array>, outputBytes: number, sessionMs: number, runMs: number, buildGraphMs: number,
): Engine {
  return {
    ep: e.ep, realization: e.realization, fallbacks: e.fallbacks, cache: e.cache, sessionMs, lastRunMs: runMs, buildGraphMs, outputBytes,
    run: async () => out,
    release: async () => undefined,
  };
}

/** A mode's engine and graph when they were built beforehand (in the GPU helper process, or by TensorRT: core/trt/import.ts). */
export interface GivenEngine {
  engine: Engine;
  g: BuiltGraph;
}

/** The realization `o` asks for, as far as it is known before an engine loads (the limits are the same for native and emulated). */
function intendedSpec(o: PipelineOptions): RealizationSpec {
  const precision = o.precision ?? 'fp32';
  const ep = o.ep === undefined || o.ep === 'auto' ? 'cpu' : o.ep;
  return { precision, realization: realizationFor(ep, precision), accumulate: o.accumulate ?? 'fp32' };
}

/** LayerNorm statistics of our FP32 graph on the CPU: inputs no 16-bit failure has damaged yet. */
export async function healthyStats(p: Prepared): Promise<LayerNormStats[]> {
  const { g, out } = await p.fp32Probe();
  const none = { square: null, sumSquares: null, sumX: null };
  return [...statsFrom(g, out, 'fp32-probe', () => none, () => 'plain').values()];
}

/**
 * 'minimal': plain LayerNorms, with those whose mechanism fires under the intended realization on
 * the healthy statistics in FP32 — read from the statistics, proved by the run that follows.
 */
export async function minimalOptions(p: Prepared, o: PipelineOptions): Promise<Pick<PipelineOptions, 'layerNorm' | 'layerNormOverrides'>> {
  const spec = intendedSpec(o);
  const shift = o.prescaleShift ?? 3;
  const fire = (await healthyStats(p)).filter((h) => firingUnder(h, lnLimits(spec, 'plain', shift)).length);
  p.say(fire.length
    ? `minimal fix: ${fire.length} LayerNorm(s) in FP32, from the statistics: ${fire.map((h) => h.name).join(', ')}`
    : 'minimal fix: no LayerNorm overflows in this realization; plain everywhere');
  return { layerNorm: 'plain', layerNormOverrides: { ...(o.layerNormOverrides ?? {}), ...Object.fromEntries(fire.map((h) => [h.name, 'fp32' as const])) } };
}

/** Build, run and compare one mode on a preparation. `o`'s input fields (weights, data, input, heads) are ignored. */
export async function runMode(p: Prepared, o: PipelineOptions, hooks: PipelineHooks = {}, given?: GivenEngine, sharedPool?: WorkerPool): Promise<PipelineResult> {
  const t0 = performance.now();
  const { config, model: m } = p;
  const log: string[] = [];
  const say2 = (s: string) => {
    log.push(s);
    hooks.log?.(s);
  };
  const stage = (s: Stage, detail?: string) => {
    check(hooks.signal);
    hooks.onProgress?.(s, detail);
    say2(`[${s}]${detail ? ' ' + detail : ''}`);
  };
  const precision = o.precision ?? 'fp32';
  const layerNorm = o.layerNorm ?? 'plain';
  const overrides = o.layerNormOverrides ?? {};
  const B = p.video.shape[0];
  // FP32 with a plain LayerNorm on the CPU EP builds the fp32 probe run's very graph: without test
  // data (the probe run is the self-reference) run it once, as this mode, and keep it as both.
  const isProbe = !p.data && !p.hasProbe() && (o.ep ?? 'cpu') === 'cpu' && sameGraph(graphOptions(config, B, o, 'fp32'), p.probeGraphOptions);
  const beside = besideEngine(o);
  const refP = isProbe ? undefined : p.reference({ beside });
  refP?.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
  if (!beside) await refP;
  // A plain 16-bit LayerNorm is the mode the diagnosis is about: if it fails, the diagnosis reads
  // the healthy statistics of the fp32 probe run on the CPU. With test data that run is not the
  // reference, so it would come after the engine — while the engine's outputs and what its
  // session left in the allocator are still held (device run 12, a failing plain mode with
  // test data: peak RSS 2.7x the weights; run 13, probe first: 2.0x). Start it first, as a run
  // without test data does; the work is the same whenever the mode fails.
  if (p.data && precision === 'fp16' && layerNorm === 'plain' && !p.hasProbe()) {
    const probeP = p.fp32Probe({ beside });
    probeP.catch(() => undefined);
    if (!beside) await probeP;
  }
  // what preparation said (reading, heads, the reference) opens this mode's log
  log.unshift(...p.log.splice(0));

  const over = Object.keys(overrides).length;
  stage('building graph', `${precision}, LayerNorm ${layerNorm}${over ? ` (${over} overridden)` : ''}${precision !== 'fp32' ? `, ${o.accumulate ?? 'fp32'} accumulation` : ''}`);
  const built = new Map<Realization, BuiltGraph>();
  const needsKey = (o.ep ?? 'cpu') === 'auto' || o.ep === 'tensorrt';
  const cacheKey = !given && needsKey && o.trtCacheDir
    ? engineCacheKey(await sha256Files(m.source.files), graphOptions(config, B, o, 'tensorrt'))
    : undefined;
  stage('building engine', `${o.ep ?? 'cpu'}, ${precision.toUpperCase()} LayerNorm ${over ? `${layerNorm} (${over} in FP32)` : layerNorm}`);
  if (given) built.set(given.engine.realization, given.g);
  const engine: Engine = given?.engine ?? await createEngine({
    ep: o.ep ?? 'cpu', precision, layerNorm, deviceId: o.deviceId, trtCacheDir: o.trtCacheDir, cacheKey, log: say2, probes: o.probes,
    // progress within the run (a segmented CPU run), not logged: the stage line says it
    onSegment: (k, n) => hooks.onProgress?.('running', `${o.ep ?? 'cpu'}, segment ${k}/${n}`),
    layerNormModes: layerNormModesOf(o),
    buildModel: (realization, ep) => {
      const go = graphOptions(config, B, o, realization);
      const b = ep === 'cpu' ? cpuGraph(m.weights, go, !!o.repeat) : buildTimeSformer(m.weights, go);
      built.set(realization, b);
      say2(`graph: ${b.nodeCount} nodes, ${(b.initializerBytes / 2 ** 20).toFixed(1)} MiB of weights, ${b.extraOutputs.length} extra outputs (${realization})`);
      return b.source;
    },
  });
  let released = false;
  let pool: WorkerPool | undefined;
  try {
    const g = built.get(engine.realization)!;
    if (o.saveOnnx) {
      g.writeOnnx(o.saveOnnx);
      say2(`saved the ONNX graph as run to ${o.saveOnnx}`);
    }
    stage('running', engine.ep);
    const feeds = { [g.inputName]: p.video.data };
    const dims = { [g.inputName]: [...p.video.shape] };
    const out = await engine.run(feeds, dims);
    // the engine's own measure: a segmented CPU engine creates its segments' sessions inside run()
    // (session time, not inference), and an engine given ran in the GPU helper process
    const runMs = engine.lastRunMs;
    const outputBytes = engine.outputBytes;
    say2(`ran in ${runMs.toFixed(0)} ms on ${engine.ep}; ${(outputBytes / 2 ** 20).toFixed(1)} MiB of outputs left the engine`);
    let warmRunMs: number | undefined;
    if (o.repeat && o.repeat > 0) {
      const times: number[] = [];
      for (let i = 0; i < o.repeat; i++) {
        check(hooks.signal);
        const t = performance.now();
        await engine.run(feeds, dims);
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      warmRunMs = times[Math.floor(times.length / 2)];
      say2(`${o.repeat} more runs: median ${warmRunMs.toFixed(1)} ms (min ${times[0].toFixed(1)} ms)`);
    }
    // threads for the comparison start now, while the engine is released (not before its runs: they hold memory)
    pool = sharedPool ?? comparePool(g.blockNames.reduce((n, b) => n + (out.get(b)?.length ?? 0), 0), defaultThreads());
    // the outputs are ours now: free the session (weights, arena) before comparing
    released = true;
    await engine.release();
    // without test data the reference is the probe run (with it, the run beside is the statistics' only)
    let ref = refP ? await (p.data ? refP : besideWait(p, refP, stage, hooks)) : undefined;
    if (!ref) {
      p.adoptProbe(g, out);
      say2('reference: this run (the fp32 probe run on the CPU EP: FP32 of this model)');
      ref = await p.reference();
    }

    stage('comparing');
    const t2 = performance.now();
    let probe: { g: BuiltGraph; out: Map<string, Float32Array> } | undefined;
    if (!g.layerNorms.some((l) => l.stats)) {
      // No statistics outputs in the engine (TensorRT: marking outputs changes its precision
      // choices). They come from the LayerNorm inputs of an fp32 run on the CPU.
      say2('LayerNorm statistics from an fp32 probe run on the CPU (the engine ran without statistics outputs)');
      probe = await besideWait(p, p.fp32Probe(), stage, hooks);
    }
    const blocks = await compareBlocks(ref.blocks.map((r, i) => {
      const o = out.get(g.blockNames[i]);
      if (!o) throw new LabError('ENGINE_FAILED', `the engine returned no output for block ${i}`);
      // the reference's statistics are the same for every mode (and a run that is its own reference has them)
      return { out: o, ref: r, outName: `blocks.${i}.out`, refName: ref!.stats[i] || r === o ? undefined : `blocks.${i}.ref` };
    }), { S: config.numPatches, T: config.frames, C: config.embedDim, shape: ref.blockShape }, pool,
    // at most ~10 lines a second: a block is compared in ~40 ms at full size, on several threads
    throttled(100, (k, n) => hooks.onProgress?.('comparing', `block ${k}/${n}`)));
    // expose mode: the statistics of every exposed intermediate (166 MiB at full size) on the threads too
    const exposed = pool ? await exposedStats(g, out, config.embedDim, pool) : undefined;
    if (pool !== sharedPool) void pool?.close();
    pool = undefined;
    const { report, input } = compare({ o, p, ref, g, out, engine, log, probe, blocks, exposed });
    // more evidence where the first verdict asks for it
    if (report.diagnosis.verdict === 'fail' && report.diagnosis.causes.some((c) => c.mechanism !== 'nonFiniteInput') && precision === 'fp16') {
      input.healthy = await besideWait(p, healthyStats(p), stage, hooks);
      report.diagnosis = diagnose(input);
    } else if (report.diagnosis.firstBadBlock === 0 && !report.diagnosis.causes.length && config.headsSource !== 'detected' && p.data) {
      say2('block 0 fails: trying every head count on block 0 for evidence');
      input.heads = { heads: config.heads, source: config.headsSource, tried: await p.headsEvidence() };
      report.diagnosis = diagnose(input);
    }
    const { readMs, headsMs, referenceMs } = p.pending;
    p.pending.readMs = p.pending.headsMs = p.pending.referenceMs = 0;
    const peakRssBytes = process.resourceUsage().maxRSS * 1024;
    const store = storeUsage(m.weights);
    report.run.timings = {
      readMs, headsMs, referenceMs, buildGraphMs: engine.buildGraphMs, sessionMs: engine.sessionMs, runMs,
      compareMs: performance.now() - t2, totalMs: performance.now() - t0 + readMs + headsMs, ...(warmRunMs !== undefined ? { warmRunMs } : {}), peakRssBytes,
      ...(store ? { storeBytes: store.bytes, storeInMemory: store.inMemory } : {}),
    };
    report.run.outputBytes = outputBytes;
    say2(report.diagnosis.sentence);
    say2(`peak RSS ${(peakRssBytes / 2 ** 20).toFixed(0)} MiB (${(peakRssBytes / m.weightBytes).toFixed(2)}× the checkpoint's ${(m.weightBytes / 2 ** 20).toFixed(0)} MiB of weights)${store ? `; ${memoryText(peakRssBytes, store)}` : ''}`);
    const result = { report };
    if (report.diagnosis.minimalFix && o.confirmMinimalFix !== false) {
      const t3 = performance.now();
      await confirmMinimalFix(p, o, report, hooks, say2, sharedPool);
      report.run.timings.confirmMs = performance.now() - t3;
      report.run.timings.confirmPeakRssBytes = process.resourceUsage().maxRSS * 1024;
      // the confirmation may derive more of the store (another form of the weights)
      const after = storeUsage(m.weights);
      if (after) report.run.timings.storeBytes = after.bytes;
    }
    return result;
  } finally {
    if (pool !== sharedPool) void pool?.close();
    if (!released) await engine.release();
  }
}

/** The weight store's usage, when the weights are in one (the pipeline's way; not the in-memory tests'). */
function storeUsage(w: Weights): StoreUsage | undefined {
  return w instanceof WeightStore ? w.usage() : undefined;
}

/**
 * The memory a run holds beyond its RSS, in words: the weight store's bytes, and where. In a tmpfs
 * they are RAM that RSS does not count (except the pages the sessions mapped and touched, which are
 * in both: the sum is an upper bound).
 */
export function memoryText(rssBytes: number, s: Pick<StoreUsage, 'bytes' | 'inMemory' | 'dir'>): string {
  const m = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  return s.inMemory
    ? `weight store ${m(s.bytes)} of RAM in ${s.dir} (not in the RSS): RSS + store ${m(rssBytes + s.bytes)} at most`
    : `weight store ${m(s.bytes)} on disk in ${s.dir} (page cache, not RAM the run holds)`;
}

/**
 * One run with only the minimal fix's LayerNorms in FP32, on the same preparation; its result goes
 * into the diagnosis. A stage of its own: its engine's stages are its detail ("running (cpu,
 * segment 2/4)"), so that the user sees a second engine build and run, not a long "comparing".
 */
async function confirmMinimalFix(p: Prepared, o: PipelineOptions, report: Report, hooks: PipelineHooks, say: (s: string) => void, pool?: WorkerPool): Promise<void> {
  const fix = report.diagnosis.minimalFix!;
  const what = `${fix.layerNorms.length} LayerNorm${fix.layerNorms.length > 1 ? 's' : ''} in FP32`;
  hooks.onProgress?.('confirming the minimal fix', what);
  say(`confirming the minimal fix: one run with only ${fix.layerNorms.join(', ')} in FP32`);
  const overrides = { ...(o.layerNormOverrides ?? {}), ...Object.fromEntries(fix.layerNorms.map((n) => [n, 'fp32' as const])) };
  const inner: PipelineHooks = {
    log: hooks.log, signal: hooks.signal,
    onProgress: hooks.onProgress && ((s, d) => hooks.onProgress!('confirming the minimal fix', `${what}: ${s}${d && s !== 'building graph' ? ` (${d})` : ''}`)),
  };
  const r = (await runMode(p, { ...o, layerNormOverrides: overrides, confirmMinimalFix: false, saveOnnx: undefined, repeat: 0 }, inner, undefined, pool)).report;
  const worst = r.blocks.reduce((w, b) => (b.relL2 > w.relL2 ? b : w), r.blocks[0]);
  fix.confirmed = { verdict: r.diagnosis.verdict, firstBadBlock: r.diagnosis.firstBadBlock, worstBlock: worst.index, worstRelL2: worst.relL2, probsRelL2: r.probs.relL2 };
  const e = (x: number) => x.toExponential(1);
  report.diagnosis.sentence += r.diagnosis.verdict === 'pass'
    ? ` Confirmed by one run with only them in FP32: every block passes (worst ${e(worst.relL2)} at block ${worst.index}).`
    : ` One run with only them in FP32 still fails at block ${r.diagnosis.firstBadBlock ?? 'probs'} (${r.diagnosis.sentence.split('. ')[0]}).`;
  report.log.push(...r.log.filter((l) => !l.startsWith('[')).map((l) => `  (minimal fix run) ${l}`));
  say(report.diagnosis.sentence);
}

interface CompareInput {
  o: PipelineOptions;
  p: Prepared;
  ref: Reference;
  g: BuiltGraph;
  out: Map<string, Float32Array>;
  engine: Engine;
  log: string[];
  /** An fp32 probe run's outputs, when the engine had no statistics outputs. */
  probe?: { g: BuiltGraph; out: Map<string, Float32Array> };
  /** Each block output against the reference (compareBlocks). */
  blocks: BlockComparison[];
  /** The exposed intermediates' statistics by name, when worker threads computed them. */
  exposed?: Map<string, TensorStats>;
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
function statsFrom(
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

function compare(c: CompareInput): { report: Report; input: DiagnoseInput } {
  const { g, out, engine, ref } = c;
  const { config } = c.p;
  const precision = c.o.precision ?? 'fp32';
  const layerNorm = c.o.layerNorm ?? 'plain';
  const overrides = c.o.layerNormOverrides ?? {};
  const tolerance = c.o.tolerance ?? defaultTolerance(precision);
  const accumulate = c.o.accumulate ?? 'fp32';
  const shift = c.o.prescaleShift ?? 3;
  const spec: RealizationSpec = { precision, realization: engine.realization, accumulate };
  const { embedDim: C } = config;
  const limitsFor = (_name: string, mode: LayerNormMode) => lnLimits(spec, mode, shift);
  // an fp32 probe graph is plain everywhere: its statistics are judged by the engine's own modes
  const lnStats = c.probe
    ? statsFrom(c.probe.g, c.probe.out, 'fp32-probe', limitsFor, (name) => overrides[name] ?? layerNorm)
    : statsFrom(g, out, 'engine', limitsFor, (_n, built) => built);
  const blocks: BlockResult[] = ref.blocks.map((refBlock, i) => {
    const cmp = c.blocks[i];
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
    const labels = c.p.model.labels;
    probs = {
      kind: 'probabilities', relL2: pd.relL2, maxAbs: pd.maxAbs, top1, refTop1, top1Agree: top1 === refTop1,
      ...(labels?.[top1] ? { top1Label: labels[top1] } : {}), ...(labels?.[refTop1] ? { refTop1Label: labels[refTop1] } : {}),
    };
  }
  const finalNorm = lnStats.get('norm') ?? null;
  const input: DiagnoseInput = {
    blocks, probs, finalNorm, tolerance, spec, layerNorm, layerNormOverrides: overrides, prescaleShift: shift, channels: C,
    heads: { heads: config.heads, source: config.headsSource, tried: config.headsTried },
  };
  const diagnosis = diagnose(input);
  const report: Report = {
    version: REPORT_VERSION,
    tool: 'timesformer-precision-lab',
    createdAt: new Date().toISOString(),
    inputs: {
      weights: c.p.options.weights, ...(c.p.data ? { data: c.p.data.path } : {}), weightsFormat: c.p.model.format, weightsDtype: c.p.model.dtype,
      weightBytes: c.p.model.weightBytes,
      reference: ref.info, input: c.p.input, model: c.p.model.source,
    },
    config,
    run: {
      precision, layerNorm, layerNormOverrides: overrides, accumulate, requestedEp: c.o.ep ?? 'cpu', ep: engine.ep, realization: engine.realization,
      label: realizationLabel(engine.ep, precision, engine.realization, accumulate),
      fallbacks: engine.fallbacks, engine: { cache: engine.cache },
      timings: { readMs: 0, headsMs: 0, referenceMs: 0, buildGraphMs: 0, sessionMs: 0, runMs: 0, compareMs: 0, totalMs: 0 },
      extraOutputs: g.extraOutputs.length,
    },
    tolerance,
    toleranceSource: c.o.tolerance === undefined ? 'precision' : 'option',
    blocks,
    probs,
    finalNorm,
    diagnosis,
    log: c.log,
  };
  return { report, input };
}

/** A file's size, or a folder's files' (a HuggingFace checkpoint); 0 when it cannot be read (the reader says why later). */
function sizeOf(p: string): number {
  try {
    const st = fs.statSync(p);
    if (!st.isDirectory()) return st.size;
    return fs.readdirSync(p).reduce((n, f) => n + (fs.statSync(`${p}/${f}`, { throwIfNoEntry: false })?.size ?? 0), 0);
  } catch {
    return 0;
  }
}

/** Whether two graph options build the same graph (the config object is the same preparation's). */
function sameGraph(a: GraphOptions, b: GraphOptions): boolean {
  const key = (g: GraphOptions) => JSON.stringify({ ...g, config: undefined, layerNormOverrides: Object.keys(g.layerNormOverrides ?? {}).length ? g.layerNormOverrides : undefined });
  return key(a) === key(b);
}

/**
 * Write the ONNX graph of a finished run as one self-contained file, built again from the run's
 * options and what the run settled (heads, realization, LayerNorm overrides, batch): the same
 * graph, byte for byte, without keeping a copy of the model in memory between runs (Export ONNX).
 */
export async function saveOnnxOf(report: Report, o: PipelineOptions, file: string): Promise<void> {
  const store = WeightStore.create({ expectBytes: sizeOf(o.weights) });
  try {
    const m = await openModel(o.weights, store);
    const run = { ...o, precision: report.run.precision, layerNorm: report.run.layerNorm, layerNormOverrides: report.run.layerNormOverrides, accumulate: report.run.accumulate };
    buildTimeSformer(m.weights, graphOptions(report.config, report.inputs.input.shape[0], run, report.run.realization)).writeOnnx(file);
  } finally {
    store.close();
  }
}
