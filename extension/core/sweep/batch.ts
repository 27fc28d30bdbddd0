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

/** A group of clips launched (ClipRunner.launch). */
export interface Launched {
  finish(): Promise<ClipRunOrError[]>;
  settled(): Promise<void>;
}

/** A clip's run, or its error. */
export type ClipRunOrError = ClipRun | { error: unknown };

/**
 * Groups of clips in turn, each launched while the one before is judged (on a GPU the helper
 * process runs the next group while this thread judges the one before; decoding runs a group
 * further ahead): `launch(g, after)` reads group g, starts reading `after` and starts g's runs;
 * `starting(g)` is told before g is waited for, `each(g, runs, t)` gets g's runs once judged (t:
 * when g was started). True when cancelled (the signal before a group, or a CANCELLED run); no
 * run of a launched group is left in flight when it returns, so the engines may be released.
 */
export async function inTurn<G>(
  groups: readonly G[], launch: (g: G, after: G | undefined) => Promise<Launched>, signal: AbortSignal | undefined,
  starting: (g: G) => void, each: (g: G, runs: ClipRunOrError[], t: number) => void,
): Promise<boolean> {
  const go = (j: number) => {
    if (j >= groups.length) return undefined;
    const l = launch(groups[j], groups[j + 1]);
    l.catch(() => undefined); // awaited in its turn
    return l;
  };
  let next = go(0);
  try {
    for (let j = 0; j < groups.length; j++) {
      if (signal?.aborted) return true;
      starting(groups[j]);
      const t = performance.now();
      let runs: ClipRunOrError[];
      try {
        const cur = await next!;
        next = go(j + 1);
        runs = await cur.finish();
      } catch (e) {
        if (!cancelled(e)) throw e;
        return true;
      }
      each(groups[j], runs, t);
    }
    return false;
  } finally {
    await next?.then((l) => l.settled(), () => undefined);
  }
}

/** One paired run's clips, what it read back, its run's milliseconds and each clip's share of it (its session's build included). */
interface PairedRuns {
  runs: Awaited<ReturnType<typeof pairedRun>>;
  bytes: number;
  runMs: number;
  share: number;
}

export class ClipRunner {
  /** What the engines returned, over the clips run, and how many. */
  readBackBytes = 0;
  clipsRun = 0;
  /**
   * Milliseconds in the engines' runs (outputs read back included; a run in the GPU helper process
   * overlaps the judging of the clips before it), and judging clips on this thread (runMode on the
   * outputs, the healthy statistics).
   */
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
  run(clips: readonly ReadClip[], name: 'mode' | 'fix', overrides: PipelineOptions['layerNormOverrides']): Promise<ClipRunOrError[]> {
    return this.launch(clips, name, overrides).finish();
  }

  /**
   * run() in two steps: the paired runs of `clips` start now (an engine in the GPU helper process
   * runs them while this thread judges the clips before: the sweep launches a group before it
   * finishes the one before); finish() judges them, and runs the clips that go alone.
   * settled(): when no run of this group is left in flight (before the engines are released).
   */
  launch(clips: readonly ReadClip[], name: 'mode' | 'fix', overrides: PipelineOptions['layerNormOverrides']): Launched {
    const first = clips.find((c) => this.pairable(c));
    const together = clips.map((c, i) => (first && this.pairable(c, first) ? i : -1)).filter((i) => i >= 0);
    const o: PipelineOptions = { ...this.s.po, layerNormOverrides: overrides };
    const batches: { idx: number[]; ran: Promise<PairedRuns> }[] = [];
    for (let k = 0; k < together.length; k += this.s.batch) {
      const idx = together.slice(k, k + this.s.batch);
      const ran = this.pairedRuns(idx.map((i) => clips[i]), name, o);
      ran.catch(() => undefined); // its error is its clips', when finish() reads it
      batches.push({ idx, ran });
    }
    return {
      finish: async () => {
        const res: ClipRunOrError[] = new Array(clips.length);
        for (let i = 0; i < clips.length; i++) {
          if (together.includes(i)) continue;
          try {
            res[i] = await this.alone(clips[i], name, overrides);
          } catch (e) {
            if (cancelled(e)) throw e;
            res[i] = { error: e };
          }
        }
        for (const { idx, ran } of batches) {
          const runs = await this.judge(idx.map((i) => clips[i]), ran, o);
          idx.forEach((i, j) => (res[i] = runs[j]));
        }
        return res;
      },
      settled: async () => {
        await Promise.allSettled(batches.map((b) => b.ran));
      },
    };
  }

  /** Up to `batch` clips of one shape, one run of the paired graph. */
  private async pairedRuns(cs: readonly ReadClip[], name: 'mode' | 'fix', o: PipelineOptions): Promise<PairedRuns> {
    const t0 = performance.now();
    let k = await this.s.engines.paired(this.s.config, this.s.batch, o, name);
    let built = performance.now() - t0;
    let runs: Awaited<ReturnType<typeof pairedRun>>;
    try {
      runs = await pairedRun(k, cs);
    } catch (e) {
      // the GPU helper process gone: the session again in this process, the run once more
      if (!this.s.engines.helperLost(k)) throw e;
      const t1 = performance.now();
      k = await this.s.engines.paired(this.s.config, this.s.batch, o, name);
      built += performance.now() - t1;
      runs = await pairedRun(k, cs);
    }
    // the engine's own time for this run (outputs read back included), not the wall time here: in
    // the GPU helper process that also holds the wait behind the run launched before it
    const runMs = k.engine.lastRunMs;
    return { runs, bytes: k.engine.outputBytes, runMs, share: (built + runMs) / cs.length };
  }

  /** The clips of one paired run, each judged on its own rows of the outputs (as a single run is). */
  private async judge(cs: readonly ReadClip[], ran: Promise<PairedRuns>, o: PipelineOptions): Promise<ClipRunOrError[]> {
    const { po, p, config, pool, signal } = this.s;
    let r: PairedRuns;
    try {
      r = await ran;
    } catch (e) {
      if (cancelled(e)) throw e;
      return cs.map(() => ({ error: e }));
    }
    this.engineMs += r.runMs;
    this.readBackBytes += r.bytes;
    this.clipsRun += cs.length;
    const base = { options: po, model: p.model, config };
    const out: ClipRunOrError[] = [];
    for (let j = 0; j < cs.length; j++) {
      const c = cs[j];
      const t = performance.now();
      try {
        const cp = clipPrepared(base, c, r.runs[j].probe);
        const report = (await runMode(cp, o, { signal }, r.runs[j].given, pool)).report;
        out.push({ report, healthy: await healthyStats(cp), label: c.input.label, shape: c.input.shape, refKind: 'self', ms: r.share + performance.now() - t });
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
