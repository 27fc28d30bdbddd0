/**
 * Prepare: everything a run needs before its mode is chosen, read and computed once and shared by
 * every mode — the weights (load), the clip (clip), the head count (heads), the reference
 * (reference). Nothing here depends on the precision or the LayerNorm mode.
 */
import type { WorkerPool } from '../parallel';
import { LabError } from '../errors';
import type { TestData } from '../formats/testdata';
import type { Engine } from '../engine/session';
import type { BuiltGraph, GraphOptions } from '../model/timesformer';
import { WeightStore } from '../model/weight-store';
import type { Tensor } from '../tensor';
import { validateOptions } from '../options';
import type { InputInfo, ModelConfig, PipelineHooks, PipelineOptions } from '../report';
import { prepareClip } from './clip';
import { graphOptions } from './graph';
import { headsEvidenceOf, settleHeads, type HeadsTried } from './heads';
import { expectedKinds, openModel, sizeOf, type LoadedModel } from './load';
import { voice, type Voice } from './progress';
import { references, type References } from './reference';

/**
 * Where a preparation kept by the engine process keeps the engines its modes built (core/warm.ts),
 * so that a later request for the same mode runs the same session again: `take` gives a kept
 * engine for these options (a view whose release() does not end the session), `keep` takes a new
 * one over and gives back such a view of it. (An engine and its graph: engine-run.ts's GivenEngine.)
 */
export interface EngineShelf {
  take(o: PipelineOptions): { engine: Engine; g: BuiltGraph } | undefined;
  keep(o: PipelineOptions, built: { engine: Engine; g: BuiltGraph }): { engine: Engine; g: BuiltGraph };
}

/**
 * Everything a run needs before its mode is chosen, read and computed once per pipeline call and
 * shared by every LayerNorm mode: the weights, the clip, the head count and the reference.
 */
export interface Prepared extends References {
  options: PipelineOptions;
  model: LoadedModel;
  /** The test data, when one was given. */
  data?: TestData;
  video: Tensor<'float32'>;
  input: InputInfo;
  config: ModelConfig;
  /** The options of fp32Probe()'s graph, for a mode run that would build the same graph. */
  probeGraphOptions: GraphOptions;
  /** Remove the weights' folder (after the last mode). */
  close(): void;
  /**
   * Block 0's error for every head count (head detection), also when the count was given: the
   * diagnosis's evidence for a wrong head count. Empty without test data.
   */
  headsEvidence(): Promise<HeadsTried>;
  /** Preparation times not yet charged to a Report (the first mode reports them). */
  pending: { readMs: number; headsMs: number; referenceMs: number };
  say(line: string): void;
  log: string[];
  /** Where a preparation kept between requests keeps its modes' engines (core/warm.ts); absent: each engine is released after its run. */
  engines?: EngineShelf;
  /**
   * Comparison threads kept with a preparation kept between requests (core/warm.ts): each mode (and
   * its minimal fix's confirmation) compares on them instead of starting threads of its own (a pool
   * of 8 took ~100 ms to answer its first job on the 2-core development machine).
   */
  pool?: WorkerPool;
}

/**
 * Read the checkpoint, the test data (or the clip) once; settle the head count; describe the
 * reference. Nothing here depends on the precision or the LayerNorm mode.
 */
export async function prepare(o: PipelineOptions, hooks: PipelineHooks = {}): Promise<Prepared> {
  const v = voice(hooks);
  validateOptions(o);
  if (o.heads !== undefined && (!Number.isInteger(o.heads) || o.heads <= 0)) throw new LabError('BAD_OPTION', `heads must be a positive integer, got ${o.heads}`);
  const t0 = performance.now();
  v.stage('reading checkpoint', o.weights);
  const store = WeightStore.create({ expectBytes: sizeOf(o.weights) });
  v.say(`weight store: ${store.dir} (${store.usage().inMemory ? 'a memory file system: its bytes are RAM, beside the RSS' : 'on disk'}; ${store.why}; about 1-3x the model's float32 weights); removed when this run ends, on Ctrl-C, SIGTERM and SIGHUP`);
  try {
    return await prepareWith(store, o, hooks, v, t0);
  } catch (e) {
    store.close();
    throw e;
  }
}

async function prepareWith(store: WeightStore, o: PipelineOptions, hooks: PipelineHooks, v: Voice, t0: number): Promise<Prepared> {
  const { log, say } = v;
  const m = await openModel(o.weights, store, expectedKinds(o));
  const { data, clip } = await prepareClip(o, m, v);
  const readMs = performance.now() - t0;
  const kind = m.source.kind === 'huggingface' ? `HuggingFace ${m.source.architecture ?? 'TimeSformer'}` : 'official TimeSformer';
  const head = m.base.numClasses > 0 ? `${m.base.numClasses} classes${m.labels ? ' (named)' : ''}` : 'no classifier: the final LayerNorm output is compared instead of probabilities';
  say(`model: ${kind}, ${m.base.depth} blocks, C=${m.base.embedDim}, ${m.base.frames}×${m.base.imageSize}², patch ${m.base.patchSize}, ${head}, ${m.base.params} params (${m.format} checkpoint, ${m.dtype})`);

  const t1 = performance.now();
  const { heads, headsSource, headsTried } = await settleHeads(m, o, data, v);
  // a verdict over zero blocks would say every block passes having compared none
  if (data && data.blocks.length === 0) throw new LabError('BAD_TEST_DATA', 'the test data has no block outputs: there is nothing to compare block by block (test_data.p holds (video, [probs, [block 0 output, block 1 output, ...]]))', data.path);
  const config: ModelConfig = { ...m.base, heads, headsSource, headsTried };
  const headsMs = performance.now() - t1;

  const pending = { readMs, headsMs, referenceMs: 0 };
  const probeGraphOptions: GraphOptions = { ...graphOptions(config, clip.video.shape[0], o, 'fp32'), precision: 'fp32', layerNorm: 'plain', layerNormOverrides: undefined, probes: true };
  const refs = references({ model: m, data, video: clip.video, config, probeGraphOptions, pending, voice: v, hooks });
  let headsEvidence: Promise<HeadsTried> | undefined;
  return {
    ...refs,
    options: o, model: m, data, video: clip.video, input: clip.input, config, pending, say, log, probeGraphOptions,
    close: () => store.close(),
    headsEvidence: () => (headsEvidence ??= headsEvidenceOf(m, data, headsTried, say)),
  };
}
