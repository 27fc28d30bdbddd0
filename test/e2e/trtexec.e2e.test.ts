/**
 * Issue 19, part 3 in real VS Code (code-server + Chromium): the engine choice "TensorRT (trtexec)".
 * trtexec is a STAND-IN (test/fixtures/trt/trtexec-standin.js: trtexec's log lines and output
 * format, the outputs computed by onnxruntime in FP32; no TensorRT here). One session:
 *   1. our own FP16 run of d1 (fails from block 4);
 *   2. timesformerLab.trtexecPath names no file: the choice says why and offers Export for
 *      TensorRT…, Run is refused — the link writes the bundle;
 *   3. trtexec appears where the setting names it (the stand-in), and choosing the engine again
 *      finds it: the choice shows its TensorRT version; Run builds the
 *      engine through the CLI (progress from trtexec's log), caches it, imports its outputs as a
 *      run — graph colored — and Compare puts it beside our FP16 run;
 *   4. a trtexec output JSON dropped on the graph (a File in a DataTransfer, as a browser drop
 *      carries it) is imported as one more run.
 * Screenshots go to artifacts/e2e/.
 */
import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { VSCodeSession, closeAfter, openView, runCommand, startVSCode, waitForCondition, waitForNotification } from './harness';
import { EXTENSION_DIR, ROOT, copyD1, waitForD1, acceptOpenDialog, choose, clearNotifications, clickRun, graphFrame, pickMany, sidebarFrame, waitForRun } from './lab';

const STANDIN = path.join(ROOT, 'test', 'fixtures', 'trt', 'trtexec-standin.js');

