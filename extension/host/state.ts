/**
 * LabState: the one store of the extension host (DESIGN.md, "Host state in one store"): intents
 * in, events out. It holds the workspace's files and what their headers say, the chosen checkpoint
 * and test data, the sidebar's options, the runs (keyed by id, each with its inputs, options, time,
 * report and fix offers), the runs that ended without a report, and the run or sweep in progress. Its data
 * (StoreData) changes only through the intents below (INTENTS lists them), each of which fires one
 * change event; a finished run fires `onDidLand` too, from which the views build the verdict's
 * notification and fix offer. The sidebar, the graph panel, the status bar and the commands read
 * the derivations of state-derive.ts (StoreReader, which this class extends) and the view models
 * of state-view.ts. No `vscode` import: unit-tested with mocha.
 *
 * What is chosen always is what runs: the test data is derived from the checkpoint (the user's
 * choice for that checkpoint, else the pairing by shape then name), so switching the checkpoint
 * re-pairs. What the sidebar and the status bar show is derived too, never kept beside the runs:
 * the latest completed run of the chosen inputs and options (what Run would run now), and a
 * later cancel or error of those beside it. A fix applies to the run it was offered for: its
 * options hold while that run's inputs are chosen, then the user's own choices come back.
 * Choices, options and runs persist in the workspace state (a Memento, state-persist.ts), never in
 * settings.json: the settings are defaults, and "Save as Workspace Settings" writes them explicitly.
 */
import type { Report, Stage } from '../core/report';
import type { ProviderInfo, RunOptions } from '../protocol';
import type { Inspection } from './pairing';
import type { LayerNormChoice, OptionKey, RunSettings, RunView, SidebarState, TrtexecView } from './protocol';
import { offersOf, referenceText, runLabel, runShort, type Attempt, type RunInputs, type StoredRun } from './labels';
import { base, StoreReader, type FileEntry, type SettingsDefaults } from './state-derive';
import { runViews, sidebarState } from './state-view';
import { StatePersistence, type Memento } from './state-persist';

export type { Attempt, RunInputs, StoredRun } from './labels';
export {
  afterNote, attemptLabel, dataName, exportFileName, fixTitle, offersOf, referenceText, runLabel, runPickItem, runShort, sameOptions, trtexecLine,
} from './labels';
export { OPTION_KEYS, SETTING_OF, StoreReader, type FileEntry, type Outcome, type SettingsDefaults } from './state-derive';
export type { RunSettings };
export type { Memento } from './state-persist';

/**
 * Every intent: the only methods that change the store. Views and commands send these and
 * nothing else (test/unit/state.test.ts checks that the class has no other public writer).
 */
export const INTENTS = [
  // files and what their headers say; the workspace's trust; the execution providers found
  'setScan', 'setInspections', 'forget', 'setTrusted', 'setProviders', 'setTrtexec',
  // the user's choices
  'chooseCheckpoint', 'chooseTestData', 'setOption', 'settingsChanged', 'saved',
  // runs
  'runStarted', 'runProgress', 'sweepStarted', 'sweepEnded', 'runFinished', 'runConfirmed', 'runFailed', 'runCancelled', 'runEnded', 'adoptFix', 'show', 'clearRuns', 'removeRuns',
] as const;
export type Intent = (typeof INTENTS)[number];

export type Listener = () => void;

/** What a stored run derives from its Report: the Report, its labels, its reference's name, the fixes it offers. */
function ofReport(n: number, inputs: RunInputs, report: Report, startedAt: number): Pick<StoredRun, 'report' | 'label' | 'short' | 'reference' | 'offers'> {
  return { report, label: runLabel(n, inputs, report, startedAt), short: runShort(n, inputs, report), reference: referenceText(inputs, report), offers: offersOf(report) };
}

/** A run no longer waiting for its minimal fix's confirmation (confirmed, or the confirmation cancelled or failed). */
function settled(r: StoredRun): StoredRun {
  if (!r.confirming) return r;
  const { confirming: _c, ...rest } = r;
  return rest;
}

export class LabState extends StoreReader {
  private readonly listeners = new Set<Listener>();
  private readonly landListeners = new Set<(run: StoredRun) => void>();
  private readonly persisted: StatePersistence;

  constructor(
    memento: Memento | undefined,
    defaults: () => SettingsDefaults,
    maxRuns = 20,
  ) {
    super(defaults, maxRuns);
    this.persisted = new StatePersistence(memento);
    this.restore();
  }

