/**
 * Warm toggle benchmark (issue 21, item 4): from the run request to the Report, through the engine
 * process as the extension host drives it (WorkerClient forking out/extension/worker.js), for
 *   cold           the first request on a checkpoint (read, FP32 reference, sessions built);
 *   warm new mode  another LayerNorm mode on the same checkpoint (the preparation kept);
 *   warm same mode a mode already built (the preparation and its sessions kept);
 * and "today": the same toggles with nothing kept (TIMESFORMER_LAB_WARM_MIB=0, every request cold).
 * Each round toggles the sidebar's "Expose LayerNorm entries": plain (FP16, a planted massive
 * activation: it fails, and its minimal fix's confirmation is a second engine), expose, plain,
 * expose; the checkpoint is touched before each round so that its first request is cold. Both
 * engine processes have loaded onnxruntime and probed the providers first (a probe request), as the
 * sidebar does when it opens. It prints medians and the ratios to cold, and checks that the warm
 * Reports are the cold ones (every block's error equal to the last bit, the verdict the same).
 *
 *   npm run build
 *   node out/scripts/bench/bench-warm.js [--size full|small] [--ep webgpu|cpu|cuda] [--rounds 3] [--data test_data.p] [--weights CKPT] [--json F]
 *
 * After each run the engine process builds the session of the expose toggle's other mode ahead
 * (core/warm.ts buildAhead, on a GPU provider): a request that comes at once waits for it, one that
 * comes after a pause (--think-ms, a user's) finds it built. TIMESFORMER_LAB_BUILD_AHEAD=0 turns it
 * off (the before); =1 on the CPU EP too (with TIMESFORMER_LAB_SEGMENT_BLOCKS=0: one whole session).
 *
 * Without --weights the checkpoint is generated (scripts/fixtures/gen-checkpoint.ts): full is the
 * released model's size (768×12, 8×224², 486 MB), small 64×4, 4×32²; both with
 * blocks.5.mlp.fc2.bias[21] = 300 (small: block 2), so that plain FP16 overflows.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { WorkerClient } from '../../extension/host/runner';
import type { EpChoice, Report } from '../../extension/core/report';
import type { RunOptions } from '../../extension/protocol';
import { FULL_SIZE, writeCheckpoint, type GenOptions } from '../fixtures/gen-checkpoint';
import { median } from './median';

const WORKER = path.join(__dirname, '..', '..', 'extension', 'worker.js');

type Kind = 'cold' | 'warm new mode' | 'warm same mode' | 'today';

interface Row {
  kind: Kind;
  mode: 'plain' | 'expose';
  ms: number;
  reportMs: number;
  warm?: Report['run']['warm'];
  /** Request → the graph colored: the mode's Report before its minimal fix's confirmation (onModeReport), or the Report where none follows. */
  graphMs: number;
  /**
   * The graph colored this long after the mode's own pipeline ended (its Report's totalMs, before
   * the confirmation): the request's way in and the Report's way out to the host. Session 22 saw
   * ~200 ms here on a warm plain request, the Report written behind the confirmation's run.
   */
  graphAfterPipelineMs: number;
  verdict: string;
  blocks: number[];
}


