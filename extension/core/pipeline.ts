/**
 * load -> build -> run -> compare -> Report. Used by the CLI, the worker and the tests; no vscode.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import { LabError } from './errors';
import { readCheckpoint } from './formats/torch';
import { readTestData, type TestData } from './formats/testdata';
import { inferConfig, normalizeKeys, type WeightEntry } from './model/config';
import { headCandidatesFor, loadModelWeights } from './model/validate';
import { buildTimeSformer, type BuiltGraph, type GraphOptions, type Weights } from './model/timesformer';
import { createEngine, type Engine } from './engine/session';
import { realizationLabel } from './engine/providers';
import { diff, layerNormStats, tensorStats, tokenErrors } from './compare/metrics';
import { diagnose } from './compare/diagnosis';
import {
  REPORT_VERSION, type BlockResult, type LayerNormStats, type ModelConfig, type PipelineHooks, type PipelineOptions,
  type ProbsResult, type Realization, type Report, type Stage,
} from './report';

export interface LoadedModel {
  weightsPath: string;
  format: 'zip' | 'legacy';
  dtype: string;
  weights: Map<string, Float32Array>;
  base: Omit<ModelConfig, 'heads' | 'headsSource' | 'headsTried'>;
}

function check(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new LabError('CANCELLED', 'cancelled');
}

/** Read the checkpoint, infer the configuration and load the weights the graph uses as float32 (checked finite). */
export async function loadModel(weightsPath: string): Promise<LoadedModel> {
  const ckpt = await readCheckpoint(weightsPath);
  try {
    const entries = normalizeKeys(ckpt.stateDict as ReadonlyMap<string, WeightEntry>, weightsPath);
    const base = inferConfig(entries, weightsPath);
    const { weights, dtype } = await loadModelWeights(ckpt, entries, base, weightsPath);
    return { weightsPath, format: ckpt.format, dtype, weights, base };
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
  for (const heads of headCandidatesFor(m.base.embedDim, m.weightsPath)) {
    const config: ModelConfig = { ...m.base, heads, headsSource: 'detected', headsTried: [] };
    const g = buildTimeSformer(m.weights, { config, batch: B, precision: 'fp32', realization: 'fp32', layerNorm: 'plain', depthLimit: 1, probes: false, prescaleShift: 0 });
    const out = await runFp32OnCpu(g, d);
    const e = diff(out.get('blocks.0.out')!, d.blocks[0].data, 0).relL2;
    tried.push({ heads, block0RelL2: e });
    log?.(`heads ${heads} (head dim ${m.base.embedDim / heads}): block 0 rel err ${e.toExponential(2)}`);
    if (e < 1e-4) return { heads, tried };
  }
  const best = tried.reduce((a, b) => (b.block0RelL2 < a.block0RelL2 ? b : a));
  if (best.block0RelL2 < 1e-2) return { heads: best.heads, tried };
  throw new LabError('HEADS_UNDETECTED', `no head count reproduces block 0 of the test data (best: ${best.heads} heads, rel err ${best.block0RelL2.toExponential(2)}); the checkpoint and test data may not belong together, or pass --heads`, d.path);
}

/** One run of an fp32 graph on the CPU EP (head detection, LayerNorm probe runs). */
async function runFp32OnCpu(g: BuiltGraph, d: TestData): Promise<Map<string, Float32Array>> {
  const engine = await createEngine({ ep: 'cpu', precision: 'fp32', layerNorm: 'plain', buildModel: () => g.model });
  try {
    return await engine.run({ [g.inputName]: d.video.data }, { [g.inputName]: [...d.video.shape] });
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
  /** The ONNX model exactly as run. */
  model: Uint8Array;
}

export async function runPipeline(o: PipelineOptions, hooks: PipelineHooks = {}): Promise<PipelineResult> {
  const t0 = performance.now();
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
  const precision = o.precision ?? 'fp32';
  const layerNorm = o.layerNorm ?? 'plain';
  const tolerance = o.tolerance ?? 1e-2;
  if (o.heads !== undefined && (!Number.isInteger(o.heads) || o.heads <= 0)) throw new LabError('BAD_OPTION', `heads must be a positive integer, got ${o.heads}`);

  stage('reading checkpoint', o.weights);
  const m = await loadModel(o.weights);
  stage('reading test data', o.data);
  const data = await readTestData(o.data, m.base);
  checkAgreement(m, data);
  const readMs = performance.now() - t0;
  say(`model: ${m.base.depth} blocks, C=${m.base.embedDim}, ${m.base.frames}×${m.base.imageSize}², patch ${m.base.patchSize}, ${m.base.numClasses} classes, ${m.base.params} params (${m.format} checkpoint, ${m.dtype})`);

  let heads = o.heads;
  let headsTried: { heads: number; block0RelL2: number }[] = [];
  if (heads === undefined) {
    stage('detecting heads');
    const r = await detectHeads(m, data, say);
    heads = r.heads;
    headsTried = r.tried;
    say(`heads: ${heads} (detected: block 0 matches the reference)`);
  } else if (m.base.embedDim % heads !== 0) {
    throw new LabError('BAD_OPTION', `embed dim ${m.base.embedDim} is not divisible by ${heads} heads`, o.weights);
  }
  const config: ModelConfig = { ...m.base, heads, headsSource: o.heads === undefined ? 'detected' : 'option', headsTried };
  const B = data.video.shape[0];

  stage('building graph', `${precision}, LayerNorm ${layerNorm}`);
  const built = new Map<Realization, BuiltGraph>();
  const needsKey = (o.ep ?? 'cpu') === 'auto' || o.ep === 'tensorrt';
  const cacheKey = needsKey && o.trtCacheDir
    ? crypto.createHash('sha256').update(`${await sha256File(o.weights)}|${precision}|${layerNorm}|${heads}|${B}`).digest('hex').slice(0, 24)
    : undefined;
  stage('building engine', o.ep ?? 'cpu');
  const engine: Engine = await createEngine({
    ep: o.ep ?? 'cpu', precision, layerNorm, deviceId: o.deviceId, trtCacheDir: o.trtCacheDir, cacheKey, log: say, probes: o.probes,
    buildModel: (realization) => {
      const b = buildTimeSformer(m.weights, graphOptions(config, B, o, realization));
      built.set(realization, b);
      say(`graph: ${b.nodeCount} nodes, ${(b.initializerBytes / 2 ** 20).toFixed(1)} MiB of weights, ${b.extraOutputs.length} extra outputs (${realization})`);
      return b.model;
    },
  });
  try {
    const g = built.get(engine.realization)!;
    if (o.saveOnnx) {
      fs.writeFileSync(o.saveOnnx, engine.model);
      say(`saved the ONNX graph as run to ${o.saveOnnx}`);
    }
    stage('running', engine.ep);
    const t1 = performance.now();
    const out = await engine.run({ [g.inputName]: data.video.data }, { [g.inputName]: [...data.video.shape] });
    const runMs = performance.now() - t1;
    say(`ran in ${runMs.toFixed(0)} ms on ${engine.ep}`);

    stage('comparing');
    const t2 = performance.now();
    let probe: { g: BuiltGraph; out: Map<string, Float32Array> } | undefined;
    if (!g.layerNorms.some((l) => l.input)) {
      // No LayerNorm probes in the engine (TensorRT: marking outputs changes its precision
      // choices). The statistics come from the LayerNorm inputs of an fp32 run on the CPU.
      say('LayerNorm statistics from an fp32 probe run on the CPU (the engine ran without probe outputs)');
      const pg = buildTimeSformer(m.weights, { ...graphOptions(config, B, o, 'fp32'), precision: 'fp32', layerNorm: 'plain', probes: true });
      probe = { g: pg, out: await runFp32OnCpu(pg, data) };
    }
    const report = compare({ o, m, config, data, g, out, engine, log, tolerance, probe });
    report.run.timings = { readMs, buildGraphMs: engine.buildGraphMs, sessionMs: engine.sessionMs, runMs, compareMs: performance.now() - t2, totalMs: performance.now() - t0 };
    say(report.diagnosis.sentence);
    return { report, model: engine.model };
  } finally {
    await engine.release();
  }
}

interface CompareInput {
  o: PipelineOptions;
  m: LoadedModel;
  config: ModelConfig;
  data: TestData;
  g: BuiltGraph;
  out: Map<string, Float32Array>;
  engine: Engine;
  log: string[];
  tolerance: number;
  /** LayerNorm inputs from an fp32 probe run, when the engine had no probes. */
  probe?: { g: BuiltGraph; out: Map<string, Float32Array> };
}

function compare(c: CompareInput): Report {
  const { config, data, g, out, engine, tolerance } = c;
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
  const blocks: BlockResult[] = data.blocks.map((ref, i) => {
    const o = out.get(g.blockNames[i]);
    if (!o) throw new LabError('ENGINE_FAILED', `the engine returned no output for block ${i}`);
    const d = diff(o, ref.data, C);
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
      tokenError: tokenErrors(o, ref.data, S, T, C),
      output: tensorStats(`blocks.${i}.out`, o, ref.shape),
      reference: tensorStats(`blocks.${i}.ref`, ref.data, ref.shape),
      layerNorms: ['temporal_norm1', 'norm1', 'norm2'].map((k) => lnStats.get(`blocks.${i}.${k}`)).filter((x): x is LayerNormStats => !!x),
      exposed,
    };
  });
  const probsOut = out.get('probs')!;
  const pd = diff(probsOut, data.probs.data);
  const argmax = (a: Float32Array) => a.reduce((bi, v, i, arr) => (v > arr[bi] ? i : bi), 0);
  const probs: ProbsResult = { relL2: pd.relL2, maxAbs: pd.maxAbs, top1: argmax(probsOut), refTop1: argmax(data.probs.data), top1Agree: argmax(probsOut) === argmax(data.probs.data) };
  const finalNorm = lnStats.get('norm') ?? null;
  const diagnosis = diagnose({ blocks, probs, finalNorm, tolerance, precision, layerNorm, realization: engine.realization });
  return {
    version: REPORT_VERSION,
    tool: 'timesformer-precision-lab',
    createdAt: new Date().toISOString(),
    inputs: { weights: c.o.weights, data: c.o.data, weightsFormat: c.m.format, weightsDtype: c.m.dtype },
    config,
    run: {
      precision, layerNorm, requestedEp: c.o.ep ?? 'cpu', ep: engine.ep, realization: engine.realization,
      label: realizationLabel(engine.ep, precision, engine.realization),
      fallbacks: engine.fallbacks, engine: { cache: engine.cache },
      timings: { readMs: 0, buildGraphMs: 0, sessionMs: 0, runMs: 0, compareMs: 0, totalMs: 0 },
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
