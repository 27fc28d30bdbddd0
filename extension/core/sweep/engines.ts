/**
 * The sessions of a sweep, built once per sweep and run on every clip: the engine under test paired
 * with its FP32 reference in one graph (model/paired-graph.ts: the blocks compared inside it, B clips
 * a run) — or, for per-clip test data and --compare host, the FP32 reference and the engine as
 * two sessions; and a per-clip Prepared over them, so that the pipeline's own runMode compares and
 * diagnoses each clip exactly as a single run does.
 *
 * The seam (pipeline's public API only): runMode takes a GivenEngine — an engine built beforehand —
 * and releases it after its run. Here the given engine forwards run() to the sweep's engine and
 * its release() is a no-op: the session outlives the clip and is released when the sweep ends.
 * The FP32 reference run goes into the clip's Prepared as its fp32 probe run (the self-reference,
 * the healthy statistics the diagnosis and the minimal fix read).
 * On a GPU the paired sessions are kept in the GPU helper process (helper.ts): a run is a request
 * there, and this process judges the clips before it meanwhile (batch.ts, inTurn). Should that
 * process die, its sessions are built again here (helperLost).
 */
import { buildTimeSformer, type BuiltGraph } from '../model/timesformer';
import { pairGraphs } from '../model/paired-graph';
import { unpackOutputs } from '../model/packed-outputs';
import { WeightStore } from '../model/weight-store';
import { createEngine, type Engine } from '../engine/session';
import { realizationFor } from '../engine/providers';
import type { GpuHelper } from '../helper';
import { graphOptions, ranEngine, type GivenEngine, type LoadedModel, type Prepared, type Reference } from '../pipeline';
import type { EpChoice, EpName, ModelConfig, PipelineOptions, Realization } from '../report';
import type { ReadClip } from './clips';

/** An engine and the graph it runs, kept for the sweep; a paired engine's graph carries its FP32 reference (`ref`). */
export interface Kept {
  engine: Engine;
  g: BuiltGraph;
  /** Paired (model/paired-graph.ts): the reference inside the same graph, as a probe run is read. */
  ref?: BuiltGraph;
  /** Clips per run. */
  batch: number;
  /** Its session is in the GPU helper process. */
  remote?: boolean;
}

/** A view of a kept engine that runMode may "release" after each clip without ending the session. */
export function lend(k: Kept): GivenEngine {
  const e = k.engine;
  const view: Engine = {
    get ep() { return e.ep; },
    get realization() { return e.realization; },
    get fallbacks() { return e.fallbacks; },
    get cache() { return e.cache; },
    get sessionMs() { return e.sessionMs; },
    get lastRunMs() { return e.lastRunMs; },
    get buildGraphMs() { return e.buildGraphMs; },
    get outputBytes() { return e.outputBytes; },
    run: (feeds, dims) => e.run(feeds, dims),
    release: async () => undefined,
  };
  return { engine: view, g: k.g };
}

/**
 * The engines of one batch size, built on first use: `reference` (FP32, plain, with statistics, on
 * `referenceEp`), `mode` (the options under test) and `fix` (the same with the covering fix's
 * LayerNorms in FP32, for the confirmation). `built` counts the sessions created.
 */
export class SweepEngines {
  private readonly kept = new Map<string, Promise<Kept>>();
  /** The keys of the engines whose session is in the GPU helper process. */
  private readonly remoteKeys = new Set<string>();
  /** Why the GPU helper process was given up (helperLost). */
  private lost: string | undefined;
  built = 0;

  /**
   * `remote`: the GPU helper process (helper.ts) that holds the paired sessions on a GPU EP, their
   * inputs and outputs passed in files of `dir` (the sweep decides where it is worth it).
   */
  constructor(private readonly model: LoadedModel, private readonly log?: (line: string) => void, private remote?: { helper: GpuHelper; dir: string }) {}

  /**
   * After a kept engine's run failed: when it was in the GPU helper process and that process is
   * gone (it crashed, or was killed), its sessions are forgotten and the helper is not used again,
   * so that the next request builds the session in this process; true then (the run is worth
   * repeating), false when the failure is the run's own.
   */
  helperLost(k: Kept): boolean {
    if (!k.remote) return false;
    const why = this.remote?.helper.lost;
    if (this.remote && why) {
      this.remote = undefined;
      this.lost = why;
      // its sessions went with it; the ones in this process stay
      for (const key of this.remoteKeys) this.kept.delete(key);
      this.remoteKeys.clear();
      this.log?.(`sweep: ${why}; the paired sessions are built again in this process`);
    }
    // a run launched before the loss was seen fails the same way
    return this.lost !== undefined;
  }