async function timed(client: WorkerClient, o: RunOptions, kind: Kind, log: (l: string) => void): Promise<Row> {
  const t0 = performance.now();
  let early: number | undefined;
  const { report } = await client.run(o, { onLog: (l) => /^warm:|^engine: /.test(l) && log(`    ${l}`), onModeReport: () => (early = performance.now() - t0) });
  const ms = performance.now() - t0;
  const row: Row = {
    kind, mode: o.layerNorm === 'expose' ? 'expose' : 'plain', ms, graphMs: early ?? ms, reportMs: report.run.timings.totalMs + (report.run.timings.confirmMs ?? 0),
    graphAfterPipelineMs: (early ?? ms) - report.run.timings.totalMs,
    warm: report.run.warm, verdict: report.diagnosis.sentence, blocks: report.blocks.map((b) => b.relL2),
  };
  const t = report.run.timings;
  log(`  ${kind.padEnd(15)} ${row.mode.padEnd(6)} ${ms.toFixed(0).padStart(6)} ms, graph colored at ${row.graphMs.toFixed(0)} ms (Report's total ${row.reportMs.toFixed(0)} ms: run ${t.runMs.toFixed(0)}, compare ${t.compareMs.toFixed(0)}, ` +
    `session ${t.sessionMs.toFixed(0)}, confirmation ${(t.confirmMs ?? 0).toFixed(0)}, other ${(t.totalMs - t.runMs - t.compareMs - t.sessionMs).toFixed(0)}; ${((report.run.outputBytes ?? 0) / 2 ** 20).toFixed(1)} MiB read back; ` +
    `${(ms - row.reportMs).toFixed(0)} ms outside the pipeline, the graph colored ${row.graphAfterPipelineMs.toFixed(0)} ms after the mode's own; warm ${JSON.stringify(report.run.warm)})`);
  return row;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string' }, ep: { type: 'string' }, rounds: { type: 'string' }, data: { type: 'string' }, weights: { type: 'string' },
      json: { type: 'string' }, 'think-ms': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: node out/scripts/bench/bench-warm.js [--size full|small] [--ep webgpu|cpu|cuda] [--rounds 3] [--think-ms 0] [--data test_data.p] [--weights CKPT] [--json F]');
    return;
  }
  if (!fs.existsSync(WORKER)) throw new Error(`${WORKER} is missing: npm run build first`);
  const size = values.size ?? 'full';
  if (size !== 'full' && size !== 'small') throw new Error(`--size ${size}: full or small`);
  const ep = (values.ep ?? 'webgpu') as EpChoice;
  const rounds = Math.max(1, Number(values.rounds ?? 3));
  // a user's pause between clicks in the warm engine process (0: each request as soon as the last is answered)
  const thinkMs = Math.max(0, Number(values['think-ms'] ?? 0));
  const think = () => new Promise((res) => setTimeout(res, thinkMs));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-warm-'));
  let weights = values.weights;
  if (!weights) {
    const g: GenOptions = size === 'full'
      ? { ...FULL_SIZE, outlierBlock: 5 }
      : { ...FULL_SIZE, embed: 64, depth: 4, frames: 4, image: 32, classes: 10, outlierBlock: 2 };
    weights = path.join(dir, `${size}.pyth`);
    const t = performance.now();
    const w = writeCheckpoint(g, weights);
    console.log(`[bench-warm] wrote ${weights} (${(w.bytes / 1e6).toFixed(0)} MB, ${w.params.toLocaleString('en-US')} params) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const base: RunOptions = { weights, ...(values.data ? { data: values.data } : {}), ep, precision: 'fp16' };
  const log = (l: string) => console.log(l);
  const rows: Row[] = [];
  const touch = () => {
    const t = new Date();
    fs.utimesSync(weights!, t, t);
  };

  // the warm engine process: each round's first request cold (the checkpoint touched), then the toggles
  const warm = new WorkerClient({ script: WORKER, log: (l) => /warm:/.test(l) && log(`    ${l}`) });
  try {
    const p = await warm.probe();
    log(`[bench-warm] providers: ${p.map((x) => `${x.ep} ${x.available ? 'yes' : 'no'}`).join(', ')}`);
    for (let r = 0; r < rounds; r++) {
      log(`[bench-warm] round ${r + 1}/${rounds} (warm engine process)`);
      touch();
      await new Promise((res) => setTimeout(res, 20));
      rows.push(await timed(warm, { ...base, layerNorm: 'plain' }, 'cold', log));
      await think();
      rows.push(await timed(warm, { ...base, layerNorm: 'expose' }, 'warm new mode', log));
      await think();
      rows.push(await timed(warm, { ...base, layerNorm: 'plain' }, 'warm same mode', log));
      await think();
      rows.push(await timed(warm, { ...base, layerNorm: 'expose' }, 'warm same mode', log));
    }
  } finally {
    await warm.cancel();
  }
  // today: nothing kept between requests
  const today = new WorkerClient({ script: WORKER, env: { ...process.env, TIMESFORMER_LAB_WARM_MIB: '0' } });
  try {
    await today.probe();
    for (let r = 0; r < rounds; r++) {
      log(`[bench-warm] round ${r + 1}/${rounds} (nothing kept: TIMESFORMER_LAB_WARM_MIB=0)`);
      rows.push(await timed(today, { ...base, layerNorm: 'plain' }, 'today', log));
      rows.push(await timed(today, { ...base, layerNorm: 'expose' }, 'today', log));
    }
  } finally {
    await today.cancel();
  }

  // the warm Reports are the cold ones
  const same = (a: Row, b: Row) => a.verdict === b.verdict && a.blocks.length === b.blocks.length && a.blocks.every((x, i) => Object.is(x, b.blocks[i]));
  const cold = { plain: rows.find((x) => x.kind === 'cold')!, expose: rows.find((x) => x.kind === 'today' && x.mode === 'expose')! };
  const mismatched = rows.filter((x) => !same(x, cold[x.mode]));
  const med = (k: Kind, mode?: Row['mode'], f: 'ms' | 'graphMs' = 'ms') => median(rows.filter((x) => x.kind === k && (!mode || x.mode === mode)).map((x) => x[f]));
  const c = med('cold');
  const lines = [
    `[bench-warm] ${size} size, ${ep}, FP16, ${values.data ? 'with test data' : 'no test data (reference: our FP32 on the CPU EP)'}, ${rounds} round(s); request → Report through the engine process; ` +
    `${thinkMs} ms between requests; the expose toggle's other mode built ahead: ${process.env.TIMESFORMER_LAB_BUILD_AHEAD === '0' ? 'no (TIMESFORMER_LAB_BUILD_AHEAD=0)' : 'yes, where a GPU provider runs'}`,
    `  cold (first request on the checkpoint, plain)   median ${c.toFixed(0)} ms   1.00×`,
    `  warm new mode (expose, preparation kept)        median ${med('warm new mode').toFixed(0)} ms   ${(med('warm new mode') / c).toFixed(2)}× cold   (target ≤ 1500 ms)`,
    `  warm same mode (plain / expose, sessions kept)  median ${med('warm same mode').toFixed(0)} ms   ${(med('warm same mode') / c).toFixed(2)}× cold`,
    `      plain ${med('warm same mode', 'plain').toFixed(0)} ms (its fix's confirmation included), expose ${med('warm same mode', 'expose').toFixed(0)} ms`,
    `  request → graph colored (the mode's Report; a failing plain mode's fix is confirmed after it):`,
    `      cold ${med('cold', undefined, 'graphMs').toFixed(0)} ms; warm new mode ${med('warm new mode', undefined, 'graphMs').toFixed(0)} ms (target ≤ 1500 ms); ` +
    `warm same mode ${med('warm same mode', undefined, 'graphMs').toFixed(0)} ms (target ≤ 500 ms: plain ${med('warm same mode', 'plain', 'graphMs').toFixed(0)}, expose ${med('warm same mode', 'expose', 'graphMs').toFixed(0)}); ` +
    `today plain ${med('today', 'plain', 'graphMs').toFixed(0)} ms, expose ${med('today', 'expose', 'graphMs').toFixed(0)} ms`,
    `  today (nothing kept), plain ${med('today', 'plain').toFixed(0)} ms, expose ${med('today', 'expose').toFixed(0)} ms   ${(med('today') / c).toFixed(2)}× cold`,
    `  Reports warm = cold (every block's error to the last bit, the verdict): ${mismatched.length ? `NO, ${mismatched.length} differ` : 'yes'}`,
  ];
  console.log(lines.join('\n'));
  if (values.json) fs.writeFileSync(values.json, JSON.stringify({ size, ep, rounds, thinkMs, buildAhead: process.env.TIMESFORMER_LAB_BUILD_AHEAD !== '0', data: !!values.data, rows: rows.map(({ blocks: _b, ...r }) => r), medians: { cold: c, warmNewMode: med('warm new mode'), warmSameMode: med('warm same mode'), today: med('today') },
    graphMedians: { cold: med('cold', undefined, 'graphMs'), warmNewMode: med('warm new mode', undefined, 'graphMs'), warmSameMode: med('warm same mode', undefined, 'graphMs'), warmSamePlain: med('warm same mode', 'plain', 'graphMs'), warmSameExpose: med('warm same mode', 'expose', 'graphMs'), today: med('today', undefined, 'graphMs') }, reportsEqual: !mismatched.length }, null, 1));
  fs.rmSync(dir, { recursive: true, force: true });
  if (mismatched.length) process.exitCode = 1;
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exit(1);
});
