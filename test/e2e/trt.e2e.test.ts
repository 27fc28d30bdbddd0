/**
 * Issue 19 in real VS Code (code-server + Chromium): our own FP16 run of d1, then Export for
 * TensorRT writes the bundle, its run_trtexec.sh runs with a STAND-IN trtexec (test/fixtures/trt/
 * trtexec-standin.js: onnxruntime in FP32, trtexec's output format; no TensorRT here), Import
 * TensorRT Outputs turns the marked engine's outputs into a run on the graph, and Compare puts it
 * beside our FP16 run. Screenshots go to artifacts/e2e/.
 */
import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { VSCodeSession, closeAfter, openView, runCommand, startVSCode, waitForCondition, waitForNotification } from './harness';
import { EXTENSION_DIR, ROOT, copyD1, waitForD1, acceptOpenDialog, clearNotifications, graphFrame, pickMany, sidebarFrame, waitForRun } from './lab';

describe('TensorRT in the loop in VS Code (d1_outlier, stand-in trtexec)', function () {
  let tmp: string;
  let workspace: string;
  let vs: VSCodeSession | undefined;
  const depth = 12;

  before(async function () {
    this.timeout(240_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-trt-'));
    workspace = path.join(tmp, 'workspace');
    copyD1(path.join(workspace, 'models'));
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'cli.js')), 'build first: npm run build');
    vs = await startVSCode({
      workspace, extensionDir: EXTENSION_DIR, name: 'trt',
      settings: { 'timesformerLab.precision': 'fp16', 'timesformerLab.layerNorm': 'plain', 'timesformerLab.executionProvider': 'cpu' },
    });
  });

  closeAfter('trt', () => ({ vs, tmp }));

  it('export for TensorRT -> stand-in trtexec -> import: the imported engine is a run on the graph, compared with our FP16 run', async function () {
    this.timeout(420_000);
    const { page } = vs!;
    await openView(page, 'TimeSformer Lab');
    const sidebar = await sidebarFrame(page);
    await waitForD1(sidebar);
    // our own FP16 run (plain LayerNorm: fails from block 4)
    await runCommand(page, 'TimeSformer: Build & Run Engine');
    const ours = await waitForRun(page, 'run-1', depth);
    assert.strictEqual(ours.blocks[4].status, 'fail');
    await clearNotifications(page);

    await runCommand(page, 'TimeSformer: Export for TensorRT…');
    await acceptOpenDialog(page, workspace);
    const bundle = path.join(workspace, 'd1_outlier-tensorrt');
    await waitForNotification(page, /wrote the TensorRT bundle .*d1_outlier-tensorrt/, 120_000);
    for (const f of ['model.onnx', 'model_marked.onnx', 'inputs.bin', 'inputs.json', 'run_trtexec.sh', 'run_polygraphy.sh', 'README.txt']) assert.ok(fs.existsSync(path.join(bundle, f)), f);
    await vs!.screenshot('trt-01-exported');

    // "on the TensorRT machine": the bundle's script, with the stand-in as trtexec
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(path.join(ROOT, 'test', 'fixtures', 'trt', 'trtexec-standin.js'), path.join(bin, 'trtexec'));
    const r = spawnSync('bash', [path.join(bundle, 'run_trtexec.sh')], { env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` }, encoding: 'utf8' });
    assert.strictEqual(r.status, 0, r.stderr);

    await clearNotifications(page);
    await runCommand(page, 'TimeSformer: Import TensorRT Outputs…');
    await acceptOpenDialog(page, path.join(bundle, 'trt_fp16_marked.json'));
    await waitForNotification(page, /1 run\(s\) imported \(PASS\)/, 120_000);
    const imported = await waitForRun(page, 'run-2', depth);
    for (const x of imported.blocks) assert.strictEqual(x.status, 'pass', `imported block ${x.block}: ${x.error}`);
    await vs!.readOutputChannel('TimeSformer Lab', { contains: /TensorRT \(trtexec\) FP16, marked · imported from trt_fp16_marked\.json/ });
    await vs!.screenshot('trt-02-imported');

    await clearNotifications(page);
    await runCommand(page, 'TimeSformer: Compare Runs');
    await pickMany(page, [/^#1 /, /^#2 /]);
    const frame = await graphFrame(page, 'run-1', depth - 1);
    await waitForCondition(async () => (await frame.$$eval('#graph g.lane', (els) => els.map((e) => e.getAttribute('data-run')))).join() === 'run-1,run-2', 15_000, 'two lanes');
    assert.deepStrictEqual(await frame.$$eval('#verdicts .verdict', (els) => els.map((e) => e.getAttribute('data-verdict'))), ['fail', 'pass']);
    await vs!.screenshot('trt-03-compare');
  });
});
