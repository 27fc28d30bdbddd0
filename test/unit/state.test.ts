/**
 * The host's one store (LabState) with several models in one workspace: what the sidebar shows is
 * what runs, test data pairs by shape then name and re-pairs on a switch, fix offers and verdicts
 * belong to their run, choices persist in the workspace state (never settings.json), runs carry
 * their identity and can be pruned.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import { inspectCheckpoint, inspectTestData } from '../../extension/core/inspect';
import type { Report } from '../../extension/core/report';
import { nameScore, pairTestData, type Inspection } from '../../extension/host/pairing';
import { fixTitle, LabState, type Memento, type SettingsDefaults } from '../../extension/host/state';
import { plain, visible } from '../../extension/host/text';
import { D1_FIXED_ERRORS, D1_FP16_ERRORS, makeReport } from './helpers/report';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const W = '/ws';
const file = (name: string) => ({ path: `${W}/${name}`, label: name });

class FakeMemento implements Memento {
  readonly data = new Map<string, unknown>();
  writes = 0;
  get<T>(key: string): T | undefined {
    return this.data.get(key) as T | undefined;
  }
  update(key: string, value: unknown): Thenable<void> {
    this.writes++;
    // VS Code stores mementos as JSON.
    this.data.set(key, JSON.parse(JSON.stringify(value)));
    return Promise.resolve();
  }
}

const DEFAULTS: SettingsDefaults = { precision: 'fp16', accumulate: 'fp32', layerNorm: 'plain', exposeLayerNorm: false, ep: 'cpu', heads: null, tolerance: null, deviceId: 0, trtCacheDir: '' };

/**
 * A workspace like the issue's: a_model (d1's geometry, 12 blocks), b_model (d2's, 3 blocks),
 * c_model (d1's geometry again), d4 (224², 2 blocks), each with its test data, plus broken.p.
 */
async function workspace(memento = new FakeMemento(), defaults: Partial<SettingsDefaults> = {}): Promise<{ s: LabState; memento: FakeMemento; settings: SettingsDefaults }> {
  const settings = { ...DEFAULTS, ...defaults };
  const s = new LabState(memento, () => settings, 5);
  const ck = ['a_model.pyth', 'b_model.pyth', 'c_model.pyth', 'd4.pyth'].map(file);
  const td = ['a_test_data.p', 'b_test_data.p', 'broken.p', 'c_test_data.p', 'd4_test_data.p'].map(file);
  s.setScan(ck, td);
  const src: Record<string, string> = { a_model: 'd1_outlier', b_model: 'd2_legacy', c_model: 'd1_outlier', d4: 'd4_geometry' };
  const insp = new Map<string, Inspection>();
  for (const [name, fx] of Object.entries(src)) {
    insp.set(`${W}/${name}.pyth`, { state: 'ok', signature: await inspectCheckpoint(path.join(FIX, `${fx}.pyth`)) });
    insp.set(`${W}/${name.replace('_model', '')}_test_data.p`, { state: 'ok', signature: await inspectTestData(path.join(FIX, `${fx}_test_data.p`)) });
  }
  insp.set(`${W}/broken.p`, { state: 'error', code: 'BAD_TEST_DATA', message: 'not a pickle' });
  s.setInspections(insp);
  return { s, memento, settings };
}

function report(errors: number[], o: { overflowFrom?: number; layerNorm?: 'plain' | 'fp32' } = {}): Report {
  const r = makeReport(errors, { overflowFrom: o.overflowFrom });
  r.run.layerNorm = o.layerNorm ?? 'plain';
  if (o.overflowFrom !== undefined) {
    r.diagnosis = { ...r.diagnosis, verdict: 'fail', firstBadBlock: o.overflowFrom, culprit: { layerNorm: `blocks.${o.overflowFrom}.temporal_norm1`, block: o.overflowFrom, channel: 21, maxSq: 9.7e4, overFp16Count: 128 }, fixes: ['fp32', 'fused', 'prescaled', 'expose'] };
  }
  return r;
}

