/**
 * sweep(): every clip of a set against the model's own FP32 (or its per-clip test data), with the
 * checkpoint read once and the sessions built once (engines.ts), clips run in groups (batch.ts: one
 * run of the paired graph for a group, read a group ahead); per clip the worst block error,
 * the first failing block and the LayerNorm statistics, written as each clip finishes (store.ts);
 * over the set the headroom per LayerNorm and the minimal fix that covers every clip, confirmed by
 * re-running the set with it (headroom.ts). Bad clips are listed with their error; the sweep goes on.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { isLabError, LabError } from '../errors';
import { comparePool } from '../compare/blocks';
import { defaultTolerance, worstBlock } from '../compare/verdict';
import { realizationFor, realizationLabel } from '../engine/providers';
import { lnLimits } from '../model/realization';
import { validateOptions } from '../options';
import { defaultThreads } from '../parallel';
import { clipNormalization, detectHeads, prepare, type Prepared } from '../pipeline';
import { layerNormNames } from '../export';
import { findDecoder, VIDEO_EXTENSIONS } from '../video';
import type { EpName, ModelConfig, PipelineOptions } from '../report';
import { readTestData } from '../formats/testdata';
import { clipIdentity, hashOf, listClips, readSweepClip, type ClipSpec, type ReadClip } from './clips';
import { SweepEngines } from './engines';
import { GpuHelper, helperFor } from '../helper';
import { WeightStore } from '../model/weight-store';
import { ClipRunner, inTurn, type ClipRunOrError } from './batch';
import { clipLayerNorms, coveringFix, headroomOf, rankClips } from './headroom';
import { sweepMarkdown } from './markdown';
import { SweepStore } from './store';
import { SWEEP_VERSION, type ClipError, type ClipResult, type ConfirmedClip, type SweepOptions, type SweepResult } from './types';

/**
 * Clips a run of the paired graph on a GPU EP, unless --batch says otherwise. Measured on one H100
 * at full size (session 22, the session in the GPU helper process): 8.79 clips/s at 4, 10.7-12.0 at
 * 8, 10.2 at 16 (two groups only). 8, not 16: a shorter last group is padded, so a folder of 5 clips
 * would cost a run of 16, and a batch is what Cancel and the per-clip results wait for.
 */
export const DEFAULT_GPU_BATCH = 8;

export interface SweepHooks {
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** What the sweep is doing ("reading checkpoint", "clip 3/40 …", "confirming the fix …"). */
  onStage?: (stage: string, detail?: string) => void;
  /** Each clip as it finishes (`skipped`: its result was in the output folder already). */
  onClip?: (r: ClipResult, p: { index: number; total: number; skipped: boolean }) => void;
  onConfirm?: (r: ConfirmedClip, p: { index: number; total: number }) => void;
}

/** The error of a clip, as its result lists it. */
function clipError(e: unknown): ClipError {
  return isLabError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
}

