/**
 * Warm engines (core/warm.ts, issue 21 item 4): the engine process keeps the preparation and the
 * sessions it built. A second identical request reads no weights and builds no session; a new mode
 * on the same checkpoint reuses the preparation; the Reports are those of a cold run (runModes, the
 * code the golden Reports pin), bit for bit but the times, the log and run.warm; a checkpoint
 * changed on disk is read again; the bounds evict; idle releases the store's folder.
 */
import { strict as assert } from 'assert';
import Ajv from 'ajv';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { prepare, runModes, type LayerNormChoice } from '../../extension/core/pipeline';
import { startPool } from '../../extension/core/parallel';
import { reportToJson, type PipelineHooks, type PipelineOptions, type Report, type Stage } from '../../extension/core/report';
import { WarmEngines, warmLimits, type WarmLimits } from '../../extension/core/warm';
import { FIX, ROOT, stripReport } from './helpers/reports-golden';

const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(JSON.parse(fs.readFileSync(path.join(ROOT, 'docs', 'report.schema.json'), 'utf8')));

/** A Report without its times, its log and run.warm: what must be equal warm and cold. */
function results(r: Report, tmp: string): unknown {
  const s = stripReport(r, tmp) as { log?: string[]; run: Record<string, unknown> };
  delete s.log;
  delete s.run.warm;
  return s;
}

/** The log lines that say what was found (not how it was read or built): equal warm and cold. */
const findings = (r: Report) => r.log.filter((l) => /overflow|passes|fails|confirm|verdict/i.test(l) && !/^(warm|engine):/.test(l) && !/ ms\b|MiB/.test(l));