describe('host state: pairing checkpoint and test data', () => {
  it('pairs by shape first: a_model gets a_test_data, b_model b_test_data, whatever the alphabet says', async () => {
    const { s } = await workspace();
    assert.equal(s.checkpoint, `${W}/a_model.pyth`);
    assert.equal(s.testData, `${W}/a_test_data.p`);
    assert.equal(s.agreement?.status, 'agree');
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    assert.equal(s.testData, `${W}/b_test_data.p`, 'switching the checkpoint re-pairs');
    s.chooseCheckpoint(`${W}/d4.pyth`);
    assert.equal(s.testData, `${W}/d4_test_data.p`);
    assert.match(s.sidebar().pairing!.text, /^d4_test_data\.p matches d4\.pyth: 8×224², width 48, 2 blocks, 400 classes$/);
  });

  it('breaks ties between files of the same shape by name: c_model gets c_test_data, not a_test_data', async () => {
    const { s } = await workspace();
    s.chooseCheckpoint(`${W}/c_model.pyth`);
    assert.equal(s.testData, `${W}/c_test_data.p`);
    assert.ok(nameScore('/w/d1_outlier.pyth', '/w/d1_outlier_test_data.p') > nameScore('/w/d1_outlier.pyth', '/w/d1_test_data.p'));
    assert.equal(nameScore('/w/a_model.pyth', '/w/b_test_data.p'), 1, 'only the folder is shared');
  });

  it('a test-data choice holds for its checkpoint only; none is a choice too', async () => {
    const { s } = await workspace();
    s.chooseTestData(`${W}/c_test_data.p`);
    assert.equal(s.testData, `${W}/c_test_data.p`);
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    assert.equal(s.testData, `${W}/b_test_data.p`, 'not pinned across checkpoints');
    s.chooseTestData(null);
    assert.equal(s.testData, null);
    assert.equal(s.agreement?.status, 'self');
    const req = s.request();
    assert.ok('options' in req && !('data' in req.options), 'no test data is sent');
    s.chooseCheckpoint(`${W}/a_model.pyth`);
    assert.equal(s.testData, `${W}/c_test_data.p`, 'the choice made for a_model comes back with it');
  });

  it('a mismatch is shown before running, and Run is refused with the reasons', async () => {
    const { s } = await workspace();
    s.chooseTestData(`${W}/b_test_data.p`);
    const a = s.agreement;
    assert.equal(a?.status, 'disagree');
    const side = s.sidebar();
    assert.equal(side.canRun, false);
    assert.equal(side.whyNot, 'Run waits for test data that matches the checkpoint (see above), or none: the model is then compared with its own FP32.');
    assert.match(side.pairing!.text, /^b_test_data\.p does not match a_model\.pyth: the test data has 4 frames, the checkpoint has 8; 48×48 video, the checkpoint expects 64×64; width 48, the checkpoint has 64; 7 classes, the checkpoint has 400$/);
    const refused = s.request();
    assert.ok('refused' in refused);
    assert.match(refused.refused, /^a_model\.pyth and b_test_data\.p do not belong together: the test data has 4 frames, the checkpoint has 8; .*\. Choose other test data, or none to compare with the model's own FP32\.$/);
    assert.deepEqual(side.testData.map((f) => [f.label, f.fit]), [
      ['a_test_data.p', 'agree'], ['b_test_data.p', 'disagree'], ['broken.p', 'unknown'], ['c_test_data.p', 'agree'], ['d4_test_data.p', 'disagree'],
    ]);
  });

  it('with nothing that agrees, no test data is chosen (the model is compared with its own FP32); a name match stands in while headers are read', () => {
    const sig = (p: string): Inspection | undefined => (p.endsWith('.pyth') ? { state: 'pending' } : undefined);
    assert.equal(pairTestData('/w/x_model.pyth', ['/w/x_test_data.p', '/w/y.p'], sig), '/w/x_test_data.p');
    assert.equal(pairTestData('/w/x_model.pyth', ['/w/other.p'], sig), null);
  });
});

describe('host state: Restricted Mode', () => {
  it('reads no header: pairs by name only and says the pair is not checked; Run stays possible (it asks first)', () => {
    const s = new LabState(new FakeMemento(), () => DEFAULTS);
    s.setTrusted(false);
    s.setScan(['a_model.pyth', 'b_model.pyth'].map(file), ['a_test_data.p', 'b_test_data.p'].map(file));
    s.setInspections(new Map(s.uninspected().map((f) => [f.path, { state: 'skipped', reason: 'not read in Restricted Mode' } as Inspection])));
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    assert.equal(s.testData, `${W}/b_test_data.p`);
    const side = s.sidebar();
    assert.deepEqual(side.pairing, { status: 'unknown', text: 'Not checked in Restricted Mode (files are read only in a trusted workspace).' });
    assert.equal(side.trusted, false);
    assert.equal(side.canRun, true);
  });
});

describe('host state: what the sidebar shows is what runs', () => {
  it('a browsed file not in the list is added, shown and run', async () => {
    const { s } = await workspace();
    s.chooseCheckpoint('/elsewhere/e_model.pyth', '../elsewhere/e_model.pyth');
    const side = s.sidebar();
    assert.equal(side.checkpoint, '/elsewhere/e_model.pyth');
    assert.ok(side.checkpoints.some((f) => f.path === '/elsewhere/e_model.pyth' && f.label === '../elsewhere/e_model.pyth'));
    const req = s.request();
    assert.ok('options' in req);
    assert.equal(req.options.weights, '/elsewhere/e_model.pyth');
    // Choosing the old entry again switches back.
    s.chooseCheckpoint(`${W}/a_model.pyth`);
    assert.equal(s.sidebar().checkpoint, `${W}/a_model.pyth`);
    assert.equal((s.request() as { options: { weights: string } }).options.weights, `${W}/a_model.pyth`);
  });

  it('options are overrides of the settings, kept in the workspace state; a settings edit wins; nothing writes settings', async () => {
    const memento = new FakeMemento();
    const { s, settings } = await workspace(memento);
    s.setOption('precision', 'bf16');
    s.setOption('exposeLayerNorm', true);
    assert.deepEqual(s.unsaved(), ['precision', 'exposeLayerNorm']);
    const req = s.request() as { options: { precision: string; layerNorm: string } };
    assert.deepEqual([req.options.precision, req.options.layerNorm], ['bf16', 'expose']);
    assert.ok(memento.writes > 0);
    // A fresh store on the same workspace state: the same choices.
    const again = new LabState(memento, () => settings);
    again.setScan(s.checkpointList(), s.testDataList());
    assert.equal(again.settings.precision, 'bf16');
    // The user edits the precision setting: it wins.
    settings.precision = 'fp32';
    again.settingsChanged(['precision']);
    assert.equal(again.settings.precision, 'fp32');
    assert.deepEqual(again.unsaved(), ['exposeLayerNorm']);
    again.saved();
    assert.deepEqual(again.unsaved(), []);
  });

  it('bad setting values are refused before a run, naming the setting', async () => {
    const { s } = await workspace(new FakeMemento(), { tolerance: -1 });
    const r = s.request();
    assert.ok('refused' in r);
    assert.equal(r.refused, 'timesformerLab.tolerance must be a finite number greater than 0; got -1');
  });
});

describe('host state: runs, outcomes and offers', () => {
  it('a run carries its identity: checkpoint, data, options, time', async () => {
    const { s } = await workspace();
    const req = s.request() as { options: never; inputs: { checkpoint: string; testData: string | null } };
    const t = new Date(2026, 10, 25, 14, 3, 12).getTime();
    const run = s.runFinished(report(D1_FP16_ERRORS, { overflowFrom: 4 }), req.options, 7, req.inputs, t);
    assert.equal(run.label, '#1 a_model.pyth + a_test_data.p · FP16 · LayerNorm plain · cpu · 14:03:12');
    assert.equal(run.short, '#1 a_model · FP16 plain · cpu');
    assert.equal(run.reference, 'reference: a_test_data.p');
    assert.deepEqual(run.offers, ['fp32', 'fused', 'prescaled', 'expose']);
    const self = s.runFinished(report(D1_FIXED_ERRORS), req.options, 8, { checkpoint: `${W}/a_model.pyth`, testData: null }, t);
    assert.equal(self.label, '#2 a_model.pyth + own FP32 · FP16 · LayerNorm plain · cpu · 14:03:12');
    assert.equal(self.reference, 'reference: FP32 of this model (CPU)');
    const r = report(D1_FIXED_ERRORS);
    (r.inputs as unknown as { reference: unknown }).reference = { kind: 'self', label: 'FP32 of this model (CPU)' };
    assert.equal(s.runFinished(r, req.options, 9, req.inputs).reference, 'reference: FP32 of this model (CPU)');
  });

  it('the verdict belongs to its inputs: a switch hides it; an error or a cancel shows beside it, or alone when the inputs never completed a run', async () => {
    const { s } = await workspace();
    const req = s.request() as { options: never; inputs: never };
    s.runFinished(report(D1_FP16_ERRORS, { overflowFrom: 4 }), req.options, 1, req.inputs);
    assert.equal(s.sidebar().outcome?.kind, 'run');
    assert.deepEqual((s.sidebar().outcome as { fixes: string[] }).fixes, ['fp32', 'fused', 'prescaled', 'expose']);
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    assert.equal(s.sidebar().outcome, undefined, 'another model: no verdict, no offers');
    assert.equal(s.currentRunWithOffers(), undefined);
    s.chooseCheckpoint(`${W}/a_model.pyth`);
    assert.equal(s.sidebar().outcome?.kind, 'run', 'back on a_model: its own last verdict');
    s.runStarted(req.inputs, req.options);
    s.runFailed(req.inputs, 'ENGINE_FAILED', 'the engine returned no output for block 3');
    const after = (s.sidebar().outcome as { after?: object }).after;
    assert.deepEqual(after && { ...after, label: '' }, { kind: 'error', label: '', code: 'ENGINE_FAILED', message: 'the engine returned no output for block 3' });
    s.runStarted(req.inputs, req.options);
    s.runCancelled(req.inputs);
    assert.equal((s.sidebar().outcome as { after?: { kind: string } }).after?.kind, 'cancelled');
    assert.equal(s.running, false);
    // c_model never completed a run: its cancel is all there is to show.
    s.chooseCheckpoint(`${W}/c_model.pyth`);
    const c = s.request() as { options: never; inputs: never };
    s.runStarted(c.inputs, c.options);
    s.runCancelled(c.inputs);
    assert.equal(s.sidebar().outcome?.kind, 'cancelled');
  });

  it('a fix offer is a (run, mode) pair: it brings back the run\'s model and options, never the model chosen since', async () => {
    const { s } = await workspace();
    s.setOption('ep', 'webgpu');
    const req = s.request() as { options: never; inputs: never };
    const a = s.runFinished(report(D1_FP16_ERRORS, { overflowFrom: 4 }), req.options, 1, req.inputs);
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    s.setOption('ep', 'cpu');
    s.setOption('precision', 'bf16');
    const adopted = s.adoptFix(a.id, 'fp32');
    assert.equal(typeof adopted, 'object');
    const after = s.request() as { options: { weights: string; data: string; layerNorm: string; precision: string; ep: string } };
    assert.deepEqual([after.options.weights, after.options.data, after.options.layerNorm, after.options.precision, after.options.ep],
      [`${W}/a_model.pyth`, `${W}/a_test_data.p`, 'fp32', 'fp16', 'webgpu']);
    assert.match(s.adoptFix(a.id, 'plain') as string, /does not offer the plain LayerNorm fix/);
    s.removeRuns([a.id]);
    assert.match(s.adoptFix(a.id, 'fp32') as string, /^run run-1 is no longer kept/);
  });

  it('runs are pruned to the newest, can be removed or cleared, and persist with Infinity intact', async () => {
    const memento = new FakeMemento();
    const { s, settings } = await workspace(memento);
    const req = s.request() as { options: never; inputs: never };
    for (let i = 0; i < 7; i++) s.runFinished(report([1e-3, Infinity]), req.options, i, req.inputs);
    assert.deepEqual(s.all.map((r) => r.id), ['run-3', 'run-4', 'run-5', 'run-6', 'run-7'], 'the newest 5 of 7');
    s.show(['run-4', 'run-7', 'run-1']);
    assert.deepEqual(s.shown, ['run-4', 'run-7']);
    const again = new LabState(memento, () => settings);
    assert.deepEqual(again.all.map((r) => r.id), ['run-3', 'run-4', 'run-5', 'run-6', 'run-7']);
    assert.equal(again.get('run-7')!.report.blocks[1].relL2, Infinity);
    assert.equal(again.get('run-7')!.requestId, undefined, 'engine requests belong to the session that made them');
    assert.deepEqual(again.shown, ['run-4', 'run-7']);
    again.removeRuns(['run-4']);
    assert.deepEqual(again.shown, ['run-7']);
    again.runFinished(report([1e-3]), req.options, 1, req.inputs);
    assert.equal(again.latest?.id, 'run-8', 'ids keep counting');
    again.clearRuns();
    assert.deepEqual([again.all.length, again.shown.length, again.sidebar().runCount], [0, 0, 0]);
  });

  it('one change event per change', async () => {
    const { s } = await workspace();
    let n = 0;
    s.onDidChange(() => n++);
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    s.setOption('heads', 4);
    assert.equal(n, 2);
  });
});

/** d1's 25 LayerNorms from block 4 on (and the final norm): the ones its minimal fix keeps in FP32. */
const D1_MINIMAL = [...Array.from({ length: 8 }, (_, i) => ['temporal_norm1', 'norm1', 'norm2'].map((k) => `blocks.${i + 4}.${k}`)).flat(), 'norm'];

/** d1's FP16 plain failure with the diagnosis' minimal fix (as core's diagnosis writes it) and its confirmation run. */
function withMinimalFix(r: Report, confirmed: 'pass' | 'fail' | 'none' = 'pass'): Report {
  r.diagnosis.minimalFix = {
    layerNorms: D1_MINIMAL, mode: 'fp32',
    reasons: D1_MINIMAL.map((n) => ({ layerNorm: n, mechanism: 'square' as const, value: 9.7e4, limit: 65504 })),
    trtexec: `trtexec --onnx=timesformer.onnx --fp16 --precisionConstraints=obey --layerPrecisions=${D1_MINIMAL.map((n) => `/model/${n.replace(/^blocks\.(\d+)\./, 'blocks.$1/')}/LayerNormalization:fp32`).join(',')} --saveEngine=timesformer_fp16.plan`,
    ...(confirmed === 'none' ? {} : {
      confirmed: confirmed === 'pass'
        ? { verdict: 'pass' as const, firstBadBlock: null, worstBlock: 2, worstRelL2: 3.75e-3, probsRelL2: 2.5e-4 }
        : { verdict: 'fail' as const, firstBadBlock: 6, worstBlock: 6, worstRelL2: 0.2, probsRelL2: 0.1 },
    }),
  };
  return r;
}

describe('host state: accumulation and the minimal fix (issue 8)', () => {
  it('accumulation is an FP16 option of the run: in its request and identity ("fp16 acc"), kept in the workspace state', async () => {
    const memento = new FakeMemento();
    const { s, settings } = await workspace(memento);
    const first = s.request() as { options: { accumulate?: string } };
    assert.equal(first.options.accumulate, 'fp32', 'the default: as TensorRT builds FP16');
    s.setOption('accumulate', 'fp16');
    assert.deepEqual(s.unsaved(), ['accumulate']);
    assert.equal(s.sidebar().accumulate, 'fp16');
    const req = s.request() as { options: never; inputs: never };
    assert.equal((req.options as { accumulate: string }).accumulate, 'fp16');
    const r = report(D1_FP16_ERRORS, { overflowFrom: 4 });
    r.run.accumulate = 'fp16';
    r.run.label = 'FP16 emulated (CPU EP: fp32 graph, FP16 rounding after every op; fp16 accumulation modelled only as the reductions\' 16-bit overflow)';
    const t = new Date(2026, 10, 25, 14, 3, 12).getTime();
    const run = s.runFinished(r, req.options, 1, req.inputs, t);
    assert.equal(run.label, '#1 a_model.pyth + a_test_data.p · FP16 · fp16 acc · LayerNorm plain · cpu · 14:03:12');
    assert.equal(run.short, '#1 a_model · FP16 plain · fp16 acc · cpu');
    assert.equal((s.sidebar().outcome as { realization: string }).realization, r.run.label, 'the sidebar says how the Report realized it');
    // A fix keeps the run's accumulation.
    s.setOption('accumulate', 'fp32');
    assert.equal(typeof s.adoptFix(run.id, 'fp32'), 'object');
    assert.equal(s.settings.accumulate, 'fp16');
    // Persisted like the other options (the fix too, while its run's inputs are chosen).
    const again = new LabState(memento, () => settings);
    again.setScan(s.checkpointList(), s.testDataList());
    assert.equal(again.settings.accumulate, 'fp16');
    // Not an option of FP32 or BF16 runs: their requests carry none.
    again.setOption('precision', 'bf16');
    assert.equal('accumulate' in (again.request() as { options: object }).options, false);
    // TensorRT picks its own (fp32-accumulating) kernels: no "fp16 acc" however asked.
    const trt = report(D1_FIXED_ERRORS);
    Object.assign(trt.run, { accumulate: 'fp16', ep: 'tensorrt', realization: 'tensorrt' });
    assert.doesNotMatch(s.runFinished(trt, req.options, 2, req.inputs, t).label, /acc/);
  });

  it('a failing FP16 run with a minimal fix offers it first, with its confirmation and trtexec line; one click runs the minimal choice on that run\'s inputs', async () => {
    const { s } = await workspace();
    s.setOption('ep', 'webgpu');
    const req = s.request() as { options: never; inputs: never };
    const a = s.runFinished(withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 })), req.options, 1, req.inputs);
    assert.deepEqual(a.offers, ['minimal', 'fp32', 'fused', 'prescaled', 'expose']);
    assert.equal(fixTitle(a, 'minimal'), 'Fix: only the 25 overflowing LayerNorms in FP32');
    assert.equal(fixTitle(a, 'fp32'), 'Fix: FP32 LayerNorm');
    const o = s.sidebar().outcome as { fixes: string[]; minimal: { count: number; confirmed: { verdict: string; worstRelL2: number }; trtexec: string } };
    assert.deepEqual(o.fixes, ['minimal', 'fp32', 'fused', 'prescaled', 'expose']);
    assert.equal(o.minimal.count, 25);
    assert.deepEqual([o.minimal.confirmed.verdict, o.minimal.confirmed.worstRelL2], ['pass', 3.75e-3]);
    assert.match(o.minimal.trtexec, /--layerPrecisions=\/model\/blocks\.4\/temporal_norm1\/LayerNormalization:fp32,.*\/model\/norm\/LayerNormalization:fp32 /);
    // The offer belongs to its run: another model shows none, yet the old offer fixes a_model.
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    s.setOption('ep', 'cpu');
    assert.equal(s.currentRunWithOffers(), undefined);
    assert.equal(s.sidebar().outcome, undefined);
    assert.equal(typeof s.adoptFix(a.id, 'minimal'), 'object');
    const after = s.request() as { options: { weights: string; layerNorm: string; precision: string; ep: string; accumulate: string } };
    assert.deepEqual([after.options.weights, after.options.layerNorm, after.options.precision, after.options.ep, after.options.accumulate],
      [`${W}/a_model.pyth`, 'minimal', 'fp16', 'webgpu', 'fp32']);
    assert.equal(s.sidebar().layerNorm, 'minimal', 'the LayerNorm select shows what runs');
    // The run it makes (the engine reads the LayerNorms to keep from the statistics) is named after the fix, and offers nothing.
    const fixed = report(D1_FIXED_ERRORS);
    fixed.run.layerNormOverrides = Object.fromEntries(D1_MINIMAL.map((n) => [n, 'fp32' as const]));
    const b = s.runFinished(fixed, after.options as never, 2, { checkpoint: `${W}/a_model.pyth`, testData: `${W}/a_test_data.p` }, new Date(2026, 10, 25, 14, 5, 0).getTime());
    assert.equal(b.label, '#2 a_model.pyth + a_test_data.p · FP16 · minimal fix (25 LayerNorms in FP32) · cpu · 14:05:00');
    assert.equal(b.short, '#2 a_model · FP16 minimal fix · cpu');
    assert.deepEqual(b.offers, []);
    assert.match(s.adoptFix(b.id, 'minimal') as string, /does not offer the minimal LayerNorm fix/);
  });

  it('the minimal fix is not offered when its confirmation run failed, nor again by a minimal-fix run; unconfirmed it is offered and says so', async () => {
    const { s } = await workspace();
    const req = s.request() as { options: never; inputs: never };
    const failed = s.runFinished(withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 }), 'fail'), req.options, 1, req.inputs);
    assert.deepEqual(failed.offers, ['fp32', 'fused', 'prescaled', 'expose']);
    const again = withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 }));
    again.run.layerNormOverrides = { 'blocks.4.norm1': 'fp32' };
    assert.deepEqual(s.runFinished(again, req.options, 2, req.inputs).offers, ['fp32', 'fused', 'prescaled', 'expose']);
    const unconfirmed = s.runFinished(withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 }), 'none'), req.options, 3, req.inputs);
    assert.equal(unconfirmed.offers[0], 'minimal');
    assert.equal((s.sidebar().outcome as { minimal: { confirmed?: unknown } }).minimal.confirmed, undefined);
  });

  it('a bad accumulation or LayerNorm value in the settings is refused before a run, naming the setting', async () => {
    const { s } = await workspace(new FakeMemento(), { accumulate: 'fp8' as never });
    assert.equal((s.request() as { refused: string }).refused, "timesformerLab.accumulate must be one of fp32, fp16; got 'fp8'");
    const { s: t } = await workspace(new FakeMemento(), { layerNorm: 'smallest' as never });
    assert.equal((t.request() as { refused: string }).refused, "timesformerLab.layerNorm must be one of plain, expose, fp32, fused, prescaled, minimal; got 'smallest'");
  });
});

describe('host: text from files stays text in VS Code\'s widgets', () => {
  it('breaks markdown command links and codicons without changing what a user reads', () => {
    const evil = 'bad key [x](command:workbench.action.quit) and $(alert) in evil[x](https://e.example).pyth';
    const p = plain(evil);
    assert.doesNotMatch(p, /\]\(/);
    assert.doesNotMatch(p, /\$\(/);
    assert.equal(visible(p), evil);
    assert.equal(plain('block 4 fails (rel err 0.13)'), 'block 4 fails (rel err 0.13)');
  });
});
