/**
 * The scheduler: runs a pipeline call's modes over one preparation by calling the stages — each
 * mode (mode.ts), some of them in the GPU helper process (helper.ts) while this process runs the
 * others, and the minimal fix's confirmation run after a failing plain FP16 mode. No stage imports
 * this module: each is given what it needs and gives back its result.
 */
import * as fs from 'fs';
import * as path from 'path';
import { buildTimeSformer } from '../model/timesformer';
import { WeightStore } from '../model/weight-store';
import { defaultThreads, type WorkerPool } from '../parallel';
import { GpuHelper, helperFor } from '../helper';
import { realizationFor } from '../engine/providers';
import { comparePool } from '../compare/blocks';
import { worstBlock } from '../compare/verdict';
import type { EpName, PipelineHooks, PipelineOptions, Report, LayerNormMode } from '../report';
import { storeUsage } from './assemble';
import { minimalOptions } from './diagnose';
import { forReadBack, ranEngine, type GivenEngine } from './engine-run';
import { graphOptions, layerNormModesOf } from './graph';
import { besideEngine, runOneMode, type PipelineResult } from './mode';
import { prepare, type Prepared } from './prepare';
import { besideWait } from './reference';
import { peakRssBytes as peakRss } from '../peak-rss';

/** A LayerNorm mode, or 'minimal': plain, with only the LayerNorms whose mechanism fires (read from the statistics) in FP32. */
export type LayerNormChoice = LayerNormMode | 'minimal';

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
 * 'minimal' runs plain with only the LayerNorms whose mechanism fires kept in FP32. `prepared`: a
 * preparation of these inputs kept by the caller (the engine process's, core/warm.ts), used instead
 * of reading them, and left open.
 */
/**
 * A run's hooks, and `onModeReport`: a mode's Report as soon as it is compared and diagnosed, when
 * the minimal fix's confirmation run follows. Its blocks, statistics and verdict are final; what the
 * confirmation finds (`diagnosis.minimalFix.confirmed`, the sentence's last words) comes with the
 * Report that runMode gives back. The extension colors the graph with it while the confirmation
 * runs. It is the very object the pipeline goes on to complete: a listener that keeps it copies it
 * (the engine process sends it at once, which copies). A promise it gives back is the Report's
 * delivery: the confirmation waits for it (at most MODE_REPORT_WAIT_MS), because its engine run
 * holds this thread, and a message not yet written waits as long (see runMode).
 */
export interface ModeHooks extends PipelineHooks {
  onModeReport?: (report: Report) => void | Promise<void>;
}

/** How long the minimal fix's confirmation waits for the mode's Report to be delivered (onModeReport's promise). */
export const MODE_REPORT_WAIT_MS = 2000;

export async function runModes(o: PipelineOptions, modes: readonly LayerNormChoice[], hooks: ModeHooks & { onResult?: (r: PipelineResult) => void } = {}, prepared?: Prepared): Promise<Report[]> {
  // a second process for half the GPU sessions (helper.ts), started first: its onnxruntime and
  // GPU device come up while this process reads the checkpoint
  const helper = helperWanted(o, modes) ? GpuHelper.start() : undefined;
  const warm = helper?.warm(o.ep as EpName).catch((e: Error) => ({ available: false, reason: e.message }));
  let p: Prepared | undefined;
  try {
    p = prepared ?? await prepare(o, hooks);
    // the fp32 CPU run that GPU modes will want (the self-reference without test data; the probe a
    // plain FP16 mode is diagnosed from) starts now, on a worker thread, beside their engine (under
    // 'auto' also when the engine falls back to the CPU EP: a segmented run holds little)
    if (besideEngine(o) && (!p.data || (o.precision === 'fp16' && modes.some((m) => m === 'plain' || m === 'minimal')))) {
      p.fp32Probe({ beside: true }).catch(() => undefined); // awaited by the mode that needs it
    }
    const opts: PipelineOptions[] = [];
    for (const choice of modes) {
      const saveOnnx = o.saveOnnx && modes.length > 1 ? o.saveOnnx.replace(/(\.onnx)?$/, `.${choice}.onnx`) : o.saveOnnx;
      // 'minimal' reads the probe run's statistics: a wait of its own while it runs beside
      const mode = choice === 'minimal' ? await besideWait(p, minimalOptions(p, o), (s, d) => hooks.onProgress?.(s, d), hooks) : { layerNorm: choice };
      opts.push({ ...o, ...mode, saveOnnx });
    }
    const w = await warm;
    if (helper && w && !w.available) p.say(`modes: all in this process (the GPU helper process cannot load ${o.ep}: ${w.reason ?? 'unknown'})`);
    const results = helper && w?.available ? await runWithHelper(p, opts, modes, helper, hooks) : undefined;
    const reports: Report[] = [];
    for (let i = 0; i < opts.length; i++) {
      const r = results?.[i] ?? (await runMode(p, opts[i], modeHooks(hooks, modes, i)));
      hooks.onResult?.(r);
      reports.push(r.report);
    }
    return reports;
  } finally {
    helper?.close();
    if (!prepared) p?.close();
  }
}

/** Several modes: each stage of mode i says which ("mode 2/3 fp32: cpu, FP16 LayerNorm fp32"). */
function modeHooks(hooks: PipelineHooks, modes: readonly LayerNormChoice[], i: number): PipelineHooks {
  if (modes.length < 2 || !hooks.onProgress) return hooks;
  const on = hooks.onProgress;
  return { ...hooks, onProgress: (s, d) => on(s, `mode ${i + 1}/${modes.length} ${modes[i]}${d ? `: ${d}` : ''}`) };
}

/** Whether a run of these modes gets a GPU helper process: two modes or more where helperFor allows one, not for timing runs (--repeat). */
function helperWanted(o: PipelineOptions, modes: readonly LayerNormChoice[]): boolean {
  return modes.length > 1 && helperFor(o.ep) && !o.repeat;
}

/**
 * Which modes the GPU helper process runs: the sessions split evenly between the two processes,
 * greedily, heaviest first. A mode weighs 1, expose 1.5 (four times the outputs, its run twice as
 * long); a plain FP16 mode's minimal fix's confirmation is one more engine, always in this process
 * (it is decided here, after the comparison), wherever the mode itself runs. Ties go to the helper.
 */
export function helperModes(opts: readonly Pick<PipelineOptions, 'precision' | 'layerNorm' | 'confirmMinimalFix' | 'layerNormOverrides'>[]): boolean[] {
  const confirms = (x: (typeof opts)[number]) => x.precision === 'fp16' && (x.layerNorm ?? 'plain') === 'plain' && !Object.keys(x.layerNormOverrides ?? {}).length && x.confirmMinimalFix !== false;
  const weight = (x: (typeof opts)[number]) => ((x.layerNorm ?? 'plain') === 'expose' ? 1.5 : 1);
  let here = opts.filter(confirms).length;
  let there = 0;
  const far = opts.map(() => false);
  const order = opts.map((x, i) => i).sort((a, b) => weight(opts[b]) - weight(opts[a]) || a - b);
  for (const i of order) {
    if (there <= here) {
      far[i] = true;
      there += weight(opts[i]);
    } else here += weight(opts[i]);
  }
  // something for each process: the helper is there to share the work
  if (far.every(Boolean)) far[0] = false;
  return far;
}

/**
 * The modes on two processes (helperModes): the helper runs its modes (each model built here,
 * saved in the weight store's folder and run there) while this process runs the others. Each mode
 * is compared here, as its outputs arrive; each mode's lines carry its name. A mode the helper
 * could not run is run here.
 */
async function runWithHelper(p: Prepared, opts: readonly PipelineOptions[], modes: readonly LayerNormChoice[], helper: GpuHelper, hooks: PipelineHooks): Promise<PipelineResult[]> {
  const store = p.model.weights instanceof WeightStore ? p.model.weights : undefined;
  if (!store) throw new Error('runWithHelper: the weights are not in a store');
  const n = opts.length;
  const far = helperModes(opts);
  const B = p.video.shape[0];
  const ep = opts[0].ep as EpName;
  const precision = opts[0].precision ?? 'fp32';
  const realization = realizationFor(ep, precision);
  const videoFile = path.join(store.dir, 'video.f32');
  fs.writeFileSync(videoFile, new Uint8Array(p.video.data.buffer, p.video.data.byteOffset, p.video.data.byteLength));
  const hooksFor = (i: number): PipelineHooks => ({ ...modeHooks(hooks, modes, i), log: hooks.log && ((l: string) => hooks.log!(`(${modes[i]}) ${l}`)) });
  const sent = opts.map((x, i) => ({ x, i })).filter(({ i }) => far[i]).map(({ x, i }) => {
    const t = performance.now();
    // one output to read back (model/packed-outputs.ts); runMode reads the run as the graph's outputs
    const g = forReadBack(buildTimeSformer(p.model.weights, graphOptions(p.config, B, x, realization)), ep, p.model.weights);
    const buildGraphMs = performance.now() - t;
    const run = helper.run({
      model: g.source as string, ep, precision, layerNorm: x.layerNorm ?? 'plain', layerNormModes: layerNormModesOf(x), probes: x.probes,
      inputName: g.inputName, videoFile, dims: [...p.video.shape], outFile: path.join(store.dir, `outputs-${i}.f32`),
    });
    run.catch(() => undefined); // awaited below, in order
    return { i, g, buildGraphMs, run };
  });
  const names = (there: boolean) => opts.filter((_, i) => far[i] === there).map((x) => x.layerNorm ?? 'plain').join(', ');
  p.say(`modes: ${names(false)} in this process; ${names(true)} in the GPU helper process`);
  const results: PipelineResult[] = new Array(n);
  let helperPeak = 0;
  // one set of threads for every mode's comparison (with a set per mode, the modes compared at once
  // each held threads and their copies of the blocks: peak 2.1-2.2 GB at full size in device run 18,
  // 1.9-2.0 GB with one set in run 19)
  const { depth, numPatches, frames, embedDim } = p.config;
  const pool = p.pool ?? comparePool(n * depth * B * (1 + numPatches * frames) * embedDim, defaultThreads());
  const here = (async () => {
    for (let i = 0; i < n; i++) if (!far[i]) results[i] = await runMode(p, opts[i], hooksFor(i), undefined, pool);
  })();
  const there = (async () => {
    for (const s of sent) {
      let given: GivenEngine | undefined;
      try {
        const r = await s.run;
        helperPeak = Math.max(helperPeak, r.helperPeakRssBytes);
        given = { engine: ranEngine({ ...r, cache: 'none' }, r.outputs, r.outputBytes, r.sessionMs, r.runMs, s.buildGraphMs), g: s.g };
        hooksFor(s.i).log?.(`ran in the GPU helper process: session ${r.sessionMs.toFixed(0)} ms, run ${r.runMs.toFixed(0)} ms`);
      } catch (e) {
        hooksFor(s.i).log?.(`the GPU helper process could not run it (${(e as Error).message}); running it here`);
      }
      results[s.i] = await runMode(p, opts[s.i], hooksFor(s.i), given, pool);
    }
  })();
  try {
    await Promise.all([here, there]);
  } finally {
    if (pool !== p.pool) void pool?.close();
  }
  fs.rmSync(videoFile, { force: true });
  for (const r of results) r.report.run.timings.helperPeakRssBytes = Math.max(helperPeak, helper.peakRssBytes);
  return results;
}

/**
 * Build, run and compare one mode on a preparation (mode.ts), then, when its diagnosis proposes a
 * minimal fix, confirm it by one more run (confirmMinimalFix). `o`'s input fields (weights, data,
 * input, heads) are ignored.
 */
export async function runMode(p: Prepared, o: PipelineOptions, hooks: ModeHooks = {}, given?: GivenEngine, sharedPool?: WorkerPool): Promise<PipelineResult> {
  const result = await runOneMode(p, o, hooks, given, sharedPool);
  const { report } = result;
  if (report.diagnosis.minimalFix && o.confirmMinimalFix !== false) {
    // The graph is colored with this Report: it goes first. The engine process's write of a
    // full-size Report takes several turns of the event loop (it is larger than the pipe takes at
    // once), and the confirmation's engine run holds the thread for its whole run: a warm same
    // mode's graph came ~200 ms late on an H100 (session 22), a CPU run's seconds late.
    await delivered(hooks.onModeReport?.(report));
    const say = (s: string) => {
      report.log.push(s);
      hooks.log?.(s);
    };
    const t3 = performance.now();
    await confirmMinimalFix(p, o, report, hooks, say, sharedPool);
    report.run.timings.confirmMs = performance.now() - t3;
    report.run.timings.confirmPeakRssBytes = peakRss();
    // the confirmation may derive more of the store (another form of the weights)
    const after = storeUsage(p.model.weights);
    if (after) report.run.timings.storeBytes = after.bytes;
  }
  return result;
}

/** `p` settled, or MODE_REPORT_WAIT_MS passed: a listener that never answers delays the confirmation by that much, no more. */
async function delivered(p: void | Promise<void>): Promise<void> {
  if (!p) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise<void>((done) => (timer = setTimeout(done, MODE_REPORT_WAIT_MS)))]);
  clearTimeout(timer);
}

