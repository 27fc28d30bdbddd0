/**
 * LabState: the one store of the extension host (DESIGN.md, "Host state in one store"). It holds
 * the workspace's files and what their headers say, the chosen checkpoint and test data and how
 * they agree, the sidebar's options, the runs (keyed by id, each with its inputs, options, time,
 * report and fix offers) and the outcome of the last action. It changes only through the methods
 * below, each of which fires one change event; the sidebar, the graph panel, the status bar and
 * the commands render from it. No `vscode` import: unit-tested with mocha.
 *
 * What is chosen always is what runs: the test data is derived from the checkpoint (the user's
 * choice for that checkpoint, else the pairing by shape then name), so switching the checkpoint
 * re-pairs. What the sidebar and the status bar show is derived too, never kept beside the runs:
 * the latest completed run of the chosen inputs and options (what Run would run now), and a
 * later cancel or error of those beside it. A fix applies to the run it was offered for: its
 * options hold while that run's inputs are chosen, then the user's own choices come back.
 * Choices, options and runs persist in the workspace state (a Memento), never in settings.json:
 * the settings are defaults, and "Save as Workspace Settings" writes them explicitly.
 *
 * Longer than the house's ≈400 lines on purpose: every change of the host's state is a method of
 * this one class (the single owner); the words it renders are in labels.ts and text.ts.
 */
import * as path from 'path';
import { validateOptions, type OptionNames } from '../core/options';
import { parseReportJson, reportToJson, type Report, type Stage } from '../core/report';
import { trtexecRefusal } from '../core/trt/trtexec';
import type { ProviderInfo, RunOptions } from '../protocol';
import { agreement, pairTestData, type Agreement, type Inspection } from './pairing';
import {
  LAYERNORM_CHOICES, summarize,
  type AttemptView, type FileChoice, type FixMode, type LayerNormChoice, type OptionKey, type OutcomeView, type RunSettings, type RunView, type SidebarState, type TrtexecView,
} from './protocol';
import {
  attemptLabel, headsNote, offersOf, pairingView, referenceText, runLabel, runShort, sameOptions, trtexecLine, withoutConfirmation,
  type Attempt, type RunInputs, type StoredRun,
} from './labels';
import { layerNormTableNote } from './text';

export type { Attempt, RunInputs, StoredRun } from './labels';
export {
  attemptLabel, dataName, exportFileName, fixTitle, offersOf, referenceText, runLabel, runPickItem, runShort, sameOptions, trtexecLine,
} from './labels';

export type { RunSettings };

/** The user's settings (timesformerLab.*): defaults for the sidebar, plus settings-only values. */
export interface SettingsDefaults extends RunSettings {
  /** Absolute paths (resolved against the workspace folder); undefined when not set. */
  checkpoint?: string;
  testData?: string;
  /** null: the precision's default tolerance (the pipeline's). */
  tolerance: number | null;
  deviceId: number;
  trtCacheDir: string;
}

export const OPTION_KEYS: readonly OptionKey[] = ['precision', 'accumulate', 'layerNorm', 'exposeLayerNorm', 'ep', 'heads'];

/** The setting behind each sidebar option. */
export const SETTING_OF: Record<OptionKey, string> = {
  precision: 'precision', accumulate: 'accumulate', layerNorm: 'layerNorm', exposeLayerNorm: 'exposeLayerNorm', ep: 'executionProvider', heads: 'heads',
};

/** Option names as the user sees them in the settings, for validation messages. */
const SETTING_NAMES: OptionNames = {
  precision: 'timesformerLab.precision', accumulate: 'timesformerLab.accumulate', layerNorm: 'timesformerLab.layerNorm', ep: 'timesformerLab.executionProvider',
  heads: 'timesformerLab.heads', tolerance: 'timesformerLab.tolerance', deviceId: 'timesformerLab.deviceId',
};

export interface FileEntry {
  path: string;
  label: string;
  /** An HF folder (config.json + weights). */
  hf?: boolean;
}

