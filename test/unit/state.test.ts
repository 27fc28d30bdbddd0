/**
 * The host's one store (LabState) with several models in one workspace: what the sidebar shows is
 * what runs, test data pairs by shape then name and re-pairs on a switch, fix offers and verdicts
 * belong to their run, choices persist in the workspace state (never settings.json), runs carry
 * their identity and can be pruned.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import { inspectCheckpoint, inspectTestData } from '../../extension/core/inspect';
import { parseReportJson, reportToJson, type Report } from '../../extension/core/report';
import { nameScore, pairTestData, type Inspection } from '../../extension/host/pairing';
import { exportFileName, fixTitle, INTENTS, LabState, runPickItem, type Memento, type SettingsDefaults } from '../../extension/host/state';
import { fixLabel, layerNormHelp } from '../../extension/host/protocol';
import { layerNormTableNote, plain, visible } from '../../extension/host/text';
import { D1_FIXED_ERRORS, D1_FP16_ERRORS, makeReport } from './helpers/report';
import type { StoredRun } from '../../extension/host/labels';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const W = '/ws';
const file = (name: string) => ({ path: `${W}/${name}`, label: name });

class FakeMemento implements Memento {
  readonly data = new Map<string, unknown>();
  writes = 0;
  readonly writesOf = new Map<string, number>();
  get<T>(key: string): T | undefined {
    return this.data.get(key) as T | undefined;
  }
  update(key: string, value: unknown): Thenable<void> {
    this.writes++;
    this.writesOf.set(key, (this.writesOf.get(key) ?? 0) + 1);
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

  it('the runs are written only when they change, each serialized once; a workspace state from before their own key is read and moved', async () => {
    const memento = new FakeMemento();
    const { s, settings } = await workspace(memento);
    const req = s.request() as { options: never; inputs: never };
    for (let i = 0; i < 3; i++) s.runFinished(report([1e-3, Infinity]), req.options, i, req.inputs);
    const runsWrites = () => memento.writesOf.get('timesformerLab.runs') ?? 0;
    assert.equal(runsWrites(), 3);
    // an option toggled, a run shown, a checkpoint chosen: the small state only
    s.setOption('exposeLayerNorm', true);
    s.show(['run-1']);
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    assert.equal(runsWrites(), 3);
    assert.ok((memento.writesOf.get('timesformerLab.state') ?? 0) >= 6);
    const persisted = parseReportJson<StoredRun[]>(memento.get<string>('timesformerLab.runs')!);
    assert.deepEqual(persisted.map((r) => r.id), ['run-1', 'run-2', 'run-3']);
    assert.deepEqual(parseReportJson(reportToJson(persisted)), parseReportJson(reportToJson(s.all.map((r) => ({ ...r, requestId: undefined })))));
    // the state as an older version wrote it: the runs inside the snapshot
    const old = new FakeMemento();
    old.update('timesformerLab.state', { ...memento.get<object>('timesformerLab.state'), runs: memento.get<string>('timesformerLab.runs') });
    const again = new LabState(old, () => settings, 5);
    assert.deepEqual(again.all.map((r) => r.id), ['run-1', 'run-2', 'run-3']);
    assert.equal(again.get('run-2')!.report.blocks[1].relL2, Infinity);
    again.show(['run-2']);
    assert.equal(old.writesOf.get('timesformerLab.runs'), 1, 'moved to their own key at the first save');
    assert.equal((old.get<{ runs?: string }>('timesformerLab.state'))!.runs, undefined);
    assert.deepEqual(new LabState(old, () => settings, 5).all.map((r) => r.id), ['run-1', 'run-2', 'run-3']);
  });

  it('one change event per change', async () => {
    const { s } = await workspace();
    let n = 0;
    s.onDidChange(() => n++);
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    s.setOption('heads', 4);
    assert.equal(n, 2);
  });

  it('changes only through its intents: the class has no public writer that INTENTS does not list; a landed run is announced once, after its change', async () => {
    // TypeScript's private methods are on the prototype too: these are the store's own helpers and its read-outs.
    const own = ['constructor', 'changed', 'attempt', 'save', 'restore', 'onDidChange', 'onDidLand', 'views', 'sidebar'];
    const writers = Object.getOwnPropertyNames(LabState.prototype).filter((k) => !own.includes(k));
    assert.deepEqual([...writers].sort(), [...INTENTS].sort());
    const { s } = await workspace();
    const seen: string[] = [];
    s.onDidChange(() => seen.push('change'));
    s.onDidLand((r) => seen.push(`landed ${r.id} ${r.report.diagnosis.verdict}`));
    const req = s.request() as { options: never; inputs: never };
    s.runStarted(req.inputs, req.options);
    s.runFinished(report(D1_FP16_ERRORS, { overflowFrom: 4 }), req.options, 1, req.inputs);
    s.runCancelled(req.inputs);
    assert.deepEqual(seen, ['change', 'change', 'landed run-1 fail', 'change']);
  });

  it('a run lands before its minimal fix\'s confirmation: the graph has it and Run waits; then its whole Report replaces it (or a cancel leaves it unconfirmed)', async () => {
    const { s } = await workspace();
    const req = s.request() as { options: never; inputs: never };
    const seen: string[] = [];
    s.onDidLand((r) => seen.push(`landed ${r.id}${r.confirming ? ' confirming' : ''}`));
    const early = withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 }), 'none');
    for (const end of ['confirmed', 'cancelled'] as const) {
      s.runStarted(req.inputs, req.options);
      const run = s.runFinished(early, req.options, 1, req.inputs, Date.now(), true);
      assert.equal(run.confirming, true);
      assert.equal(s.views().find((v) => v.id === run.id)?.confirming, true, 'the graph says the confirmation is running');
      let side = s.sidebar();
      assert.equal(side.running, true);
      assert.equal(side.canRun, false, 'Run waits for the confirmation');
      assert.equal(side.outcome?.kind === 'run' && side.outcome.minimal?.confirming, true);
      if (end === 'confirmed') {
        const whole = withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 }), 'pass');
        const done = s.runConfirmed(run.id, whole)!;
        assert.equal(done.id, run.id);
        assert.equal(done.confirming, undefined);
        assert.equal(s.get(run.id)!.report, whole);
        side = s.sidebar();
        assert.equal(side.outcome?.kind === 'run' && side.outcome.minimal?.confirmed?.verdict, 'pass');
      } else {
        s.runCancelled(req.inputs);
        assert.equal(s.get(run.id)!.confirming, undefined, 'kept, unconfirmed');
        side = s.sidebar();
      }
      assert.equal(side.running, false);
      assert.equal(side.outcome?.kind === 'run' && side.outcome.minimal?.confirming, undefined);
    }
    assert.deepEqual(seen, ['landed run-1 confirming', 'landed run-1', 'landed run-2 confirming']);
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

/**
 * Issue 17 (what users hit) and 22 (5, 8), the host's side: the layout users have — an HF folder
 * holding its own test_data.p beside official checkpoints and their test data — and a verdict that
 * is always the latest completed run of what Run would run now.
 */