describe('TensorRT (trtexec) as an engine in VS Code (d1_outlier, stand-in trtexec)', function () {
  let tmp: string;
  let workspace: string;
  let cache: string;
  let trtexecPath: string;
  let vs: VSCodeSession | undefined;
  const depth = 12;
  const settings = (trtexecPath: string) => ({
    'timesformerLab.precision': 'fp16', 'timesformerLab.layerNorm': 'plain', 'timesformerLab.executionProvider': 'cpu',
    'timesformerLab.trtexecPath': trtexecPath, 'timesformerLab.tensorrtCacheDir': cache,
  });

  before(async function () {
    this.timeout(240_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-trtexec-'));
    workspace = path.join(tmp, 'workspace');
    cache = path.join(tmp, 'engines');
    copyD1(path.join(workspace, 'models'));
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'cli.js')), 'build first: npm run build');
    trtexecPath = path.join(tmp, 'tensorrt', 'bin', 'trtexec'); // not there yet
    vs = await startVSCode({ workspace, extensionDir: EXTENSION_DIR, name: 'trtexec', settings: settings(trtexecPath) });
  });

  closeAfter('trtexec', () => ({ vs, tmp }));

  it('absent: the choice says why and offers Export for TensorRT…; present: Run builds, caches and imports the engine\'s run, colored and compared with our FP16 run', async function () {
    this.timeout(480_000);
    const { page } = vs!;
    await openView(page, 'TimeSformer Lab');
    const sidebar = await sidebarFrame(page);
    await waitForD1(sidebar);
    await clickRun(page);
    const ours = await waitForRun(page, 'run-1', depth);
    assert.strictEqual(ours.blocks[4].status, 'fail');
    await clearNotifications(page);

    // 2. absent
    await choose(sidebar, 'ep', 'trtexec');
    await sidebar.waitForSelector('#trtexec-note[data-available="false"]', { timeout: 30_000 });
    const note = await sidebar.$eval('#trtexec-note', (e) => e.textContent ?? '');
    assert.match(note, /TensorRT \(trtexec\) is not available here: .*tensorrt\/bin\/trtexec.*does not exist/);
    assert.match(await sidebar.$eval('#ep option[value="trtexec"]', (e) => e.textContent ?? ''), /not found here/);
    await waitForCondition(() => sidebar.$eval('#run', (e) => e.hasAttribute('disabled')), 10_000, 'Run refused');
    assert.match(await sidebar.$eval('#why-not', (e) => e.textContent ?? ''), /Export for TensorRT…/);
    await vs!.screenshot('trtexec-01-absent');
    await sidebar.click('#export-trt');
    await acceptOpenDialog(page, workspace);
    const bundle = path.join(workspace, 'd1_outlier-tensorrt');
    await waitForNotification(page, /wrote the TensorRT bundle .*d1_outlier-tensorrt/, 120_000);
    assert.ok(fs.existsSync(path.join(bundle, 'model_marked.onnx')));
    await clearNotifications(page);

    // 3. trtexec is installed where the setting says; choosing TensorRT (trtexec) again looks again
    fs.mkdirSync(path.dirname(trtexecPath), { recursive: true });
    fs.symlinkSync(STANDIN, trtexecPath);
    await choose(sidebar, 'ep', 'cpu');
    await choose(sidebar, 'ep', 'trtexec');
    await sidebar.waitForSelector('#trtexec-note[data-available="true"]', { timeout: 30_000 });
    assert.match(await sidebar.$eval('#trtexec-note', (e) => e.textContent ?? ''), /TensorRT 10\.16\.0, .*tensorrt\/bin\/trtexec/);
    assert.strictEqual(await sidebar.$eval('#ep option[value="trtexec"]', (e) => e.textContent ?? ''), 'TensorRT (trtexec) 10.16.0');
    await clickRun(page);
    // progress from trtexec's log, in the sidebar's status while it runs (the build is short: any of its stages)
    const run = await waitForRun(page, 'run-2', depth);
    for (const b of run.blocks) {
      assert.strictEqual(b.status, 'pass', `trtexec block ${b.block}: ${b.error}`);
      assert.ok(b.color && b.error > 0 && b.error < 1e-4, `block ${b.block} colored by its error: ${b.color} ${b.error}`);
    }
    const log = await vs!.readOutputChannel('TimeSformer Lab', { contains: /\[trtexec\] .*TensorRT 10\.16\.0 \(trtexec\) FP16, marked · engine [0-9a-f]{8}/, timeoutMs: 30_000 });
    assert.match(log, /\[trtexec\] timesformer-lab trt-run --weights .*d1_outlier\.pyth --data .*--precision fp16 --layernorm plain --trtexec .*tensorrt\/bin\/trtexec --trt-cache /);
    assert.match(log, /\[trtexec\]\s+\[building engine\] trtexec: building the FP16 engine \(TensorRT 10\.16\.0\)/);
    assert.match(log, /\+ .*tensorrt\/bin\/trtexec --onnx=.*model_marked\.onnx --fp16 --saveEngine=/);
    const plans = fs.readdirSync(cache).filter((n) => n.endsWith('.plan'));
    assert.strictEqual(plans.length, 1, `one cached engine: ${fs.readdirSync(cache)}`);
    assert.deepStrictEqual(fs.readdirSync(cache).filter((n) => n.includes('partial')), []);
    const sidebarText = await sidebar.$eval('#last', (e) => e.textContent ?? '');
    assert.match(sidebarText, /PASS/);
    assert.match(sidebarText, /trtexec/);
    await vs!.screenshot('trtexec-02-run');

    await clearNotifications(page);
    await runCommand(page, 'TimeSformer: Compare Runs');
    await pickMany(page, [/^#1 /, /^#2 /]);
    const frame = await graphFrame(page, 'run-1', depth - 1);
    await waitForCondition(async () => (await frame.$$eval('#graph g.lane', (els) => els.map((e) => e.getAttribute('data-run')))).join() === 'run-1,run-2', 15_000, 'two lanes');
    assert.deepStrictEqual(await frame.$$eval('#verdicts .verdict', (els) => els.map((e) => e.getAttribute('data-verdict'))), ['fail', 'pass']);
    const lanes = await frame.$$eval('#verdicts .verdict', (els) => els.map((e) => e.textContent ?? ''));
    assert.match(lanes[1], /trtexec/);
    // TensorRT's run passed: its verdict says the build kept the LayerNorm in range, not that 'plain' avoided it
    assert.match(lanes[1], /this TensorRT build kept it in range by its own choice of precisions or fusions/);
    assert.doesNotMatch(lanes[1], /mode avoids it/);
    // its LayerNorm marks are predictions from our FP32 run (TensorRT's own values are not seen): hollow, and the
    // legend says so; the CPU run's are measured in the engine
    const marks = (run: string) => frame.$$eval(`g.node.block[data-run="${run}"][data-block="4"] g.ln-marker`, (els) => els.map((e) => `${e.getAttribute('data-overflow')}/${e.getAttribute('data-predicted')}`));
    assert.deepStrictEqual(await marks('run-2'), ['true/true', 'true/true', 'true/true']);
    assert.deepStrictEqual(await marks('run-1'), ['true/false', 'true/false', 'true/false']);
    assert.match(await frame.$eval('#predictedKey', (e) => e.textContent ?? ''), /predicted from the FP32 run/);
    await vs!.screenshot('trtexec-03-compare');

    // 4. drop a trtexec output JSON on the graph: the stand-in's outputs of the bundle's marked graph
    const out = path.join(tmp, 'trt_fp16_marked.json');
    const m = JSON.parse(fs.readFileSync(path.join(bundle, 'bundle.json'), 'utf8')) as { input: { name: string } };
    const r = spawnSync(process.execPath, [STANDIN, `--onnx=${path.join(bundle, 'model_marked.onnx')}`, '--fp16', `--loadInputs=${m.input.name}:${path.join(bundle, 'inputs.bin')}`, `--exportOutput=${out}`], { encoding: 'utf8' });
    assert.strictEqual(r.status, 0, r.stderr);
    await clearNotifications(page);
    const text = fs.readFileSync(out, 'utf8');
    // in the panel's page: a File in a DataTransfer, dragged over and dropped on the graph
    await frame.evaluate(`(() => {
      const dt = new DataTransfer();
      dt.items.add(new File([__TEXT__], 'trt_fp16_marked.json', { type: 'application/json' }));
      const target = document.querySelector('#graph') || document.body;
      for (const type of ['dragenter', 'dragover', 'drop']) target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    })()`.replace('__TEXT__', () => JSON.stringify(text)));
    await waitForCondition(async () => (await frame.getAttribute('body', 'data-drop')) === 'sent', 10_000, 'the drop to be sent');
    await waitForNotification(page, /1 run\(s\) imported \(PASS\)/, 120_000);
    const dropped = await waitForRun(page, 'run-3', depth);
    for (const b of dropped.blocks) assert.strictEqual(b.status, 'pass', `dropped block ${b.block}`);
    await vs!.readOutputChannel('TimeSformer Lab', { contains: /graph: dropped 1 file\(s\): importing trt_fp16_marked\.json/ });
    await vs!.screenshot('trtexec-04-dropped');
  });
});