export type Outcome = { kind: 'run'; runId: string } | Attempt;

/** A fix being applied: the options of run `runId` with LayerNorm `mode`, while that run's inputs are chosen. */
interface ActiveFix {
  runId: string;
  mode: FixMode;
  inputs: RunInputs;
  settings: RunSettings;
}

/** The subset of vscode.Memento used here. */
export interface Memento {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void>;
}

interface Snapshot {
  v: 1;
  checkpoint?: string;
  pairs: Record<string, string | null>;
  overrides: Partial<RunSettings>;
  browsed: { checkpoints: FileEntry[]; testData: FileEntry[] };
  counter: number;
  shown: string[];
  attempts?: Attempt[];
  fix?: ActiveFix;
  /** The runs as reportToJson text (keeps Infinity and NaN). */
  runs: string;
}

const STATE_KEY = 'timesformerLab.state';
/** Persisted runs stop here (the newest are kept): a Report is 50 KB to 1 MB. */
const MAX_PERSISTED_BYTES = 16 * 2 ** 20;

export type Listener = () => void;

const base = (p: string) => path.basename(p);
const same = (a: RunInputs | undefined, b: { checkpoint?: string; testData?: string | null }) =>
  !!a && a.checkpoint === b.checkpoint && a.testData === b.testData;

export class LabState {
  private scanned: { checkpoints: FileEntry[]; testData: FileEntry[] } = { checkpoints: [], testData: [] };
  private browsed: { checkpoints: FileEntry[]; testData: FileEntry[] } = { checkpoints: [], testData: [] };
  private readonly inspections = new Map<string, Inspection>();
  private checkpointChoice: string | undefined;
  private pairs: Record<string, string | null> = {};
  private overrides: Partial<RunSettings> = {};
  private runs: StoredRun[] = [];
  private counter = 0;
  private shownIds: string[] = [];
  /** Runs that ended without a report (errors, cancels), the newest last. */
  private attempts: Attempt[] = [];
  private fix: ActiveFix | undefined;
  private runningValue: { inputs: RunInputs; options?: RunOptions; stage?: Stage; startedAt: number } | undefined;
  private providersValue: ProviderInfo[] | null = null;
  private trtexecValue: TrtexecView | null = null;
  private trustedValue = true;
  private readonly listeners = new Set<Listener>();

  constructor(
    private readonly memento: Memento | undefined,
    private readonly defaults: () => SettingsDefaults,
    readonly maxRuns = 20,
  ) {
    this.restore();
  }

  // -------------------------------------------------------------------------------------------
  // Events

  onDidChange(listener: Listener): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  private changed(persist = true): void {
    if (persist) this.save();
    for (const l of [...this.listeners]) l();
  }

  // -------------------------------------------------------------------------------------------
  // Files and what their headers say

  /** The workspace scan's result (sorted by label). */
  setScan(checkpoints: FileEntry[], testData: FileEntry[]): void {
    this.scanned = { checkpoints, testData };
    this.changed(false);
  }

  setInspections(results: ReadonlyMap<string, Inspection>): void {
    for (const [p, i] of results) this.inspections.set(p, i);
    this.changed(false);
  }

  inspection(p: string): Inspection | undefined {
    return this.inspections.get(p);
  }

  /** Files whose headers are not read yet (or must be read again). */
  uninspected(): { path: string; kind: 'checkpoint' | 'test-data' }[] {
    const want = (kind: 'checkpoint' | 'test-data') => (f: FileEntry) => ({ path: f.path, kind });
    return [...this.checkpointList().map(want('checkpoint')), ...this.testDataList().map(want('test-data'))]
      .filter((f) => !this.inspections.has(f.path));
  }

  /** Drops what is known of these files (changed on disk). */
  forget(paths: readonly string[]): void {
    for (const p of paths) this.inspections.delete(p);
    this.changed(false);
  }

  get trusted(): boolean {
    return this.trustedValue;
  }

  setTrusted(on: boolean): void {
    this.trustedValue = on;
    this.changed(false);
  }

