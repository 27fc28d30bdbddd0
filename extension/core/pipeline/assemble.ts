/**
 * Report assembly: a mode's inputs, configuration, run, block results and diagnosis as one Report
 * (core/report.ts), and its timings and memory once the mode is done.
 */
import type { Weights } from '../model/timesformer';
import { WeightStore, type StoreUsage } from '../model/weight-store';
import { realizationLabel } from '../engine/providers';
import { REPORT_VERSION, type Diagnosis, type PipelineOptions, type Report } from '../report';
import type { Judged } from './compare';
import type { EngineRun } from './engine-run';
import type { Prepared } from './prepare';
import type { Reference } from './reference';
import { peakRssBytes as peakRss } from '../peak-rss';

export interface Assembly {
  o: PipelineOptions;
  p: Prepared;
  ref: Reference;
  run: Pick<EngineRun, 'g' | 'engine'>;
  judged: Judged;
  diagnosis: Diagnosis;
  /** The mode's log: the Report holds this array (lines said later still land in it). */
  log: string[];
}

/** The Report of a mode, its timings zero until timingsOf's are set. */
export function assembleReport(a: Assembly): Report {
  const { p, o, ref, judged: j } = a;
  const { g, engine } = a.run;
  const precision = o.precision ?? 'fp32';
  const accumulate = o.accumulate ?? 'fp32';
  return {
    version: REPORT_VERSION,
    tool: 'timesformer-precision-lab',
    createdAt: new Date().toISOString(),
    inputs: {
      weights: p.options.weights, ...(p.data ? { data: p.data.path } : {}), weightsFormat: p.model.format, weightsDtype: p.model.dtype,
      weightBytes: p.model.weightBytes,
      reference: ref.info, input: p.input, model: p.model.source,
    },
    config: p.config,
    run: {
      precision, layerNorm: j.layerNorm, layerNormOverrides: j.layerNormOverrides, accumulate, requestedEp: o.ep ?? 'cpu', ep: engine.ep, realization: engine.realization,
      label: realizationLabel(engine.ep, precision, engine.realization, accumulate),
      fallbacks: engine.fallbacks, engine: { cache: engine.cache },
      timings: { readMs: 0, headsMs: 0, referenceMs: 0, buildGraphMs: 0, sessionMs: 0, runMs: 0, compareMs: 0, totalMs: 0 },
      extraOutputs: g.extraOutputs.length,
    },
    tolerance: j.tolerance,
    toleranceSource: o.tolerance === undefined ? 'precision' : 'option',
    blocks: j.blocks,
    probs: j.probs,
    finalNorm: j.finalNorm,
    diagnosis: a.diagnosis,
    log: a.log,
  };
}

/**
 * A mode's timings: the preparation's not yet charged (taken from `p.pending`, which is zeroed:
 * the first mode reports them), the engine's, the comparison's since `compareT0`, the whole since
 * `t0`; the peak RSS and the weight store's bytes.
 */
export function timingsOf(p: Prepared, run: Pick<EngineRun, 'engine' | 'runMs' | 'warmRunMs'>, t0: number, compareT0: number): { timings: Report['run']['timings']; store?: StoreUsage } {
  const { readMs, headsMs, referenceMs } = p.pending;
  p.pending.readMs = p.pending.headsMs = p.pending.referenceMs = 0;
  const peakRssBytes = peakRss();
  const store = storeUsage(p.model.weights);
  const { engine, runMs, warmRunMs } = run;
  return {
    timings: {
      readMs, headsMs, referenceMs, buildGraphMs: engine.buildGraphMs, sessionMs: engine.sessionMs, runMs,
      compareMs: performance.now() - compareT0, totalMs: performance.now() - t0 + readMs + headsMs, ...(warmRunMs !== undefined ? { warmRunMs } : {}), peakRssBytes,
      ...(store ? { storeBytes: store.bytes, storeInMemory: store.inMemory } : {}),
    },
    store,
  };
}

/** The weight store's usage, when the weights are in one (the pipeline's way; not the in-memory tests'). */
export function storeUsage(w: Weights): StoreUsage | undefined {
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
