/**
 * The store rendered for the webviews: the sidebar's SidebarState (files and how each fits the
 * checkpoint, the pairing, the options, why Run waits, the latest verdict of the chosen inputs
 * and options with its fixes) and the graph's RunViews. Pure functions of the store's read side
 * (StoreReader, state-derive.ts): nothing here is kept, all of it is computed when a view renders.
 */
import { agreement } from './pairing';
import { summarize, type AttemptView, type FileChoice, type OutcomeView, type RunView, type SidebarState } from './protocol';
import { attemptLabel, headsNote, headsPlaceholder, pairingView, trtexecLine, withoutConfirmation, type Attempt } from './labels';
import type { StoreReader } from './state-derive';
import { layerNormTableNote } from './text';
import { isVideoPath } from './video';

/**
 * An HF folder (config.json beside the weights): the scan says so, or, for a folder browsed to, its
 * header read as HF with no weight file's extension (a single HF-keyed .safetensors has no config).
 */
function isHfFolder(store: StoreReader, ck: string): boolean {
  if (store.checkpointList().find((f) => f.path === ck)?.hf) return true;
  const i = store.inspection(ck);
  return i?.state === 'ok' && i.signature.kind === 'checkpoint' && i.signature.hf && !/\.(safetensors|bin|pth|pt|pyth|ckpt)$/i.test(ck);
}

/** The graph panel's lanes: every kept run, with its summary. */
export function runViews(store: StoreReader): RunView[] {
  return store.all.map((r) => {
    const note = layerNormTableNote(r.report);
    return { id: r.id, label: r.label, short: r.short, reference: r.reference, summary: summarize(r.report), ...(note ? { layerNormNote: note } : {}), ...(r.confirming ? { confirming: true as const } : {}) };
  });
}

export function sidebarState(store: StoreReader): SidebarState {
  const ck = store.checkpoint;
  const td = store.testData;
  const s = store.settings;
  const a = store.agreement;
  const ckInsp = ck ? store.inspection(ck) : undefined;
  const testData: FileChoice[] = store.testDataList().map((f) => {
    const fa = ck ? agreement(ckInsp, store.inspection(f.path), f.path) : undefined;
    const fit = fa?.status === 'agree' ? 'agree' : fa?.status === 'disagree' ? 'disagree' : 'unknown';
    return { path: f.path, label: f.label, fit, ...(fa?.status === 'disagree' ? { note: fa.problems[0] } : {}) };
  });
  const req = store.request();
  const run = store.currentRun();
  const att = store.currentAttempt(run);
  const attView = (a: Attempt): AttemptView => ({
    ...(a.kind === 'error' ? { kind: 'error' as const, label: attemptLabel(a), code: a.code, message: a.message } : { kind: 'cancelled' as const, label: attemptLabel(a) }),
    ...(run && a.confirmationOf === run.id ? { confirmation: true as const } : {}),
  });
  let outcome: OutcomeView | undefined;
  if (run) {
    const mf = run.report.diagnosis.minimalFix;
    // this run's own confirmation run was cancelled or failed (not a re-run of it)
    const stopped = att?.confirmationOf === run.id ? att.kind : undefined;
    const minimal = mf?.layerNorms.length ? {
      count: mf.layerNorms.length, ...(mf.confirmed ? { confirmed: mf.confirmed } : {}), ...(run.confirming ? { confirming: true as const } : {}), ...(stopped && !mf.confirmed ? { stopped } : {}), trtexec: trtexecLine(run)!,
    } : undefined;
    const heads = headsNote(run.report);
    outcome = {
      kind: 'run', runId: run.id, label: run.label, verdict: run.report.diagnosis.verdict,
      // The minimal fix's note below says what its confirmation run found: the sentence does not say it again.
      sentence: minimal && run.offers.includes('minimal') ? withoutConfirmation(run.report.diagnosis.sentence) : run.report.diagnosis.sentence,
      reference: run.reference, realization: run.report.run.label, fixes: run.offers,
      ...(minimal ? { minimal } : {}),
      ...(heads ? { heads } : {}),
      ...(att ? { after: attView(att) } : {}),
    };
  } else if (att) outcome = attView(att);
  return {
    checkpoints: store.checkpointList().map((f) => ({ path: f.path, label: f.label, ...(f.hf ? { note: 'HF folder' } : {}) })),
    testData,
    checkpoint: ck,
    testDataPath: td,
    pairing: a && pairingView(a, { checkpoint: ck!, testData: td ?? null }, store.trusted),
    precision: s.precision, accumulate: s.accumulate, layerNorm: s.layerNorm, exposeLayerNorm: s.exposeLayerNorm, ep: s.ep, heads: s.heads,
    unsaved: store.unsaved(),
    providers: store.providers,
    trtexec: store.trtexec,
    running: store.running,
    stage: store.stage,
    headsPlaceholder: headsPlaceholder({ hfFolder: !!ck && isHfFolder(store, ck), testData: td, video: !!td && isVideoPath(td) }),
    sweeping: store.sweeping,
    canRun: !store.running && !store.sweeping && 'options' in req,
    ...(store.sweeping && !store.running ? { whyNot: `Run waits: ${store.whyBusy()} (cancel it from its notification).` }
      : 'missing' in req ? { whyNot: 'No checkpoint found in the workspace: browse for one.' }
      : 'refused' in req ? { whyNot: a?.status === 'disagree' ? 'Run waits for test data that matches the checkpoint (see above), or none: the model is then compared with its own FP32.' : req.refused }
        : {}),
    trusted: store.trusted,
    outcome,
    runCount: store.all.length,
  };
}
