/**
 * The fix offers of a run, built from the run the store keeps (its Report's diagnosis and offers):
 * the notification after a run that failed on a LayerNorm overflow, the pick of its fixes, and its
 * minimal fix's trtexec line copied. A fix picked goes out as the Apply Fix command, by id; a fix
 * that has run since its notification was shown is shown instead (fixOrShow).
 */
import * as fs from 'fs';
import * as vscode from 'vscode';
import { notify } from '../notify';
import { confirmationText, type FixMode } from '../protocol';
import { SECTION } from '../settings';
import { fixTitle, trtexecLine, type LabState, type StoredRun, type StoreReader } from '../state';
import { plain } from '../text';
import { OpenOffers } from './open-offers';

/** The notification's second button after a failing run: the run's other fixes, in a pick. */
const OTHER_FIXES = 'Other fixes…';

const applyFix = (runId: string, mode: FixMode) => vscode.commands.executeCommand(`${SECTION}.applyFix`, runId, mode);

/** The button that runs a fix again after its run was shown. */
const RUN_AGAIN = 'Run Again';

/** What a fix notification's button reads of the store, and the intents it sends it. */
export type OfferStore = StoreReader & Pick<LabState, 'adoptFix' | 'show'>;

/**
 * A fix notification stays after its fix has run (VS Code cannot close it): its button then shows
 * the run the fix made — chosen in the sidebar as the fix left it, drawn in the graph — and asks
 * before running it again, instead of running it again silently.
 */
async function fixOrShow(store: OfferStore, run: StoredRun, mode: FixMode): Promise<unknown> {
  const done = store.fixRunOf(run.id, mode);
  if (!done) return applyFix(run.id, mode);
  const adopted = store.adoptFix(run.id, mode, (p) => fs.existsSync(p));
  if (typeof adopted === 'string') return notify.warn(`TimeSformer: ${adopted}`);
  store.show([done.id]);
  void vscode.commands.executeCommand(`${SECTION}.showGraph`);
  const verdict = done.report.diagnosis.verdict === 'pass' ? 'passes' : 'fails';
  const again = await notify.info(`TimeSformer: ${fixTitle(run, mode)} ran already for ${run.short}: ${done.short} ${verdict} (shown in the sidebar and the graph).`, RUN_AGAIN);
  return again === RUN_AGAIN ? applyFix(run.id, mode) : undefined;
}

/** The findings offered by a notification not answered yet (one notification each). */
const openOffers = new OpenOffers();

/**
 * After a run that failed on a LayerNorm overflow: its first fix in one click (the minimal fix
 * when offered), and "Other fixes…" for the rest, both bound to that run. Two buttons, because a
 * notification shortens its buttons' labels to fit one row (four fixes read "Fix: only the 25
 * overflow…", "Fix…"); the sidebar and the palette list every fix in full. None when the same
 * finding's notification is still unanswered (open-offers.ts).
 */
export function offerFix(store: OfferStore, run: StoredRun): void {
  const d = run.report.diagnosis;
  const culprit = d.culprit;
  if (!run.offers.length || !culprit) return;
  const first = run.offers[0];
  const actions = [fixTitle(run, first), ...(run.offers.length > 1 ? [OTHER_FIXES] : [])];
  const where = culprit.block !== null ? `block ${culprit.block} ` : '';
  const minimal = first === 'minimal' && d.minimalFix ? ` Minimal fix: ${d.minimalFix.layerNorms.length} LayerNorm(s) in FP32, ${confirmationText(d.minimalFix.confirmed)}.` : '';
  // the finding is answered when the notification is (a button, or closed), not when its fix has run
  openOffers.offer(run, () => {
    const answer = notify.warn(`TimeSformer: ${run.short}: ${where}LayerNorm overflows FP16 in channel ${culprit.channel} (${culprit.layerNorm}).${minimal}`, ...actions);
    void answer.then(async (pick) => {
      if (pick === actions[0]) return fixOrShow(store, run, first);
      if (pick !== OTHER_FIXES) return;
      const mode = await pickFix(run);
      return mode && fixOrShow(store, run, mode);
    });
    return answer;
  });
}

/** The fixes run `run` offers, to pick one from (the minimal fix first; Enter takes it). */
export async function pickFix(run: StoredRun): Promise<FixMode | undefined> {
  const mf = run.report.diagnosis.minimalFix;
  const pick = await vscode.window.showQuickPick(run.offers.map((m) => ({
    label: fixTitle(run, m), mode: m,
    detail: m === 'minimal' && mf ? `${confirmationText(mf.confirmed)} (${mf.layerNorms[0]}${mf.layerNorms.length > 1 ? ` … ${mf.layerNorms[mf.layerNorms.length - 1]}` : ''})` : undefined,
  })), { title: `TimeSformer: fix ${plain(run.short)} and run again` });
  return pick?.mode;
}

/** The trtexec line of run `runId`'s minimal fix, to the clipboard (and the log, to read it back). */
export async function copyTrtexec(store: StoreReader, runId: string, log: (line: string) => void, showLog: () => void): Promise<void> {
  const run = store.get(runId);
  const line = run && trtexecLine(run);
  if (!run || !line) {
    void notify.warn(`TimeSformer: ${run ? `${run.short} has no minimal fix` : `run ${runId} is no longer kept`}, so no trtexec line to copy.`);
    return;
  }
  const n = run.report.diagnosis.minimalFix!.layerNorms.length;
  try {
    await vscode.env.clipboard.writeText(line);
  } catch (e) {
    // A browser (code-server) may refuse the clipboard: the line is still in the log.
    log(`the minimal fix's trtexec line of ${run.label}: ${line}`);
    void notify.warn(`TimeSformer: the clipboard refused the trtexec line (${e instanceof Error ? e.message : String(e)}); it is in the TimeSformer Lab log.`, 'Show Log').then((a) => a && showLog());
    return;
  }
  log(`copied the minimal fix's trtexec line of ${run.label}: ${line}`);
  void notify.info(`TimeSformer: trtexec line copied: the ${n} overflowing LayerNorm(s) in FP32, the rest FP16.`);
}
