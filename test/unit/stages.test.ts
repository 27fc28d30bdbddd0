/**
 * Progress that says what runs (issue 22.4): each stage the user waits on has its own line, in the
 * order it comes, and only when it happens — "reading test data" only with test data, the FP32
 * reference as its own stage, the minimal fix's confirmation as a stage of its own with its own
 * engine and run, each mode of a multi-mode run named, the wait for an FP32 run that went beside a
 * GPU engine when the engine is done first — and long stages say how far they are.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import { graphOptions, MODE_REPORT_WAIT_MS, prepare, ranEngine, runMode, runModes } from '../../extension/core/pipeline';
import type { LayerNormChoice, Prepared } from '../../extension/core/pipeline';
import { runOnce } from '../../extension/core/engine/session';
import { realizationFor } from '../../extension/core/engine/providers';
import { buildTimeSformer } from '../../extension/core/model/timesformer';
import type { PipelineOptions, Stage } from '../../extension/core/report';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const weights = path.join(FIX, 'd1_outlier.pyth');
const data = path.join(FIX, 'd1_outlier_test_data.p');

interface Seen { stage: Stage; detail?: string }

async function stagesOf(o: Partial<PipelineOptions>, modes: LayerNormChoice[] = ['plain']): Promise<{ seen: Seen[]; lines: Stage[] }> {
  const seen: Seen[] = [];
  await runModes({ weights, ep: 'cpu', heads: 4, precision: 'fp16', ...o } as PipelineOptions, modes, { onProgress: (stage, detail) => seen.push({ stage, detail }) });
  // the lines the user sees: a stage repeated with its progress is one line
  const lines = seen.map((s) => s.stage).filter((s, i, a) => i === 0 || a[i - 1] !== s);
  return { seen, lines };
}

describe('progress: the stage list says what runs', function () {
  this.timeout(120_000);

  it('FP16 plain with test data that fails: the FP32 statistics run, the engine, the comparison, then the minimal fix\'s confirmation with its own engine and run', async () => {
    const { seen, lines } = await stagesOf({ data });
    assert.deepEqual(lines, ['reading checkpoint', 'reading test data', 'computing the FP32 reference', 'building graph', 'building engine', 'running', 'comparing', 'confirming the minimal fix']);
    const confirm = seen.filter((s) => s.stage === 'confirming the minimal fix').map((s) => s.detail ?? '');
    assert.match(confirm[0], /^\d+ LayerNorms? in FP32$/);
    for (const inner of ['building engine', 'running', 'comparing']) assert.ok(confirm.some((d) => d.includes(`: ${inner}`)), `the confirmation shows its ${inner}: ${confirm.join(' | ')}`);
    assert.ok(!seen.some((s) => s.stage === 'comparing' && seen.indexOf(s) > seen.findIndex((x) => x.stage === 'confirming the minimal fix')), 'no "comparing" line hides the confirmation run');
  });

  it('without test data: no "reading test data" (nothing is read); the FP32 reference is its own stage, with its progress', async () => {
    const { seen, lines } = await stagesOf({ confirmMinimalFix: false });
    assert.deepEqual(lines, ['reading checkpoint', 'computing the FP32 reference', 'building graph', 'building engine', 'running', 'comparing']);
    const ref = seen.filter((s) => s.stage === 'computing the FP32 reference').map((s) => s.detail ?? '');
    assert.ok(ref.length > 2 && /segment 1\/\d+$/.test(ref[1]) && ref.at(-1)!.match(/segment (\d+)\/\1$/), `segments counted to the last: ${ref.join(' | ')}`);
  });

  it('the engine\'s run says how far it is (segment k/n, up to n/n); the engine stage names the precision and LayerNorm mode', async () => {
    const { seen } = await stagesOf({ data, confirmMinimalFix: false, precision: 'fp32', layerNorm: 'fp32' }, ['fp32']);
    const running = seen.filter((s) => s.stage === 'running').map((s) => s.detail ?? '');
    const counts = running.slice(1).map((d) => /segment (\d+)\/(\d+)$/.exec(d)!);
    assert.ok(counts.length >= 2 && counts.every(Boolean), running.join(' | '));
    assert.deepEqual(counts.map((m) => Number(m[1])), counts.map((_, i) => i + 1));
    assert.equal(Number(counts.at(-1)![1]), Number(counts.at(-1)![2]));
    assert.equal(seen.find((s) => s.stage === 'building engine')?.detail, 'cpu, FP32 LayerNorm fp32');
    assert.ok(!seen.some((s) => s.stage === 'computing the FP32 reference'), 'FP32 with test data needs no FP32 run of ours');
  });

  it('several modes: each mode\'s stages name the mode (k/n), the shared reading comes once', async () => {
    const { seen, lines } = await stagesOf({ data, confirmMinimalFix: false }, ['plain', 'fp32']);
    assert.equal(lines.filter((s) => s === 'reading checkpoint').length, 1);
    const engines = seen.filter((s) => s.stage === 'building engine').map((s) => s.detail);
    assert.deepEqual(engines, ['mode 1/2 plain: cpu, FP16 LayerNorm plain', 'mode 2/2 fp32: cpu, FP16 LayerNorm fp32']);
    assert.equal(lines.filter((s) => s === 'comparing').length, 2);
  });

  it('a clip file without test data is read as "reading the clip"; a synthetic clip shows no reading stage', async () => {
    const { lines } = await stagesOf({ input: data, confirmMinimalFix: false, precision: 'fp32' });
    assert.deepEqual(lines.slice(0, 2), ['reading checkpoint', 'reading the clip']);
    const syn = await stagesOf({ input: 'synthetic:1', confirmMinimalFix: false, precision: 'fp32' });
    assert.ok(!syn.lines.some((s) => /^reading (test data|the clip)$/.test(s)), syn.lines.join(', '));
  });

  it('comparing says which block it is at (block k/n, up to n/n), at most ~10 lines a second', async () => {
    const at: { detail: string; t: number }[] = [];
    await runModes({ weights, data, ep: 'cpu', heads: 4, precision: 'fp32', confirmMinimalFix: false } as PipelineOptions, ['plain'], {
      onProgress: (s, d) => void (s === 'comparing' && d && at.push({ detail: d, t: performance.now() })),
    });
    const counts = at.map((x) => /^block (\d+)\/(\d+)$/.exec(x.detail)!);
    assert.ok(counts.length >= 1 && counts.every(Boolean), at.map((x) => x.detail).join(' | '));
    assert.deepEqual(counts.at(-1)!.slice(1).map(Number), [12, 12], 'the last says every block is compared');
    const k = counts.map((m) => Number(m[1]));
    assert.deepEqual(k, [...k].sort((a, b) => a - b), 'counted up');
    // throttled: 12 blocks of this small model compare in milliseconds; only the last may come sooner than 100 ms after the one before
    for (let i = 1; i < at.length - 1; i++) assert.ok(at[i].t - at[i - 1].t >= 99, `updates ${i - 1} and ${i} ${(at[i].t - at[i - 1].t).toFixed(0)} ms apart`);
    assert.ok(at.length < 12, `${at.length} updates for 12 blocks compared in ${(at.at(-1)!.t - at[0].t).toFixed(0)} ms`);
  });

  describe('the FP32 run beside a GPU engine (a worker thread)', () => {
    // The engine ran elsewhere and is given to runMode, as the GPU helper process's engines are
    // (runWithHelper: ranEngine): its outputs are those of this mode's graph, run here on the CPU EP.
    // The mode asks for WebGPU, so its FP32 reference (no test data: the self-reference) goes beside
    // the engine, on a worker thread, and the given engine is done long before that run is.
    const o: PipelineOptions = { weights, ep: 'webgpu', heads: 4, precision: 'fp32', layerNorm: 'plain', confirmMinimalFix: false };
    const given = async (p: Prepared) => {
      const g = buildTimeSformer(p.model.weights, graphOptions(p.config, p.video.shape[0], o, 'fp32'));
      const r = await runOnce({ ep: 'cpu', precision: 'fp32', layerNorm: 'plain', buildModel: () => g.source }, g.inputName, p.video.data, [...p.video.shape]);
      return { engine: ranEngine({ ep: 'webgpu', realization: 'fp32', fallbacks: [], cache: 'none' }, r.out, r.bytes, r.sessionMs, r.runMs, 0), g };
    };
    const modeStages = async (p: Prepared) => {
      const engine = await given(p);
      const seen: Seen[] = [];
      const { report } = await runMode(p, o, { onProgress: (stage, detail) => seen.push({ stage, detail }) }, engine);
      return { seen, lines: seen.map((s) => s.stage).filter((s, i, a) => i === 0 || a[i - 1] !== s), report };
    };

    it('the engine done first: the wait for the FP32 reference is a stage of its own, between running and comparing, with the run\'s segments', async () => {
      const p = await prepare(o);
      try {
        const { seen, lines, report } = await modeStages(p);
        assert.deepEqual(lines, ['building graph', 'building engine', 'running', 'waiting for the FP32 reference (CPU)', 'comparing']);
        const wait = seen.filter((s) => s.stage === 'waiting for the FP32 reference (CPU)').map((s) => s.detail ?? '');
        assert.match(wait[0], /^FP32 of this model on the CPU EP, on a worker thread/);
        assert.match(wait.at(-1)!, /segment (\d+)\/\1$/, `the wait follows the run to its last segment: ${wait.join(' | ')}`);
        assert.equal(report.inputs.reference.kind, 'self');
        // said by the preparation once the run ends (after this mode took over its earlier lines)
        assert.ok(p.log.some((l) => /^fp32 probe run on the CPU EP \(on a worker thread, beside the engine\)/.test(l)), `it did run beside the engine: ${p.log.join(' | ')}`);
        assert.equal(report.diagnosis.verdict, 'pass', 'the same FP32 graph on the same EP');
      } finally {
        p.close();
      }
    });

    it('with test data, a plain FP16 mode that fails: the wait for the FP32 statistics run beside it comes after comparing, before the diagnosis reads it', async () => {
      // 'auto' on this machine (no GPU) is the CPU EP, and chooses the FP32 run beside the engine
      // (pipeline.test: 'a GPU engine's fp32 CPU run ... goes on a worker thread beside it')
      const o16: PipelineOptions = { weights, data, ep: 'auto', heads: 4, precision: 'fp16', layerNorm: 'plain', confirmMinimalFix: false };
      const p = await prepare(o16);
      try {
        const realization = realizationFor('cpu', 'fp16');
        const g = buildTimeSformer(p.model.weights, graphOptions(p.config, p.video.shape[0], o16, realization));
        const r = await runOnce({ ep: 'cpu', precision: 'fp16', layerNorm: 'plain', buildModel: () => g.source }, g.inputName, p.video.data, [...p.video.shape]);
        const seen: Seen[] = [];
        const engine = ranEngine({ ep: 'cpu', realization, fallbacks: [], cache: 'none' }, r.out, r.bytes, r.sessionMs, r.runMs, 0);
        const { report } = await runMode(p, o16, { onProgress: (stage, detail) => seen.push({ stage, detail }) }, { engine, g });
        const lines = seen.map((s) => s.stage).filter((s, i, a) => i === 0 || a[i - 1] !== s);
        assert.deepEqual(lines, ['building graph', 'building engine', 'running', 'comparing', 'waiting for the FP32 reference (CPU)']);
        const wait = seen.filter((s) => s.stage === 'waiting for the FP32 reference (CPU)').map((s) => s.detail ?? '');
        assert.match(wait[0], /^LayerNorm statistics: FP32 of this model on the CPU EP, on a worker thread/);
        assert.match(wait.at(-1)!, /segment (\d+)\/\1$/, wait.join(' | '));
        assert.equal(report.diagnosis.firstBadBlock, 4, 'the diagnosis read the statistics it waited for');
        assert.ok(report.diagnosis.minimalFix?.layerNorms.length, 'and found the minimal fix in them');
      } finally {
        p.close();
      }
    });

    it('the FP32 run done first: no waiting line (it shows only when the user waits)', async () => {
      const p = await prepare(o);
      try {
        await p.reference({ beside: true }); // the run beside the engine, finished before the engine is
        const { lines } = await modeStages(p);
        assert.deepEqual(lines, ['building graph', 'building engine', 'running', 'comparing']);
      } finally {
        p.close();
      }
    });
  });

  describe('the mode\'s Report before its minimal fix\'s confirmation', () => {
    // The engine process writes the Report to the host over several turns of the event loop (a
    // full-size Report is larger than the pipe takes at once) and the confirmation's engine run
    // holds the thread: the graph came ~200 ms late on an H100, 3.1 s on the CPU EP. The
    // confirmation starts once the listener says the Report is delivered.
    const o = { weights, data, ep: 'cpu', heads: 4, precision: 'fp16', layerNorm: 'plain' } as PipelineOptions;

    async function confirmAfter(deliver: () => Promise<void>): Promise<{ deliveredAt: number; confirmAt: number; confirmed: boolean }> {
      const p = await prepare(o);
      try {
        // times on performance.now()'s clock
        let deliveredAt = -1;
        let confirmAt = -1;
        const { report } = await runMode(p, o, {
          onProgress: (stage) => void (stage === 'confirming the minimal fix' && confirmAt < 0 && (confirmAt = performance.now())),
          onModeReport: () => deliver().then(() => void (deliveredAt = performance.now())),
        });
        return { deliveredAt, confirmAt, confirmed: report.diagnosis.minimalFix?.confirmed?.verdict === 'pass' };
      } finally {
        p.close();
      }
    }

    it('the confirmation starts once the Report is delivered (the listener\'s promise)', async () => {
      const r = await confirmAfter(() => new Promise((done) => setTimeout(done, 300)));
      assert.ok(r.deliveredAt > 0 && r.confirmAt >= r.deliveredAt, `delivered at ${r.deliveredAt.toFixed(0)} ms, confirmation began at ${r.confirmAt.toFixed(0)} ms`);
      assert.ok(r.confirmed, 'and the fix is confirmed as before');
    });

    it('a listener that never answers holds the confirmation MODE_REPORT_WAIT_MS, no longer', async () => {
      let asked = -1;
      const r = await confirmAfter(() => {
        asked = performance.now();
        return new Promise<void>(() => undefined);
      });
      const waited = r.confirmAt - asked;
      assert.ok(waited >= MODE_REPORT_WAIT_MS - 20 && waited < MODE_REPORT_WAIT_MS + 1500, `waited ${waited.toFixed(0)} ms for a Report never delivered`);
      assert.ok(r.confirmed);
    });
  });
});