  reference(config: ModelConfig, batch: number, o: PipelineOptions, ep: EpChoice): Promise<Kept> {
    const ro: PipelineOptions = { ...o, precision: 'fp32', layerNorm: 'plain', layerNormOverrides: undefined, probes: true, ep };
    return this.get(`ref|${batch}`, config, batch, ro);
  }

  mode(config: ModelConfig, batch: number, o: PipelineOptions, name = 'mode'): Promise<Kept> {
    return this.get(`${name}|${batch}|${JSON.stringify(o.layerNormOverrides ?? {})}`, config, batch, o);
  }

  /**
   * The options under test paired with the FP32 reference in one graph on one EP (the reference's
   * EP is the engine's): one session, one run per clip, the blocks compared inside the graph.
   */
  paired(config: ModelConfig, batch: number, o: PipelineOptions, name = 'mode'): Promise<Kept> {
    return this.get(`paired|${name}|${batch}|${JSON.stringify(o.layerNormOverrides ?? {})}`, config, batch, o, true);
  }

  private get(key: string, config: ModelConfig, batch: number, o: PipelineOptions, paired = false): Promise<Kept> {
    let k = this.kept.get(key);
    if (!k) {
      k = this.build(config, batch, o, paired).then((x) => {
        if (x.remote) this.remoteKeys.add(key);
        return x;
      });
      this.kept.set(key, k);
      k.catch(() => this.kept.delete(key)); // a failed build is tried again by the next clip
    }
    return k;
  }

  private async build(config: ModelConfig, batch: number, o: PipelineOptions, paired: boolean): Promise<Kept> {
    let g: BuiltGraph | undefined;
    let ref: BuiltGraph | undefined;
    const ep = o.ep ?? 'cpu';
    const precision = o.precision ?? 'fp32';
    const layerNorm = o.layerNorm ?? 'plain';
    const layerNormModes = [layerNorm, ...Object.values(o.layerNormOverrides ?? {}), ...(paired ? ['plain' as const] : [])];
    const w = this.model.weights;
    // the whole graph in one session (as --repeat builds it): the session serves every clip
    const buildModel = (realization: Realization) => {
      // paired: the LayerNorm statistics per clip, as every other output of a batch of clips
      const perClip = paired ? { probesPerClip: true } : undefined;
      g = buildTimeSformer(w, graphOptions(config, batch, o, realization, perClip));
      if (!paired) return g.source;
      const ro: PipelineOptions = { ...o, precision: 'fp32', layerNorm: 'plain', layerNormOverrides: undefined, probes: true };
      const p = pairGraphs(g, buildTimeSformer(w, graphOptions(config, batch, ro, 'fp32', perClip)), w instanceof WeightStore ? w : undefined);
      g = p.test;
      ref = p.ref;
      return g.source;
    };
    let engine: Engine | undefined;
    let where = '';
    // a paired session in the GPU helper process, when given one: its runs leave this thread free
    let made: { realization: Realization; source: ReturnType<typeof buildModel> } | undefined;
    if (paired && this.remote && ep !== 'auto') {
      const t = performance.now();
      const realization = realizationFor(ep as EpName, precision);
      const source = buildModel(realization);
      made = { realization, source };
      if (typeof source === 'string') {
        try {
          engine = await this.remote.helper.openEngine({ model: source, ep: ep as EpName, precision, layerNorm, layerNormModes, probes: o.probes }, this.remote.dir, performance.now() - t);
          where = ` in the GPU helper process (pid ${this.remote.helper.pid})`;
        } catch (e) {
          this.log?.(`sweep: the GPU helper process could not open the session (${e instanceof Error ? e.message : String(e)}); opening it here`);
        }
      }
    }
    // here: the graph built for the helper serves its realization (g and ref are that build's)
    engine ??= await createEngine({
      ep, precision, layerNorm, deviceId: o.deviceId, log: this.log, probes: o.probes, layerNormModes,
      buildModel: (r) => (made?.realization === r ? made.source : buildModel(r)),
    });
    this.built++;
    this.log?.(`sweep: ${precision} LayerNorm ${layerNorm} session on ${engine.ep} (${engine.realization})${paired ? `, paired with its FP32 reference (blocks compared inside the graph), ${batch} clip(s) a run` : ''} built once for the sweep${where}`);
    return { engine, g: g!, ref, batch, ...(where ? { remote: true } : {}) };
  }