  get providers(): ProviderInfo[] | null {
    return this.providersValue;
  }

  setProviders(p: ProviderInfo[]): void {
    this.providersValue = p;
    this.changed(false);
  }

  /** trtexec, for the engine choice "TensorRT (trtexec)" (host/commands/trtexec.ts looks for it). */
  get trtexec(): TrtexecView | null {
    return this.trtexecValue;
  }

  setTrtexec(t: TrtexecView | null): void {
    this.trtexecValue = t;
    this.changed(false);
  }

  checkpointList(): FileEntry[] {
    return merge(this.scanned.checkpoints, this.browsed.checkpoints, this.defaults().checkpoint);
  }

  testDataList(): FileEntry[] {
    return merge(this.scanned.testData, this.browsed.testData, this.defaults().testData);
  }

  // -------------------------------------------------------------------------------------------
  // The chosen inputs

  /** The checkpoint that runs: the user's choice, else the setting, else the first one found. */
  get checkpoint(): string | undefined {
    const list = this.checkpointList();
    const has = (p: string | undefined) => !!p && list.some((f) => f.path === p);
    if (has(this.checkpointChoice)) return this.checkpointChoice;
    const d = this.defaults().checkpoint;
    if (has(d)) return d;
    return list[0]?.path;
  }

  /** The test data that runs with the checkpoint (null: none); undefined without a checkpoint. */
  get testData(): string | null | undefined {
    const ck = this.checkpoint;
    if (!ck) return undefined;
    const list = this.testDataList();
    const has = (p: string | null | undefined) => p === null || (!!p && list.some((f) => f.path === p));
    if (ck in this.pairs && has(this.pairs[ck])) return this.pairs[ck];
    const d = this.defaults();
    if (d.testData && has(d.testData) && (!d.checkpoint || d.checkpoint === ck)) return d.testData;
    return pairTestData(ck, list.map((f) => f.path), (p) => this.inspections.get(p));
  }

  get agreement(): Agreement | undefined {
    const ck = this.checkpoint;
    const td = this.testData;
    if (!ck || td === undefined) return undefined;
    return agreement(this.inspections.get(ck), td === null ? undefined : this.inspections.get(td), td);
  }

  /** A checkpoint from the list or a browsed file: it runs from now on; its test data is paired again. */
  chooseCheckpoint(p: string, label?: string): void {
    if (!this.checkpointList().some((f) => f.path === p)) this.browsed.checkpoints = [...this.browsed.checkpoints.filter((f) => f.path !== p), { path: p, label: label ?? base(p) }];
    this.checkpointChoice = p;
    if (this.fix && this.fix.inputs.checkpoint !== p) this.fix = undefined;
    this.changed();
  }

  /** Test data for the chosen checkpoint (null: none); remembered for that checkpoint only. */
  chooseTestData(p: string | null, label?: string): void {
    const ck = this.checkpoint;
    if (!ck) return;
    if (p !== null && !this.testDataList().some((f) => f.path === p)) this.browsed.testData = [...this.browsed.testData.filter((f) => f.path !== p), { path: p, label: label ?? base(p) }];
    this.pairs = { ...this.pairs, [ck]: p };
    if (this.fix && this.fix.inputs.testData !== p) this.fix = undefined;
    this.changed();
  }

  isListed(kind: 'checkpoint' | 'testData', p: string): boolean {
    return (kind === 'checkpoint' ? this.checkpointList() : this.testDataList()).some((f) => f.path === p);
  }

  // -------------------------------------------------------------------------------------------
  // Options

  /** The options that run: a fix's while its run's inputs are chosen, else the user's. */
  get settings(): RunSettings {
    return this.activeFix()?.settings ?? this.chosenSettings();
  }

  /** The user's options: the sidebar's choices over the settings. */
  private chosenSettings(): RunSettings {
    const d = this.defaults();
    const pick = <K extends OptionKey>(k: K): RunSettings[K] => (k in this.overrides ? this.overrides[k] : d[k]) as RunSettings[K];
    return {
      precision: pick('precision'), accumulate: pick('accumulate'), layerNorm: pick('layerNorm'), exposeLayerNorm: pick('exposeLayerNorm'), ep: pick('ep'), heads: pick('heads'),
    };
  }