async function usersWorkspace(): Promise<LabState> {
  const s = new LabState(new FakeMemento(), () => DEFAULTS, 20);
  // hf2 (hf_sharded) and hf3 (hf_bin) have one geometry and other weights; clip_test_data.p is hf_bin's data, loose beside them.
  const ck = [file('d1_outlier.pyth'), { path: `${W}/hf1`, label: 'hf1/', hf: true }, { path: `${W}/hf2`, label: 'hf2/', hf: true }, { path: `${W}/hf3`, label: 'hf3/', hf: true }];
  const td = ['clip_test_data.p', 'd1_outlier_test_data.p', 'hf1/test_data.p', 'hf2/test_data.p', 'hf3/test_data.p'].map(file);
  s.setScan(ck, td);
  const insp = new Map<string, Inspection>();
  const sig = async (at: string, fx: string, kind: 'checkpoint' | 'data') =>
    insp.set(`${W}/${at}`, { state: 'ok', signature: kind === 'checkpoint' ? await inspectCheckpoint(path.join(FIX, fx)) : await inspectTestData(path.join(FIX, fx)) });
  await sig('d1_outlier.pyth', 'd1_outlier.pyth', 'checkpoint');
  await sig('d1_outlier_test_data.p', 'd1_outlier_test_data.p', 'data');
  for (const [at, fx] of [['hf1', 'hf_outlier'], ['hf2', 'hf_sharded'], ['hf3', 'hf_bin']]) {
    await sig(at, fx, 'checkpoint');
    await sig(`${at}/test_data.p`, `${fx}_test_data.p`, 'data');
  }
  await sig('clip_test_data.p', 'hf_bin_test_data.p', 'data');
  s.setInspections(insp);
  return s;
}