  /** Drop the engines whose key starts with `prefix` (the fix's, between confirmations). */
  async drop(prefix: string): Promise<void> {
    for (const [key, k] of [...this.kept]) {
      if (!key.startsWith(prefix)) continue;
      this.kept.delete(key);
      this.remoteKeys.delete(key);
      await (await k.catch(() => undefined))?.engine.release();
    }
  }

  async close(): Promise<void> {
    await this.drop('');
  }
}

/**
 * Clips of one shape (1, 3, T, H, W) through a paired engine of batch B ≥ their count, as one run
 * (a shorter group padded with its last clip): for each clip, the run of the graph under test (an
 * engine that has run: the pipeline reads its rows of the outputs) and its reference as an fp32
 * probe run is read.
 */
export async function pairedRun(k: Kept, clips: readonly ReadClip[]): Promise<{ given: GivenEngine; probe: { g: BuiltGraph; out: Map<string, Float32Array>; ep: string } }[]> {
  const e = k.engine;
  const B = k.batch;
  if (!clips.length || clips.length > B) throw new Error(`pairedRun: ${clips.length} clips for a batch of ${B}`);
  const one = clips[0].video;
  const n = one.data.length;
  const data = new Float32Array(B * n);
  for (let b = 0; b < B; b++) {
    const c = clips[Math.min(b, clips.length - 1)].video;
    if (c.data.length !== n) throw new Error(`pairedRun: clips of different sizes (${c.shape.join('×')} and ${one.shape.join('×')})`);
    data.set(c.data, b * n);
  }
  const out = await e.run({ [k.g.inputName]: data }, { [k.g.inputName]: [B, ...one.shape.slice(1)] });
  return clips.map((_c, b) => {
    const mine = unpackOutputs(out, k.g.packed, b, B);
    return {
      given: { engine: ranEngine(e, mine, e.outputBytes / B, 0, e.lastRunMs / B, 0), g: k.g },
      probe: { g: k.ref!, out: mine, ep: e.ep },
    };
  });
}

/** The FP32 reference run of one clip on the kept reference engine: outputs and graph, as fp32Probe gives them. */
export async function referenceRun(k: Kept, clip: ReadClip): Promise<{ g: BuiltGraph; out: Map<string, Float32Array>; ep: string }> {
  const out = await k.engine.run({ [k.g.inputName]: clip.video.data }, { [k.g.inputName]: [...clip.video.shape] });
  return { g: k.g, out, ep: k.engine.ep };
}

/**
 * A Prepared for one clip over the sweep's model and configuration, with its FP32 run given: what
 * runMode needs of a preparation, none of it read or computed again.
 */
export function clipPrepared(
  base: { options: PipelineOptions; model: LoadedModel; config: ModelConfig },
  clip: ReadClip, probe: { g: BuiltGraph; out: Map<string, Float32Array>; ep?: string }, log?: (line: string) => void,
): Prepared {
  const { config } = base;
  const lines: string[] = [];
  const B = clip.video.shape[0];
  const reference: Reference = clip.data
    ? {
      info: { kind: 'test-data', label: `test data ${clip.data.path.split(/[\\/]/).pop()} (PyTorch)`, path: clip.data.path },
      blocks: clip.data.blocks.map((b) => b.data), blockShape: [...(clip.data.blocks[0]?.shape ?? [])], probs: clip.data.probs.data, stats: [],
    }
    : {
      info: { kind: 'self', label: `FP32 of this model (${(probe.ep ?? 'cpu') === 'cpu' ? 'CPU' : probe.ep} EP)` },
      blocks: probe.g.blockNames.map((n) => probe.out.get(n)!),
      blockShape: [B, 1 + config.numPatches * config.frames, config.embedDim],
      probs: probe.out.get(probe.g.probsName!)!,
      stats: [],
    };
  return {
    options: { ...base.options, input: clip.input.path ?? base.options.input, data: clip.data?.path },
    model: base.model, data: clip.data, video: clip.video, input: clip.input, config,
    reference: async () => reference,
    fp32Probe: async () => probe,
    probeGraphOptions: { ...graphOptions(config, B, base.options, 'fp32'), precision: 'fp32', layerNorm: 'plain', layerNormOverrides: undefined, probes: true },
    hasProbe: () => true,
    besideRun: () => undefined,
    adoptProbe: () => {
      throw new Error('a sweep clip has its fp32 run already');
    },
    close: () => undefined,
    headsEvidence: async () => config.headsTried,
    pending: { readMs: 0, headsMs: 0, referenceMs: 0 },
    say: (s) => {
      lines.push(s);
      log?.(s);
    },
    log: lines,
  };
}
