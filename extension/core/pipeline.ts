/**
 * load -> build -> run -> compare -> Report. Used by the CLI, the worker and the tests; no vscode.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import { LabError } from './errors';
import { readCheckpoint } from './formats/torch';
import { readTestData, type TestData } from './formats/testdata';
import { headCandidates, inferConfig, normalizeKeys, type WeightEntry } from './model/config';
import { buildTimeSformer, takesTransposed, type BuiltGraph, type GraphOptions, type Weights } from './model/timesformer';
import { WeightStore, type StoredKind } from './model/weight-store';
import { DTYPE_SIZE, Tensor } from './tensor';
import { createEngine, type Engine } from './engine/session';
import { realizationFor, realizationLabel } from './engine/providers';
import { diff, layerNormStats, tensorStats, tokenErrors } from './compare/metrics';
import { diagnose } from './compare/diagnosis';
import {
  REPORT_VERSION, type BlockResult, type InputInfo, type LayerNormMode, type LayerNormStats, type ModelConfig, type PipelineHooks,
  type PipelineOptions, type ProbsResult, type Realization, type Report, type ReferenceInfo, type Stage, type TensorStats,
} from './report';

export interface LoadedModel<W extends Weights = Weights> {
  weightsPath: string;
  /** 'zip' | 'legacy' (torch.save), or another reader's name. */
  format: string;
  dtype: string;
  weights: W;
  /** Bytes of the weights in the checkpoint, in its own dtypes (the yardstick of peak memory). */
  weightBytes: number;
  base: Omit<ModelConfig, 'heads' | 'headsSource' | 'headsTried'>;
  /** The head count, when the checkpoint's own configuration states it. */
  heads?: number;
}

function check(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new LabError('CANCELLED', 'cancelled');
}

/** Read the checkpoint, infer the configuration and load every weight as float32, in memory (tests, bench). */
export async function loadModel(weightsPath: string): Promise<LoadedModel<Map<string, Float32Array>>> {
  const weights = new Map<string, Float32Array>();
  const m = await readModel(weightsPath, (k, _shape, data) => weights.set(k, data));
  return { ...m, weights };
}

/**
 * Read the checkpoint into a WeightStore: each weight is converted to float32, written in the
 * graph's layout (and in `kinds`, the forms the coming graphs will want) and dropped, so that no
 * copy of the model stays in this process.
 */
export async function openModel(weightsPath: string, store: WeightStore, kinds: readonly StoredKind[] = []): Promise<LoadedModel<WeightStore>> {
  const m = await readModel(weightsPath, (k, shape, data) => store.add(k, shape, data, takesTransposed(k), kinds));
  return { ...m, weights: store };
}

/**
 * The weight forms a run's engine graphs will ask for, written while the checkpoint is read. The
 * FP32 reference and FP32 graphs use the float32 bytes every store holds; `auto` may end anywhere,
 * so its forms are made when a graph asks.
 */
function expectedKinds(o: PipelineOptions): StoredKind[] {
  const precision = o.precision ?? 'fp32';
  if (precision === 'fp32' || o.ep === 'auto') return [];
  const r = realizationFor(o.ep ?? 'cpu', precision);
  if (r === 'native') return ['f16'];
  if (r === 'emulated') return [precision === 'bf16' ? 'f32.bf16' : 'f32.f16'];
  return [];
}