describe('warm engines (core/warm.ts)', function () {
  this.timeout(120_000);
  let tmp: string;
  let o: PipelineOptions;
  const lines: string[] = [];
  const limits = (x: Partial<WarmLimits> = {}): WarmLimits => ({ ...warmLimits({}), ...x });

  /** A request as the worker makes it, with the stages it went through. */
  async function request(w: WarmEngines, mode: LayerNormChoice, over: Partial<PipelineOptions> = {}): Promise<{ report: Report; stages: Stage[] }> {
    const stages: Stage[] = [];
    const hooks: PipelineHooks = { onProgress: (s) => void (stages[stages.length - 1] !== s && stages.push(s)) };
    const report = await w.run({ ...o, ...over, layerNorm: mode === 'minimal' ? 'plain' : mode }, mode, hooks);
    await w.settle();
    return { report, stages };
  }

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-warm-'));
    for (const f of ['d1_outlier.pyth', 'd1_outlier_test_data.p']) fs.copyFileSync(path.join(FIX, f), path.join(tmp, f));
    o = { weights: path.join(tmp, 'd1_outlier.pyth'), data: path.join(tmp, 'd1_outlier_test_data.p'), ep: 'cpu', precision: 'fp16' };
    lines.length = 0;
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('a second identical request reads no weights and builds no session; its Report is the cold run\'s', async () => {
    const w = new WarmEngines(limits(), (l) => lines.push(l));
    try {
      const first = await request(w, 'expose');
      assert.deepEqual(first.report.run.warm, { prepared: false, sessionsReused: 0, sessionsBuilt: 1 });
      assert.ok(first.stages.includes('reading checkpoint') && first.stages.includes('building engine'), first.stages.join(', '));
      const store = w.storeDir!;
      assert.ok(fs.existsSync(store), 'the store is kept after the request');
      const second = await request(w, 'expose');
      assert.deepEqual(second.report.run.warm, { prepared: true, sessionsReused: 1, sessionsBuilt: 0 });
      assert.deepEqual(w.counts, { prepared: 1, built: 1, reused: 1, ahead: 0, evicted: 0, released: 0 });
      for (const s of ['reading checkpoint', 'reading test data', 'building graph', 'building engine'] as Stage[]) assert.ok(!second.stages.includes(s), `stage ${s} in ${second.stages.join(', ')}`);
      assert.deepEqual(second.stages, ['running', 'comparing']);
      assert.equal(second.report.run.timings.readMs, 0);
      assert.equal(second.report.run.timings.buildGraphMs, 0);
      assert.match(second.report.log[0], /^warm: the checkpoint, clip and FP32 reference prepared \d+ s ago are kept by the engine process: nothing read again \(1 session kept\)$/);
      assert.ok(second.report.log.some((l) => /^engine: the cpu session built for these options by an earlier request, kept/.test(l)), second.report.log.join('\n'));
      // the cold run, as the CLI and the golden Reports run it
      const [cold] = await runModes(o, ['expose']);
      assert.deepStrictEqual(results(second.report, tmp), results(cold, tmp));
      assert.deepStrictEqual(results(first.report, tmp), results(cold, tmp));
      // the first request's log is the cold run's, line for line (but times and memory)
      assert.deepStrictEqual(stripReport(first.report, tmp), { ...(stripReport(cold, tmp) as object), run: { ...(stripReport(cold, tmp) as { run: object }).run, warm: first.report.run.warm } });
      assert.deepStrictEqual(findings(second.report), findings(cold));
      assert.equal(second.report.blocks[4].relL2, cold.blocks[4].relL2);
      // run.warm is in the published schema (and the schema refuses a wrong one)
      const json = JSON.parse(reportToJson(second.report)) as { run: object };
      assert.ok(validate(json), ajv.errorsText(validate.errors));
      assert.ok(!validate({ ...json, run: { ...json.run, warm: { prepared: 'yes', sessionsReused: 1, sessionsBuilt: 0 } } }));
    } finally {
      await w.release('test end');
    }
  });

  it('a new mode on the same checkpoint reuses the preparation; the failing plain mode and its fix\'s confirmation are then both kept', async () => {
    const w = new WarmEngines(limits(), (l) => lines.push(l));
    try {
      await request(w, 'expose');
      const plain = await request(w, 'plain');
      assert.deepEqual(plain.report.run.warm, { prepared: true, sessionsReused: 0, sessionsBuilt: 2 });
      assert.ok(!plain.stages.includes('reading checkpoint'), plain.stages.join(', '));
      assert.ok(plain.stages.includes('building engine') && plain.stages.includes('confirming the minimal fix'));
      assert.equal(plain.report.diagnosis.minimalFix?.confirmed?.verdict, 'pass');
      const again = await request(w, 'plain');
      assert.deepEqual(again.report.run.warm, { prepared: true, sessionsReused: 2, sessionsBuilt: 0 });
      // the one-click minimal fix is the confirmation's very engine (plain, its LayerNorms in FP32)
      const minimal = await request(w, 'minimal');
      assert.deepEqual(minimal.report.run.warm, { prepared: true, sessionsReused: 1, sessionsBuilt: 0 });
      assert.equal(w.counts.prepared, 1);
      const [cold] = await runModes({ ...o, layerNorm: 'plain' }, ['plain']);
      assert.deepStrictEqual(results(plain.report, tmp), results(cold, tmp));
      assert.deepStrictEqual(results(again.report, tmp), results(cold, tmp));
      const [coldMinimal] = await runModes({ ...o, layerNorm: 'plain' }, ['minimal']);
      assert.deepStrictEqual(results(minimal.report, tmp), results(coldMinimal, tmp));
      assert.equal((await w.usage()).sessions, 3);
    } finally {
      await w.release('test end');
    }
  });

  it('after a run, the expose toggle\'s other mode is built ahead (run once on the clip, kept): its request then builds nothing and gives the cold run\'s Report; not on the CPU EP, not past the bounds', async () => {
    const env = { TIMESFORMER_LAB_BUILD_AHEAD: '1' };
    const segments = process.env.TIMESFORMER_LAB_SEGMENT_BLOCKS;
    // one whole session, as on a GPU provider (a segmented CPU engine keeps no session to build ahead)
    process.env.TIMESFORMER_LAB_SEGMENT_BLOCKS = '0';
    const w = new WarmEngines(limits(), (l) => lines.push(l));
    try {
      await request(w, 'plain');
      const plainO: PipelineOptions = { ...o, layerNorm: 'plain' };
      await w.buildAhead(plainO, {});
      assert.equal(w.counts.ahead, 0, 'the CPU EP builds nothing ahead by default');
      await w.buildAhead(plainO, { TIMESFORMER_LAB_BUILD_AHEAD: '0' });
      assert.equal(w.counts.ahead, 0);
      await w.buildAhead(plainO, env);
      assert.equal(w.counts.ahead, 1);
      assert.equal((await w.usage()).sessions, 3, 'plain, its fix\'s confirmation, and expose');
      assert.ok(lines.some((l) => /^warm: built the cpu session of LayerNorm expose ahead \(the sidebar's expose toggle\) in \d+ ms and ran it once on the clip in \d+ ms; kept$/.test(l)), lines.join('\n'));
      const expose = await request(w, 'expose');
      assert.deepEqual(expose.report.run.warm, { prepared: true, sessionsReused: 1, sessionsBuilt: 0 });
      assert.ok(!expose.stages.includes('building engine'), expose.stages.join(', '));
      const [cold] = await runModes({ ...o, layerNorm: 'expose' }, ['expose']);
      assert.deepStrictEqual(results(expose.report, tmp), results(cold, tmp));
      // plain is kept already: nothing more is built
      await w.buildAhead({ ...o, layerNorm: 'expose' }, env);
      assert.equal(w.counts.ahead, 1);
    } finally {
      await w.release('test end');
    }
    // a request came while it was built: kept without its run (that request runs it itself)
    const busy = new WarmEngines(limits(), (l) => lines.push(l));
    try {
      await request(busy, 'plain');
      await busy.buildAhead({ ...o, layerNorm: 'plain' }, env, () => true);
      assert.equal(busy.counts.ahead, 1);
      assert.ok(lines.some((l) => /^warm: built the cpu session of LayerNorm expose ahead \(the sidebar's expose toggle\) in \d+ ms \(not run: a request waits\); kept$/.test(l)), lines.join('\n'));
      const expose = await request(busy, 'expose');
      assert.deepEqual(expose.report.run.warm, { prepared: true, sessionsReused: 1, sessionsBuilt: 0 });
    } finally {
      await busy.release('test end');
    }
    // no room: at most 2 sessions, and plain kept 2
    const tight = new WarmEngines(limits({ sessions: 2 }), (l) => lines.push(l));
    try {
      await request(tight, 'plain');
      await tight.buildAhead({ ...o, layerNorm: 'plain' }, env);
      assert.equal(tight.counts.ahead, 0);
    } finally {
      await tight.release('test end');
      if (segments === undefined) delete process.env.TIMESFORMER_LAB_SEGMENT_BLOCKS;
      else process.env.TIMESFORMER_LAB_SEGMENT_BLOCKS = segments;
    }
  });

  it('a checkpoint changed on disk (mtime) is read again, and the old store is released', async () => {
    const w = new WarmEngines(limits(), (l) => lines.push(l));
    try {
      await request(w, 'fp32');
      const old = w.storeDir!;
      const t = new Date(Date.now() + 5000);
      fs.utimesSync(o.weights, t, t);
      const next = await request(w, 'fp32');
      assert.deepEqual(next.report.run.warm, { prepared: false, sessionsReused: 0, sessionsBuilt: 1 });
      assert.ok(next.stages.includes('reading checkpoint'));
      assert.equal(w.counts.prepared, 2);
      assert.ok(!fs.existsSync(old), `the old store ${old} is removed`);
      assert.ok(lines.some((l) => /released the kept preparation and 1 session .* a file of its inputs changed on disk/.test(l)), lines.join('\n'));
      // other test data: another preparation too
      await request(w, 'fp32', { data: undefined, input: 'synthetic:3' });
      assert.equal(w.counts.prepared, 3);
    } finally {
      await w.release('test end');
    }
  });

  it('the bounds evict the least recently used session, and the preparation when it alone is over', async () => {
    const w = new WarmEngines(limits({ sessions: 1 }), (l) => lines.push(l));
    try {
      await request(w, 'expose');
      await request(w, 'fp32');
      assert.deepEqual(await w.usage().then((u) => u.sessions), 1);
      assert.equal(w.counts.evicted, 1);
      // the kept one is the last used (fp32): expose is built again
      const e = await request(w, 'fp32');
      assert.deepEqual(e.report.run.warm, { prepared: true, sessionsReused: 1, sessionsBuilt: 0 });
      const x = await request(w, 'expose');
      assert.deepEqual(x.report.run.warm, { prepared: true, sessionsReused: 0, sessionsBuilt: 1 });
    } finally {
      await w.release('test end');
    }
    const tiny = new WarmEngines(limits({ bytes: 2 ** 20 }), (l) => lines.push(l));
    const r = await request(tiny, 'expose');
    assert.deepEqual(r.report.run.warm, { prepared: false, sessionsReused: 0, sessionsBuilt: 1 });
    assert.equal(tiny.storeDir, undefined, 'nothing kept over the bound');
    assert.deepEqual(await tiny.usage(), { prepared: false, sessions: 0, bytes: 0 });
    assert.ok(lines.some((l) => /are more than the 1 MiB the engine process keeps/.test(l)), lines.join('\n'));
    // no session kept at all (TIMESFORMER_LAB_WARM_SESSIONS=0): the preparation still is
    const none = new WarmEngines(limits({ sessions: 0 }), (l) => lines.push(l));
    try {
      await request(none, 'fp32');
      const again = await request(none, 'fp32');
      assert.deepEqual(again.report.run.warm, { prepared: true, sessionsReused: 0, sessionsBuilt: 1 });
    } finally {
      await none.release('test end');
    }
  });

  it('idle releases everything: the store folder is gone', async () => {
    const w = new WarmEngines(limits({ idleMs: 150 }), (l) => lines.push(l));
    await request(w, 'fp32');
    const store = w.storeDir!;
    assert.ok(fs.existsSync(store));
    const until = Date.now() + 10_000;
    while (fs.existsSync(store) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!fs.existsSync(store), `${store} removed after idle`);
    assert.equal(w.storeDir, undefined);
    assert.ok(lines.some((l) => /released the kept preparation and 1 session .* after 0.15 s idle/.test(l)), lines.join('\n'));
  });

  it('a request without a run (a probe) settles too: the idle timer before it is stopped, and cannot release the preparation while the next run goes on', async () => {
    const w = new WarmEngines(limits({ idleMs: 300 }), (l) => lines.push(l));
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      await request(w, 'fp32'); // its settle starts the idle timer
      await sleep(150);
      await w.settle(); // the sidebar's provider probe: the timer starts again
      const running = w.run({ ...o, layerNorm: 'fp32' }, 'fp32', {}); // a run stops the idle timer
      await sleep(400); // past the first timer's 300 ms
      await running;
      assert.ok(w.storeDir && fs.existsSync(w.storeDir), 'still held: no timer was left to fire');
      assert.ok(!lines.some((l) => /idle/.test(l) && /released/.test(l)), lines.join('\n'));
    } finally {
      await w.release('test end');
    }
  });

  it('a kept segmented CPU engine tells its segments to the request that runs it, not to the one that built it', async () => {
    const w = new WarmEngines(limits(), (l) => lines.push(l));
    const segments = async () => {
      const seen: string[] = [];
      const report = await w.run({ ...o, layerNorm: 'fp32' }, 'fp32', { onProgress: (s, d) => void (s === 'running' && d && /segment/.test(d) && seen.push(d)) });
      await w.settle();
      return { seen, report };
    };
    try {
      const first = await segments();
      const second = await segments();
      assert.equal(second.report.run.warm?.sessionsReused, 1, 'the second request ran the kept engine');
      assert.ok(first.seen.length > 1 && /^cpu, segment 1\/\d+$/.test(first.seen[0]), first.seen.join(' | '));
      assert.deepEqual(second.seen, first.seen);
    } finally {
      await w.release('test end');
    }
  });

  it('a GPU choice whose run landed on the CPU (a fallback) builds nothing ahead', async () => {
    const w = new WarmEngines(limits(), (l) => lines.push(l));
    try {
      await request(w, 'plain');
      // as the worker calls it after a run asked for webgpu that fell back to the CPU EP
      await w.buildAhead({ ...o, ep: 'webgpu', layerNorm: 'plain' }, {}, () => false, 'cpu');
      assert.equal(w.counts.ahead, 0);
      assert.ok(!lines.some((l) => /ahead/.test(l)), lines.join('\n'));
    } finally {
      await w.release('test end');
    }
  });

  it('a failed request releases what was kept', async () => {
    const w = new WarmEngines(limits(), (l) => lines.push(l));
    await request(w, 'fp32');
    const store = w.storeDir!;
    // the same inputs (kept), a run that fails after its engine is built (the ONNX cannot be saved there)
    await assert.rejects(w.run({ ...o, precision: 'fp32', saveOnnx: path.join(tmp, 'no', 'such', 'folder', 'x.onnx') }, 'plain'));
    assert.ok(lines.some((l) => /released the kept preparation .* after a failed run/.test(l)), lines.join('\n'));
    assert.ok(!fs.existsSync(store));
    assert.equal(w.storeDir, undefined);
  });

  it('a kept preparation\'s comparison threads serve each mode and its fix\'s confirmation, and stay for the next request; the Reports are the same', async () => {
    const p = await prepare(o);
    const pool = startPool(2)!;
    let jobs = 0;
    const run = pool.run.bind(pool);
    pool.run = ((...a: Parameters<typeof run>) => {
      jobs++;
      return run(...a);
    }) as typeof pool.run;
    p.pool = pool;
    try {
      const [kept] = await runModes(o, ['plain'], {}, p);
      assert.ok(kept.diagnosis.minimalFix?.confirmed, 'the plain mode failed and its fix was confirmed: two runs compared');
      const first = jobs;
      assert.ok(first > 0, 'blocks compared on the kept threads');
      // still open: the next request compares on it too
      const [again] = await runModes(o, ['plain'], {}, p);
      assert.ok(jobs > first, `${jobs} after the second request, ${first} after the first`);
      // and open after it: no mode closed the threads it did not start
      const st = await run<{ name: string }>({ type: 'stats', name: 'still-open', a: new Float32Array(4), shape: [4], channels: false });
      assert.equal(st.name, 'still-open');
      const [alone] = await runModes(o, ['plain']);
      assert.deepStrictEqual(results(kept, tmp), results(alone, tmp));
      assert.deepStrictEqual(results(again, tmp), results(alone, tmp));
    } finally {
      await pool.close();
      p.close();
    }
  });

  it('warmLimits reads its variables', () => {
    assert.deepEqual(warmLimits({ TIMESFORMER_LAB_WARM_SESSIONS: '2', TIMESFORMER_LAB_WARM_MIB: '512', TIMESFORMER_LAB_STORE_IDLE_MS: '1000' }), { sessions: 2, bytes: 512 * 2 ** 20, idleMs: 1000 });
    assert.deepEqual(warmLimits({}), { sessions: 4, bytes: 4096 * 2 ** 20, idleMs: 60_000 });
  });
});