async function sha256Files(paths: readonly string[]): Promise<string> {
  const h = crypto.createHash('sha256');
  for (const p of paths) for await (const chunk of fs.createReadStream(p)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Sweep `clips` (folders, files, synthetic:SEED) with `weights`. `out`: the folder for clips.jsonl,
 * sweep.json and sweep.md (a rerun into it resumes); without it nothing is written.
 */
export async function sweep(weights: string, clips: readonly string[], o: Omit<SweepOptions, 'weights'> & { out?: string }, hooks: SweepHooks = {}): Promise<SweepResult> {
  const t0 = performance.now();
  const log = hooks.log;
  const stage = (s: string, d?: string) => {
    hooks.onStage?.(s, d);
    log?.(`[${s}]${d ? ' ' + d : ''}`);
  };
  const po: PipelineOptions = validateOptions({
    weights, precision: o.precision ?? 'fp16', layerNorm: o.layerNorm ?? 'plain', layerNormOverrides: o.layerNormOverrides,
    accumulate: o.accumulate ?? 'fp32', ep: o.ep ?? 'cpu', tolerance: o.tolerance, heads: o.heads, prescaleShift: o.prescaleShift ?? 3,
    mean: o.mean, std: o.std, deviceId: o.deviceId, confirmMinimalFix: false, probes: true,
  });
  validateOptions({ ep: o.referenceEp });
  // the reference runs where the engine runs unless told otherwise. On a GPU EP both are one graph
  // that compares inside it (nothing read back but kilobytes); on the CPU EP there is no read-back to
  // save, and one session holding both whole graphs took more memory and time than two (full size:
  // 2,134 MiB and 35.5 s against 1,671 MiB and 28.0 s for two clips on the 2-core machine)
  const referenceEp = o.referenceEp ?? po.ep!;
  const gpu = po.ep === 'webgpu' || po.ep === 'cuda';
  const inGraph = referenceEp === po.ep && (o.compare === 'graph' || (o.compare === undefined && gpu));
  if (o.compare === 'graph' && !inGraph) throw new LabError('BAD_OPTION', `comparing in the graph needs the reference on the engine's EP (${po.ep}), not ${referenceEp}`);
  // clips a run: on a GPU EP a batch amortizes the per-kernel dispatch; the CPU EP gains nothing from it
  let batch = o.batch ?? (inGraph && gpu ? DEFAULT_GPU_BATCH : 1);
  if (!(Number.isInteger(batch) && batch >= 1 && batch <= 64)) throw new LabError('BAD_OPTION', `batch ${batch}: give a whole number of clips from 1 to 64`);
  const specs = listClips(clips);
  const store = o.out ? new SweepStore(o.out) : undefined;
  // the paired sessions in the GPU helper process (helper.ts): the GPU runs a group of clips while
  // this thread judges the group before (helperFor: on WebGPU and CUDA; the switch). Started
  // first: its onnxruntime comes up while the checkpoint is read.
  const helper = inGraph && helperFor(po.ep) ? GpuHelper.start() : undefined;
  const helperUp = helper?.warm(po.ep as EpName).catch((e: Error) => ({ available: false, reason: e.message }));

  stage('reading checkpoint', weights);
  let p: Prepared;
  try {
    // the checkpoint read once: its store, configuration and heads serve every clip
    p = await prepare({ ...po, input: 'synthetic:0', data: undefined }, { log, signal: hooks.signal });
  } catch (e) {
    helper?.close();
    throw e;
  }
  const up = await helperUp;
  const dir = p.model.weights instanceof WeightStore ? p.model.weights.dir : undefined;
  if (helper && !(up?.available && dir)) log?.(`sweep: the paired sessions run in this process (the GPU helper process: ${up?.reason ?? 'no weight store for its files'})`);
  const engines = new SweepEngines(p.model, log, helper && up?.available && dir ? { helper, dir } : undefined);
  let pool: ReturnType<typeof comparePool>;
  try {
    checkAgainstModel(p, specs, po);
    const config: ModelConfig = await settleHeads(p, specs, log);
    po.heads = config.heads;
    const modelSha256 = await sha256Files(p.model.source.files);
    const { weights: _w, ...shaping } = po;
    const optionsKey = hashOf(modelSha256, JSON.stringify({ ...shaping, referenceEp, heads: config.heads, ...(inGraph ? {} : { compare: 'host' }) }));
    const tolerance = po.tolerance ?? defaultTolerance(po.precision!);
    // host comparisons (per-clip test data, --compare host) on threads; the paired graph needs none
    const tokens = 1 + config.numPatches * config.frames;
    pool = comparePool(config.depth * tokens * config.embedDim * 2, defaultThreads());
    let engineInfo: SweepResult['engine'] = null;
    const limitsFor = (ep: EpName) => lnLimits({ precision: po.precision!, realization: realizationFor(ep, po.precision!), accumulate: po.accumulate! }, 'plain', po.prescaleShift!);
    let limits = limitsFor(referenceEp === 'auto' || po.ep === 'auto' ? 'cpu' : (po.ep as EpName));
    // the clips done by an earlier run into this folder are taken as they were; the others are to run
    const results: ClipResult[] = [];
    let skipped = 0;
    let isCancelled = false;
    const pending: { spec: ClipSpec; index: number; key: string }[] = [];
    specs.forEach((spec, index) => {
      const key = hashOf(optionsKey, clipIdentity(spec.clip));
      const had = store?.done(key);
      if (had) {
        results.push(had);
        skipped++;
        hooks.onClip?.(had, { index, total: specs.length, skipped: true });
      } else pending.push({ spec, index, key });
    });
    // clips a run of the paired graph: never more than there are to run (a shorter last group is padded)
    batch = Math.max(1, Math.min(batch, pending.filter((g) => !g.spec.refused).length));
    const runner = new ClipRunner({ p, engines, config, po, referenceEp, inGraph, batch, pool, signal: hooks.signal, log });

    // clips are read (decoded) a group ahead: the next group's reads run while this group runs
    const ahead = new Map<string, Promise<ReadClip>>();
    const read = (clip: string) => {
      let r = ahead.get(clip);
      if (!r) {
        r = readSweepClip(clip, p.model, po);
        r.catch(() => undefined); // its error is that clip's, when its turn comes
        ahead.set(clip, r);
      }
      return r;
    };
    /**
     * Launch `group` (clips not refused) once its clips are read: its paired runs go in (ClipRunner.launch)
     * and the reads of `next` start; finish() gives each clip's run or error, in order.
     */
    const launchGroup = async (group: readonly string[], next: readonly string[], name: 'mode' | 'fix', overrides: PipelineOptions['layerNormOverrides']) => {
      const got = await Promise.allSettled(group.map(read));
      group.forEach((c) => ahead.delete(c));
      next.forEach(read);
      const ok = got.flatMap((g, i) => (g.status === 'fulfilled' ? [{ i, c: g.value }] : []));
      const launched = runner.launch(ok.map((x) => x.c), name, overrides);
      return {
        settled: () => launched.settled(),
        finish: async () => {
          const runs = await launched.finish();
          const res: ClipRunOrError[] = got.map((g) => (g.status === 'rejected' ? { error: g.reason } : { error: undefined }));
          ok.forEach((x, k) => (res[x.i] = runs[k]));
          return res;
        },
      };
    };
    const chunks = <G>(xs: readonly G[]) => Array.from({ length: Math.ceil(xs.length / batch) }, (_, j) => xs.slice(j * batch, (j + 1) * batch));

    const live = (g: readonly { spec: ClipSpec }[]) => g.filter((x) => !x.spec.refused).map((x) => x.spec.clip);
    isCancelled = await inTurn(chunks(pending), (g, after) => launchGroup(live(g), after ? live(after) : [], 'mode', po.layerNormOverrides), hooks.signal,
      (group) => {
        const first = group[0].index + 1;
        stage('sweeping', group.length > 1 ? `clips ${first}–${group[group.length - 1].index + 1}/${specs.length}: ${group.map((g) => g.spec.clip).join(', ')}` : `clip ${first}/${specs.length}: ${group[0].spec.clip}`);
      },
      (group, runs, t) => {
        const ran = group.filter((g) => !g.spec.refused);
        for (const g of group) {
          const run = g.spec.refused ? { error: g.spec.refused } : runs[ran.indexOf(g)];
          let r: ClipResult;
          if ('report' in run) {
            const { report } = run;
            engineInfo ??= { ep: report.run.ep, realization: report.run.realization, label: report.run.label };
            limits = lnLimits({ precision: report.run.precision, realization: report.run.realization, accumulate: report.run.accumulate }, 'plain', po.prescaleShift!);
            const lns = clipLayerNorms(run.healthy, limits);
            const worst = worstBlock(report.blocks);
            r = {
              clip: g.spec.clip, key: g.key, status: 'done', label: run.label, shape: run.shape, reference: run.refKind,
              verdict: report.diagnosis.verdict, blockErrors: report.blocks.map((b) => b.relL2),
              worstBlock: worst.index, worstRelL2: worst.relL2, firstFailingBlock: report.diagnosis.firstBadBlock,
              probsRelL2: report.probs.relL2, top1Agree: report.probs.top1Agree, sentence: report.diagnosis.sentence,
              layerNorms: lns, fix: lns.filter((l) => l.fires.length).map((l) => l.name), ms: run.ms,
            };
          } else {
            r = { clip: g.spec.clip, key: g.key, status: 'error', error: clipError(run.error), ms: (performance.now() - t) / group.length };
            log?.(`${g.spec.clip}: ${r.error!.message}`);
          }
          results.push(r);
          store?.addClip(r);
          hooks.onClip?.(r, { index: g.index, total: specs.length, skipped: false });
        }
      });

    const cover = coveringFix(results);
    let confirmed: SweepResult['fix']['confirmed'] = null;
    let note: string | undefined;
    const done = results.filter((r) => r.status === 'done');
    if (isCancelled) note = 'cancelled before the confirmation';
    else if (!cover.layerNorms.length) note = po.precision === 'fp32' ? 'FP32: no LayerNorm can overflow' : 'no LayerNorm overflows on any clip: nothing to fix';
    else if (o.confirm === false) note = 'not confirmed (--no-confirm)';
    else if (po.layerNorm !== 'plain') note = `the sweep ran LayerNorm ${po.layerNorm}: the fix is for plain LayerNorms, not confirmed in this mode`;
    else if (cover.layerNorms.every((n) => po.layerNormOverrides?.[n] === 'fp32')) {
      // the sweep already ran with the covering fix (--fix-layernorms): its own runs confirm it, no second pass
      const fixKey = hashOf(optionsKey, JSON.stringify(cover.layerNorms));
      const clips: ConfirmedClip[] = done.map((c) => ({ clip: c.clip, key: c.key, fixKey, status: 'done', verdict: c.verdict, worstBlock: c.worstBlock, worstRelL2: c.worstRelL2, firstFailingBlock: c.firstFailingBlock, ms: 0 }));
      confirmed = { verdict: clips.every((c) => c.verdict === 'pass') ? 'pass' : 'fail', clips };
      note = 'the sweep ran with these LayerNorms in FP32 (--fix-layernorms): its own runs are the confirmation';
    } else {
      const overrides = { ...(po.layerNormOverrides ?? {}), ...Object.fromEntries(cover.layerNorms.map((n) => [n, 'fp32' as const])) };
      const fixKey = hashOf(optionsKey, JSON.stringify(cover.layerNorms));
      // by the clip's place among the done ones: the list keeps the clips' order
      const byIndex: (ConfirmedClip | undefined)[] = new Array(done.length);
      const confirmOne = (i: number, r: ConfirmedClip) => {
        byIndex[i] = r;
        hooks.onConfirm?.(r, { index: i, total: done.length });
      };
      // the ones confirmed by an earlier run into this folder first, as they were
      const left: { c: ClipResult; i: number }[] = [];
      done.forEach((c, i) => {
        const had = store?.confirmed(fixKey, c.key);
        if (had) confirmOne(i, had);
        else left.push({ c, i });
      });
      const clipsOf = (g: readonly { c: ClipResult }[]) => g.map((x) => x.c.clip);
      const fixCancelled = await inTurn(chunks(left), (g, after) => launchGroup(clipsOf(g), after ? clipsOf(after) : [], 'fix', overrides), hooks.signal,
        (group) => {
          const had = done.length - left.length + left.indexOf(group[0]);
          stage('confirming the fix', `${cover.layerNorms.length} LayerNorm(s) in FP32: clip ${had + 1}${group.length > 1 ? `–${had + group.length}` : ''}/${done.length}: ${group.map((x) => x.c.clip).join(', ')}`);
        },
        (group, runs, t) => group.forEach(({ c, i }, j) => {
          const run = runs[j];
          let r: ConfirmedClip;
          if ('report' in run) {
            const { report } = run;
            const worst = worstBlock(report.blocks);
            r = { clip: c.clip, key: c.key, fixKey, status: 'done', verdict: report.diagnosis.verdict, worstBlock: worst.index, worstRelL2: worst.relL2, firstFailingBlock: report.diagnosis.firstBadBlock, ms: run.ms };
          } else r = { clip: c.clip, key: c.key, fixKey, status: 'error', error: clipError(run.error), ms: (performance.now() - t) / group.length };
          store?.addConfirm(r);
          confirmOne(i, r);
        }));
      isCancelled ||= fixCancelled;
      const list = byIndex.filter((r): r is ConfirmedClip => r !== undefined);
      await engines.drop('fix');
      if (isCancelled) note = 'cancelled during the confirmation';
      else confirmed = { verdict: list.every((r) => r.status === 'done' && r.verdict === 'pass') ? 'pass' : 'fail', clips: list };
    }

    const passed = done.filter((r) => r.verdict === 'pass').length;
    const failed = done.length - passed;
    const bad = results.length - done.length;
    const totalMs = performance.now() - t0;
    const ran = results.length - skipped;
    const result: SweepResult = {
      version: SWEEP_VERSION,
      tool: 'timesformer-precision-lab',
      createdAt: new Date().toISOString(),
      weights,
      modelSha256,
      options: {
        precision: po.precision!, layerNorm: po.layerNorm!, layerNormOverrides: po.layerNormOverrides ?? {}, accumulate: po.accumulate!,
        ep: po.ep!, referenceEp, compare: inGraph ? 'graph' : 'host', tolerance, heads: config.heads, prescaleShift: po.prescaleShift!,
      },
      engine: engineInfo ?? (po.ep === 'auto' ? null : { ep: po.ep as EpName, realization: realizationFor(po.ep as EpName, po.precision!), label: realizationLabel(po.ep as EpName, po.precision!, realizationFor(po.ep as EpName, po.precision!), po.accumulate) }),
      clips: rankClips(results),
      headroom: headroomOf(results, limits),
      fix: { ...cover, confirmed, ...(note ? { note } : {}) },
      summary: {
        clips: specs.length, done: done.length, passed, failed, bad, skipped,
        verdict: isCancelled ? 'incomplete' : failed ? 'fail' : bad ? 'incomplete' : 'pass',
      },
      cancelled: isCancelled,
      timings: { totalMs, clipsPerSecond: ran > 0 ? ran / (totalMs / 1000) : 0, sessionsBuilt: engines.built, peakRssBytes: process.resourceUsage().maxRSS * 1024,
        readBackBytesPerClip: runner.clipsRun ? Math.round(runner.readBackBytes / runner.clipsRun) : 0, batch,
        ...(runner.engineMs ? { pairedRunMs: runner.engineMs, judgeMs: runner.judgeMs } : {}),
        ...(helper?.peakRssBytes ? { helperPeakRssBytes: helper.peakRssBytes } : {}) },
    };
    store?.writeResult(result, sweepMarkdown(result));
    return result;
  } finally {
    await engines.close();
    helper?.close();
    void pool?.close();
    p.close();
  }
}

/**
 * What only the model or the set can tell wrong, checked once before any clip (a single run meets
 * these reading its one clip or building its graph; in a sweep each clip would fail with the same
 * error, listed as 31 clips that could not be read): the --fix-layernorms names against the model's
 * depth, --mean/--std, and a decoder when the set holds videos.
 */
function checkAgainstModel(p: Prepared, specs: readonly ClipSpec[], po: PipelineOptions): void {
  const names = layerNormNames(p.config.depth);
  for (const k of Object.keys(po.layerNormOverrides ?? {})) {
    if (!names.includes(k)) throw new LabError('BAD_OPTION', `--fix-layernorms: no LayerNorm named '${k}' in this model (names: blocks.0.temporal_norm1, blocks.0.norm1, blocks.0.norm2, … blocks.${p.config.depth - 1}.norm2, norm)`);
  }
  clipNormalization(p.model, po);
  if (specs.some((s) => !s.refused && (VIDEO_EXTENSIONS as readonly string[]).includes(path.extname(s.clip).toLowerCase()))) findDecoder();
}

/**
 * The head count for every clip: the option, the checkpoint's configuration, else detected from
 * the first per-clip test data with block outputs (as a single run detects it), else assumed.
 */
async function settleHeads(p: Prepared, specs: readonly ClipSpec[], log?: (s: string) => void): Promise<ModelConfig> {
  if (p.config.headsSource !== 'assumed') return p.config;
  for (const s of specs) {
    if (s.refused || !/\.(p|pkl|pickle)$/i.test(s.clip)) continue;
    try {
      const d = await readTestData(s.clip, p.model.base);
      if (!d.blocks.length) continue;
      const r = await detectHeads(p.model, d, log);
      log?.(`heads: ${r.heads} (detected on ${s.clip})`);
      return { ...p.config, heads: r.heads, headsSource: 'detected', headsTried: r.tried };
    } catch (e) {
      if (isLabError(e) && e.code === 'HEADS_UNDETECTED') throw e;
      // an unreadable clip is that clip's error, listed when its turn comes
    }
  }
  return p.config;
}
