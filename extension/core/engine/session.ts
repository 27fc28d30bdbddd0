/**
 * The only module that imports onnxruntime-node: creating sessions on the chosen execution
 * provider with fallback, TensorRT options and engine cache, and running them.
 */
import * as fs from 'fs';
import * as path from 'path';
import type * as ortTypes from 'onnxruntime-node';
import { LabError } from '../errors';
import type { ModelFile, ModelSource } from '../model/model-file';
import type { EpChoice, EpName, Fallback, LayerNormMode, Precision, Realization } from '../report';
import { explainProviderError, optimizationLevel, providerOrder, realizationFor } from './providers';

let ortModule: typeof ortTypes | undefined;

/**
 * onnxruntime 1.30's Linux build carries Microsoft's 1DS telemetry (core/platform/posix/telemetry.cc):
 * when its environment is created, unless ORT_DISABLE_TELEMETRY is truthy (or a CI variable is set),
 * it writes ~/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db}
 * ($XDG_CACHE_HOME honored), a `.ses` file and an empty mat-debug-<pid>.log in $TMPDIR, and queues
 * events for upload. The switch is read once, when the native library initializes, so it is set
 * here, before the one require() of onnxruntime-node — in every process that runs an engine (the CLI,
 * the worker the extension forks, tests). It overrides a user's ORT_DISABLE_TELEMETRY=0: the lab
 * writes no files but those the user asks for. Child processes inherit it.
 */
export function disableOrtTelemetry(): void {
  process.env.ORT_DISABLE_TELEMETRY = '1';
}
/** Loaded lazily so that readers, graph building and tests of pure code never load the native library. */
export function ort(): typeof ortTypes {
  if (!ortModule) {
    disableOrtTelemetry();
    ortModule = require('onnxruntime-node') as typeof ortTypes;
    // Provider load failures are caught, explained and reported as fallbacks; keep ORT's own
    // logger from printing them a second time, in red, on stderr.
    ortModule.env.logLevel = 'fatal';
  }
  return ortModule;
}

export interface EngineRequest {
  ep: EpChoice;
  precision: Precision;
  layerNorm: LayerNormMode;
  deviceId?: number;
  /** TensorRT engine cache root; the engine is kept under <root>/<cacheKey>. */
  trtCacheDir?: string;
  /** Identifies weights + options (hash) for the TensorRT engine cache. */
  cacheKey?: string;
  /**
   * Builds the model for a realization (the graph differs between emulated, native and TensorRT):
   * its path (a model whose weights are external data next to it) or its bytes.
   */
  buildModel: (r: Realization, ep: EpName) => ModelSource;
  log?: (line: string) => void;
  /** A segmented CPU run: called after each segment (`done` of `total`), for progress within the run. */
  onSegment?: (done: number, total: number) => void;
  /** Whether the graphs carry LayerNorm statistics outputs (default true); see optimizationLevel(). */
  probes?: boolean;
  /** Every LayerNorm mode in the graph (`layerNorm` and its per-LayerNorm overrides); default [layerNorm]. */
  layerNormModes?: readonly LayerNormMode[];
  /**
   * CPU EP: at most this many intra-op threads, which sleep instead of spinning when idle — for a
   * CPU run beside a GPU engine, whose own thread (session creation, kernel launches) would
   * otherwise wait for a core (default: onnxruntime's, one per core, spinning).
   */
  cpuThreads?: number;
  /** Test seam: providers treated as unavailable with this reason (for fallback tests). */
  forceUnavailable?: Partial<Record<EpName, string>>;
}

export interface Engine {
  ep: EpName;
  realization: Realization;
  fallbacks: Fallback[];
  cache: 'none' | 'built' | 'reused';
  /** Session creation: of a segmented engine, every segment's, summed over its first run. */
  sessionMs: number;
  /** The last run() without the sessions it created (a segmented engine creates each segment's before running it). */
  lastRunMs: number;
  buildGraphMs: number;
  /** Bytes of the outputs the last run() returned: what left the engine (from the GPU, on a GPU provider). */
  outputBytes: number;
  run(feeds: Record<string, Float32Array | { data: Float32Array; dims: number[] }>, dims: Record<string, number[]>): Promise<Map<string, Float32Array>>;
  release(): Promise<void>;
}

