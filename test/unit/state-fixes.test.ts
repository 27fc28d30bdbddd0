/**
 * The host's store (LabState), continued: the accumulation option and the minimal fix's offers,
 * text from files kept as text, what users hit (issues 17, 22, 23) and a video as the clip. The
 * shared workspace is in helpers/state.ts.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import { inspectCheckpoint, inspectTestData } from '../../extension/core/inspect';
import { type Report } from '../../extension/core/report';
import { nameScore, pairTestData, type Inspection } from '../../extension/host/pairing';
import { exportFileName, fixTitle, LabState, runPickItem } from '../../extension/host/state';
import { fixLabel, layerNormHelp } from '../../extension/host/protocol';
import { layerNormTableNote, plain, visible } from '../../extension/host/text';
import { D1_FIXED_ERRORS, D1_FP16_ERRORS } from './helpers/report';
import { D1_MINIMAL, DEFAULTS, FakeMemento, FIX, W, file, report, withMinimalFix, workspace } from './helpers/state';

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
