/**
 * The host's pure parts: the session's runs, sidebar choices -> PipelineOptions, the Markdown
 * report; and the engine process client (fork, cancel within 1 s, crash without harm).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fmtNum, reportToJson, reportToMarkdown } from '../../extension/core/markdown';
import { RunError, WorkerClient } from '../../extension/host/runner';
import { RunStore, effectiveLayerNorm, pickTestData, pipelineOptions, runLabel, type RunChoices } from '../../extension/host/runs';
import { D1_FIXED_ERRORS, D1_FP16_ERRORS, makeReport } from './helpers/report';

const ROOT = path.join(__dirname, '..', '..', '..');
const WORKER = path.join(ROOT, 'out', 'extension', 'worker.js');
const FIX = path.join(ROOT, 'test', 'fixtures');
const D1 = { weights: path.join(FIX, 'd1_outlier.pyth'), data: path.join(FIX, 'd1_outlier_test_data.p') };

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('host: runs of the session', () => {
  it('numbers and labels runs, shows the newest, keeps a bounded history', () => {
    const store = new RunStore(3);
    const fp16 = makeReport(D1_FP16_ERRORS, { overflowFrom: 4 });
    const fixed = makeReport(D1_FIXED_ERRORS);
    fixed.run.layerNorm = 'fp32';
    const a = store.add(fp16, 11, { ...D1 });
    const b = store.add(fixed, 12, { ...D1, layerNorm: 'fp32' });
    assert.deepEqual([a.id, a.label], ['run-1', '#1 FP16 · cpu']);
    assert.deepEqual([b.id, b.label], ['run-2', '#2 FP16 + LayerNorm fp32 · cpu']);
    assert.deepEqual(store.shown, ['run-2']);
    store.show(['run-1', 'nope', 'run-2']);
    assert.deepEqual(store.shown, ['run-1', 'run-2']);
    assert.equal(store.get('run-1')?.requestId, 11);
    store.add(fp16, 13, D1);
    store.add(fp16, 14, D1);
    assert.deepEqual(store.all.map((r) => r.id), ['run-2', 'run-3', 'run-4']);
    assert.equal(store.latest?.id, 'run-4');
    assert.ok(!('tokenError' in store.views()[0].summary.blocks[0]));
    assert.equal(runLabel(9, { ...fp16, run: { ...fp16.run, precision: 'fp32' } }), '#9 FP32 · cpu');
  });

  it('the "Expose LayerNorm entries" toggle overrides the LayerNorm mode', () => {
    assert.equal(effectiveLayerNorm('fp32', true), 'expose');
    assert.equal(effectiveLayerNorm('fp32', false), 'fp32');
    const c: RunChoices = {
      checkpoint: D1.weights, testData: D1.data, precision: 'fp16', layerNorm: 'fused', exposeLayerNorm: true, ep: 'cpu',
      heads: null, tolerance: 1e-2, deviceId: 0, trtCacheDir: '',
    };
    assert.deepEqual(pipelineOptions(c), { weights: D1.weights, data: D1.data, precision: 'fp16', layerNorm: 'expose', ep: 'cpu', deviceId: 0, tolerance: 1e-2 });
    assert.deepEqual(pipelineOptions({ ...c, exposeLayerNorm: false, heads: 4, trtCacheDir: '/c' }), {
      weights: D1.weights, data: D1.data, heads: 4, precision: 'fp16', layerNorm: 'fused', ep: 'cpu', deviceId: 0, trtCacheDir: '/c', tolerance: 1e-2,
    });
    assert.deepEqual(pipelineOptions({ ...c, checkpoint: undefined }), { missing: 'checkpoint' });
    assert.deepEqual(pipelineOptions({ ...c, testData: undefined }), { missing: 'testData' });
  });

  it('test data is matched to the checkpoint by name', () => {
    const found = ['/w/a_test_data.p', '/w/d1_outlier_test_data.p', '/w/d2.pkl'].map((p) => ({ path: p, label: path.basename(p) }));
    assert.equal(pickTestData('/w/models/d1_outlier.pyth', found)?.path, '/w/d1_outlier_test_data.p');
    assert.equal(pickTestData('/w/d2.pt', found)?.path, '/w/d2.pkl');
    assert.equal(pickTestData('/w/other.pt', found)?.path, '/w/a_test_data.p');
    assert.equal(pickTestData(undefined, []), undefined);
  });
});

describe('Export Report: Markdown and JSON', () => {
  it('the Markdown summary has the verdict, the sentence, one row per block and the LayerNorms past FP16 range', () => {
    const r = makeReport(D1_FP16_ERRORS, { overflowFrom: 4 });
    const md = reportToMarkdown(r);
    assert.match(md, /^# TimeSformer precision report — FAIL/);
    assert.match(md, /Block 4 fails\./);
    assert.equal((md.match(/^\| \d+/gm) ?? []).length, 12);
    assert.match(md, /^\| 4 ⚑ \| 0\.131 \| .* \| \*\*FAIL\*\* \| `blocks\.4\.temporal_norm1`, `blocks\.4\.norm1`, `blocks\.4\.norm2` \|$/m);
    assert.match(md, /^\| 3 \| 1\.10e-3 \| .* \| pass \| – \|$/m);
    assert.match(md, /^\| `blocks\.4\.norm1` \| plain \| 9\.70e\+4 \| 128 \| 1\.46e\+5 \| 400 \| 128 \| 0 \| 21 \(317\) \| square \(seen\), sumSquares \(not exposed\) \| \*\*yes\*\* \|$/m);
    assert.match(reportToMarkdown(makeReport(D1_FIXED_ERRORS)), /^# TimeSformer precision report — PASS/);
  });

  it('JSON keeps inf and NaN as strings and everything else as is', () => {
    const r = makeReport([0.1, Infinity]);
    r.blocks[1].cosine = NaN;
    const back = JSON.parse(reportToJson(r));
    assert.equal(back.blocks[1].relL2, 'Infinity');
    assert.equal(back.blocks[1].cosine, 'NaN');
    assert.equal(back.blocks[0].relL2, 0.1);
    assert.equal(back.version, 2);
    assert.deepEqual([fmtNum(0.131), fmtNum(1.08e-3), fmtNum(97100), fmtNum(-Infinity), fmtNum(0)], ['0.131', '1.08e-3', '9.71e+4', '-inf', '0']);
  });
});

describe('engine process client (out/extension/worker.js)', function () {
  this.timeout(60_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'worker-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('runs d1 in a child process with progress, keeps the model there, and writes it on request', async () => {
    const client = new WorkerClient({ script: WORKER });
    try {
      const stages: string[] = [];
      const { requestId, report } = await client.run({ ...D1, precision: 'fp16', layerNorm: 'plain', ep: 'cpu', heads: 4 }, { onProgress: (s) => stages.push(s) });
      assert.ok(client.pid && client.pid !== process.pid);
      assert.deepEqual(stages, ['reading checkpoint', 'reading test data', 'building graph', 'building engine', 'running', 'comparing']);
      assert.equal(report.diagnosis.firstBadBlock, 4);
      const onnx = path.join(tmp, 'run.onnx');
      assert.equal(await client.saveModel(requestId, onnx), true);
      assert.ok(fs.statSync(onnx).size > 100_000);
      assert.equal(await client.saveModel(requestId + 100, onnx), false, 'only the last run is kept');
      const providers = await client.probe();
      assert.ok(providers.find((p) => p.ep === 'cpu')?.available);
    } finally {
      await client.cancel();
    }
  });

  it('an error in the pipeline comes back as a typed error with the file', async () => {
    const client = new WorkerClient({ script: WORKER });
    try {
      await assert.rejects(client.run({ weights: path.join(tmp, 'missing.pyth'), data: D1.data }), (e: RunError) => {
        assert.equal(e.code, 'FILE_NOT_FOUND');
        assert.match(e.message, /missing\.pyth/);
        return true;
      });
    } finally {
      await client.cancel();
    }
  });

  it('Cancel fails the run at once and the process is gone within 1 s; the next run forks a new one', async () => {
    const client = new WorkerClient({ script: WORKER, env: { ...process.env, TIMESFORMER_LAB_TEST_DELAY_MS: '5000' } });
    const run = client.run({ ...D1, heads: 4 });
    const pid = client.pid;
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(alive(pid));
    const t0 = Date.now();
    const gone = client.cancel();
    await assert.rejects(run, (e: RunError) => e.code === 'CANCELLED');
    await gone;
    assert.ok(!alive(pid), 'killed');
    assert.ok(Date.now() - t0 < 1000, `${Date.now() - t0} ms`);
    const fresh = new WorkerClient({ script: WORKER });
    try {
      assert.equal((await fresh.run({ ...D1, heads: 4, precision: 'fp32' })).report.diagnosis.verdict, 'pass');
    } finally {
      await fresh.cancel();
    }
  });

  it('a worker that dies without answering (native crash) is reported, and the next request forks a new one', async () => {
    const fake = path.join(tmp, 'fake-worker.js');
    fs.writeFileSync(fake, `process.on('message', (m) => {
      if (m.options && m.options.weights === 'crash') process.kill(process.pid, 'SIGSEGV');
      else process.send({ type: 'result', id: m.id, report: { ok: true } });
    });`);
    const client = new WorkerClient({ script: fake });
    try {
      const first = client.pid;
      await assert.rejects(client.run({ weights: 'crash', data: 'x' }), (e: RunError) => {
        assert.equal(e.code, 'WORKER_CRASHED');
        assert.match(e.message, /SIGSEGV \(a native crash\)/);
        return true;
      });
      const r = await client.run({ weights: 'fine', data: 'x' });
      assert.deepEqual(r.report, { ok: true });
      assert.notEqual(client.pid, first);
    } finally {
      await client.cancel();
    }
  });
});
