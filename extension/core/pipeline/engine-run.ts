/**
 * Engine run of one mode: build its graph (or take an engine built elsewhere: the GPU helper
 * process, TensorRT), save the ONNX as run when asked, run it once (and `repeat` more times for a
 * warm time). Gives back the outputs and the engine, not yet released: the caller frees it once
 * its comparison's threads are started.
 */
import { LabError } from '../errors';
import { buildTimeSformer, type BuiltGraph } from '../model/timesformer';
import { createEngine, type Engine } from '../engine/session';
import type { EpName, PipelineHooks, PipelineOptions, Realization } from '../report';
import { packGraph, unpackOutputs } from '../model/packed-outputs';
import { WeightStore } from '../model/weight-store';
import { check, type Voice } from './progress';
import { cpuGraph, engineCacheKey, graphOptions, layerNormModesOf } from './graph';
import { sha256Files, type LoadedModel } from './load';
import type { Prepared } from './prepare';

/** A mode's engine and graph when they were built beforehand (in the GPU helper process, or by TensorRT: core/trt/import.ts). */
export interface GivenEngine {
  engine: Engine;
  g: BuiltGraph;
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

/**
 * Whether a single run's graph on `ep` has its outputs packed into one (model/packed-outputs.ts):
 * on WebGPU, where each output is read back on its own (0.46 ms an output on the H100); not on the
 * CPU EP (nothing to read back), nor on CUDA and TensorRT (not measured; TensorRT's choices change
 * with the graph's outputs). TIMESFORMER_LAB_PACK_OUTPUTS=1 packs on every EP (tests), =0 on none.
 */
export function packsOutputs(ep: EpName, env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.TIMESFORMER_LAB_PACK_OUTPUTS;
  if (v === '1' || v === '0') return v === '1';
  return ep === 'webgpu';
}

/** `b` as a run on `ep` reads it back: its outputs packed into one where packsOutputs says so (a segmented CPU graph never). */
export function forReadBack(b: BuiltGraph, ep: EpName, weights: LoadedModel['weights']): BuiltGraph {
  const whole = typeof b.source === 'string' || b.source instanceof Uint8Array;
  return packsOutputs(ep) && whole ? packGraph(b, weights instanceof WeightStore ? weights : undefined) : b;
}

export interface EngineRun {
  /** Still holding its session: release() it. */
  engine: Engine;
  /** The graph the engine ran (its realization's). */
  g: BuiltGraph;
  out: Map<string, Float32Array>;
  /** The engine's own measure of its first run. */
  runMs: number;
  outputBytes: number;
  /** The median of the `repeat` runs after the first. */
  warmRunMs?: number;
}

/**
 * A mode's engine, built (graph and session) and not run: on a GPU EP its outputs packed into one.
 * runEngine's, and the warm engine process's when it builds the expose toggle's mode ahead
 * (core/warm.ts). `onSegment`: progress within a segmented CPU run.
 */
export async function buildEngine(p: Prepared, o: PipelineOptions, say: (s: string) => void, cacheKey?: string, onSegment?: (done: number, total: number) => void): Promise<GivenEngine> {
  const { config, model: m } = p;
  const B = p.video.shape[0];
  const built = new Map<Realization, BuiltGraph>();
  const engine = await createEngine({
    ep: o.ep ?? 'cpu', precision: o.precision ?? 'fp32', layerNorm: o.layerNorm ?? 'plain', deviceId: o.deviceId, trtCacheDir: o.trtCacheDir, cacheKey, log: say, probes: o.probes,
    // progress within the run (a segmented CPU run), not logged: the stage line says it
    onSegment,
    layerNormModes: layerNormModesOf(o),
    buildModel: (realization, ep) => {
      const go = graphOptions(config, B, o, realization);
      const b = forReadBack(ep === 'cpu' ? cpuGraph(m.weights, go, !!o.repeat) : buildTimeSformer(m.weights, go), ep, m.weights);
      built.set(realization, b);
      say(`graph: ${b.nodeCount} nodes, ${(b.initializerBytes / 2 ** 20).toFixed(1)} MiB of weights, ${b.extraOutputs.length} extra outputs (${realization})` +
        (b.packed ? `; its ${b.packed.parts.length} outputs packed into one, read back at once` : ''));
      return b.source;
    },
  });
  return { engine, g: built.get(engine.realization)! };
}

export async function runEngine(p: Prepared, o: PipelineOptions, hooks: PipelineHooks, v: Voice, given?: GivenEngine): Promise<EngineRun> {
  const { config, model: m } = p;
  const { say, stage } = v;
  const precision = o.precision ?? 'fp32';
  const layerNorm = o.layerNorm ?? 'plain';
  const over = Object.keys(o.layerNormOverrides ?? {}).length;
  const B = p.video.shape[0];
  // an engine this preparation built for these options before (a warm engine process): run it again
  const kept = given ? undefined : p.engines?.take(o);
  if (kept) {
    say(`engine: the ${kept.engine.ep} session built for these options by an earlier request, kept by the engine process: no graph built, no session created`);
    given = kept;
  }
  if (!kept) stage('building graph', `${precision}, LayerNorm ${layerNorm}${over ? ` (${over} overridden)` : ''}${precision !== 'fp32' ? `, ${o.accumulate ?? 'fp32'} accumulation` : ''}`);
  const needsKey = (o.ep ?? 'cpu') === 'auto' || o.ep === 'tensorrt';
  const cacheKey = !given && needsKey && o.trtCacheDir
    ? engineCacheKey(await sha256Files(m.source.files), graphOptions(config, B, o, 'tensorrt'))
    : undefined;
  if (!kept) stage('building engine', `${o.ep ?? 'cpu'}, ${precision.toUpperCase()} LayerNorm ${over ? `${layerNorm} (${over} in FP32)` : layerNorm}`);
  // a segmented engine reports its segments to whichever request runs it (a kept one is built by one
  // request and run by later ones: the relay, found by its graph, is pointed at each in turn)
  const relay: SegmentRelay = {};
  const made = given ?? await buildEngine(p, o, say, cacheKey, (k, n) => relay.to?.(k, n));
  if (!given) segmentRelays.set(made.g, relay);
  // a warm engine process keeps what it built (the view it gives back is released, not the session)
  const { engine, g } = !given && p.engines ? p.engines.keep(o, made) : made;
  const segments = segmentRelays.get(g);
  if (segments) segments.to = (k, n) => hooks.onProgress?.('running', `${o.ep ?? 'cpu'}, segment ${k}/${n}`);
  try {
    if (o.saveOnnx) {
      g.writeOnnx(o.saveOnnx);
      say(`saved the ONNX graph as run to ${o.saveOnnx}`);
    }
    stage('running', engine.ep);
    const feeds = { [g.inputName]: p.video.data };
    const dims = { [g.inputName]: [...p.video.shape] };
    // a packed graph's one output (model/packed-outputs.ts) read as the graph's own outputs
    const out = unpackOutputs(await engine.run(feeds, dims), g.packed);
    // the engine's own measure: a segmented CPU engine creates its segments' sessions inside run()
    // (session time, not inference), and an engine given ran in the GPU helper process
    const runMs = engine.lastRunMs;
    const outputBytes = engine.outputBytes;
    say(`ran in ${runMs.toFixed(0)} ms on ${engine.ep}; ${(outputBytes / 2 ** 20).toFixed(1)} MiB of outputs left the engine`);
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
      say(`${o.repeat} more runs: median ${warmRunMs.toFixed(1)} ms (min ${times[0].toFixed(1)} ms)`);
    }
    return { engine, g, out, runMs, outputBytes, warmRunMs };
  } catch (e) {
    await engine.release();
    throw e;
  } finally {
    if (segments) segments.to = undefined;
  }
}

interface SegmentRelay {
  to?: (done: number, total: number) => void;
}

/** The segment progress relay of each engine this process built, by its graph. */
const segmentRelays = new WeakMap<BuiltGraph, SegmentRelay>();

/** The output of block i, or an error naming it (an engine that dropped an output). */
export function blockOutput(r: Pick<EngineRun, 'g' | 'out'>, i: number): Float32Array {
  const o = r.out.get(r.g.blockNames[i]);
  if (!o) throw new LabError('ENGINE_FAILED', `the engine returned no output for block ${i}`);
  return o;
}
