/**
 * Sweep benchmark (issue 21): clips/s and peak RSS of `sweep` over N clips at a model's size, the
 * RSS growth over 1,000 small clips, and — where python3 with torch and transformers is there —
 * PyTorch eager (fp32 + fp16 forward of the same clips, scripts/bench/bench_sweep_torch.py) in the same run.
 *
 *   node out/scripts/bench/bench-sweep.js [--size full|small] [--clips 50] [--ep webgpu|cuda|cpu] [--reference-ep cpu|webgpu|...]
 *        [--host-clips 10] [--batches 1,8] [--rss-clips 1000] [--rss-size small|full] [--out DIR] [--json bench-sweep.json] [--no-torch]
 *
 * With the reference on the engine's EP the sweep compares inside one graph (model/paired-graph.ts);
 * --host-clips N also sweeps N of the clips the old way (two sessions, every block output read back
 * and compared on the host) and prints the ratio of the two, and of what a clip reads back;
 * --batches B,… sweeps the same clips again with B clips a run of the paired graph (the default run
 * uses the sweep's own default: 8 on WebGPU).
 *
 * The checkpoint is gen-sweep-fixture's content-dependent one at that size (full: 768×12, 8×224²),
 * the clips uint8 frames of several brightnesses, so that some overflow. clips/s is steady state
 * (from the first clip's end to the last's) and overall (the sweep's own, checkpoint read
 * included); the sweep runs without the confirmation (--no-confirm), as the timing is per clip.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { sweep } from '../../extension/core/sweep';
import type { EpChoice } from '../../extension/core/report';
import type { SweepResult } from '../../extension/core/sweep/types';
import { writeSweepFixture } from '../fixtures/gen-sweep-fixture';

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/**
 * Resident memory of this process and of its child processes (the GPU helper process holds the
 * sweep's paired sessions): /proc's VmRSS, summed; this process alone where there is no /proc.
 */