/**
 * CPU sessions here run once. Prepacking (MLAS copies every MatMul weight into its GEMM layout when
 * the session is created) then costs more than it saves: measured on the full-size fp32 graph here,
 * session 0.96 s with it, 0.32 s without, the run the same within noise; and without it the weights
 * stay in the mapped external-data file instead of a second, packed copy. The memory arena exists
 * to reuse blocks across runs; without it the one run peaks 90-190 MB lower (0.79 vs 0.88 GB).
 */
const CPU_SESSION: ortTypes.InferenceSession.SessionOptions = { enableCpuMemArena: false, extra: { 'session.disable_prepacking': '1' } };

/**
 * WebGPU outputs come back as onnxruntime's CPU tensors (the default). GPU-resident outputs
 * ('gpu-buffer', read back one by one with getData(): the bytes would cross once instead of into
 * onnxruntime's CPU tensors and then JavaScript's copy) are only an opt-in,
 * TIMESFORMER_LAB_GPU_OUTPUTS=gpu: with onnxruntime-node 1.30 every run with them ended the process
 * natively ("terminate called after throwing an instance of 'char const*'", no JavaScript error to
 * catch) — on the H200 (device run e2e 4, every WebGPU configuration) and on Mesa's lavapipe here.
 * A binding that refuses the option when the session is created still falls back to CPU outputs.
 */
export function outputsOnGpu(ep: EpName, env: NodeJS.ProcessEnv = process.env): boolean {
  return ep === 'webgpu' && env.TIMESFORMER_LAB_GPU_OUTPUTS === 'gpu';
}

/** Benchmarks only (scripts/bench/bench-session.ts): TIMESFORMER_LAB_GRAPH_OPT overrides optimizationLevel()'s choice. */
function benchLevel(env: NodeJS.ProcessEnv): ortTypes.InferenceSession.SessionOptions['graphOptimizationLevel'] | undefined {
  const v = env.TIMESFORMER_LAB_GRAPH_OPT;
  return v === 'disabled' || v === 'basic' || v === 'extended' || v === 'all' ? v : undefined;
}

function sessionOptions(
  ep: EpName, req: EngineRequest, realization: Realization, gpuOutputs = false,
): { opts: ortTypes.InferenceSession.SessionOptions; cache: 'none' | 'built' | 'reused' } {
  const penv = process.env;
  const base: ortTypes.InferenceSession.SessionOptions = {
    graphOptimizationLevel: benchLevel(penv) ?? optimizationLevel(realization, req.layerNormModes ?? [req.layerNorm], req.probes ?? true),
    // benchmarks only: TIMESFORMER_LAB_ORT_LOG=0 shows onnxruntime's node placements (which provider runs each node)
    logSeverityLevel: /^[0-4]$/.test(penv.TIMESFORMER_LAB_ORT_LOG ?? '') ? Number(penv.TIMESFORMER_LAB_ORT_LOG) as 0 | 1 | 2 | 3 | 4 : 3,
    // benchmarks only (scripts/bench/bench-paired.ts): onnxruntime's trace, written when the session ends
    ...(penv.TIMESFORMER_LAB_ORT_PROFILE ? { enableProfiling: true, profileFilePrefix: penv.TIMESFORMER_LAB_ORT_PROFILE } : {}),
    // benchmarks only (scripts/bench/bench-session.ts): session config entries tried on a GPU provider
    ...(penv.TIMESFORMER_LAB_SESSION_EXTRA && ep !== 'cpu' ? { extra: JSON.parse(penv.TIMESFORMER_LAB_SESSION_EXTRA) as Record<string, string> } : {}),
  };
  const deviceId = req.deviceId ?? 0;
  if (ep === 'cpu') {
    const beside = req.cpuThreads ? { intraOpNumThreads: req.cpuThreads, extra: { ...CPU_SESSION.extra, 'session.intra_op.allow_spinning': '0' } } : {};
    return { opts: { ...base, executionProviders: ['cpu'], ...CPU_SESSION, ...beside }, cache: 'none' };
  }
  if (ep === 'webgpu') {
    return { opts: { ...base, executionProviders: [{ name: 'webgpu' }], ...(gpuOutputs ? { preferredOutputLocation: 'gpu-buffer' as const } : {}) }, cache: 'none' };
  }
  if (ep === 'cuda') return { opts: { ...base, executionProviders: [{ name: 'cuda', deviceId }] }, cache: 'none' };
  // TensorRT. The Node binding passes only deviceId to the provider; the TensorRT EP reads the rest
  // of its options from ORT_TENSORRT_* environment variables, which this process (the worker) sets.
  const fp16 = realization === 'tensorrt';
  const env: Record<string, string> = {
    ORT_TENSORRT_FP16_ENABLE: fp16 ? '1' : '0',
    ORT_TENSORRT_LAYER_NORM_FP32_FALLBACK: req.layerNorm === 'fp32' ? '1' : '0',
  };
  let cache: 'none' | 'built' | 'reused' = 'none';
  if (req.trtCacheDir && req.cacheKey) {
    const dir = path.join(req.trtCacheDir, req.cacheKey);
    fs.mkdirSync(dir, { recursive: true });
    cache = fs.readdirSync(dir).some((f) => f.endsWith('.engine')) ? 'reused' : 'built';
    env.ORT_TENSORRT_ENGINE_CACHE_ENABLE = '1';
    env.ORT_TENSORRT_CACHE_PATH = dir;
  }
  Object.assign(process.env, env);
  const trt = {
    name: 'tensorrt',
    deviceId,
    trt_fp16_enable: fp16,
    trt_layer_norm_fp32_fallback: req.layerNorm === 'fp32',
    trt_engine_cache_enable: cache !== 'none',
    trt_engine_cache_path: env.ORT_TENSORRT_CACHE_PATH,
  } as unknown as ortTypes.InferenceSession.ExecutionProviderConfig;
  // CUDA after TensorRT so that nodes TensorRT rejects still run on the GPU.
  return { opts: { ...base, executionProviders: [trt, { name: 'cuda', deviceId }] }, cache };
}

