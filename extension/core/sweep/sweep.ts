/**
 * sweep(): every clip of a set against the model's own FP32 (or its per-clip test data), with the
 * checkpoint read once and the sessions built once (engines.ts); per clip the worst block error,
 * the first failing block and the LayerNorm statistics, written as each clip finishes (store.ts);
 * over the set the headroom per LayerNorm and the minimal fix that covers every clip, confirmed by
 * re-running the set with it (headroom.ts). Bad clips are listed with their error; the sweep goes on.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import { isLabError } from '../errors';
import { comparePool } from '../compare/blocks';
import { defaultTolerance } from '../compare/verdict';
import { realizationFor, realizationLabel } from '../engine/providers';
import { lnLimits } from '../model/realization';
import { validateOptions } from '../options';
import { defaultThreads } from '../parallel';
import { checkAgreement, detectHeads, healthyStats, prepare, runMode, type Prepared } from '../pipeline';
import type { EpName, ModelConfig, PipelineOptions, Report } from '../report';
import { readTestData } from '../formats/testdata';
import { clipIdentity, hashOf, listClips, readSweepClip, type ClipSpec, type ReadClip } from './clips';
import { clipPrepared, lend, pairedRun, referenceRun, SweepEngines, type Kept } from './engines';
import { clipLayerNorms, coveringFix, headroomOf, rankClips } from './headroom';
import { sweepMarkdown } from './markdown';
import { SweepStore } from './store';
import { SWEEP_VERSION, type ClipError, type ClipResult, type ConfirmedClip, type SweepOptions, type SweepResult } from './types';

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

const cancelled = (e: unknown) => isLabError(e) && e.code === 'CANCELLED';

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
  // the reference runs where the engine runs unless told otherwise; there, both are one graph
  const referenceEp = o.referenceEp ?? po.ep!;
  const inGraph = o.compare !== 'host' && referenceEp === po.ep;
  let readBackBytes = 0;
  let readBackClips = 0;
  const specs = listClips(clips);
  const store = o.out ? new SweepStore(o.out) : undefined;

  stage('reading checkpoint', weights);
  // the checkpoint read once: its store, configuration and heads serve every clip
  const p: Prepared = await prepare({ ...po, input: 'synthetic:0', data: undefined }, { log, signal: hooks.signal });
  const engines = new SweepEngines(p.model, log);
  let pool: ReturnType<typeof comparePool>;
  try {
    const config: ModelConfig = await settleHeads(p, specs, log);
    po.heads = config.heads;
    const modelSha256 = await sha256Files(p.model.source.files);
    const { weights: _w, ...shaping } = po;
    const optionsKey = hashOf(modelSha256, JSON.stringify({ ...shaping, referenceEp, heads: config.heads, ...(inGraph ? {} : { compare: 'host' }) }));
    const tolerance = po.tolerance ?? defaultTolerance(po.precision!);
    const tokens = 1 + config.numPatches * config.frames;
    pool = comparePool(config.depth * tokens * config.embedDim * 2, defaultThreads());
    const base = { options: po, model: p.model, config };
    let engineInfo: SweepResult['engine'] = null;
    const limitsFor = (ep: EpName) => lnLimits({ precision: po.precision!, realization: realizationFor(ep, po.precision!), accumulate: po.accumulate! }, 'plain', po.prescaleShift!);
    let limits = limitsFor(referenceEp === 'auto' || po.ep === 'auto' ? 'cpu' : (po.ep as EpName));

    /** One clip through the reference and `which` engine: the Report of runMode, and the clip's healthy statistics. */
    // the next clip is read (decoded) while this one runs: one clip ahead, its promise kept here
    const ahead = new Map<string, Promise<ReadClip>>();
    const readAhead = (clip: string | undefined) => {
      if (clip === undefined || ahead.has(clip)) return;
      const r = readSweepClip(clip, p.model, po);
      r.catch(() => undefined); // its error is that clip's, when its turn comes
      ahead.set(clip, r);
    };
    const runClip = async (clip: string, which: (B: number, paired: boolean) => Promise<{ kept: Kept; overrides: PipelineOptions['layerNormOverrides'] }>, next?: string): Promise<{ report: Report; healthy: Awaited<ReturnType<typeof healthyStats>>; label: string; shape: number[]; refKind: 'self' | 'test-data' }> => {
      const pending = ahead.get(clip) ?? readSweepClip(clip, p.model, po);
      ahead.delete(clip);
      const c = await pending;
      readAhead(next);
      if (c.data) checkAgreement(p.model, c.data);
      const B = c.video.shape[0];
      let report: Report;
      let cp: Prepared;
      if (inGraph && !c.data) {
        // one run of the paired graph: the engine and its FP32 reference, compared inside it
        const k = await which(B, true);
        const { given, probe } = await pairedRun(k.kept, c);
        readBackBytes += k.kept.engine.outputBytes;
        cp = clipPrepared(base, c, probe);
        report = (await runMode(cp, { ...po, layerNormOverrides: k.overrides }, { signal: hooks.signal }, given, pool)).report;
      } else {
        const probe = await referenceRun(await engines.reference(config, B, po, referenceEp), c);
        cp = clipPrepared(base, c, probe);
        const k = await which(B, false);
        report = (await runMode(cp, { ...po, layerNormOverrides: k.overrides }, { signal: hooks.signal }, lend(k.kept), pool)).report;
        readBackBytes += [...probe.out.values()].reduce((n, a) => n + a.byteLength, 0) + (report.run.outputBytes ?? 0);
      }
      readBackClips++;
      return { report, healthy: await healthyStats(cp), label: c.input.label, shape: c.input.shape, refKind: c.data ? 'test-data' : 'self' };
    };
    const modeEngine = async (B: number, paired: boolean) => ({ kept: await (paired ? engines.paired(config, B, po) : engines.mode(config, B, po)), overrides: po.layerNormOverrides });

    const results: ClipResult[] = [];
    let skipped = 0;
    let isCancelled = false;
    for (let i = 0; i < specs.length; i++) {
      const spec: ClipSpec = specs[i];
      if (hooks.signal?.aborted) {
        isCancelled = true;
        break;
      }
      const key = hashOf(optionsKey, clipIdentity(spec.clip));
      const had = store?.done(key);
      if (had) {
        results.push(had);
        skipped++;
        hooks.onClip?.(had, { index: i, total: specs.length, skipped: true });
        continue;
      }
      stage('sweeping', `clip ${i + 1}/${specs.length}: ${spec.clip}`);
      const t = performance.now();
      let r: ClipResult;
      try {
        if (spec.refused) throw spec.refused;
        const next = specs.slice(i + 1).find((s) => !s.refused && !store?.done(hashOf(optionsKey, clipIdentity(s.clip))));
        const run = await runClip(spec.clip, modeEngine, next?.clip);
        const { report } = run;
        engineInfo ??= { ep: report.run.ep, realization: report.run.realization, label: report.run.label };
        limits = lnLimits({ precision: report.run.precision, realization: report.run.realization, accumulate: report.run.accumulate }, 'plain', po.prescaleShift!);
        const lns = clipLayerNorms(run.healthy, limits);
        const worst = report.blocks.reduce((w, b) => (!(b.relL2 <= w.relL2) ? b : w), report.blocks[0]);
        r = {
          clip: spec.clip, key, status: 'done', label: run.label, shape: run.shape, reference: run.refKind,
          verdict: report.diagnosis.verdict, blockErrors: report.blocks.map((b) => b.relL2),
          worstBlock: worst.index, worstRelL2: worst.relL2, firstFailingBlock: report.diagnosis.firstBadBlock,
          probsRelL2: report.probs.relL2, top1Agree: report.probs.top1Agree, sentence: report.diagnosis.sentence,
          layerNorms: lns, fix: lns.filter((l) => l.fires.length).map((l) => l.name), ms: performance.now() - t,
        };
      } catch (e) {
        if (cancelled(e)) {
          isCancelled = true;
          break;
        }
        r = { clip: spec.clip, key, status: 'error', error: clipError(e), ms: performance.now() - t };
        log?.(`${spec.clip}: ${r.error!.message}`);
      }
      results.push(r);
      store?.addClip(r);
      hooks.onClip?.(r, { index: i, total: specs.length, skipped: false });
    }

    const cover = coveringFix(results);
    let confirmed: SweepResult['fix']['confirmed'] = null;
    let note: string | undefined;
    const done = results.filter((r) => r.status === 'done');
    if (isCancelled) note = 'cancelled before the confirmation';
    else if (!cover.layerNorms.length) note = po.precision === 'fp32' ? 'FP32: no LayerNorm can overflow' : 'no LayerNorm overflows on any clip: nothing to fix';
    else if (o.confirm === false) note = 'not confirmed (--no-confirm)';
    else if (po.layerNorm !== 'plain') note = `the sweep ran LayerNorm ${po.layerNorm}: the fix is for plain LayerNorms, not confirmed in this mode`;
    else {
      const overrides = { ...(po.layerNormOverrides ?? {}), ...Object.fromEntries(cover.layerNorms.map((n) => [n, 'fp32' as const])) };
      const fixKey = hashOf(optionsKey, JSON.stringify(cover.layerNorms));
      const fixEngine = async (B: number, paired: boolean) => {
        const fo = { ...po, layerNormOverrides: overrides };
        return { kept: await (paired ? engines.paired(config, B, fo, 'fix') : engines.mode(config, B, fo, 'fix')), overrides };
      };
      const list: ConfirmedClip[] = [];
      for (let i = 0; i < done.length; i++) {
        const c = done[i];
        if (hooks.signal?.aborted) {
          isCancelled = true;
          break;
        }
        let r = store?.confirmed(fixKey, c.key);
        if (!r) {
          stage('confirming the fix', `${cover.layerNorms.length} LayerNorm(s) in FP32: clip ${i + 1}/${done.length}: ${c.clip}`);
          const t = performance.now();
          try {
            const { report } = await runClip(c.clip, fixEngine, done[i + 1]?.clip);
            const worst = report.blocks.reduce((w, b) => (!(b.relL2 <= w.relL2) ? b : w), report.blocks[0]);
            r = { clip: c.clip, key: c.key, fixKey, status: 'done', verdict: report.diagnosis.verdict, worstBlock: worst.index, worstRelL2: worst.relL2, firstFailingBlock: report.diagnosis.firstBadBlock, ms: performance.now() - t };
          } catch (e) {
            if (cancelled(e)) {
              isCancelled = true;
              break;
            }
            r = { clip: c.clip, key: c.key, fixKey, status: 'error', error: clipError(e), ms: performance.now() - t };
          }
          store?.addConfirm(r);
        }
        list.push(r);
        hooks.onConfirm?.(r, { index: i, total: done.length });
      }
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
        readBackBytesPerClip: readBackClips ? Math.round(readBackBytes / readBackClips) : 0 },
    };
    store?.writeResult(result, sweepMarkdown(result));
    return result;
  } finally {
    await engines.close();
    void pool?.close();
    p.close();
  }
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
