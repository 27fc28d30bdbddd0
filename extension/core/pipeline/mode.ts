/**
 * One mode's run: the stages in order on a preparation — the reference (awaited, or beside the
 * engine), the engine run, the comparison, the diagnosis, the Report — each given what it needs and
 * giving back its result. The minimal fix's confirmation is the scheduler's (a second mode run).
 */
import { comparePool } from '../compare/blocks';
import { defaultThreads, type WorkerPool } from '../parallel';
import type { PipelineHooks, PipelineOptions, Report } from '../report';
import { assembleReport, memoryText, timingsOf } from './assemble';
import { compareOutputs, judge } from './compare';
import { diagnoseRun } from './diagnose';
import { runEngine, type GivenEngine } from './engine-run';
import { graphOptions, sameGraph } from './graph';
import type { Prepared } from './prepare';
import { voice } from './progress';
import { besideWait, type Reference } from './reference';

export interface PipelineResult {
  report: Report;
}

/**
 * Whether the fp32 CPU run (the self-reference, the probe) goes beside the engine, on a worker
 * thread, while this thread builds and runs it: for any provider but the CPU EP, where threads can
 * start. Before a CPU engine it runs first (two CPU runs at once would share the cores and hold both
 * runs' memory).
 */
export function besideEngine(o: PipelineOptions): boolean {
  return (o.ep ?? 'cpu') !== 'cpu' && defaultThreads() > 0;
}

/** Build, run, compare and diagnose one mode on a preparation, without the minimal fix's confirmation. `o`'s input fields (weights, data, input, heads) are ignored. */
export async function runOneMode(p: Prepared, o: PipelineOptions, hooks: PipelineHooks = {}, given?: GivenEngine, sharedPool?: WorkerPool): Promise<PipelineResult> {
  const t0 = performance.now();
  const { config, model: m } = p;
  const v = voice(hooks);
  const { log, stage } = v;
  const say2 = v.say;
  const precision = o.precision ?? 'fp32';
  const layerNorm = o.layerNorm ?? 'plain';
  const B = p.video.shape[0];
  // FP32 with a plain LayerNorm on the CPU EP builds the fp32 probe run's very graph: without test
  // data (the probe run is the self-reference) run it once, as this mode, and keep it as both.
  const isProbe = !p.data && !p.hasProbe() && (o.ep ?? 'cpu') === 'cpu' && sameGraph(graphOptions(config, B, o, 'fp32'), p.probeGraphOptions);
  const beside = besideEngine(o);
  const refP = isProbe ? undefined : p.reference({ beside });
  refP?.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
  if (!beside) await refP;
  // A plain 16-bit LayerNorm is the mode the diagnosis is about: if it fails, the diagnosis reads
  // the healthy statistics of the fp32 probe run on the CPU. With test data that run is not the
  // reference, so it would come after the engine — while the engine's outputs and what its
  // session left in the allocator are still held (device run 12, a failing plain mode with
  // test data: peak RSS 2.7x the weights; run 13, probe first: 2.0x). Start it first, as a run
  // without test data does; the work is the same whenever the mode fails.
  if (p.data && precision === 'fp16' && layerNorm === 'plain' && !p.hasProbe()) {
    const probeP = p.fp32Probe({ beside });
    probeP.catch(() => undefined);
    if (!beside) await probeP;
  }
  // what preparation said (reading, heads, the reference) opens this mode's log
  log.unshift(...p.log.splice(0));

  const run = await runEngine(p, o, hooks, v, given);
  const { engine, g, out } = run;
  let released = false;
  // threads given (several modes' shared set, or the ones a kept preparation holds) stay open after this mode
  const keptPool = sharedPool ?? p.pool;
  let pool: WorkerPool | undefined;
  try {
    // threads for the comparison start now, while the engine is released (not before its runs: they hold memory)
    pool = keptPool ?? comparePool(g.blockNames.reduce((n, b) => n + (out.get(b)?.length ?? 0), 0), defaultThreads());
    // the outputs are ours now: free the session (weights, arena) before comparing
    released = true;
    await engine.release();
    // without test data the reference is the probe run (with it, the run beside is the statistics' only)
    let ref: Reference | undefined = refP ? await (p.data ? refP : besideWait(p, refP, stage, hooks)) : undefined;
    if (!ref) {
      p.adoptProbe(g, out);
      say2('reference: this run (the fp32 probe run on the CPU EP: FP32 of this model)');
      ref = await p.reference();
    }

    stage('comparing');
    const t2 = performance.now();
    const compared = await compareOutputs(p, ref, run, pool, v, hooks);
    if (pool !== keptPool) void pool?.close();
    pool = undefined;
    const judged = judge(p, o, ref, run, compared);
    const diagnosis = await diagnoseRun(p, o, judged, v, hooks);
    const report = assembleReport({ o, p, ref, run, judged, diagnosis, log });
    const { timings, store } = timingsOf(p, run, t0, t2);
    report.run.timings = timings;
    report.run.outputBytes = run.outputBytes;
    const peakRssBytes = timings.peakRssBytes!;
    say2(report.diagnosis.sentence);
    say2(`peak RSS ${(peakRssBytes / 2 ** 20).toFixed(0)} MiB (${(peakRssBytes / m.weightBytes).toFixed(2)}× the checkpoint's ${(m.weightBytes / 2 ** 20).toFixed(0)} MiB of weights)${store ? `; ${memoryText(peakRssBytes, store)}` : ''}`);
    return { report };
  } finally {
    if (pool !== keptPool) void pool?.close();
    if (!released) await engine.release();
  }
}
