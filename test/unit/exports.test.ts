/**
 * Every ONNX file the tool writes, loaded by its consumer (onnxruntime-node, from a folder holding
 * that file alone, after the engine that wrote it released its store or exited) and compared
 * numerically with the run it came from: the TensorRT export and the "as run" export, from the
 * extension's engine process (out/extension/worker.js) and from the CLI. Every graph input and output
 * declares its element type and shape (onnx.checker.check_model refuses an output without one; the
 * full check with Python onnx is scripts/device/check_export.py). No export leaves weights behind in the
 * engine's store.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseReportJson, type Report } from '../../extension/core/report';
import { WorkerClient } from '../../extension/host/runner';
import { assertWholeOnnx, ourFp32, perBlock, perBlockVsData, runExported, storeFolders } from './helpers/exports';
import { cli } from './helpers/cli';

const ROOT = path.join(__dirname, '..', '..', '..');
const WORKER = path.join(ROOT, 'out', 'extension', 'worker.js');
const FIX = path.join(ROOT, 'test', 'fixtures');
const D1 = { weights: path.join(FIX, 'd1_outlier.pyth'), data: path.join(FIX, 'd1_outlier_test_data.p') };
const C = 64; // d1's embedding width


/** The Report's per-block errors and those of the exported graph on the same clip agree: the file is that run's graph. */
function assertSameRun(fromFile: number[], report: Report, what: string): void {
  assert.equal(fromFile.length, report.blocks.length);
  fromFile.forEach((e, i) => {
    const r = report.blocks[i].relL2;
    assert.ok(Math.abs(e - r) <= 1e-3 * r + 1e-7, `${what}: block ${i} of the file is off by ${e.toExponential(3)}, the run by ${r.toExponential(3)}`);
  });
}