describe('host state: what users hit (issue 17; issue 22, 5 and 8)', () => {
  it('17.2: an HF folder pairs with its own test_data.p, not with a sibling file of the same shapes; names say which folder', async () => {
    const s = await usersWorkspace();
    s.chooseCheckpoint(`${W}/hf3`);
    assert.equal(s.testData, `${W}/hf3/test_data.p`, 'hf3 gets its own test data, not clip_test_data.p beside the folder');
    s.chooseCheckpoint(`${W}/hf2`);
    assert.equal(s.testData, `${W}/hf2/test_data.p`);
    assert.equal(s.sidebar().pairing!.text, 'hf2/test_data.p matches hf2: 4×32², width 32, 4 blocks, 5 classes');
    s.chooseCheckpoint(`${W}/hf1`);
    assert.equal(s.testData, `${W}/hf1/test_data.p`);
    s.chooseCheckpoint(`${W}/d1_outlier.pyth`);
    assert.equal(s.testData, `${W}/d1_outlier_test_data.p`, 'official checkpoints keep their own');
    // The same-folder tie-break is the HF folder's own folder, not its parent's.
    assert.ok(nameScore(`${W}/hf3`, `${W}/hf3/test_data.p`, true) > nameScore(`${W}/hf3`, `${W}/clip_test_data.p`, true));
    assert.equal(nameScore(`${W}/hf3`, `${W}/clip_test_data.p`, true), 0);
    // A run's identity and reference name the folder of a generic test-data name.
    s.chooseCheckpoint(`${W}/hf3`);
    const req = s.request() as { options: never; inputs: never };
    const run = s.runFinished(report(D1_FIXED_ERRORS), req.options, 1, req.inputs, new Date(2026, 11, 7, 5, 0, 0).getTime());
    assert.equal(run.label, '#1 hf3 + hf3/test_data.p · FP16 · LayerNorm plain · cpu · 05:00:00');
    assert.equal(run.reference, 'reference: hf3/test_data.p');
  });

  it('issue 23 (pairing.ts:81): a file that matches by name but not by shape is never paired; a name match stands in only while shapes are unknown', async () => {
    const d1 = await inspectCheckpoint(path.join(FIX, 'd1_outlier.pyth'));
    const d2data = await inspectTestData(path.join(FIX, 'd2_legacy_test_data.p'));
    const known = (p: string): Inspection => (p.endsWith('.pyth') ? { state: 'ok', signature: d1 } : { state: 'ok', signature: d2data });
    assert.equal(pairTestData('/w/a_model.pyth', ['/w/a_test_data.p'], known), null, 'a_test_data.p has d2\'s shapes: not a_model\'s, whatever its name');
    const reading = (p: string): Inspection => (p.endsWith('.pyth') ? { state: 'ok', signature: d1 } : { state: 'pending' });
    assert.equal(pairTestData('/w/a_model.pyth', ['/w/a_test_data.p'], reading), '/w/a_test_data.p');
  });

  it('issue 23 (state.ts:371): a heads value set in the sidebar reaches the run request; cleared, detection decides', async () => {
    const { s } = await workspace();
    s.setOption('heads', 4);
    assert.equal((s.request() as { options: { heads?: number } }).options.heads, 4);
    s.setOption('heads', null);
    assert.equal('heads' in (s.request() as { options: object }).options, false);
  });

  it('17.3: changing any run option (precision, LayerNorm, accumulation, provider, heads, test data) replaces the verdict with the latest completed run of those options, if any', async () => {
    const { s } = await workspace();
    const go = (r: Report) => {
      const req = s.request() as { options: never; inputs: never };
      return s.runFinished(r, req.options, 1, req.inputs);
    };
    const fp16 = go(report(D1_FP16_ERRORS, { overflowFrom: 4 }));
    assert.equal((s.sidebar().outcome as { runId: string }).runId, fp16.id);
    // Each change on a store of its own: the FP16 plain verdict goes from the sidebar, the status bar and the palette's fix.
    for (const what of ['precision', 'LayerNorm mode', 'expose', 'accumulation', 'provider', 'heads', 'test data']) {
      const { s: t } = await workspace();
      const req = t.request() as { options: never; inputs: never };
      t.runFinished(report(D1_FP16_ERRORS, { overflowFrom: 4 }), req.options, 1, req.inputs);
      assert.equal(t.sidebar().outcome?.kind, 'run');
      applyTo(t, what);
      assert.equal(t.sidebar().outcome, undefined, `${what} changed: no verdict of other options`);
      assert.equal(t.currentOutcome(), undefined, `${what} changed: the status bar shows none`);
      assert.equal(t.currentRunWithOffers(), undefined, `${what} changed: the palette offers no fix of another run`);
    }
    // A BF16 run is shown for BF16; back to FP16, the FP16 run again.
    s.setOption('precision', 'bf16');
    const bf16 = go(report(D1_FIXED_ERRORS));
    assert.equal((s.sidebar().outcome as { runId: string }).runId, bf16.id);
    s.setOption('precision', 'fp16');
    assert.equal((s.sidebar().outcome as { runId: string }).runId, fp16.id, 'the latest completed run of FP16 plain');
  });
});