/** Create a session on the first provider of the request's order that loads; record why others did not. */
export async function createEngine(req: EngineRequest): Promise<Engine> {
  const fallbacks: Fallback[] = [];
  const models = new Map<Realization, { source: ModelSource; ms: number }>();
  for (const ep of providerOrder(req.ep)) {
    const forced = req.forceUnavailable?.[ep];
    if (forced) {
      fallbacks.push({ ep, reason: forced });
      req.log?.(`${ep}: ${forced}`);
      continue;
    }
    const realization = realizationFor(ep, req.precision);
    let m = models.get(realization);
    if (!m) {
      const t0 = performance.now();
      const source = req.buildModel(realization, ep);
      m = { source, ms: performance.now() - t0 };
      models.set(realization, m);
    }
    const source = m.source;
    if (typeof source === 'object' && 'segments' in source) {
      if (ep !== 'cpu') throw new Error(`a segmented graph runs on the CPU EP only, not ${ep}`);
      return segmentedEngine(source.segments, realization, fallbacks, sessionOptions(ep, req, realization).opts, m.ms, req.log, req.onSegment);
    }
    const open = async (gpuOutputs: boolean) => {
      const { opts, cache } = sessionOptions(ep, req, realization, gpuOutputs);
      return { session: await createSession(source, opts), cache };
    };
    const t0 = performance.now();
    try {
      let gpuOutputs = outputsOnGpu(ep);
      let opened: Awaited<ReturnType<typeof open>>;
      try {
        opened = await open(gpuOutputs);
      } catch (e) {
        if (!gpuOutputs) throw e;
        // a provider that loads may still refuse GPU-resident outputs: try once with CPU outputs
        gpuOutputs = false;
        req.log?.(`${ep}: outputs on the CPU (GPU-resident outputs refused: ${explainProviderError(ep, e instanceof Error ? e.message : String(e))})`);
        opened = await open(false);
      }
      const sessionMs = performance.now() - t0;
      req.log?.(`${ep}: session ready in ${sessionMs.toFixed(0)} ms (${realization}${gpuOutputs ? ', outputs read back from the GPU one by one' : ''})`);
      return makeEngine(ep, realization, opened.session, fallbacks, opened.cache, sessionMs, m.ms, gpuOutputs ? () => open(false).then((o) => o.session) : undefined, req.log);
    } catch (e) {
      const reason = explainProviderError(ep, e instanceof Error ? e.message : String(e));
      if (ep === 'cpu') throw new LabError('ENGINE_FAILED', `the CPU engine could not be built: ${reason}`, undefined, { cause: e });
      fallbacks.push({ ep, reason });
      req.log?.(`${ep}: ${reason}; falling back`);
    }
  }
  throw new LabError('PROVIDER_UNAVAILABLE', `no execution provider could be loaded: ${fallbacks.map((f) => `${f.ep}: ${f.reason}`).join('; ')}`);
}