describe('exports: every ONNX file loaded by onnxruntime and compared with the run it came from', function () {
  this.timeout(180_000);
  let tmp: string;
  let store: string;
  let fp32: Awaited<ReturnType<typeof ourFp32>>;
  const savedEnv = process.env.TIMESFORMER_LAB_WEIGHTS_DIR;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-exports-'));
    // the weight stores of this file's engines go here, where no other test's do: they can be counted
    store = path.join(tmp, 'store');
    fs.mkdirSync(store);
    process.env.TIMESFORMER_LAB_WEIGHTS_DIR = store;
    fp32 = await ourFp32({ ...D1, heads: 4 });
    assert.deepEqual(storeFolders(store), []);
  });
  after(() => {
    if (savedEnv === undefined) delete process.env.TIMESFORMER_LAB_WEIGHTS_DIR;
    else process.env.TIMESFORMER_LAB_WEIGHTS_DIR = savedEnv;
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the engine process\'s TensorRT export (Export ONNX → For TensorRT) is one whole file: onnxruntime runs it after the engine exited, FP32 within 1e-5 of our FP32 graph, and no weights stay in the store', async () => {
    const client = new WorkerClient({ script: WORKER, env: { ...process.env, TIMESFORMER_LAB_WEIGHTS_DIR: store } });
    const files: Record<string, string> = {};
    try {
      for (const mode of ['minimal', 'plain', 'expose'] as const) {
        files[mode] = path.join(tmp, `worker-${mode}-tensorrt.onnx`);
        const x = await client.exportForTensorRt({ ...D1, heads: 4, precision: 'fp16' }, mode, files[mode]);
        assert.equal(x.bytes, fs.statSync(files[mode]).size, 'the size the notification states is the file\'s');
        assert.deepEqual(storeFolders(store), [], `after the ${mode} export, with the engine process still running, its store is gone`);
        assert.deepEqual(fs.readdirSync(tmp).filter((f) => /\.partial(-\d+)?$/.test(f)), [], 'no half-written file');
      }
    } finally {
      await client.cancel();
    }
    for (const [mode, file] of Object.entries(files)) {
      const shape = assertWholeOnnx(file);
      // d1's float32 weights are the checkpoint's bytes less the pickle's framing (3.80 MB file)
      assert.ok(shape.inlineBytes >= 0.95 * fs.statSync(D1.weights).size, `${mode}: the weights are in the file (${shape.inlineBytes} bytes inline)`);
      assert.deepEqual(shape.inputs, [{ name: 'video', elemType: 1, dims: fp32.video.shape }]);
      assert.deepEqual(shape.outputs.find((o) => o.name === 'probs'), { name: 'probs', elemType: 1, dims: [1, 400] });
      const out = await runExported(file, fp32.video);
      const probs = perBlock(out, fp32.out).probs;
      assert.ok(probs <= 1e-5, `${mode}: probabilities within ${probs.toExponential(2)} of our FP32 graph`);
    }
    // the expose mode's marked outputs carry their shapes too: (rows, tokens, C) and (rows, tokens, 1)
    const marked = assertWholeOnnx(files.expose).outputs;
    assert.deepEqual(marked.find((o) => o.name === 'blocks.4.temporal_norm1.diff')?.dims, [16, 8, C]);
    assert.deepEqual(marked.find((o) => o.name === 'blocks.4.norm1.std')?.dims, [8, 17, 1]);
  });

  it('the engine process\'s "as run" export is the run asked for: run #1\'s graph (FP16, plain), not the FP32 run #2 after it; an FP32 run\'s export matches our FP32 graph per block within 1e-5', async () => {
    const client = new WorkerClient({ script: WORKER, env: { ...process.env, TIMESFORMER_LAB_WEIGHTS_DIR: store } });
    const run1File = path.join(tmp, 'worker-run1.onnx');
    const run2File = path.join(tmp, 'worker-run2.onnx');
    let run1: Report;
    let run2: Report;
    try {
      const r1 = await client.run({ ...D1, heads: 4, precision: 'fp16', layerNorm: 'plain', ep: 'cpu' });
      run1 = r1.report;
      assert.equal(await client.saveModel(r1.requestId, run1File), true);
      const r2 = await client.run({ ...D1, heads: 4, precision: 'fp32', layerNorm: 'expose', ep: 'cpu' });
      run2 = r2.report;
      assert.equal(await client.saveModel(r1.requestId, path.join(tmp, 'stale.onnx')), false, 'run #1 is no longer the engine\'s: the host builds it again');
      assert.equal(await client.saveModel(r2.requestId, run2File), true);
      // a run that fails lets go of the last one's model too: the earlier run is then built again, not refused
      await assert.rejects(client.run({ ...D1, heads: 4, precision: 'fp16', layerNorm: 'plain', ep: 'cpu', data: path.join(FIX, 'd2_legacy_test_data.p') }));
      assert.equal(await client.saveModel(r2.requestId, path.join(tmp, 'after-failed.onnx')), false, 'the failed run\'s start let go of run #2\'s model');
      assert.deepEqual(storeFolders(store), [], 'the saved graphs leave no store behind');
    } finally {
      await client.cancel();
    }
    assert.equal(run1.diagnosis.firstBadBlock, 4);
    const blocks = fp32.blocks!;
    for (const f of [run1File, run2File]) assertWholeOnnx(f);
    const e1 = perBlockVsData(await runExported(run1File, fp32.video), blocks, C);
    assertSameRun(e1, run1, 'run #1');
    assert.ok(e1[4] > 0.025, `run #1's graph fails at block 4 (${e1[4]})`);
    const out2 = await runExported(run2File, fp32.video);
    assertSameRun(perBlockVsData(out2, blocks, C), run2, 'run #2');
    const vsOurs = perBlock(out2, fp32.out);
    assert.equal(vsOurs.blocks.length, 12);
    assert.ok(vsOurs.worst <= 1e-5, `FP32 as run: worst block ${vsOurs.worst.toExponential(2)} from our FP32 graph`);
  });

  it('the CLI\'s export-onnx: one whole file, every graph output typed and shaped, FP32 within 1e-5 of our FP32 graph; the store is gone after it', async () => {
    const out = path.join(tmp, 'cli-trt.onnx');
    const r = await cli(['export-onnx', ...['--weights', D1.weights, '--data', D1.data, '--heads', '4', '--layernorm', 'minimal', '--out', out, '--quiet']]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(storeFolders(store), []);
    const shape = assertWholeOnnx(out);
    assert.deepEqual(shape.outputs, [{ name: 'probs', elemType: 1, dims: [1, 400] }]);
    const probs = perBlock(await runExported(out, fp32.video), fp32.out).probs;
    assert.ok(probs <= 1e-5, `probabilities within ${probs.toExponential(2)}`);
    // a model without a classifier: its one output is the final LayerNorm's class token, (B, C), shaped too
    const hf = path.join(tmp, 'cli-hf.onnx');
    const h = await cli(['export-onnx', '--weights', path.join(FIX, 'hf_base'), '--data', path.join(FIX, 'hf_base_test_data.p'), '--out', hf, '--quiet']);
    assert.equal(h.code, 0, h.err);
    assert.deepEqual(assertWholeOnnx(hf).outputs, [{ name: 'features', elemType: 1, dims: [1, 32] }]);
  });

  it('export-onnx --input (no test data), --form decomposed and --fix-layernorms: the file computes our FP32 graph on that clip, and the trtexec line names nodes of it; bad values are refused, named', async () => {
    const out = path.join(tmp, 'cli-decomposed.onnx');
    const r = await cli(['export-onnx', '--weights', D1.weights, '--input', 'synthetic:1', '--heads', '4', '--form', 'decomposed', '--fix-layernorms', 'blocks.4.norm1,norm', '--out', out, '--quiet']);
    assert.equal(r.code, 0, r.err);
    const pinned = /--layerPrecisions=(\S+)/.exec(r.out)![1].split(',').map((x) => x.replace(/:fp32$/, ''));
    assert.equal(pinned.length, 18, 'nine exported ops for each of the two LayerNorms');
    const { onnx } = await import('onnx-proto');
    const graph = onnx.ModelProto.decode(fs.readFileSync(out)).graph!;
    const names = new Set((graph.node ?? []).map((n) => n.name));
    for (const n of pinned) assert.ok(names.has(n), `${n} is a node of the file`);
    assert.ok(!(graph.node ?? []).some((n) => n.opType === 'LayerNormalization'), 'decomposed');
    assertWholeOnnx(out);
    const clip = await ourFp32({ weights: D1.weights, input: 'synthetic:1', heads: 4 });
    const probs = perBlock(await runExported(out, clip.video), clip.out).probs;
    assert.ok(probs <= 1e-5, `probabilities within ${probs.toExponential(2)} of our FP32 graph on the synthetic clip`);
    for (const [flag, value, why] of [['--form', 'fusd', /--form must be fused or decomposed; got 'fusd'/], ['--fix-layernorms', 'blocks.40.norm1', /no LayerNorm named 'blocks\.40\.norm1' in this model/]] as const) {
      const bad = await cli(['export-onnx', '--weights', D1.weights, '--input', 'synthetic:1', '--heads', '4', flag, value, '--out', path.join(tmp, 'bad.onnx'), '--quiet']);
      assert.equal(bad.code, 2, flag);
      assert.match(bad.err, why);
      assert.ok(!fs.existsSync(path.join(tmp, 'bad.onnx')), 'nothing written');
    }
    assert.deepEqual(storeFolders(store), []);
  });

  it('the CLI\'s --save-onnx of a multi-mode run: each FILE.<mode>.onnx is that mode\'s graph (its per-block errors are its Report\'s), typed and shaped; FP32 matches our graph per block within 1e-5', async () => {
    const base = path.join(tmp, 'cli-run.onnx');
    const json = path.join(tmp, 'cli-run.json');
    const r = await cli(['run', '--weights', D1.weights, '--data', D1.data, '--heads', '4', '--precision', 'fp16', '--layernorm', 'plain,fp32', '--save-onnx', base, '--json', json, '--quiet', '--no-confirm']);
    assert.equal(r.code, 1, r.err);
    const reports = parseReportJson<Report[]>(fs.readFileSync(json, 'utf8'));
    const blocks = fp32.blocks!;
    const plain = perBlockVsData(await runExported(path.join(tmp, 'cli-run.plain.onnx'), fp32.video), blocks, C);
    const fixed = perBlockVsData(await runExported(path.join(tmp, 'cli-run.fp32.onnx'), fp32.video), blocks, C);
    assertSameRun(plain, reports[0], 'plain');
    assertSameRun(fixed, reports[1], 'fp32 LayerNorms');
    assert.ok(plain[4] > 0.025 && fixed[4] < 0.025, `plain fails at block 4 (${plain[4]}), the fix passes (${fixed[4]})`);
    for (const f of ['cli-run.plain.onnx', 'cli-run.fp32.onnx']) {
      const s = assertWholeOnnx(path.join(tmp, f));
      assert.ok(s.outputs.some((o) => o.name === 'blocks.4.norm2.stats' && o.dims[0] > 1), 'statistics outputs are shaped');
    }
    const one = path.join(tmp, 'cli-fp32.onnx');
    assert.equal((await cli(['run', '--weights', D1.weights, '--data', D1.data, '--heads', '4', '--save-onnx', one, '--quiet'])).code, 0);
    const w = perBlock(await runExported(one, fp32.video), fp32.out);
    assert.equal(w.blocks.length, 12);
    assert.ok(w.worst <= 1e-5, `FP32 as run: worst ${w.worst.toExponential(2)}`);
    assert.deepEqual(storeFolders(store), []);
  });

  it('onnx.checker.check_model(full_check=True) passes every kind of export (scripts/device/check_export.py --check-only, where Python has onnx)', function () {
    const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import onnx, numpy'], { stdio: 'ignore' }).status === 0);
    if (!python) this.skip(); // no Python onnx here: the lead runs scripts/device/check_export.py on the GPU machine
    const files = fs.readdirSync(tmp).filter((f) => f.endsWith('.onnx'));
    assert.ok(files.length >= 8, files.join());
    for (const f of files) {
      const r: { status: number | null; stdout: string; stderr: string } = spawnSync(python!, [path.join(ROOT, 'scripts', 'device', 'check_export.py'), path.join(tmp, f), '--check-only'], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${f}: ${r.stderr}`);
      assert.match(r.stdout, /onnx\.checker \(full\) passes; .* initializers inline, opset 17/);
    }
  });
});
