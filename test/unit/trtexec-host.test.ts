/**
 * Issue 19, part 3, in the extension host: the sidebar's trtexec choice and what Run says while it
 * is absent, the bundled CLI forked as the host forks it (progress, Cancel, errors), and the graph
 * panel's drop of trtexec outputs. trtexec is the stand-in of trtexec.test.ts.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cancelTrtexec, cliErrorText, progressLine, runWithTrtexec, trtRunArgs, type TrtexecDeps } from '../../extension/host/trtexec';
import { RunError } from '../../extension/host/runner';
import { dropTargets } from '../../extension/host/drop';
import { parseGraphMessage, parseSidebarMessage, MAX_DROP_BYTES } from '../../extension/host/protocol';
import { LabState, type SettingsDefaults } from '../../extension/host/state';
import { layerNormTableNote } from '../../extension/host/text';
import { D, ROOT, STANDIN, W, alive, until, withEnv } from './helpers/trtexec';

describe('trtexec in the host: the sidebar choice, the CLI it forks, the graph drop', () => {
  const DEFAULTS: SettingsDefaults = { precision: 'fp16', accumulate: 'fp32', layerNorm: 'plain', exposeLayerNorm: false, ep: 'trtexec', heads: null, tolerance: null, deviceId: 0, trtCacheDir: '' };

  it('the sidebar may choose trtexec; Run then says why not while it is absent (and names the bundle), and runs it as engine trtexec when present', () => {
    assert.deepEqual(parseSidebarMessage({ type: 'set', option: { key: 'ep', value: 'trtexec' } }), { type: 'set', option: { key: 'ep', value: 'trtexec' } });
    assert.equal(parseSidebarMessage({ type: 'set', option: { key: 'ep', value: 'trtexec2' } }), undefined);
    assert.deepEqual(parseSidebarMessage({ type: 'exportTrt' }), { type: 'exportTrt' });
    const s = new LabState(undefined, () => DEFAULTS);
    s.setScan([{ path: W, label: 'd1_outlier.pyth' }], []);
    s.chooseCheckpoint(W);
    s.chooseTestData(null);
    assert.deepEqual(s.request(), { refused: 'Looking for trtexec…' });
    s.setTrtexec({ available: false, reason: 'trtexec is not on PATH' });
    const r = s.request();
    assert.ok('refused' in r && /not available: trtexec is not on PATH.*Export for TensorRT…/.test(r.refused), JSON.stringify(r));
    assert.equal(s.sidebar().canRun, false);
    assert.deepEqual(s.sidebar().trtexec, { available: false, reason: 'trtexec is not on PATH' });
    s.setTrtexec({ available: true, path: STANDIN, version: '10.16.0', fp16: true, layerPrecisions: true });
    const ok = s.request();
    assert.ok('options' in ok, JSON.stringify(ok));
    assert.equal(ok.options.engine, 'trtexec');
    assert.equal(ok.options.ep, 'tensorrt');
    s.setOption('precision', 'bf16');
    const bf = s.request();
    assert.ok('refused' in bf && /BF16/.test(bf.refused));
    s.setOption('precision', 'fp16');
    s.setTrtexec({ available: true, path: STANDIN, version: '11.1.0', fp16: false, layerPrecisions: false });
    const v11 = s.request();
    assert.ok('refused' in v11 && /no --fp16/.test(v11.refused));
  });

  it('forks the CLI with the run\'s options, reads its progress lines and its multi-line errors', () => {
    assert.deepEqual(trtRunArgs({ weights: '/w.pyth', data: '/d.p', heads: 3, precision: 'fp16', layerNorm: 'minimal', ep: 'tensorrt', engine: 'trtexec', tolerance: 0.03 }, '/bin/trtexec', '/cache', '/r.json'), [
      'trt-run', '--weights', '/w.pyth', '--data', '/d.p', '--heads', '3', '--precision', 'fp16', '--layernorm', 'minimal', '--trtexec', '/bin/trtexec', '--trt-cache', '/cache', '--tolerance', '0.03', '--json', '/r.json',
    ]);
    assert.deepEqual(progressLine('  [building engine] trtexec: building the FP16 engine (TensorRT 10.16.0), 12 s'), { stage: 'building engine', detail: 'trtexec: building the FP16 engine (TensorRT 10.16.0), 12 s' });
    assert.deepEqual(progressLine('  [comparing]'), { stage: 'comparing' });
    assert.equal(progressLine('  [weights] 12 tensors'), undefined);
    const e = cliErrorText('  some log\nerror [ENGINE_FAILED]: trtexec exited with code 1.\ncommand: /bin/trtexec --onnx=m.onnx\nits last log lines:\n  [E] Engine set up failed\n');
    assert.equal(e.code, 'ENGINE_FAILED');
    assert.equal(e.message, 'trtexec exited with code 1.\ncommand: /bin/trtexec --onnx=m.onnx\nits last log lines:\n  [E] Engine set up failed');
  });

  it('a drop on the graph: file: URIs and read files become the paths to import; anything not .json, a path in a name, or too many files is refused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-drop-test-'));
    try {
      const m = parseGraphMessage({ type: 'drop', uris: ['file:///b/trt_fp16_marked.json', 'file:///b/notes.txt'], files: [{ name: 'trt_fp16.json', text: '[]' }, { name: 'x.onnx', text: '' }] });
      assert.ok(m && m.type === 'drop');
      const t = dropTargets(m, dir);
      assert.deepEqual(t.files, ['/b/trt_fp16_marked.json', path.join(dir, 'trt_fp16.json')]);
      assert.equal(fs.readFileSync(path.join(dir, 'trt_fp16.json'), 'utf8'), '[]');
      assert.deepEqual(t.refused.map((x) => x.split(':')[0]), ['notes.txt', 'x.onnx']);
      assert.equal(parseGraphMessage({ type: 'drop', uris: [], files: [{ name: '../evil.json', text: '' }] }), undefined);
      assert.equal(parseGraphMessage({ type: 'drop', uris: ['https://x/y.json'], files: [] }), undefined);
      assert.equal(parseGraphMessage({ type: 'drop', uris: [], files: [] }), undefined);
      assert.equal(parseGraphMessage({ type: 'drop', uris: Array(17).fill('file:///a.json'), files: [] }), undefined);
      assert.ok(MAX_DROP_BYTES >= 256 * 2 ** 20);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('the host\'s run: the bundled CLI forked as the extension forks it (dist/cli.js), Cancel, errors', function () {
    this.timeout(180000);
    let tmp: string;
    let deps: TrtexecDeps;
    let lines: string[];
    const options = { weights: W, data: D, precision: 'fp16' as const, layerNorm: 'plain' as const, ep: 'tensorrt' as const, engine: 'trtexec' as const };
    before(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-host-trtexec-'));
      assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'cli.js')), 'build first: npm run build');
      const state = new LabState(undefined, () => DEFAULTS);
      state.setTrtexec({ available: true, path: STANDIN, version: '10.16.0', fp16: true, layerPrecisions: true });
      lines = [];
      deps = {
        context: { asAbsolutePath: (p: string) => path.join(ROOT, p), globalStorageUri: { fsPath: path.join(tmp, 'global') } } as unknown as TrtexecDeps['context'],
        state, log: (l) => lines.push(l), settings: () => ({ trtexecPath: STANDIN, cacheDir: '' }),
      };
    });
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it('runs: progress from the CLI\'s lines, the Report back, the engine cached in the global storage', async () => {
      const stages: string[] = [];
      const r = await runWithTrtexec(deps, options, (s, d) => stages.push(`${s}: ${d ?? ''}`));
      assert.equal(r.report.blocks.length, 12);
      assert.equal(r.report.diagnosis.verdict, 'pass');
      assert.match(r.report.run.label!, /^TensorRT 10\.16\.0 \(trtexec\) FP16, marked/);
      assert.ok(stages.some((x) => /^building engine: trtexec: building the FP16 engine/.test(x)), stages.join(' | '));
      assert.ok(stages.some((x) => /^running: /.test(x)) && stages.some((x) => /^comparing/.test(x)), stages.join(' | '));
      assert.equal(fs.readdirSync(path.join(tmp, 'global', 'trtexec-engines')).filter((n) => n.endsWith('.plan')).length, 1);
      assert.ok(lines.some((l) => /^\[trtexec\] timesformer-lab trt-run --weights /.test(l)));
      // its LayerNorm table is our FP32 run's statistics judged by TensorRT's limits, and the inspector says so
      assert.ok(r.report.blocks.every((b) => b.layerNorms.every((l) => l.source === 'fp32-probe')));
      assert.match(layerNormTableNote(r.report)!, /^TensorRT gives no LayerNorm statistics of its own: these are our FP32 run's, judged by TensorRT's FP16 limits for the 'plain' export; ⚠ \(△ in the graph\) is a prediction/);
      const measured = JSON.parse(JSON.stringify(r.report)) as typeof r.report;
      for (const l of [...measured.blocks.flatMap((b) => b.layerNorms), ...(measured.finalNorm ? [measured.finalNorm] : [])]) l.source = 'engine';
      assert.equal(layerNormTableNote({ ...measured, run: { ...measured.run, realization: 'native' } }), undefined, 'a plain run measured in the engine needs no note');
    });

    it('Cancel: the CLI ends, trtexec and its child with it, no partial engine; the run rejects CANCELLED', async () => {
      const pids = path.join(tmp, 'pids');
      const cacheDir = path.join(tmp, 'cache-cancel');
      const d = { ...deps, settings: () => ({ trtexecPath: STANDIN, cacheDir }) };
      const pending = withEnv({ STANDIN_HANG: '1', STANDIN_PIDS: pids }, async () => runWithTrtexec(d, options, () => undefined).then(() => 'resolved', (e: unknown) => e));
      await until(() => fs.existsSync(pids) && fs.readFileSync(pids, 'utf8').includes(' '), 90000, 'the stand-in to start building');
      const [standin, child] = fs.readFileSync(pids, 'utf8').trim().split(' ').map(Number);
      assert.equal(cancelTrtexec(), true);
      const e = await pending;
      assert.ok(e instanceof RunError && e.code === 'CANCELLED', String(e));
      await until(() => !alive(standin) && !alive(child), 5000, 'trtexec and its child to end');
      assert.deepEqual(fs.readdirSync(cacheDir), []);
      assert.equal(cancelTrtexec(), false, 'nothing left to cancel');
    });

    it('an error: the RunError has the CLI\'s code and the whole message (trtexec\'s command line and last log lines)', async () => {
      const d = { ...deps, settings: () => ({ trtexecPath: STANDIN, cacheDir: path.join(tmp, 'cache-fail') }) };
      const e = await withEnv({ STANDIN_FAIL: 'build' }, () => runWithTrtexec(d, options, () => undefined).then(() => undefined, (x: unknown) => x));
      assert.ok(e instanceof RunError, String(e));
      assert.equal(e.code, 'ENGINE_FAILED');
      assert.match(e.message, /^trtexec exited with code 1\.\ncommand: .*trtexec-standin\.js --onnx=.*\nits last log lines:\n(.*\n)*.*Engine set up failed/);
      assert.deepEqual(fs.readdirSync(path.join(tmp, 'cache-fail')), []);
    });
  });
});