describe('host state: what users hit, continued', () => {
  it('22.5 + 22.8: a cancelled re-run keeps the previous verdict and its fix offers, the cancel beside it with its precision and mode; switching back to a model shows its runs', async () => {
    const { s } = await workspace();
    const req = s.request() as { options: never; inputs: never };
    const a = s.runFinished(withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 })), req.options, 1, req.inputs);
    s.runStarted(req.inputs, req.options);
    s.runCancelled(req.inputs);
    const o = s.sidebar().outcome as { kind: string; runId: string; fixes: string[]; after?: { kind: string; label: string } };
    assert.deepEqual([o.kind, o.runId, o.fixes[0]], ['run', a.id, 'minimal'], 'the verdict and offers stay');
    assert.equal(o.after?.kind, 'cancelled');
    assert.match(o.after!.label, /^a_model\.pyth \+ a_test_data\.p · FP16 · LayerNorm plain · cpu · \d\d:\d\d:\d\d$/);
    assert.equal(s.currentRunWithOffers()?.id, a.id, 'the palette still fixes it');
    assert.equal(s.currentOutcome()?.kind, 'run', 'the status bar keeps the verdict');
    // b_model runs, then back to a_model: a_model's run (and its cancel) again.
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    const b = s.request() as { options: never; inputs: never };
    s.runFinished(report([1e-3, 1e-3, 1e-3]), b.options, 2, b.inputs);
    s.chooseCheckpoint(`${W}/a_model.pyth`);
    assert.equal((s.sidebar().outcome as { runId: string }).runId, a.id);
    // A new completed run is newer than the cancel: shown alone.
    const a2 = s.runFinished(report(D1_FP16_ERRORS, { overflowFrom: 4 }), req.options, 3, req.inputs);
    const o2 = s.sidebar().outcome as { runId: string; after?: unknown };
    assert.deepEqual([o2.runId, o2.after], [a2.id, undefined]);
    // A minimal-fix request cancelled before any run: its label names the fix.
    s.setOption('layerNorm', 'minimal');
    const m = s.request() as { options: never; inputs: never };
    s.runStarted(m.inputs, m.options);
    s.runCancelled(m.inputs);
    assert.match((s.sidebar().outcome as { label: string }).label, /^a_model\.pyth \+ a_test_data\.p · FP16 · minimal fix · cpu · /);
  });

  it('22.8 + 17.7: a run without test data says in the sidebar that its head count was assumed, in the extension\'s words', async () => {
    const { s } = await workspace();
    s.chooseTestData(null);
    const req = s.request() as { options: never; inputs: never };
    const r = report(D1_FIXED_ERRORS);
    r.config = { ...r.config, heads: 1, embedDim: 64, headsSource: 'assumed' };
    s.runFinished(r, req.options, 1, req.inputs);
    const heads = (s.sidebar().outcome as { heads?: string }).heads;
    assert.equal(heads, 'Heads: 1, assumed (head dim 64): without test data the count cannot be detected. If the model has another, enter it in Heads above and run again.');
    assert.doesNotMatch(heads!, /--heads/);
    s.chooseTestData(`${W}/a_test_data.p`);
    s.runFinished(report(D1_FIXED_ERRORS), req.options, 2, { checkpoint: `${W}/a_model.pyth`, testData: `${W}/a_test_data.p` });
    assert.equal((s.sidebar().outcome as { heads?: string } | undefined)?.heads, undefined, 'detected heads need no note');
  });

  it('17.6: a fix applies to the run it was offered for; the next model runs with the mode the user chose, and so does the fixed model once left', async () => {
    const { s } = await workspace();
    s.setOption('layerNorm', 'plain');
    const req = s.request() as { options: never; inputs: never };
    const a = s.runFinished(withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 })), req.options, 1, req.inputs);
    assert.equal(typeof s.adoptFix(a.id, 'minimal'), 'object');
    assert.equal(s.sidebar().layerNorm, 'minimal', 'the fix runs on a_model');
    s.chooseCheckpoint(`${W}/c_model.pyth`);
    assert.equal(s.sidebar().layerNorm, 'plain', 'c_model: the user\'s mode');
    assert.equal((s.request() as { options: { layerNorm: string } }).options.layerNorm, 'plain');
    s.chooseCheckpoint(`${W}/a_model.pyth`);
    assert.equal(s.sidebar().layerNorm, 'plain', 'back on a_model the fix is over');
    assert.equal((s.sidebar().outcome as { runId: string }).runId, a.id, 'and its plain run is shown');
    // A choice the user makes while a fix is applied is the user's: it stays after the switch.
    assert.equal(typeof s.adoptFix(a.id, 'fp32'), 'object');
    s.setOption('precision', 'bf16');
    assert.deepEqual([s.settings.layerNorm, s.settings.precision], ['fp32', 'bf16']);
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    assert.deepEqual([s.settings.layerNorm, s.settings.precision], ['plain', 'bf16']);
  });

  it('17.5 + 17.7: the confirmation is said once; the pickers lead with the verdict; the trtexec line names the exported file; palette and sidebar offer one set of fixes', async () => {
    const { s } = await workspace();
    const req = s.request() as { options: never; inputs: never };
    const r = withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 }));
    // As core's pipeline writes it: the confirmation run's finding appended to the sentence.
    r.diagnosis.sentence = 'Block 4 fails (rel err 0.13 > 0.025). Minimal fix: 25 LayerNorms in FP32 (blocks.4.temporal_norm1, …). Confirmed by one run with only them in FP32: every block passes (worst 3.8e-3 at block 2).';
    const a = s.runFinished(r, req.options, 1, req.inputs);
    const o = s.sidebar().outcome as { sentence: string; minimal: { confirmed: unknown; trtexec: string }; fixes: string[] };
    assert.equal(o.sentence, 'Block 4 fails (rel err 0.13 > 0.025). Minimal fix: 25 LayerNorms in FP32 (blocks.4.temporal_norm1, …).');
    assert.ok(o.minimal.confirmed, 'the minimal fix\'s note says it');
    assert.match(o.minimal.trtexec, new RegExp(`^trtexec --onnx=${exportFileName(a, 'trt')} --fp16 .* --saveEngine=timesformer-run-1-tensorrt_fp16\\.plan$`));
    assert.equal(exportFileName(a, 'trt'), 'timesformer-run-1-tensorrt.onnx');
    assert.deepEqual(o.fixes, ['minimal', 'fp32', 'fused', 'prescaled', 'expose'], 'expose too: the set the palette offers');
    assert.deepEqual(o.fixes.map((m) => fixTitle(a, m as never)), o.fixes.map((m) => fixLabel(m as never, 25)));
    const pick = runPickItem(a);
    assert.match(pick.label, /^#1 ✗ FAIL · a_model\.pyth \+ a_test_data\.p · FP16 · LayerNorm plain · cpu · \d\d:\d\d:\d\d$/);
    assert.equal(pick.description, 'fails at block 4 · 12 blocks');
    const pass = s.runFinished(report(D1_FIXED_ERRORS), req.options, 2, req.inputs);
    assert.match(runPickItem(pass).label, /^#2 ✓ PASS · a_model\.pyth/);
    // The LayerNorm help speaks of the precision chosen.
    assert.match(layerNormHelp('plain', 'fp16'), /overflows in FP16/);
    for (const p of ['bf16', 'fp32'] as const) for (const m of ['plain', 'prescaled', 'minimal'] as const) assert.doesNotMatch(layerNormHelp(m, p), /overflows? in FP16|overflow here in FP32/, `${m} in ${p}`);
  });

  it('17.8: the inspector is told that an expose run keeps the LayerNorm values in FP32, so "> 65504" is not an overflow of that run', async () => {
    const { s } = await workspace();
    s.setOption('exposeLayerNorm', true);
    const req = s.request() as { options: never; inputs: never };
    const r = report(D1_FIXED_ERRORS);
    r.run.layerNorm = 'expose';
    const ex = s.runFinished(r, req.options, 1, req.inputs);
    const view = s.views().find((v) => v.id === ex.id)!;
    assert.match(view.layerNormNote!, /^LayerNorm expose: the difference, mean and std are graph outputs, computed and kept in FP32 in this run; "> 65504" counts the values a plain FP16 LayerNorm would overflow — none overflowed here\.$/);
    const plainRun = s.runFinished(report(D1_FP16_ERRORS, { overflowFrom: 4 }), req.options, 2, req.inputs);
    assert.equal(s.views().find((v) => v.id === plainRun.id)!.layerNormNote, undefined, 'a plain FP16 run\'s counts are its own overflows');
    const bf = report(D1_FIXED_ERRORS);
    bf.run.precision = 'bf16';
    assert.match(layerNormTableNote(bf)!, /^BF16 keeps FP32's range: nothing overflows in this run/);
  });
});