  /** The fix being applied, while its run's inputs are the chosen ones. */
  private activeFix(): ActiveFix | undefined {
    const f = this.fix;
    return f && same(f.inputs, { checkpoint: this.checkpoint, testData: this.testData }) ? f : undefined;
  }

  /** The user's choice: it holds from now on, for this model and the next (a fix being applied takes it too). */
  setOption<K extends OptionKey>(key: K, value: RunSettings[K]): void {
    this.overrides = { ...this.overrides, [key]: value };
    const f = this.activeFix();
    if (f) this.fix = { ...f, settings: { ...f.settings, [key]: value } };
    this.changed();
  }

  /** The options shown that differ from the settings. */
  unsaved(): OptionKey[] {
    const d = this.defaults();
    const s = this.settings;
    return OPTION_KEYS.filter((k) => s[k] !== d[k]);
  }

  /** The user edited these settings: their new values win over the sidebar's. */
  settingsChanged(keys: readonly (OptionKey | 'checkpoint' | 'testData')[]): void {
    const o = { ...this.overrides };
    const d = this.defaults();
    for (const k of keys) {
      if (k === 'checkpoint' || k === 'testData') continue;
      delete o[k];
      if (this.fix) this.fix = { ...this.fix, settings: { ...this.fix.settings, [k]: d[k] } };
    }
    this.overrides = o;
    if (keys.includes('checkpoint')) this.checkpointChoice = undefined;
    if (keys.includes('testData')) this.pairs = {};
    this.changed();
  }

  /** After "Save as Workspace Settings": the settings now hold these values. */
  saved(): void {
    this.overrides = {};
    this.fix = undefined;
    this.changed();
  }

  /** The LayerNorm mode that runs (the expose toggle overrides the select). */
  get effectiveLayerNorm(): LayerNormChoice {
    const s = this.settings;
    return s.exposeLayerNorm ? 'expose' : s.layerNorm;
  }

  /**
   * What Run would run now, or why it cannot. `engine` false: the inputs and options whatever the
   * engine choice can do (Export for TensorRT… is what the sidebar offers where trtexec is absent).
   */
  request(engine = true): { options: RunOptions; inputs: RunInputs } | { missing: 'checkpoint' } | { refused: string } {
    const ck = this.checkpoint;
    if (!ck) return { missing: 'checkpoint' };
    const td = this.testData ?? null;
    const a = this.agreement;
    if (a?.status === 'disagree') return { refused: `${base(ck)} and ${td ? base(td) : 'its test data'} do not belong together: the test data has ${a.problems.join('; ')}. Choose other test data, or none to compare with the model's own FP32.` };
    const s = this.settings;
    const d = this.defaults();
    const options: RunOptions = {
      weights: ck,
      ...(td !== null ? { data: td } : {}),
      ...(s.heads ? { heads: s.heads } : {}),
      precision: s.precision,
      // Accumulation is an FP16 option (the sidebar shows it for FP16 only): other precisions run as the default.
      ...(s.precision === 'fp16' ? { accumulate: s.accumulate } : {}),
      layerNorm: this.effectiveLayerNorm,
      // trtexec runs in the CLI (trt-run), its Report's provider is TensorRT
      ...(s.ep === 'trtexec' ? { ep: 'tensorrt' as const, engine: 'trtexec' as const } : { ep: s.ep }),
      deviceId: d.deviceId,
      ...(d.trtCacheDir ? { trtCacheDir: d.trtCacheDir } : {}),
      ...(d.tolerance !== null ? { tolerance: d.tolerance } : {}),
    };
    const ln = options.layerNorm!;
    if (!LAYERNORM_CHOICES.includes(ln)) return { refused: `${SETTING_NAMES.layerNorm} must be one of ${LAYERNORM_CHOICES.join(', ')}; got '${String(ln)}'` };
    try {
      // 'minimal' is plain LayerNorms until the engine process reads which ones to keep in FP32.
      validateOptions({ ...options, layerNorm: ln === 'minimal' ? 'plain' : ln }, SETTING_NAMES);
    } catch (e) {
      return { refused: e instanceof Error ? e.message : String(e) };
    }
    if (engine && options.engine === 'trtexec') {
      const t = this.trtexecValue;
      if (!t) return { refused: 'Looking for trtexec…' };
      if (!t.available) return { refused: `TensorRT (trtexec) is not available: ${t.reason}. Export for TensorRT… writes a bundle to run where TensorRT is.` };
      const why = trtexecRefusal(options, { fp16: t.fp16, layerPrecisions: t.layerPrecisions, version: t.version });
      if (why) return { refused: why };
    }
    return { options, inputs: { checkpoint: ck, testData: td } };
  }

