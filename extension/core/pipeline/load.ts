/**
 * Load: the checkpoint (official .pyth, HuggingFace folder, safetensors: model/load.ts) read once,
 * its configuration inferred and its weights checked and stored in the forms the coming graphs
 * want; and whether test data describes the same model (checkAgreement).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import { LabError } from '../errors';
import type { TestData } from '../formats/testdata';
import { inferConfig } from '../model/config';
import { checkHfSizes } from '../model/hf';
import { openModelSource, type Normalization, type VideoConfig } from '../model/load';
import { streamModelWeights, type CheckingSink } from '../model/validate';
import { readsAsF32, takesTransposed, type Weights } from '../model/timesformer';
import { WeightStore, type StoredKind } from '../model/weight-store';
import { defaultThreads } from '../parallel';
import { realizationFor } from '../engine/providers';
import type { ModelConfig, ModelInfo, PipelineOptions } from '../report';
import { DEFAULT_FP32_OPS } from './graph';

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
export function expectedKinds(o: PipelineOptions): (key: string) => readonly StoredKind[] {
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

/** The weights' bytes, every file of them (a sharded HF checkpoint has several; a folder is not a file). */
export async function sha256Files(paths: readonly string[]): Promise<string> {
  const h = crypto.createHash('sha256');
  for (const path of paths) for await (const chunk of fs.createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A file's size, or a folder's files' (a HuggingFace checkpoint); 0 when it cannot be read (the reader says why later). */
export function sizeOf(p: string): number {
  try {
    const st = fs.statSync(p);
    if (!st.isDirectory()) return st.size;
    return fs.readdirSync(p).reduce((n, f) => n + (fs.statSync(`${p}/${f}`, { throwIfNoEntry: false })?.size ?? 0), 0);
  } catch {
    return 0;
  }
}