  // -------------------------------------------------------------------------------------------
  // Events out

  onDidChange(listener: Listener): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** A run finished with a Report (after its change event): the views say its verdict and offer its fixes. */
  onDidLand(listener: (run: StoredRun) => void): { dispose(): void } {
    this.landListeners.add(listener);
    return { dispose: () => this.landListeners.delete(listener) };
  }

  private changed(persist = true): void {
    if (persist) this.save();
    for (const l of [...this.listeners]) l();
  }

  // -------------------------------------------------------------------------------------------
  // Views (computed from the store, state-view.ts)

  views(): RunView[] {
    return runViews(this);
  }

  sidebar(): SidebarState {
    return sidebarState(this);
  }

  // -------------------------------------------------------------------------------------------
  // Intents: files and what their headers say

  /**
   * The workspace scan's result (sorted by label). `exists`: how the scan tells a file is there;
   * with it, the files browsed to (or a fix's) that no longer exist leave the lists for good.
   */
  setScan(checkpoints: FileEntry[], testData: FileEntry[], exists?: (p: string) => boolean): void {
    this.s.scanned = { checkpoints, testData };
    const b = this.s.browsed;
    const kept = exists ? { checkpoints: b.checkpoints.filter((f) => exists(f.path)), testData: b.testData.filter((f) => exists(f.path)) } : b;
    const pruned = kept.checkpoints.length !== b.checkpoints.length || kept.testData.length !== b.testData.length;
    if (pruned) this.s.browsed = kept;
    this.changed(pruned);
  }

  setInspections(results: ReadonlyMap<string, Inspection>): void {
    for (const [p, i] of results) this.s.inspections.set(p, i);
    this.changed(false);
  }

  /** Drops what is known of these files (changed on disk). */
  forget(paths: readonly string[]): void {
    for (const p of paths) this.s.inspections.delete(p);
    this.changed(false);
  }

  setTrusted(on: boolean): void {
    this.s.trusted = on;
    this.changed(false);
  }

  setProviders(p: ProviderInfo[]): void {
    this.s.providers = p;
    this.changed(false);
  }

  /** Where trtexec is, or why not (host/trtexec.ts looked). */
  setTrtexec(t: TrtexecView | null): void {
    this.s.trtexec = t;
    this.changed(false);
  }

  // -------------------------------------------------------------------------------------------
  // Intents: the user's choices

  /** A checkpoint from the list or a browsed file: it runs from now on; its test data is paired again. */
  chooseCheckpoint(p: string, label?: string): void {
    const b = this.s.browsed;
    if (!this.checkpointList().some((f) => f.path === p)) this.s.browsed = { ...b, checkpoints: [...b.checkpoints.filter((f) => f.path !== p), { path: p, label: label ?? base(p) }] };
    this.s.checkpointChoice = p;
    if (this.s.fix && this.s.fix.inputs.checkpoint !== p) this.s.fix = undefined;
    this.changed();
  }

  /** Test data for the chosen checkpoint (null: none); remembered for that checkpoint only. */
  chooseTestData(p: string | null, label?: string): void {
    const ck = this.checkpoint;
    if (!ck) return;
    const b = this.s.browsed;
    if (p !== null && !this.testDataList().some((f) => f.path === p)) this.s.browsed = { ...b, testData: [...b.testData.filter((f) => f.path !== p), { path: p, label: label ?? base(p) }] };
    this.s.pairs = { ...this.s.pairs, [ck]: p };
    if (this.s.fix && this.s.fix.inputs.testData !== p) this.s.fix = undefined;
    this.changed();
  }

  /** The user's choice: it holds from now on, for this model and the next (a fix being applied takes it too). */
  setOption<K extends OptionKey>(key: K, value: RunSettings[K]): void {
    this.s.overrides = { ...this.s.overrides, [key]: value };
    const f = this.activeFix();
    if (f) this.s.fix = { ...f, settings: { ...f.settings, [key]: value } };
    this.changed();
  }