function treeRss(): { self: number; children: number; total: number } {
  const self = process.memoryUsage().rss;
  let children = 0;
  try {
    const kids = fs.readdirSync('/proc/self/task').flatMap((t) => fs.readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
    for (const pid of kids) {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) children += Number(m[1]) * 1024;
    }
  } catch {
    // no /proc (not Linux), or a child gone between the two reads
  }
  return { self, children, total: self + children };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string' }, clips: { type: 'string' }, ep: { type: 'string' }, 'reference-ep': { type: 'string' },
      'rss-clips': { type: 'string' }, 'rss-size': { type: 'string' }, 'host-clips': { type: 'string' }, batches: { type: 'string' }, out: { type: 'string' }, json: { type: 'string' }, 'no-torch': { type: 'boolean' }, 'in-process': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: node out/scripts/bench/bench-sweep.js [--size full|small] [--clips 50] [--ep webgpu] [--reference-ep E (default: --ep)] [--host-clips 10] [--rss-clips 1000] [--rss-size small|full] [--out DIR] [--json F] [--no-torch] [--in-process]');
    return;
  }
  const size = values.size ?? 'full';
  const n = Number(values.clips ?? 50);
  const rssClips = Number(values['rss-clips'] ?? 1000);
  const hostClips = Number(values['host-clips'] ?? 0);
  const ep = (values.ep ?? 'cpu') as EpChoice;
  const referenceEp = (values['reference-ep'] ?? ep) as EpChoice;
  const dir = values.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bench-sweep-'));
  const full = { embed: 768, depth: 12, frames: 8, image: 224, classes: 400, outlierValue: 200 };
  const result: Record<string, unknown> = { size, clips: n, ep, referenceEp, node: process.version, cpus: os.cpus().length };

  // 1. clips/s and peak RSS over N clips at this size
  const t0 = performance.now();
  const fx = writeSweepFixture(path.join(dir, size), n, size === 'full' ? full : {});
  console.log(`[bench-sweep] wrote ${fx.weights} and ${n} clips in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const ends: number[] = [];
  const r = await sweep(fx.weights, [fx.clipsDir], { precision: 'fp16', ep, referenceEp, confirm: false, out: path.join(dir, `${size}-out-${Date.now()}`) }, {
    onClip: (c, p) => {
      ends.push(performance.now());
      if (c.status !== 'done') console.log(`[bench-sweep] clip ${p.index + 1}: ${c.error?.message}`);
    },
  });
  // steady state: from the end of the first run's clips (a batch's clips end together) to the last clip's
  const b0 = Math.min(r.timings.batch, ends.length);
  const steady = ends.length > b0 ? (ends.length - b0) / ((ends[ends.length - 1] - ends[b0 - 1]) / 1000) : 0;
  Object.assign(result, {
    engine: r.engine?.label, done: r.summary.done, failed: r.summary.failed, sessionsBuilt: r.timings.sessionsBuilt,
    clipsPerSecondSteady: steady, clipsPerSecondOverall: r.timings.clipsPerSecond, peakRssBytes: r.timings.peakRssBytes, totalMs: r.timings.totalMs,
    compare: r.options.compare, readBackBytesPerClip: r.timings.readBackBytesPerClip, batch: r.timings.batch,
  });
  console.log(`[bench-sweep] ${size}: ${r.summary.done} clips (${r.summary.failed} fail) on ${r.engine?.label}, blocks compared ${r.options.compare === 'graph' ? `inside the graph, ${r.timings.batch} clip(s) a run` : 'on the host'}; ` +
    `${steady.toFixed(2)} clips/s steady, ${r.timings.clipsPerSecond.toFixed(2)} overall (checkpoint read included); ` +
    `${r.timings.sessionsBuilt} sessions built; ${(r.timings.readBackBytesPerClip / 1024).toFixed(1)} KiB read back per clip; peak RSS ${MiB(r.timings.peakRssBytes)}${r.timings.helperPeakRssBytes ? ` + the GPU helper process's ${MiB(r.timings.helperPeakRssBytes)}` : ''}` +
    (r.timings.pairedRunMs ? `; per clip ${(r.timings.pairedRunMs / r.summary.done).toFixed(0)} ms in the paired graph's runs, ${(r.timings.judgeMs! / r.summary.done).toFixed(0)} ms judging on the host` : ''));

  // 1a. --in-process: the same clips with the paired sessions in this process (before the GPU helper
  //     process held them, and judging waited for each run): clips/s, and the results to the bit
  if (values['in-process'] && r.options.compare === 'graph') {
    const pEnds: number[] = [];
    const switched = process.env.TIMESFORMER_LAB_GPU_HELPER;
    process.env.TIMESFORMER_LAB_GPU_HELPER = '0';
    const q = await sweep(fx.weights, [fx.clipsDir], { precision: 'fp16', ep, referenceEp, confirm: false }, { onClip: () => pEnds.push(performance.now()) });
    if (switched === undefined) delete process.env.TIMESFORMER_LAB_GPU_HELPER;
    else process.env.TIMESFORMER_LAB_GPU_HELPER = switched;
    const qb = Math.min(q.timings.batch, pEnds.length);
    const qSteady = pEnds.length > qb ? (pEnds.length - qb) / ((pEnds[pEnds.length - 1] - pEnds[qb - 1]) / 1000) : 0;
    const key = (x: SweepResult) => JSON.stringify(x.clips.map((c) => [c.clip, c.verdict, c.firstFailingBlock, c.blockErrors, c.layerNorms]));
    const same = key(q) === key(r);
    result.inProcess = { clipsPerSecondSteady: qSteady, clipsPerSecondOverall: q.timings.clipsPerSecond, peakRssBytes: q.timings.peakRssBytes, sameToTheBit: same, helper: !!r.timings.helperPeakRssBytes };
    console.log(`[bench-sweep] the paired sessions in this process (TIMESFORMER_LAB_GPU_HELPER=0): ${qSteady.toFixed(2)} clips/s steady; ` +
      `${r.timings.helperPeakRssBytes ? 'in the GPU helper process' : 'the first run (no helper)'} ${(steady / qSteady).toFixed(2)}× that; results ${same ? 'the same to the bit' : 'DIFFER'}` +
      (q.timings.pairedRunMs ? `; per clip ${(q.timings.pairedRunMs / q.summary.done).toFixed(0)} ms in the runs, ${(q.timings.judgeMs! / q.summary.done).toFixed(0)} ms judging` : ''));
  }

  // 1b. the same clips compared on the host (two sessions, every block output read back): the before
  if (hostClips > 0 && r.options.compare === 'graph') {
    const hEnds: number[] = [];
    const h = await sweep(fx.weights, fx.clips.slice(0, hostClips), { precision: 'fp16', ep, referenceEp, compare: 'host', confirm: false }, { onClip: () => hEnds.push(performance.now()) });
    const hSteady = hEnds.length > 1 ? (hEnds.length - 1) / ((hEnds[hEnds.length - 1] - hEnds[0]) / 1000) : 0;
    const same = h.clips.every((c) => {
      const g = r.clips.find((x) => x.clip === c.clip);
      return g && g.verdict === c.verdict && g.firstFailingBlock === c.firstFailingBlock && g.blockErrors!.every((e, i) => Math.abs(e - c.blockErrors![i]) <= 1e-4 * c.blockErrors![i]);
    });
    result.host = { clips: h.summary.done, clipsPerSecondSteady: hSteady, readBackBytesPerClip: h.timings.readBackBytesPerClip, peakRssBytes: h.timings.peakRssBytes, sameVerdictsAndErrors: same };
    console.log(`[bench-sweep] compared on the host (two sessions): ${hSteady.toFixed(2)} clips/s steady, ${(h.timings.readBackBytesPerClip / 2 ** 20).toFixed(1)} MiB read back per clip; ` +
      `in the graph ${(steady / hSteady).toFixed(2)}× the clips/s, ${(h.timings.readBackBytesPerClip / Math.max(1, r.timings.readBackBytesPerClip)).toFixed(0)}× less read back; ` +
      `verdicts, first failing blocks and errors (within 1e-4) ${same ? 'the same' : 'DIFFER'}`);
  }

  // 1c. other batch sizes on the same clips
  const batches = (values.batches ?? '').split(',').filter(Boolean).map(Number);
  result.batches = [];
  for (const b of batches) {
    const bEnds: number[] = [];
    const rb = await sweep(fx.weights, [fx.clipsDir], { precision: 'fp16', ep, referenceEp, batch: b, confirm: false }, { onClip: () => bEnds.push(performance.now()) });
    // steady state: from the first group's end (its clips end together) to the last clip's
    const firstEnd = bEnds[Math.min(b, bEnds.length) - 1];
    const bSteady = bEnds.length > b ? (bEnds.length - Math.min(b, bEnds.length)) / ((bEnds[bEnds.length - 1] - firstEnd) / 1000) : 0;
    (result.batches as unknown[]).push({ batch: rb.timings.batch, clipsPerSecondSteady: bSteady, clipsPerSecondOverall: rb.timings.clipsPerSecond, peakRssBytes: rb.timings.peakRssBytes });
    console.log(`[bench-sweep] batch ${rb.timings.batch}: ${bSteady.toFixed(2)} clips/s steady, ${rb.timings.clipsPerSecond.toFixed(2)} overall; peak RSS ${MiB(rb.timings.peakRssBytes)}${rb.timings.helperPeakRssBytes ? ` + the GPU helper process's ${MiB(rb.timings.helperPeakRssBytes)}` : ''}` +
      (rb.timings.pairedRunMs ? `; per clip ${(rb.timings.pairedRunMs / rb.summary.done).toFixed(0)} ms in the runs, ${(rb.timings.judgeMs! / rb.summary.done).toFixed(0)} ms judging` : ''));
  }

  // 2. RSS growth over many clips (synthetic: nothing to read), sampled after 10 % and at the end;
  //    --rss-size full: at the model's size, on the checkpoint of part 1
  if (rssClips > 0) {
    const rssFull = values['rss-size'] === 'full';
    const small = rssFull ? fx : writeSweepFixture(path.join(dir, 'rss'), 0);
    const specs = Array.from({ length: rssClips }, (_, i) => `synthetic:${i}`);
    const at = Math.max(1, Math.floor(rssClips / 10));
    let early = 0;
    let late = 0;
    const tRss = performance.now();
    const rss = await sweep(small.weights, specs, { precision: 'fp16', ...(rssFull ? {} : { heads: 4 }), ep, referenceEp, confirm: false, out: path.join(dir, `rss-out-${Date.now()}`) }, {
      onClip: (_c, p) => {
        const k = p.index + 1;
        if (k !== at && k !== rssClips && k % at !== 0) return;
        const now = treeRss();
        if (k === at) early = now.total;
        if (k === rssClips) late = now.total;
        // a line every 10 %: the trend survives a run cut short
        console.log(`[bench-sweep] RSS after ${k} clips: ${MiB(now.total)}${now.children ? ` (this process ${MiB(now.self)}, the GPU helper process ${MiB(now.children)})` : ''} (${((performance.now() - tRss) / 1000).toFixed(0)} s)`);
      },
    });
    const growth = early ? (late - early) / early : NaN;
    Object.assign(result, { rssClips, rssAfterTenthBytes: early, rssAtEndBytes: late, rssGrowth: growth, rssClipsPerSecond: rss.timings.clipsPerSecond });
    result.rssSize = rssFull ? size : 'small';
    console.log(`[bench-sweep] RSS over ${rssClips} ${rssFull ? size : 'small'} clips: ${MiB(early)} after ${at}, ${MiB(late)} at the end: growth ${(growth * 100).toFixed(1)} % (target ≤ 5 %); ${rss.timings.clipsPerSecond.toFixed(1)} clips/s`);
  }

  // 3. PyTorch eager on the same clips, where it is installed
  if (!values['no-torch'] && spawnSync('python3', ['-c', 'import torch, transformers'], { stdio: 'ignore' }).status === 0) {
    const json = path.join(dir, 'torch-sweep.json');
    const py = path.join(__dirname, '..', '..', '..', 'scripts', 'bench', 'bench_sweep_torch.py');
    execFileSync('python3', [py, '--clips', fx.clipsDir, '--size', size, '--json', json], { stdio: 'inherit' });
    const t = JSON.parse(fs.readFileSync(json, 'utf8'));
    result.torch = t;
    console.log(`[bench-sweep] PyTorch eager (${t.device}): ${t.clips_per_second.toFixed(2)} clips/s for fp32 + fp16 forwards, peak RSS ${MiB(t.peak_rss_bytes)}; ` +
      `ours ${steady.toFixed(2)} clips/s (FP16 engine + FP32 reference + comparison): ratio ${(steady / t.clips_per_second).toFixed(2)}×`);
  } else console.log('[bench-sweep] PyTorch eager: skipped (no python3 with torch and transformers, or --no-torch)');
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(result, null, 1));
}

main().catch((e) => {
  console.error(`bench-sweep: ${e instanceof Error ? e.stack : String(e)}`);
  process.exit(1);
});