  // -------------------------------------------------------------------------------------------
  // Runs

  get running(): boolean {
    return !!this.runningValue;
  }

  get stage(): Stage | undefined {
    return this.runningValue?.stage;
  }

  /** A run starts (`options`: what it runs; absent for an export, which stores no run). */
  runStarted(inputs: RunInputs, options?: RunOptions): void {
    this.runningValue = { inputs, options, startedAt: Date.now() };
    this.changed(false);
  }

  runProgress(stage: Stage): void {
    if (!this.runningValue) return;
    this.runningValue = { ...this.runningValue, stage };
    this.changed(false);
  }

  /** A finished run: stored, shown alone in the graph; the outcome for its inputs and options. */
  runFinished(report: Report, options: RunOptions, requestId: number | undefined, inputs: RunInputs, startedAt = this.runningValue?.startedAt ?? Date.now()): StoredRun {
    const n = ++this.counter;
    const run: StoredRun = {
      id: `run-${n}`, n, inputs, options, startedAt, report, requestId,
      label: runLabel(n, inputs, report, startedAt), short: runShort(n, inputs, report), reference: referenceText(inputs, report),
      offers: offersOf(report),
    };
    this.runs = [...this.runs, run];
    if (this.runs.length > this.maxRuns) this.runs = this.runs.slice(-this.maxRuns);
    this.shownIds = [run.id];
    this.runningValue = undefined;
    this.changed();
    return run;
  }

  runFailed(inputs: RunInputs, code: string, message: string): void {
    this.attempt({ kind: 'error', inputs, options: this.runningValue?.options, code, message, at: Date.now(), after: this.counter });
  }

  runCancelled(inputs: RunInputs): void {
    this.attempt({ kind: 'cancelled', inputs, options: this.runningValue?.options, at: Date.now(), after: this.counter });
  }

  private attempt(a: Attempt): void {
    this.runningValue = undefined;
    this.attempts = [...this.attempts, a].slice(-this.maxRuns);
    this.changed();
  }

  /** An engine run that stores nothing (Export ONNX of an older run) ended. */
  runEnded(): void {
    this.runningValue = undefined;
    this.changed(false);
  }

  get all(): readonly StoredRun[] {
    return this.runs;
  }

  get latest(): StoredRun | undefined {
    return this.runs[this.runs.length - 1];
  }

  get(id: string): StoredRun | undefined {
    return this.runs.find((r) => r.id === id);
  }

  /** What Run would run now (undefined when it cannot). */
  private wouldRun(): { options: RunOptions; inputs: RunInputs } | undefined {
    const req = this.request();
    return 'options' in req ? req : undefined;
  }

  /** The latest completed run of the chosen inputs and options: what the sidebar and the status bar show. */
  currentRun(): StoredRun | undefined {
    const now = this.wouldRun();
    if (!now) return undefined;
    for (let i = this.runs.length - 1; i >= 0; i--) {
      const r = this.runs[i];
      if (same(r.inputs, now.inputs) && sameOptions(r.options, now.options)) return r;
    }
    return undefined;
  }