  /** The user edited these settings: their new values win over the sidebar's. */
  settingsChanged(keys: readonly (OptionKey | 'checkpoint' | 'testData')[]): void {
    const o = { ...this.s.overrides };
    const d = this.defaults();
    for (const k of keys) {
      if (k === 'checkpoint' || k === 'testData') continue;
      delete o[k];
      if (this.s.fix) this.s.fix = { ...this.s.fix, settings: { ...this.s.fix.settings, [k]: d[k] } };
    }
    this.s.overrides = o;
    if (keys.includes('checkpoint')) this.s.checkpointChoice = undefined;
    // The test-data setting wins for the checkpoint it is for (every one when the checkpoint setting
    // is empty): the test data chosen for other checkpoints stays theirs ("Save as Workspace Settings"
    // writes both settings, and must not forget the other models' choices).
    if (keys.includes('testData')) {
      const ck = d.checkpoint;
      if (!ck) this.s.pairs = {};
      else if (ck in this.s.pairs) {
        const { [ck]: _dropped, ...rest } = this.s.pairs;
        this.s.pairs = rest;
      }
    }
    this.changed();
  }

  /** After "Save as Workspace Settings": the settings now hold these values. */
  saved(): void {
    this.s.overrides = {};
    this.s.fix = undefined;
    this.changed();
  }

  // -------------------------------------------------------------------------------------------
  // Intents: runs

  /** A run starts (`options`: what it runs; absent for an export, which stores no run). */
  runStarted(inputs: RunInputs, options?: RunOptions): void {
    this.s.running = { inputs, options, startedAt: Date.now() };
    this.changed(false);
  }

  /**
   * A sweep starts in the engine process: Run, the fixes and another sweep wait until it ends.
   * Returns why it cannot start (a run or a sweep holds the process), and then changes nothing.
   */
  sweepStarted(checkpoint: string): string | undefined {
    const why = this.whyBusy();
    if (why) return why;
    this.s.sweep = { checkpoint, startedAt: Date.now() };
    this.changed(false);
    return undefined;
  }

  /** The sweep ended (done, cancelled or failed). */
  sweepEnded(): void {
    if (!this.s.sweep) return;
    this.s.sweep = undefined;
    this.changed(false);
  }

  runProgress(stage: Stage): void {
    if (!this.s.running) return;
    this.s.running = { ...this.s.running, stage };
    this.changed(false);
  }

  /**
   * A finished run: stored, shown alone in the graph; the outcome for its inputs and options.
   * `confirming`: the mode's Report before its minimal fix's confirmation run (onModeReport): the
   * graph is colored now, the run still running until runConfirmed gives its whole Report.
   */
  runFinished(report: Report, options: RunOptions, requestId: number | undefined, inputs: RunInputs, startedAt = this.s.running?.startedAt ?? Date.now(), confirming = false): StoredRun {
    const n = ++this.s.counter;
    const run: StoredRun = {
      id: `run-${n}`, n, inputs, options, startedAt, requestId, ...ofReport(n, inputs, report, startedAt), ...(confirming ? { confirming: true as const } : {}),
    };
    this.s.runs = [...this.s.runs, run];
    if (this.s.runs.length > this.maxRuns) this.s.runs = this.s.runs.slice(-this.maxRuns);
    this.s.shownIds = [run.id];
    if (!confirming) this.s.running = undefined;
    this.changed();
    for (const l of [...this.landListeners]) l(run);
    return run;
  }

  /** A run landed before its minimal fix's confirmation (runFinished's `confirming`), now with its whole Report. */
  runConfirmed(id: string, report: Report): StoredRun | undefined {
    this.s.running = undefined;
    const old = this.get(id);
    if (!old) {
      this.changed();
      return undefined;
    }
    const run: StoredRun = { ...settled(old), ...ofReport(old.n, old.inputs, report, old.startedAt) };
    this.s.runs = this.s.runs.map((r) => (r.id === id ? run : r));
    this.changed();
    for (const l of [...this.landListeners]) l(run);
    return run;
  }

  runFailed(inputs: RunInputs, code: string, message: string): void {
    this.attempt({ kind: 'error', inputs, options: this.s.running?.options, code, message, at: Date.now(), after: this.s.counter });
  }

  runCancelled(inputs: RunInputs): void {
    this.attempt({ kind: 'cancelled', inputs, options: this.s.running?.options, at: Date.now(), after: this.s.counter });
  }

  private attempt(a: Attempt): void {
    // the run had landed, and its minimal fix's confirmation run is what ended: said as such, not as a re-run
    const confirming = this.s.runs.find((r) => r.confirming);
    if (confirming) a = { ...a, confirmationOf: confirming.id };
    this.s.running = undefined;
    // a run landed before its confirmation, which was then cancelled or failed: it stays, unconfirmed
    this.s.runs = this.s.runs.map(settled);
    this.s.attempts = [...this.s.attempts, a].slice(-this.maxRuns);
    this.changed();
  }