/**
 * `reopenWithCpuOutputs`: given when the session leaves its outputs on the GPU; used if reading
 * them back fails (the run is then repeated once with CPU outputs).
 */
function makeEngine(
  ep: EpName, realization: Realization, session: ortTypes.InferenceSession, fallbacks: Fallback[],
  cache: 'none' | 'built' | 'reused', sessionMs: number, buildGraphMs: number,
  reopenWithCpuOutputs?: () => Promise<ortTypes.InferenceSession>, log?: (line: string) => void,
): Engine {
  return {
    ep, realization, fallbacks, cache, sessionMs, buildGraphMs, outputBytes: 0, lastRunMs: 0,
    async run(feeds, dims) {
      const t0 = performance.now();
      const out = await session.run(tensorsOf(feeds, dims));
      const res = new Map<string, Float32Array>();
      let bytes = 0;
      try {
        for (const [k, t] of Object.entries(out)) {
          if (t.type !== 'float32') throw new LabError('ENGINE_FAILED', `output ${k} has type ${t.type}, expected float32`);
          // GPU-resident outputs are read back here, one at a time, and their GPU buffers freed
          const data = (t.location === 'cpu' || t.location === 'cpu-pinned' ? t.data : await t.getData(true)) as Float32Array;
          res.set(k, data);
          bytes += data.byteLength;
          if (t.location === 'cpu' || t.location === 'cpu-pinned') t.dispose?.();
        }
      } catch (e) {
        for (const t of Object.values(out)) t.dispose?.();
        if (e instanceof LabError || !reopenWithCpuOutputs) throw e;
        log?.(`${ep}: reading the outputs back from the GPU failed (${e instanceof Error ? e.message : String(e)}); running again with CPU outputs`);
        await session.release();
        session = await reopenWithCpuOutputs();
        reopenWithCpuOutputs = undefined;
        return this.run(feeds, dims);
      }
      this.lastRunMs = performance.now() - t0; // outputs read back included
      this.outputBytes = bytes;
      return res;
    },
    async release() {
      await session.release();
    },
  };
}

/** A session from a model's path or bytes (one call: the binding's two overloads take one or the other). */
function createSession(m: ModelFile, opts: ortTypes.InferenceSession.SessionOptions): Promise<ortTypes.InferenceSession> {
  return typeof m === 'string' ? ort().InferenceSession.create(m, opts) : ort().InferenceSession.create(m, opts);
}

/** What runOnce gives: the outputs, where they ran and what the run cost. */
export interface RanOnce {
  out: Map<string, Float32Array>;
  ep: EpName;
  realization: Realization;
  fallbacks: Fallback[];
  sessionMs: number;
  runMs: number;
  bytes: number;
}

/** Create an engine, run it once on one input, release it (the fp32 CPU runs, the GPU helper's runs). */
export async function runOnce(req: EngineRequest, inputName: string, input: Float32Array, dims: number[]): Promise<RanOnce> {
  const engine = await createEngine(req);
  try {
    const out = await engine.run({ [inputName]: input }, { [inputName]: dims });
    return { out, ep: engine.ep, realization: engine.realization, fallbacks: engine.fallbacks, sessionMs: engine.sessionMs, runMs: engine.lastRunMs, bytes: engine.outputBytes };
  } finally {
    await engine.release();
  }
}

function tensorsOf(feeds: Record<string, Float32Array | { data: Float32Array; dims: number[] }>, dims: Record<string, number[]>): Record<string, ortTypes.Tensor> {
  const O = ort();
  const f: Record<string, ortTypes.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) f[k] = new O.Tensor('float32', v instanceof Float32Array ? v : v.data, dims[k]);
  return f;
}