/**
 * One run with only the minimal fix's LayerNorms in FP32, on the same preparation; its result goes
 * into the diagnosis. A stage of its own: its engine's stages are its detail ("running (cpu,
 * segment 2/4)"), so that the user sees a second engine build and run, not a long "comparing".
 */
async function confirmMinimalFix(p: Prepared, o: PipelineOptions, report: Report, hooks: PipelineHooks, say: (s: string) => void, pool?: WorkerPool): Promise<void> {
  const fix = report.diagnosis.minimalFix!;
  const what = `${fix.layerNorms.length} LayerNorm${fix.layerNorms.length > 1 ? 's' : ''} in FP32`;
  hooks.onProgress?.('confirming the minimal fix', what);
  say(`confirming the minimal fix: one run with only ${fix.layerNorms.join(', ')} in FP32`);
  const overrides = { ...(o.layerNormOverrides ?? {}), ...Object.fromEntries(fix.layerNorms.map((n) => [n, 'fp32' as const])) };
  const inner: PipelineHooks = {
    log: hooks.log, signal: hooks.signal,
    onProgress: hooks.onProgress && ((s, d) => hooks.onProgress!('confirming the minimal fix', `${what}: ${s}${d && s !== 'building graph' ? ` (${d})` : ''}`)),
  };
  const r = (await runOneMode(p, { ...o, layerNormOverrides: overrides, confirmMinimalFix: false, saveOnnx: undefined, repeat: 0 }, inner, undefined, pool)).report;
  const worst = worstBlock(r.blocks);
  fix.confirmed = { verdict: r.diagnosis.verdict, firstBadBlock: r.diagnosis.firstBadBlock, worstBlock: worst.index, worstRelL2: worst.relL2, probsRelL2: r.probs.relL2 };
  const e = (x: number) => x.toExponential(1);
  report.diagnosis.sentence += r.diagnosis.verdict === 'pass'
    ? ` Confirmed by one run with only them in FP32: every block passes (worst ${e(worst.relL2)} at block ${worst.index}).`
    : ` One run with only them in FP32 still fails at block ${r.diagnosis.firstBadBlock ?? 'probs'} (${r.diagnosis.sentence.split('. ')[0]}).`;
  report.log.push(...r.log.filter((l) => !l.startsWith('[')).map((l) => `  (minimal fix run) ${l}`));
  say(report.diagnosis.sentence);
}
