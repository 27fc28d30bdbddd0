/**
 * The host's pure parts: the Markdown report; and the engine process client (fork, inspect file
 * headers, cancel within 1 s, crash without harm). The host's state store is in state.test.ts.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fmtNum, reportToJson, reportToMarkdown } from '../../extension/core/markdown';
import { RunError, WorkerClient } from '../../extension/host/runner';
import { offersOf, runLabel } from '../../extension/host/state';
import { D1_FIXED_ERRORS, D1_FP16_ERRORS, makeReport } from './helpers/report';
import { assertWholeOnnx, perBlockVsData, runExported } from './helpers/exports';
import { readTestData } from '../../extension/core/formats/testdata';
import { diff } from '../../extension/core/compare/metrics';
import type { Report } from '../../extension/core/report';

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
      const early: { report: Report; id: number; stage: string | undefined }[] = [];
      const { requestId, report } = await client.run({ ...D1, precision: 'fp16', layerNorm: 'plain', ep: 'cpu', heads: 4 }, {
        onProgress: (s) => stages.push(s),
        onModeReport: (r, id) => early.push({ report: r, id, stage: stages[stages.length - 1] }),
      });
      assert.ok(client.pid && client.pid !== process.pid);
      // the mode's Report came once, before its minimal fix's confirmation: the same blocks and verdict, nothing confirmed yet
      assert.equal(early.length, 1);
      assert.equal(early[0].id, requestId);
      assert.equal(early[0].stage, 'comparing', 'before the confirmation began');
      assert.deepEqual(early[0].report.blocks, report.blocks);
      assert.equal(early[0].report.diagnosis.verdict, report.diagnosis.verdict);
      assert.deepEqual(early[0].report.diagnosis.minimalFix?.layerNorms, report.diagnosis.minimalFix?.layerNorms);
      assert.equal(early[0].report.diagnosis.minimalFix?.confirmed, undefined);
      assert.equal(report.diagnosis.minimalFix?.confirmed?.verdict, 'pass');
      assert.ok(report.diagnosis.sentence.startsWith(early[0].report.diagnosis.sentence) && report.diagnosis.sentence.length > early[0].report.diagnosis.sentence.length);
      // one line per stage (a stage repeats with its progress: segment k/n)
      assert.deepEqual(stages.filter((s, i, a) => i === 0 || a[i - 1] !== s),
        ['reading checkpoint', 'reading test data', 'computing the FP32 reference', 'building graph', 'building engine', 'running', 'comparing', 'confirming the minimal fix']);
      assert.equal(report.diagnosis.firstBadBlock, 4);
      const onnx = path.join(tmp, 'run.onnx');
      assert.equal(await client.saveModel(requestId, onnx), true);
      assert.equal(await client.saveModel(requestId + 100, path.join(tmp, 'other.onnx')), false, 'only the last run is kept');
      // The file is this run's graph: onnxruntime runs it alone in a folder of its own, and its
      // per-block errors against the test data are the run's own (block 4 fails as it did).
      assertWholeOnnx(onnx);
      const d1 = await readTestData(D1.data);
      const fromFile = perBlockVsData(await runExported(onnx, d1.video), d1.blocks.map((b) => b.data), 64);
      fromFile.forEach((e, i) => assert.ok(Math.abs(e - report.blocks[i].relL2) <= 1e-3 * report.blocks[i].relL2, `block ${i}: file ${e}, run ${report.blocks[i].relL2}`));
      const providers = await client.probe();
      assert.ok(providers.find((p) => p.ep === 'cpu')?.available);
      // Headers for pairing are read in the engine process too, never in the extension host.
      const [ck, td, bad] = await client.inspect([
        { path: D1.weights, kind: 'checkpoint' }, { path: D1.data, kind: 'test-data' }, { path: D1.weights, kind: 'test-data' },
      ]);
      assert.ok(ck.ok && ck.signature.kind === 'checkpoint' && ck.signature.depth === 12);
      assert.ok(td.ok && td.signature.kind === 'test-data' && td.signature.frames === 8);
      assert.ok(!bad.ok && bad.error.code === 'BAD_TEST_DATA' && bad.error.message.includes('d1_outlier.pyth'));
      // Export for TensorRT in the engine process: the minimal fix's LayerNorms in FP32, and the trtexec line for them.
      const trt = path.join(tmp, 'trt.onnx');
      const x = await client.exportForTensorRt({ ...D1, heads: 4, precision: 'fp16' }, 'minimal', trt);
      assert.equal(x.layerNorm, 'plain');
      assert.ok(x.fixed.includes('blocks.4.temporal_norm1'), x.fixed.join());
      assert.match(x.trtexec ?? '', /^trtexec --onnx=trt\.onnx --fp16 .*\/model\/blocks\.4\/temporal_norm1\/LayerNormalization:fp32/);
      // The file is whole (its weights inline) and computes the model: onnxruntime, from a folder
      // holding it alone, gives the official model's probabilities (FP32 graph, 1e-5).
      assert.equal(x.bytes, fs.statSync(trt).size);
      assertWholeOnnx(trt);
      const probs = diff((await runExported(trt, d1.video)).get('probs')!, d1.probs.data).relL2;
      assert.ok(probs <= 1e-5, `probabilities off by ${probs}`);
    } finally {
      await client.cancel();
    }
  });

  it('the one-click minimal fix: the engine process runs the \'minimal\' choice as the CLI does — exactly the diagnosis\' LayerNorms in FP32, every block passing — and keeps that model for Export ONNX', async () => {
    const client = new WorkerClient({ script: WORKER });
    try {
      const o = { ...D1, precision: 'fp16' as const, ep: 'cpu' as const, heads: 4 };
      const plainRun = (await client.run({ ...o, layerNorm: 'plain' })).report;
      const mf = plainRun.diagnosis.minimalFix!;
      assert.equal(mf.layerNorms.length, 25, mf.layerNorms.join());
      assert.equal(mf.confirmed?.verdict, 'pass');
      assert.deepEqual(offersOf(plainRun), ['minimal', 'fp32', 'fused', 'prescaled', 'expose']);
      const { requestId, report } = await client.run({ ...o, layerNorm: 'minimal' });
      assert.equal(report.diagnosis.verdict, 'pass');
      assert.equal(report.run.layerNorm, 'plain');
      assert.deepEqual(Object.keys(report.run.layerNormOverrides).sort(), [...mf.layerNorms].sort());
      assert.ok(Object.values(report.run.layerNormOverrides).every((m) => m === 'fp32'));
      for (const b of report.blocks) assert.ok(b.relL2 <= 0.025, `block ${b.index}: ${b.relL2}`);
      const inputs = { checkpoint: D1.weights, testData: D1.data };
      assert.match(runLabel(2, inputs, report, Date.now()), /^#2 d1_outlier\.pyth \+ d1_outlier_test_data\.p · FP16 · minimal fix \(25 LayerNorms in FP32\) · cpu · /);
      assert.deepEqual(offersOf(report), []);
      // The model kept is the minimal fix's: block 4's LayerNorm computes in FP32 (no FP16 rounding after its Sub), block 0's stays plain.
      const file = path.join(tmp, 'minimal.onnx');
      assert.equal(await client.saveModel(requestId, file), true);
      const { onnx } = await import('onnx-proto');
      const nodes = onnx.ModelProto.decode(fs.readFileSync(file)).graph!.node ?? [];
      const roundedAfterSub = (ln: string) => {
        const sub = nodes.find((n) => n.name === `/model/${ln}/Sub`)!;
        return nodes.some((n) => n.opType === 'Cast' && (n.input ?? []).includes(sub.output![0]));
      };
      assert.equal(roundedAfterSub('blocks.0/temporal_norm1'), true, 'plain: FP16 emulation rounds after the Sub');
      assert.equal(roundedAfterSub('blocks.4/temporal_norm1'), false, 'minimal fix: in FP32');
    } finally {
      await client.cancel();
    }
  });

  it('the engine process builds the expose toggle\'s other mode ahead after its answer, and the toggle then runs that session', async () => {
    const lines: { line: string; at: number }[] = [];
    // on the CPU EP in one session (TIMESFORMER_LAB_BUILD_AHEAD=1, TIMESFORMER_LAB_SEGMENT_BLOCKS=0), as a GPU provider builds it
    const client = new WorkerClient({
      script: WORKER, log: (line) => lines.push({ line, at: performance.now() }),
      env: { ...process.env, TIMESFORMER_LAB_BUILD_AHEAD: '1', TIMESFORMER_LAB_SEGMENT_BLOCKS: '0' },
    });
    try {
      const o = { ...D1, precision: 'fp16' as const, ep: 'cpu' as const, heads: 4 };
      await client.run({ ...o, layerNorm: 'fp32' });
      const t0 = performance.now();
      await client.run({ ...o, layerNorm: 'plain' });
      const answered = performance.now();
      const built = () => lines.find((l) => /warm: built the cpu session of LayerNorm expose ahead/.test(l.line) && l.at > t0);
      assert.equal(built(), undefined, 'the answer came before the session built ahead');
      await waitFor(() => !!built(), 10_000);
      assert.ok(built()!.at >= answered);
      // the toggle then runs it: nothing built
      const expose = await client.run({ ...o, layerNorm: 'expose' });
      assert.deepEqual(expose.report.run.warm, { prepared: true, sessionsReused: 1, sessionsBuilt: 0 });
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

async function waitFor(ok: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