/**
 * An engine over chained segments on the CPU EP (buildSegmented): run() creates each segment's
 * session, runs it on the feeds and the outputs so far, and releases it before the next, so that
 * one segment's weights and activations are held at a time. The first segment's session is
 * created here, so that a graph the CPU EP refuses fails now, as a whole graph would.
 */
async function segmentedEngine(
  segments: readonly ModelFile[], realization: Realization, fallbacks: Fallback[],
  opts: ortTypes.InferenceSession.SessionOptions, buildGraphMs: number, log?: (line: string) => void, onSegment?: (done: number, total: number) => void,
): Promise<Engine> {
  const open = async (m: ModelFile) => {
    const t = performance.now();
    try {
      const s = await createSession(m, opts);
      return { s, ms: performance.now() - t };
    } catch (e) {
      throw new LabError('ENGINE_FAILED', `the CPU engine could not be built: ${explainProviderError('cpu', e instanceof Error ? e.message : String(e))}`, undefined, { cause: e });
    }
  };
  const first = await open(segments[0]);
  let firstSession: ortTypes.InferenceSession | undefined = first.s;
  log?.(`cpu: first of ${segments.length} segments ready in ${first.ms.toFixed(0)} ms (${realization}; each segment's session is created before its run and released after it)`);
  const engine: Engine = {
    ep: 'cpu', realization, fallbacks, cache: 'none', sessionMs: first.ms, buildGraphMs, outputBytes: 0, lastRunMs: 0,
    async run(feeds, dims) {
      const have = new Map<string, ortTypes.Tensor>(Object.entries(tensorsOf(feeds, dims)));
      const res = new Map<string, Float32Array>();
      let runMs = 0;
      let bytes = 0;
      for (let i = 0; i < segments.length; i++) {
        let session = i === 0 ? firstSession : undefined;
        firstSession = undefined;
        if (!session) {
          const o = await open(segments[i]);
          session = o.s;
          this.sessionMs += o.ms;
        }
        try {
          const f: Record<string, ortTypes.Tensor> = {};
          for (const name of session.inputNames) {
            const t = have.get(name);
            if (!t) throw new LabError('ENGINE_FAILED', `segment ${i + 1} of ${segments.length} needs '${name}', which no segment before it gives`);
            f[name] = t;
          }
          const t0 = performance.now();
          const out = await session.run(f);
          runMs += performance.now() - t0;
          for (const [k, t] of Object.entries(out)) {
            if (t.type !== 'float32') throw new LabError('ENGINE_FAILED', `output ${k} has type ${t.type}, expected float32`);
            const data = t.data as Float32Array;
            res.set(k, data);
            have.set(k, t);
            bytes += data.byteLength;
          }
        } finally {
          await session.release();
        }
        onSegment?.(i + 1, segments.length);
      }
      this.lastRunMs = runMs;
      this.outputBytes = bytes;
      return res;
    },
    async release() {
      await firstSession?.release();
      firstSession = undefined;
    },
  };
  return engine;
}

/** Which providers this installation can load, for the sidebar: tries each one on a tiny model. */
export async function probeProviders(): Promise<{ ep: EpName; available: boolean; reason?: string }[]> {
  const out: { ep: EpName; available: boolean; reason?: string }[] = [];
  for (const ep of ['tensorrt', 'cuda', 'webgpu', 'cpu'] as EpName[]) out.push({ ep, ...(await providerLoads(ep)) });
  return out;
}

/** Whether a provider loads: a session of a one-node model on it, or why not. */
export async function providerLoads(ep: EpName): Promise<{ available: boolean; reason?: string }> {
  const { OnnxGraphBuilder, ElemType } = await import('../model/onnx-builder');
  const g = new OnnxGraphBuilder();
  const x = g.input('x', ElemType.FLOAT, [1]);
  g.op('Identity', [x], undefined, 'y');
  g.output('y', ElemType.FLOAT, [1]);
  const bytes = g.encode('probe', '');
  const req: EngineRequest = { ep, precision: 'fp32', layerNorm: 'plain', buildModel: () => bytes };
  try {
    const { opts } = sessionOptions(ep, req, 'fp32');
    const s = await ort().InferenceSession.create(bytes, opts);
    await s.release();
    return { available: true };
  } catch (e) {
    return { available: false, reason: explainProviderError(ep, e instanceof Error ? e.message : String(e)) };
  }
}