  /** An engine run that stores nothing (Export ONNX of an older run) ended. */
  runEnded(): void {
    this.s.running = undefined;
    this.changed(false);
  }

  /**
   * A fix offer is a (run, mode) pair: the run's inputs and options become the chosen ones, with
   * the LayerNorm mode set to the fix. Returns the run, or why the offer does not hold (then
   * nothing changed). `exists`: how the caller tells a file is there; a run whose checkpoint or
   * test data was deleted or renamed since is refused, rather than listed again as a ghost.
   */
  adoptFix(runId: string, mode: LayerNormChoice, exists?: (p: string) => boolean): StoredRun | string {
    const chosen = this.chosenSettings();
    const run = this.get(runId);
    if (!run) return `run ${runId} is no longer kept (runs are pruned to the newest ${this.maxRuns}); run again to get new offers`;
    if (mode === 'plain' || !run.offers.includes(mode)) return `run ${run.label} does not offer the ${mode} LayerNorm fix`;
    const gone = exists && [run.inputs.checkpoint, run.inputs.testData].find((p): p is string => p !== null && !exists(p));
    if (gone) return `${base(gone)} no longer exists (${gone}): the fix offered by ${run.short} has nothing to run on`;
    const ck = run.inputs.checkpoint;
    if (!this.checkpointList().some((f) => f.path === ck)) this.s.browsed = { ...this.s.browsed, checkpoints: [...this.s.browsed.checkpoints, { path: ck, label: base(ck) }] };
    const td = run.inputs.testData;
    if (td !== null && !this.testDataList().some((f) => f.path === td)) this.s.browsed = { ...this.s.browsed, testData: [...this.s.browsed.testData, { path: td, label: base(td) }] };
    this.s.checkpointChoice = ck;
    this.s.pairs = { ...this.s.pairs, [ck]: td };
    const o = run.options;
    // The fix's options hold while this run's inputs are chosen; the next model gets the user's own.
    this.s.fix = {
      runId, mode, inputs: run.inputs,
      settings: {
        ...chosen,
        precision: o.precision ?? 'fp32', ep: o.engine === 'trtexec' ? 'trtexec' : o.ep ?? 'cpu', heads: o.heads ?? null, accumulate: o.accumulate ?? 'fp32',
        exposeLayerNorm: mode === 'expose',
        ...(mode === 'expose' ? {} : { layerNorm: mode }),
      },
    };
    this.changed();
    return run;
  }

  /** These runs are drawn side by side (unknown ids dropped). */
  show(ids: readonly string[]): void {
    this.s.shownIds = ids.filter((id) => this.get(id));
    this.changed();
  }

  clearRuns(): void {
    this.s.runs = [];
    this.s.shownIds = [];
    this.s.attempts = [];
    this.changed();
  }

  removeRuns(ids: readonly string[]): void {
    this.s.runs = this.s.runs.filter((r) => !ids.includes(r.id));
    this.s.shownIds = this.s.shownIds.filter((id) => !ids.includes(id));
    this.changed();
  }

  // -------------------------------------------------------------------------------------------
  // Persistence (workspace state)

  private save(): void {
    const s = this.s;
    this.persisted.save({
      checkpoint: s.checkpointChoice, pairs: s.pairs, overrides: s.overrides, browsed: s.browsed,
      counter: s.counter, shown: s.shownIds, attempts: s.attempts, ...(s.fix ? { fix: s.fix } : {}),
    }, s.runs);
  }

  private restore(): void {
    const s = this.s;
    try {
      const loaded = this.persisted.load();
      if (!loaded) return;
      const { snap } = loaded;
      s.checkpointChoice = typeof snap.checkpoint === 'string' ? snap.checkpoint : undefined;
      s.pairs = snap.pairs && typeof snap.pairs === 'object' ? snap.pairs : {};
      s.overrides = snap.overrides && typeof snap.overrides === 'object' ? snap.overrides : {};
      s.browsed = { checkpoints: snap.browsed?.checkpoints ?? [], testData: snap.browsed?.testData ?? [] };
      s.runs = loaded.runs;
      s.counter = Math.max(Number(snap.counter) || 0, ...s.runs.map((r) => r.n));
      s.shownIds = Array.isArray(snap.shown) ? snap.shown : [];
      s.attempts = Array.isArray(snap.attempts) ? snap.attempts : [];
      s.fix = snap.fix && typeof snap.fix === 'object' ? snap.fix : undefined;
    } catch {
      // A damaged snapshot is dropped, never fatal: the extension starts fresh.
      s.runs = [];
    }
  }
}
