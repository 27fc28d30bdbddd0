/**
 * Running a group of read clips through the sweep's engines: the clips that can go together run as
 * one batch of the paired graph (engine and FP32 reference in one model, blocks compared inside it,
 * every output per clip: model/paired-graph.ts), the others — per-clip test data (PyTorch's
 * reference), a clip of another shape, a sweep compared on the host — one by one through two
 * sessions. Either way each clip is judged by the pipeline's own runMode, as a single run is.
 */
import { isLabError } from '../errors';
import type { WorkerPool } from '../parallel';
import { checkAgreement, healthyStats, runMode, type Prepared } from '../pipeline';
import type { EpChoice, LayerNormStats, ModelConfig, PipelineOptions, Report } from '../report';
import type { ReadClip } from './clips';
import { clipPrepared, lend, pairedRun, referenceRun, type SweepEngines } from './engines';

/** One clip's run: its Report and the healthy (FP32) LayerNorm statistics the headroom reads. */
export interface ClipRun {
  report: Report;
  healthy: LayerNormStats[];
  label: string;
  shape: number[];
  refKind: 'self' | 'test-data';
  /** This clip's share of the time its batch took. */
  ms: number;
}

export interface RunnerSetup {
  p: Prepared;
  engines: SweepEngines;
  config: ModelConfig;
  /** The sweep's options (its mode; `layerNormOverrides` per run). */
  po: PipelineOptions;
  referenceEp: EpChoice;
  /** Compare inside a paired graph (the reference on the engine's EP, --compare graph). */
  inGraph: boolean;
  /** Clips per run of the paired graph (a shorter group is padded with its last clip). */
  batch: number;
  pool?: WorkerPool;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

const cancelled = (e: unknown) => isLabError(e) && e.code === 'CANCELLED';

export class ClipRunner {
  /** What the engines returned, over the clips run, and how many. */
  readBackBytes = 0;
  clipsRun = 0;
  /** Milliseconds in the engines' runs (outputs read back included), and judging clips on this thread (runMode on the outputs, the healthy statistics). */
  engineMs = 0;
  judgeMs = 0;

  constructor(private readonly s: RunnerSetup) {}

  private pairable(c: ReadClip, first?: ReadClip): boolean {
    const shape = c.video.shape.join(',');
    return this.s.inGraph && !c.data && c.video.shape[0] === 1 && (!first || first.video.shape.join(',') === shape);
  }

  /**
   * Each clip of `clips` with the sweep's mode and `overrides` (the mode's, or the covering fix's:
   * `name` keeps their engines apart), in order; a clip's failure is its own (CANCELLED ends the group).
   */
  async run(clips: readonly ReadClip[], name: 'mode' | 'fix', overrides: PipelineOptions['layerNormOverrides']): Promise<(ClipRun | { error: unknown })[]> {
    const res: (ClipRun | { error: unknown })[] = new Array(clips.length);
    const first = clips.find((c) => this.pairable(c));
    const together = clips.map((c, i) => (first && this.pairable(c, first) ? i : -1)).filter((i) => i >= 0);
    for (let i = 0; i < clips.length; i++) {
      if (together.includes(i)) continue;
      try {
        res[i] = await this.alone(clips[i], name, overrides);
      } catch (e) {
        if (cancelled(e)) throw e;
        res[i] = { error: e };
      }
    }
    for (let k = 0; k < together.length; k += this.s.batch) {
      const idx = together.slice(k, k + this.s.batch);
      const runs = await this.paired(idx.map((i) => clips[i]), name, overrides);
      idx.forEach((i, j) => (res[i] = runs[j]));
    }
    return res;
  }

  /** Up to `batch` clips of one shape, one run of the paired graph; each clip then judged on its own rows. */
  private async paired(cs: readonly ReadClip[], name: 'mode' | 'fix', overrides: PipelineOptions['layerNormOverrides']): Promise<(ClipRun | { error: unknown })[]> {
    const { engines, config, po, p, pool, signal } = this.s;
    const o: PipelineOptions = { ...po, layerNormOverrides: overrides };
    const t0 = performance.now();
    let runs: Awaited<ReturnType<typeof pairedRun>>;
    let bytes: number;
    try {
      const k = await engines.paired(config, this.s.batch, o, name);
      const tr = performance.now();
      runs = await pairedRun(k, cs);
      this.engineMs += performance.now() - tr;
      bytes = k.engine.outputBytes;
    } catch (e) {
      if (cancelled(e)) throw e;
      return cs.map(() => ({ error: e }));
    }
    this.readBackBytes += bytes;
    this.clipsRun += cs.length;
    const share = (performance.now() - t0) / cs.length;
    const base = { options: po, model: p.model, config };
    const out: (ClipRun | { error: unknown })[] = [];
    for (let j = 0; j < cs.length; j++) {
      const c = cs[j];
      const t = performance.now();
      try {
        const cp = clipPrepared(base, c, runs[j].probe);
        const report = (await runMode(cp, o, { signal }, runs[j].given, pool)).report;
        out.push({ report, healthy: await healthyStats(cp), label: c.input.label, shape: c.input.shape, refKind: 'self', ms: share + performance.now() - t });
        this.judgeMs += performance.now() - t;
      } catch (e) {
        if (cancelled(e)) throw e;
        out.push({ error: e });
      }
    }
    return out;
  }

  /** One clip through the reference engine and the engine under test, compared on the host. */
  private async alone(c: ReadClip, name: 'mode' | 'fix', overrides: PipelineOptions['layerNormOverrides']): Promise<ClipRun> {
    const { engines, config, po, p, pool, signal, referenceEp } = this.s;
    const t = performance.now();
    if (c.data) checkAgreement(p.model, c.data);
    const B = c.video.shape[0];
    const o: PipelineOptions = { ...po, layerNormOverrides: overrides };
    const probe = await referenceRun(await engines.reference(config, B, po, referenceEp), c);
    const cp = clipPrepared({ options: po, model: p.model, config }, c, probe);
    const k = await engines.mode(config, B, o, name);
    const report = (await runMode(cp, o, { signal }, lend(k), pool)).report;
    this.readBackBytes += [...probe.out.values()].reduce((n, a) => n + a.byteLength, 0) + (report.run.outputBytes ?? 0);
    this.clipsRun++;
    return { report, healthy: await healthyStats(cp), label: c.input.label, shape: c.input.shape, refKind: c.data ? 'test-data' : 'self', ms: performance.now() - t };
  }
}
