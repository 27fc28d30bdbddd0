/**
 * The host's one store (LabState) with several models in one workspace: what the sidebar shows is
 * what runs, test data pairs by shape then name and re-pairs on a switch, verdicts belong to their
 * inputs, choices persist in the workspace state (never settings.json), runs carry their identity,
 * can be pruned and land before their minimal fix's confirmation. The fixes and what users hit are
 * in state-fixes.test.ts; the shared workspace in helpers/state.ts.
 */
import { strict as assert } from 'assert';
import { parseReportJson, reportToJson } from '../../extension/core/report';
import { nameScore, pairTestData, type Inspection } from '../../extension/host/pairing';
import { INTENTS, LabState } from '../../extension/host/state';
import { D1_FIXED_ERRORS, D1_FP16_ERRORS } from './helpers/report';
import { DEFAULTS, FakeMemento, W, file, report, withMinimalFix, workspace } from './helpers/state';
import type { StoredRun } from '../../extension/host/labels';

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