function applyTo(t: LabState, what: string): void {
  switch (what) {
    case 'precision': return t.setOption('precision', 'bf16');
    case 'LayerNorm mode': return t.setOption('layerNorm', 'fused');
    case 'expose': return t.setOption('exposeLayerNorm', true);
    case 'accumulation': return t.setOption('accumulate', 'fp16');
    case 'provider': return t.setOption('ep', 'webgpu');
    case 'heads': return t.setOption('heads', 4);
    default: return t.chooseTestData(null);
  }
}

describe('LabState: a video as the clip (extension/host/video.ts)', () => {
  it('a chosen video runs as --input (no reference of its own), is never inspected as test data, and pairs as "self"', async () => {
    const { s } = await workspace();
    s.chooseCheckpoint(`${W}/a_model.pyth`);
    s.chooseTestData(`${W}/clips/walk.mp4`, 'clips/walk.mp4');
    const req = s.request();
    assert.ok('options' in req, JSON.stringify(req));
    assert.equal(req.options.input, `${W}/clips/walk.mp4`);
    assert.equal(req.options.data, undefined);
    assert.equal(s.agreement?.status, 'self');
    assert.ok(!s.uninspected().some((f) => f.path.endsWith('.mp4')));
    // test data again: --data, as before
    s.chooseTestData(`${W}/a_test_data.p`);
    const back = s.request();
    assert.ok('options' in back);
    assert.equal(back.options.data, `${W}/a_test_data.p`);
    assert.equal(back.options.input, undefined);
  });
});