  /** The latest cancel or error of the chosen inputs and options, when it is newer than `run` (shown beside it). */
  currentAttempt(run = this.currentRun()): Attempt | undefined {
    const now = this.wouldRun();
    if (!now) return undefined;
    const a = [...this.attempts].reverse().find((x) => same(x.inputs, now.inputs) && (!x.options || sameOptions(x.options, now.options)));
    return a && (!run || (a.after ?? 0) >= run.n) ? a : undefined;
  }

  /** The outcome for the chosen inputs and options: the latest completed run, else a cancel or error (a switch hides them). */
  currentOutcome(): Outcome | undefined {
    const run = this.currentRun();
    return run ? { kind: 'run', runId: run.id } : this.currentAttempt(run);
  }

  /** The run whose fixes the palette's "Fix LayerNorm Overflow" applies: the current outcome's. */
  currentRunWithOffers(): StoredRun | undefined {
    const o = this.currentOutcome();
    const run = o?.kind === 'run' ? this.get(o.runId) : undefined;
    return run?.offers.length ? run : undefined;
  }

  /**
   * A fix offer is a (run, mode) pair: the run's inputs and options become the chosen ones, with
   * the LayerNorm mode set to the fix. Returns the run, or why the offer does not hold.
   */
  adoptFix(runId: string, mode: LayerNormChoice): StoredRun | string {
    const chosen = this.chosenSettings();
    const run = this.get(runId);
    if (!run) return `run ${runId} is no longer kept (runs are pruned to the newest ${this.maxRuns}); run again to get new offers`;
    if (mode === 'plain' || !run.offers.includes(mode)) return `run ${run.label} does not offer the ${mode} LayerNorm fix`;
    const ck = run.inputs.checkpoint;
    if (!this.checkpointList().some((f) => f.path === ck)) this.browsed.checkpoints = [...this.browsed.checkpoints, { path: ck, label: base(ck) }];
    const td = run.inputs.testData;
    if (td !== null && !this.testDataList().some((f) => f.path === td)) this.browsed.testData = [...this.browsed.testData, { path: td, label: base(td) }];
    this.checkpointChoice = ck;
    this.pairs = { ...this.pairs, [ck]: td };
    const o = run.options;
    // The fix's options hold while this run's inputs are chosen; the next model gets the user's own.
    this.fix = {
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
    this.shownIds = ids.filter((id) => this.get(id));
    this.changed();
  }

  get shown(): string[] {
    return this.shownIds.filter((id) => this.get(id));
  }

  clearRuns(): void {
    this.runs = [];
    this.shownIds = [];
    this.attempts = [];
    this.changed();
  }

  removeRuns(ids: readonly string[]): void {
    this.runs = this.runs.filter((r) => !ids.includes(r.id));
    this.shownIds = this.shownIds.filter((id) => !ids.includes(id));
    this.changed();
  }

  // -------------------------------------------------------------------------------------------
  // Views

  views(): RunView[] {
    return this.runs.map((r) => {
      const note = layerNormTableNote(r.report);
      return { id: r.id, label: r.label, short: r.short, reference: r.reference, summary: summarize(r.report), ...(note ? { layerNormNote: note } : {}) };
    });
  }

  sidebar(): SidebarState {
    const ck = this.checkpoint;
    const td = this.testData;
    const s = this.settings;
    const a = this.agreement;
    const ckInsp = ck ? this.inspections.get(ck) : undefined;
    const testData: FileChoice[] = this.testDataList().map((f) => {
      const fa = ck ? agreement(ckInsp, this.inspections.get(f.path), f.path) : undefined;
      const fit = fa?.status === 'agree' ? 'agree' : fa?.status === 'disagree' ? 'disagree' : 'unknown';
      return { path: f.path, label: f.label, fit, ...(fa?.status === 'disagree' ? { note: fa.problems[0] } : {}) };
    });
    const req = this.request();
    const run = this.currentRun();
    const att = this.currentAttempt(run);
    const attView = (a: Attempt): AttemptView => (a.kind === 'error' ? { kind: 'error', label: attemptLabel(a), code: a.code, message: a.message } : { kind: 'cancelled', label: attemptLabel(a) });
    let outcome: OutcomeView | undefined;
    if (run) {
      const mf = run.report.diagnosis.minimalFix;
      const minimal = mf?.layerNorms.length ? { count: mf.layerNorms.length, ...(mf.confirmed ? { confirmed: mf.confirmed } : {}), trtexec: trtexecLine(run)! } : undefined;
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
      checkpoints: this.checkpointList().map((f) => ({ path: f.path, label: f.label, ...(f.hf ? { note: 'HF folder' } : {}) })),
      testData,
      checkpoint: ck,
      testDataPath: td,
      pairing: a && pairingView(a, { checkpoint: ck!, testData: td ?? null }, this.trustedValue),
      precision: s.precision, accumulate: s.accumulate, layerNorm: s.layerNorm, exposeLayerNorm: s.exposeLayerNorm, ep: s.ep, heads: s.heads,
      unsaved: this.unsaved(),
      providers: this.providersValue,
      trtexec: this.trtexecValue,
      running: this.running,
      stage: this.stage,
      canRun: !this.running && 'options' in req,
      ...('missing' in req ? { whyNot: 'No checkpoint found in the workspace: browse for one.' }
        : 'refused' in req ? { whyNot: a?.status === 'disagree' ? 'Run waits for test data that matches the checkpoint (see above), or none: the model is then compared with its own FP32.' : req.refused }
          : {}),
      trusted: this.trustedValue,
      outcome,
      runCount: this.runs.length,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Persistence (workspace state)

  private save(): void {
    if (!this.memento) return;
    // Newest runs first until the budget is spent; requestIds belong to this session's engine.
    const kept: StoredRun[] = [];
    let bytes = 0;
    for (const r of [...this.runs].reverse()) {
      const text = reportToJson({ ...r, requestId: undefined }, 0);
      if (bytes + text.length > MAX_PERSISTED_BYTES) break;
      bytes += text.length;
      kept.unshift({ ...r, requestId: undefined });
    }
    const snap: Snapshot = {
      v: 1, checkpoint: this.checkpointChoice, pairs: this.pairs, overrides: this.overrides, browsed: this.browsed,
      counter: this.counter, shown: this.shownIds, attempts: this.attempts, ...(this.fix ? { fix: this.fix } : {}), runs: reportToJson(kept, 0),
    };
    void this.memento.update(STATE_KEY, snap);
  }

  private restore(): void {
    const s = this.memento?.get<Snapshot>(STATE_KEY);
    if (!s || s.v !== 1) return;
    try {
      this.checkpointChoice = typeof s.checkpoint === 'string' ? s.checkpoint : undefined;
      this.pairs = s.pairs && typeof s.pairs === 'object' ? s.pairs : {};
      this.overrides = s.overrides && typeof s.overrides === 'object' ? s.overrides : {};
      this.browsed = { checkpoints: s.browsed?.checkpoints ?? [], testData: s.browsed?.testData ?? [] };
      this.runs = typeof s.runs === 'string' ? parseReportJson<StoredRun[]>(s.runs) : [];
      this.counter = Math.max(Number(s.counter) || 0, ...this.runs.map((r) => r.n));
      this.shownIds = Array.isArray(s.shown) ? s.shown : [];
      this.attempts = Array.isArray(s.attempts) ? s.attempts : [];
      this.fix = s.fix && typeof s.fix === 'object' ? s.fix : undefined;
    } catch {
      // A damaged snapshot is dropped, never fatal: the extension starts fresh.
      this.runs = [];
    }
  }
}

function merge(scanned: FileEntry[], browsed: FileEntry[], fromSettings: string | undefined): FileEntry[] {
  const out = [...scanned];
  for (const f of browsed) if (!out.some((x) => x.path === f.path)) out.push(f);
  if (fromSettings && !out.some((x) => x.path === fromSettings)) out.push({ path: fromSettings, label: base(fromSettings) });
  return out;
}