async function readModel(
  weightsPath: string, sink: (key: string, shape: readonly number[], data: Float32Array) => unknown,
): Promise<Omit<LoadedModel, 'weights'>> {
  const ckpt = await readCheckpoint(weightsPath);
  try {
    const entries = [...normalizeKeys(ckpt.stateDict as ReadonlyMap<string, WeightEntry>, weightsPath)];
    const base = inferConfig(new Map(entries), weightsPath);
    const dtypes = new Map<string, number>();
    let weightBytes = 0;
    // One read ahead and one write behind: the next tensor's bytes arrive and the previous one is
    // written (libuv's threads) while this one is converted on the main thread.
    const quiet = <T>(p: Promise<T>) => {
      p.catch(() => undefined); // awaited below; a failure surfaces there, not as an unhandled rejection
      return p;
    };
    let next = entries.length ? quiet(entries[0][1].load()) : undefined;
    let written: Promise<unknown> = Promise.resolve();
    for (let i = 0; i < entries.length; i++) {
      const t = await next!;
      next = i + 1 < entries.length ? quiet(entries[i + 1][1].load()) : undefined;
      const w = quiet(Promise.resolve(sink(entries[i][0], t.shape, t.toFloat32())));
      await written;
      written = w;
      dtypes.set(t.dtype, (dtypes.get(t.dtype) ?? 0) + t.size);
      weightBytes += t.size * DTYPE_SIZE[t.dtype];
    }
    await written;
    const dtype = [...dtypes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'float32';
    return { weightsPath, format: ckpt.format, dtype, weightBytes, base };
  } finally {
    await ckpt.close();
  }
}

/** The test data must describe the same model: frames, image size, width, classes, depth. */
export function checkAgreement(m: LoadedModel, d: TestData): void {
  const c = m.base;
  const [B, ch, T, H, W] = d.video.shape;
  const problems: string[] = [];
  if (ch !== 3) problems.push(`the video has ${ch} channels, expected 3`);
  if (T !== c.frames) problems.push(`the video has ${T} frames, the checkpoint's time_embed has ${c.frames}`);
  if (H !== c.imageSize || W !== c.imageSize) problems.push(`the video is ${H}×${W}, the checkpoint expects ${c.imageSize}×${c.imageSize} (pos_embed has ${c.numPatches} patches of ${c.patchSize})`);
  if (d.probs.shape[d.probs.shape.length - 1] !== c.numClasses) problems.push(`the probabilities have ${d.probs.shape[d.probs.shape.length - 1]} classes, the head has ${c.numClasses}`);
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
 * Native fp16 graphs keep the patch-embedding Conv in fp32: measured on an H100 through WebGPU,
 * its 768-long dot products accumulated in fp16 are the largest error source (d1, fp32 LayerNorm:
 * blocks 0-2 at 9.2e-3 / 1.2e-2 / 1.4e-2 with it in fp16, 3.5e-3 / 4.6e-3 / 5.5e-3 in fp32), for
 * about 0.2% of the FLOPs. Gemm and MatMul in fp32 too reach PyTorch's level (2e-3 / 2.6e-3 / 3.2e-3).
 */
export const DEFAULT_FP32_OPS: readonly string[] = ['Conv'];

function graphOptions(config: ModelConfig, batch: number, o: PipelineOptions, realization: Realization, extra?: Partial<GraphOptions>): GraphOptions {
  return {
    config, batch, precision: o.precision ?? 'fp32', realization, layerNorm: o.layerNorm ?? 'plain',
    probes: o.probes ?? true, prescaleShift: o.prescaleShift ?? 3, fp32Ops: o.fp32Ops ?? DEFAULT_FP32_OPS, attention: o.attention ?? 'decomposed', ...extra,
  };
}

/**
 * Heads are not in the weights: build block 0 alone for each candidate head count, run it in fp32
 * on the CPU and keep the one whose output matches the reference block 0.
 */
export async function detectHeads(m: LoadedModel, d: TestData, log?: (s: string) => void): Promise<{ heads: number; tried: { heads: number; block0RelL2: number }[] }> {
  if (d.blocks.length === 0) throw new LabError('HEADS_UNDETECTED', 'the test data has no block outputs to detect the head count from; pass --heads', d.path);
  const tried: { heads: number; block0RelL2: number }[] = [];
  const B = d.video.shape[0];
  for (const heads of headCandidates(m.base.embedDim)) {
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
  throw new LabError('HEADS_UNDETECTED', `no head count reproduces block 0 of the test data (best: ${best.heads} heads, rel err ${best.block0RelL2.toExponential(2)}); the checkpoint and test data may not belong together, or pass --heads`, d.path);
}

/** One run of an fp32 graph on the CPU EP (head detection, the self-reference, LayerNorm probe runs). */
async function runFp32OnCpu(g: BuiltGraph, video: Tensor<'float32'>): Promise<{ out: Map<string, Float32Array>; sessionMs: number; runMs: number }> {
  const engine = await createEngine({ ep: 'cpu', precision: 'fp32', layerNorm: 'plain', buildModel: () => g.source });
  try {
    const t = performance.now();
    const out = await engine.run({ [g.inputName]: video.data }, { [g.inputName]: [...video.shape] });
    return { out, sessionMs: engine.sessionMs, runMs: performance.now() - t };
  } finally {
    await engine.release();
  }
}

async function sha256File(path: string): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(path)) h.update(chunk as Buffer);
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
  /**
   * The reference, or a promise of it. Without test data it is our FP32 graph (no probe outputs)
   * run on the CPU EP on the same clip, computed on first use; or the run of a mode that is that
   * very computation (FP32, plain LayerNorm, on the CPU EP), adopted with adoptReference().
   */
  reference(): Promise<Reference>;
  /** Whether reference() is known already (test data, or computed or adopted). */
  hasReference(): boolean;
  /** Take a mode's own outputs as the self-reference (see reference()). */
  adoptReference(g: BuiltGraph, out: Map<string, Float32Array>): Reference;
  /**
   * Outputs of our FP32 graph on the CPU EP with LayerNorm probes, run once and kept: the
   * LayerNorm statistics of engines that carry no probes (TensorRT).
   */
  fp32Probe(): Promise<{ g: BuiltGraph; out: Map<string, Float32Array> }>;
  /** Preparation times not yet charged to a Report (the first mode reports them). */
  pending: { readMs: number; headsMs: number; referenceMs: number };
  say(line: string): void;
  log: string[];
  /** Remove the weights' folder (after the last mode). */
  close(): void;
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

/** `synthetic[:seed]` or a test-data file whose video is the clip. */
async function readClip(spec: string | undefined, m: LoadedModel): Promise<{ video: Tensor<'float32'>; input: InputInfo }> {
  const c = m.base;
  const shape = [1, 3, c.frames, c.imageSize, c.imageSize];
  const syn = /^synthetic(?::(\d+))?$/.exec(spec ?? 'synthetic');
  if (syn) {
    const seed = syn[1] === undefined ? 0 : Number(syn[1]);
    return { video: syntheticVideo(shape, seed), input: { kind: 'synthetic', label: `synthetic clip (seed ${seed})`, seed, shape } };
  }
  const path = spec!;
  const d = await readTestData(path);
  return { video: d.video, input: { kind: 'test-data', label: `video of ${basename(path)}`, path, shape: [...d.video.shape] } };
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
  if (o.heads !== undefined && (!Number.isInteger(o.heads) || o.heads <= 0)) throw new LabError('BAD_OPTION', `heads must be a positive integer, got ${o.heads}`);
  const t0 = performance.now();
  stage('reading checkpoint', o.weights);
  const store = WeightStore.create();
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
    data = await readTestData(o.data);
    checkAgreement(m, data);
    clip = { video: data.video, input: { kind: 'test-data', label: `video of ${basename(o.data)}`, path: o.data, shape: [...data.video.shape] } };
  } else {
    stage('reading test data', o.input ?? 'synthetic clip');
    clip = await readClip(o.input, m);
    checkClip(m, clip.video, clip.input.path);
  }
  const readMs = performance.now() - t0;
  say(`model: ${m.base.depth} blocks, C=${m.base.embedDim}, ${m.base.frames}×${m.base.imageSize}², patch ${m.base.patchSize}, ${m.base.numClasses} classes, ${m.base.params} params (${m.format} checkpoint, ${m.dtype})`);

  const t1 = performance.now();
  let heads = o.heads;
  let headsSource: ModelConfig['headsSource'] = 'option';
  let headsTried: { heads: number; block0RelL2: number }[] = [];
  if (heads !== undefined) {
    if (m.base.embedDim % heads !== 0) throw new LabError('BAD_OPTION', `embed dim ${m.base.embedDim} is not divisible by ${heads} heads`, o.weights);
  } else if (data && data.blocks.length > 0) {
    stage('detecting heads');
    const r = await detectHeads(m, data, say);
    heads = r.heads;
    headsTried = r.tried;
    headsSource = 'detected';
    say(`heads: ${heads} (detected: block 0 matches the reference)`);
  } else if (m.heads !== undefined) {
    heads = m.heads;
    headsSource = 'config';
    say(`heads: ${heads} (from the checkpoint's configuration)`);
  } else {
    const cands = headCandidates(m.base.embedDim);
    if (!cands.length) throw new LabError('BAD_WEIGHTS', `embed dim ${m.base.embedDim} admits no head count with a head dim of at least 8`, o.weights);
    heads = cands[0];
    headsSource = 'assumed';
    say(`heads: ${heads} (assumed: head dim ${m.base.embedDim / heads}; no test data to detect it from, pass --heads to set it)`);
  }
  const config: ModelConfig = { ...m.base, heads, headsSource, headsTried };
  const headsMs = performance.now() - t1;

  let probe: Promise<{ g: BuiltGraph; out: Map<string, Float32Array> }> | undefined;
  const pending = { readMs, headsMs, referenceMs: 0 };
  const B = clip.video.shape[0];
  const fp32Probe = () => {
    probe ??= (async () => {
      const t = performance.now();
      const g = buildTimeSformer(m.weights, { ...graphOptions(config, B, o, 'fp32'), precision: 'fp32', layerNorm: 'plain', probes: true });
      const { out } = await runFp32OnCpu(g, clip.video);
      pending.referenceMs += performance.now() - t;
      return { g, out };
    })();
    return probe;
  };
  const selfReference = (g: BuiltGraph, out: Map<string, Float32Array>): Reference => ({
    info: { kind: 'self', label: 'FP32 of this model (CPU EP)' },
    blocks: g.blockNames.map((n) => out.get(n)!), blockShape: [B, 1 + config.numPatches * config.frames, config.embedDim], probs: out.get(g.probsName!)!,
    stats: [],
  });
  let reference: Promise<Reference> | undefined;
  const prepared: Prepared = {
    options: o, model: m, data, video: clip.video, input: clip.input, config, pending, say, log,
    fp32Probe,
    hasReference: () => !!data || !!reference,
    adoptReference: (g, out) => {
      if (data || reference) throw new Error('the reference is already set');
      const r = selfReference(g, out);
      reference = Promise.resolve(r);
      return r;
    },
    reference: () => {
      reference ??= data
        ? Promise.resolve({
          info: { kind: 'test-data', label: `test data ${basename(data.path)} (PyTorch)`, path: data.path },
          blocks: data.blocks.map((b) => b.data), blockShape: [...(data.blocks[0]?.shape ?? [])], probs: data.probs.data, stats: [],
        })
        : (async () => {
          stage('computing reference', 'FP32 of this model on the CPU EP');
          // Without probe outputs: the reference needs the block outputs and probabilities only
          // (probes would add 2 full tensors per LayerNorm: 0.4 GB at full size).
          const t = performance.now();
          const g = buildTimeSformer(m.weights, { ...graphOptions(config, B, o, 'fp32'), precision: 'fp32', layerNorm: 'plain', probes: false });
          const { out, sessionMs, runMs } = await runFp32OnCpu(g, clip.video);
          pending.referenceMs += performance.now() - t;
          const bytes = [...out.values()].reduce((n, a) => n + a.byteLength, 0);
          say(`reference: FP32 on the CPU EP, ${out.size} outputs (${(bytes / 2 ** 20).toFixed(1)} MiB), session ${sessionMs.toFixed(0)} ms, run ${runMs.toFixed(0)} ms`);
          return selfReference(g, out);
        })();
      return reference;
    },
    close: () => store.close(),
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
 */
export async function runModes(o: PipelineOptions, modes: readonly LayerNormMode[], hooks: PipelineHooks & { onResult?: (r: PipelineResult) => void } = {}): Promise<Report[]> {
  const p = await prepare(o, hooks);
  try {
    const reports: Report[] = [];
    for (const layerNorm of modes) {
      const saveOnnx = o.saveOnnx && modes.length > 1 ? o.saveOnnx.replace(/(\.onnx)?$/, `.${layerNorm}.onnx`) : o.saveOnnx;
      const r = await runMode(p, { ...o, layerNorm, saveOnnx }, hooks);
      hooks.onResult?.(r);
      reports.push(r.report);
    }
    return reports;
  } finally {
    p.close();
  }
}

/** Build, run and compare one mode on a preparation. `o`'s input fields (weights, data, input, heads) are ignored. */
export async function runMode(p: Prepared, o: PipelineOptions, hooks: PipelineHooks = {}): Promise<PipelineResult> {
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
  const tolerance = o.tolerance ?? 1e-2;
  // FP32 with a plain LayerNorm on the CPU EP is the self-reference's own computation (rel err 0
  // by construction): run it once, as this mode, and keep its outputs as the reference.
  const isReference = !p.hasReference() && (o.ep ?? 'cpu') === 'cpu' && precision === 'fp32' && layerNorm === 'plain' &&
    (o.attention ?? 'decomposed') === (p.options.attention ?? 'decomposed');
  let ref = isReference ? undefined : await p.reference();
  // what preparation said (reading, heads, the reference) opens this mode's log
  log.unshift(...p.log.splice(0));
  const B = p.video.shape[0];

  stage('building graph', `${precision}, LayerNorm ${layerNorm}`);
  const built = new Map<Realization, BuiltGraph>();
  const needsKey = (o.ep ?? 'cpu') === 'auto' || o.ep === 'tensorrt';
  const cacheKey = needsKey && o.trtCacheDir
    ? crypto.createHash('sha256').update(`${await sha256File(p.options.weights)}|${precision}|${layerNorm}|${config.heads}|${B}`).digest('hex').slice(0, 24)
    : undefined;
  stage('building engine', o.ep ?? 'cpu');
  const engine: Engine = await createEngine({
    ep: o.ep ?? 'cpu', precision, layerNorm, deviceId: o.deviceId, trtCacheDir: o.trtCacheDir, cacheKey, log: say2, probes: o.probes,
    buildModel: (realization) => {
      const b = buildTimeSformer(m.weights, graphOptions(config, B, o, realization));
      built.set(realization, b);
      say2(`graph: ${b.nodeCount} nodes, ${(b.initializerBytes / 2 ** 20).toFixed(1)} MiB of weights, ${b.extraOutputs.length} extra outputs (${realization})`);
      return b.source;
    },
  });
  let released = false;
  try {
    const g = built.get(engine.realization)!;
    if (o.saveOnnx) {
      g.writeOnnx(o.saveOnnx);
      say2(`saved the ONNX graph as run to ${o.saveOnnx}`);
    }
    stage('running', engine.ep);
    const t1 = performance.now();
    const out = await engine.run({ [g.inputName]: p.video.data }, { [g.inputName]: [...p.video.shape] });
    const runMs = performance.now() - t1;
    say2(`ran in ${runMs.toFixed(0)} ms on ${engine.ep}; ${(engine.outputBytes / 2 ** 20).toFixed(1)} MiB of outputs left the engine`);
    // the outputs are ours now: free the session (weights, arena) before comparing
    released = true;
    await engine.release();
    if (!ref) {
      ref = p.adoptReference(g, out);
      say2('reference: this run (FP32 of this model on the CPU EP)');
    }

    stage('comparing');
    const t2 = performance.now();
    let probe: { g: BuiltGraph; out: Map<string, Float32Array> } | undefined;
    if (!g.layerNorms.some((l) => l.input)) {
      // No LayerNorm probes in the engine (TensorRT: marking outputs changes its precision
      // choices). The statistics come from the LayerNorm inputs of an fp32 run on the CPU.
      say2('LayerNorm statistics from an fp32 probe run on the CPU (the engine ran without probe outputs)');
      probe = await p.fp32Probe();
    }
    const report = compare({ o, p, ref, g, out, engine, log, tolerance, probe });
    const { readMs, headsMs, referenceMs } = p.pending;
    p.pending.readMs = p.pending.headsMs = p.pending.referenceMs = 0;
    const peakRssBytes = process.resourceUsage().maxRSS * 1024;
    report.run.timings = {
      readMs, headsMs, referenceMs, buildGraphMs: engine.buildGraphMs, sessionMs: engine.sessionMs, runMs,
      compareMs: performance.now() - t2, totalMs: performance.now() - t0 + readMs + headsMs, peakRssBytes,
    };
    report.run.outputBytes = engine.outputBytes;
    say2(report.diagnosis.sentence);
    say2(`peak RSS ${(peakRssBytes / 2 ** 20).toFixed(0)} MiB (${(peakRssBytes / m.weightBytes).toFixed(2)}× the checkpoint's ${(m.weightBytes / 2 ** 20).toFixed(0)} MiB of weights)`);
    return { report };
  } finally {
    if (!released) await engine.release();
  }
}

/**
 * Write the ONNX graph of a finished run as one self-contained file, built again from the run's
 * options and what the run settled (heads, realization, batch): the same graph, byte for byte in
 * its weights, without keeping a copy of the model in memory between runs (Export ONNX).
 */
export async function saveOnnxOf(report: Report, o: PipelineOptions, file: string): Promise<void> {
  const store = WeightStore.create();
  try {
    const m = await openModel(o.weights, store);
    const g = buildTimeSformer(m.weights, graphOptions(report.config, report.inputs.input.shape[0], { ...o, precision: report.run.precision, layerNorm: report.run.layerNorm }, report.run.realization));
    g.writeOnnx(file);
  } finally {
    store.close();
  }
}

interface CompareInput {
  o: PipelineOptions;
  p: Prepared;
  ref: Reference;
  g: BuiltGraph;
  out: Map<string, Float32Array>;
  engine: Engine;
  log: string[];
  tolerance: number;
  /** LayerNorm inputs from an fp32 probe run, when the engine had no probes. */
  probe?: { g: BuiltGraph; out: Map<string, Float32Array> };
}

function compare(c: CompareInput): Report {
  const { g, out, engine, tolerance, ref } = c;
  const { config } = c.p;
  const precision = c.o.precision ?? 'fp32';
  const layerNorm = c.o.layerNorm ?? 'plain';
  const { embedDim: C, numPatches: S, frames: T } = config;
  // Only a plain LayerNorm squares the raw differences in FP16 (bf16 has fp32's range).
  const squares16 = precision === 'fp16' && layerNorm === 'plain';
  const lnStats = new Map<string, LayerNormStats>();
  if (c.probe) {
    // fp32 inputs: whether a 16-bit square overflows is judged from (x - mean)^2 > 65504
    for (const ln of c.probe.g.layerNorms) {
      const x = ln.input ? c.probe.out.get(ln.input) : undefined;
      if (x) lnStats.set(ln.name, layerNormStats(ln.name, ln.block, x, C, undefined, squares16));
    }
  } else {
    for (const ln of g.layerNorms) {
      const x = ln.input ? out.get(ln.input) : undefined;
      if (!x) continue;
      lnStats.set(ln.name, layerNormStats(ln.name, ln.block, x, C, ln.sq ? out.get(ln.sq) : undefined, false));
    }
  }
  const blocks: BlockResult[] = ref.blocks.map((refBlock, i) => {
    const o = out.get(g.blockNames[i]);
    if (!o) throw new LabError('ENGINE_FAILED', `the engine returned no output for block ${i}`);
    const d = diff(o, refBlock, C);
    const output = tensorStats(`blocks.${i}.out`, o, ref.blockShape);
    const exposed = g.layerNorms
      .filter((l) => l.block === i)
      .flatMap((l) => [l.diff, l.mean, l.std].filter((n): n is string => !!n))
      .map((n) => {
        const a = out.get(n)!;
        const rowsShape = n.endsWith('.diff') ? [a.length / C, C] : [a.length];
        return tensorStats(n, a, rowsShape, n.endsWith('.diff'));
      });
    return {
      index: i,
      relL2: d.relL2,
      maxAbs: d.maxAbs,
      cosine: d.cosine,
      passed: d.relL2 <= tolerance,
      jump: false,
      tokenError: tokenErrors(o, refBlock, S, T, C),
      output,
      // the same for every mode; a run that is its own reference has them already
      reference: (ref.stats[i] ??= refBlock === o ? { ...output, name: `blocks.${i}.ref` } : tensorStats(`blocks.${i}.ref`, refBlock, ref.blockShape)),
      layerNorms: ['temporal_norm1', 'norm1', 'norm2'].map((k) => lnStats.get(`blocks.${i}.${k}`)).filter((x): x is LayerNormStats => !!x),
      exposed,
    };
  });
  const probsOut = out.get('probs')!;
  const pd = diff(probsOut, ref.probs);
  const argmax = (a: Float32Array) => a.reduce((bi, v, i, arr) => (v > arr[bi] ? i : bi), 0);
  const probs: ProbsResult = { relL2: pd.relL2, maxAbs: pd.maxAbs, top1: argmax(probsOut), refTop1: argmax(ref.probs), top1Agree: argmax(probsOut) === argmax(ref.probs) };
  const finalNorm = lnStats.get('norm') ?? null;
  const diagnosis = diagnose({ blocks, probs, finalNorm, tolerance, precision, layerNorm, realization: engine.realization });
  return {
    version: REPORT_VERSION,
    tool: 'timesformer-precision-lab',
    createdAt: new Date().toISOString(),
    inputs: {
      weights: c.p.options.weights, ...(c.p.data ? { data: c.p.data.path } : {}), weightsFormat: c.p.model.format, weightsDtype: c.p.model.dtype,
      weightBytes: c.p.model.weightBytes,
      reference: ref.info, input: c.p.input,
    },
    config,
    run: {
      precision, layerNorm, requestedEp: c.o.ep ?? 'cpu', ep: engine.ep, realization: engine.realization,
      label: realizationLabel(engine.ep, precision, engine.realization),
      fallbacks: engine.fallbacks, engine: { cache: engine.cache },
      timings: { readMs: 0, headsMs: 0, referenceMs: 0, buildGraphMs: 0, sessionMs: 0, runMs: 0, compareMs: 0, totalMs: 0 },
      extraOutputs: g.extraOutputs.length,
    },
    tolerance,
    blocks,
    probs,
    finalNorm,
    diagnosis,
    log: c.log,
  };
}
