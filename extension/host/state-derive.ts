/**
 * The store's derivations (StoreReader): everything the host reads that is computed from the
 * store's data and the settings, never kept beside it — the file lists, the chosen checkpoint and
 * the test data paired with it, how they agree, the options that run (a fix's or the user's), what
 * Run would run now, and the latest verdict of those inputs and options (the current run, a later
 * cancel or error beside it, the run whose fixes the palette applies). It reads and never writes:
 * LabState (state.ts) extends it with the intents, the only code that changes `StoreData`.
 * No `vscode` import: unit-tested through LabState (test/unit/state.test.ts).
 */
import * as path from 'path';
import { validateOptions, type OptionNames } from '../core/options';
import type { Stage } from '../core/report';
import { trtexecRefusal } from '../core/trt/trtexec';
import type { ProviderInfo, RunOptions } from '../protocol';
import { clipOption, isVideoPath, VIDEO_AGREEMENT_DETAIL } from './video';
import { agreement, pairTestData, type Agreement, type Inspection } from './pairing';
import { LAYERNORM_CHOICES, type FixMode, type LayerNormChoice, type OptionKey, type RunSettings, type TrtexecView } from './protocol';
import { sameOptions, type Attempt, type RunInputs, type StoredRun } from './labels';

/** The user's settings (timesformerLab.*): defaults for the sidebar, plus settings-only values. */
export interface SettingsDefaults extends RunSettings {
  /** Absolute paths (resolved against the workspace folder); undefined when not set. */
  checkpoint?: string;
  /** null: the setting says `none` (compare with the model's own FP32). */
  testData?: string | null;
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

export interface FileLists {
  checkpoints: FileEntry[];
  testData: FileEntry[];
}

export type Outcome = { kind: 'run'; runId: string } | Attempt;

/** A fix being applied: the options of run `runId` with LayerNorm `mode`, while that run's inputs are chosen. */
export interface ActiveFix {
  runId: string;
  mode: FixMode;
  inputs: RunInputs;
  settings: RunSettings;
}

/** A run in progress (`options` absent for an export, which stores no run). */
export interface Running {
  inputs: RunInputs;
  options?: RunOptions;
  stage?: Stage;
  startedAt: number;
}

/** A sweep in the engine process (Sweep Clips…): it holds the process, so no run starts beside it. */
export interface Sweeping {
  checkpoint: string;
  startedAt: number;
}

/** What the store holds. Written only by LabState's intents (state.ts). */
export interface StoreData {
  scanned: FileLists;
  browsed: FileLists;
  inspections: Map<string, Inspection>;
  checkpointChoice: string | undefined;
  pairs: Record<string, string | null>;
  overrides: Partial<RunSettings>;
  runs: StoredRun[];
  counter: number;
  shownIds: string[];
  /** Runs that ended without a report (errors, cancels), the newest last. */
  attempts: Attempt[];
  fix: ActiveFix | undefined;
  running: Running | undefined;
  sweep: Sweeping | undefined;
  providers: ProviderInfo[] | null;
  /** trtexec, for the engine choice "TensorRT (trtexec)" (host/trtexec.ts looks for it); null: not looked for yet. */
  trtexec: TrtexecView | null;
  trusted: boolean;
}

export function emptyStoreData(): StoreData {
  return {
    scanned: { checkpoints: [], testData: [] }, browsed: { checkpoints: [], testData: [] }, inspections: new Map(), checkpointChoice: undefined,
    pairs: {}, overrides: {}, runs: [], counter: 0, shownIds: [], attempts: [], fix: undefined, running: undefined, sweep: undefined, providers: null, trtexec: null, trusted: true,
  };
}

export const base = (p: string) => path.basename(p);
export const same = (a: RunInputs | undefined, b: { checkpoint?: string; testData?: string | null }) =>
  !!a && a.checkpoint === b.checkpoint && a.testData === b.testData;

export class StoreReader {
  protected s: StoreData = emptyStoreData();

  constructor(protected readonly defaults: () => SettingsDefaults, readonly maxRuns = 20) {}

  // -------------------------------------------------------------------------------------------
  // Files and what their headers say

  inspection(p: string): Inspection | undefined {
    return this.s.inspections.get(p);
  }

  /** Files whose headers are not read yet (or must be read again). */
  uninspected(): { path: string; kind: 'checkpoint' | 'test-data' }[] {
    const want = (kind: 'checkpoint' | 'test-data') => (f: FileEntry) => ({ path: f.path, kind });
    return [...this.checkpointList().map(want('checkpoint')), ...this.testDataList().filter((f) => !isVideoPath(f.path)).map(want('test-data'))]
      .filter((f) => !this.s.inspections.has(f.path));
  }

  get trusted(): boolean {
    return this.s.trusted;
  }

  get providers(): ProviderInfo[] | null {
    return this.s.providers;
  }

  get trtexec(): TrtexecView | null {
    return this.s.trtexec;
  }

  checkpointList(): FileEntry[] {
    return merge(this.s.scanned.checkpoints, this.s.browsed.checkpoints, this.defaults().checkpoint);
  }

  testDataList(): FileEntry[] {
    return merge(this.s.scanned.testData, this.s.browsed.testData, this.defaults().testData ?? undefined);
  }

  isListed(kind: 'checkpoint' | 'testData', p: string): boolean {
    return (kind === 'checkpoint' ? this.checkpointList() : this.testDataList()).some((f) => f.path === p);
  }

  // -------------------------------------------------------------------------------------------
  // The chosen inputs

  /** The checkpoint that runs: the user's choice, else the setting, else the first one found. */
  get checkpoint(): string | undefined {
    const list = this.checkpointList();
    const has = (p: string | undefined) => !!p && list.some((f) => f.path === p);
    if (has(this.s.checkpointChoice)) return this.s.checkpointChoice;
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
    if (ck in this.s.pairs && has(this.s.pairs[ck])) return this.s.pairs[ck];
    const d = this.defaults();
    if (d.testData !== undefined && has(d.testData) && (!d.checkpoint || d.checkpoint === ck)) return d.testData;
    return pairTestData(ck, list.map((f) => f.path), (p) => this.s.inspections.get(p));
  }

  get agreement(): Agreement | undefined {
    const ck = this.checkpoint;
    const td = this.testData;
    if (!ck || td === undefined) return undefined;
    if (td !== null && isVideoPath(td)) return { status: 'self', detail: VIDEO_AGREEMENT_DETAIL };
    return agreement(this.s.inspections.get(ck), td === null ? undefined : this.s.inspections.get(td), td);
  }

  // -------------------------------------------------------------------------------------------
  // Options

  /** The options that run: a fix's while its run's inputs are chosen, else the user's. */
  get settings(): RunSettings {
    return this.activeFix()?.settings ?? this.chosenSettings();
  }

  /** The user's options: the sidebar's choices over the settings. */
  protected chosenSettings(): RunSettings {
    const d = this.defaults();
    const o = this.s.overrides;
    const pick = <K extends OptionKey>(k: K): RunSettings[K] => (k in o ? o[k] : d[k]) as RunSettings[K];
    return {
      precision: pick('precision'), accumulate: pick('accumulate'), layerNorm: pick('layerNorm'), exposeLayerNorm: pick('exposeLayerNorm'), ep: pick('ep'), heads: pick('heads'),
    };
  }

  /** The fix being applied, while its run's inputs are the chosen ones. */
  protected activeFix(): ActiveFix | undefined {
    const f = this.s.fix;
    return f && same(f.inputs, { checkpoint: this.checkpoint, testData: this.testData }) ? f : undefined;
  }

  /** The options shown that differ from the settings. */
  unsaved(): OptionKey[] {
    const d = this.defaults();
    const s = this.settings;
    return OPTION_KEYS.filter((k) => s[k] !== d[k]);
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
      ...clipOption(td),
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
      const t = this.s.trtexec;
      if (!t) return { refused: 'Looking for trtexec…' };
      if (!t.available) return { refused: `TensorRT (trtexec) is not available: ${t.reason}. Export for TensorRT… writes a bundle to run where TensorRT is.` };
      const why = trtexecRefusal(options, { fp16: t.fp16, layerPrecisions: t.layerPrecisions, version: t.version });
      if (why) return { refused: why };
    }
    return { options, inputs: { checkpoint: ck, testData: td } };
  }

  // -------------------------------------------------------------------------------------------
  // Runs and the latest verdict of the chosen inputs and options

  get running(): boolean {
    return !!this.s.running;
  }

  /** A sweep holds the engine process (Sweep Clips…). */
  get sweeping(): boolean {
    return !!this.s.sweep;
  }

  /**
   * Why nothing else can start in the engine process now: a run or a sweep holds it (the process
   * takes one request at a time, and a Cancel kills it with whatever it holds). Undefined: free.
   */
  whyBusy(): string | undefined {
    if (this.s.running) return 'a run is in progress';
    if (this.s.sweep) return `a sweep of ${base(this.s.sweep.checkpoint)} is running`;
    return undefined;
  }

  get stage(): Stage | undefined {
    return this.s.running?.stage;
  }

  get all(): readonly StoredRun[] {
    return this.s.runs;
  }

  get latest(): StoredRun | undefined {
    return this.s.runs[this.s.runs.length - 1];
  }

  get(id: string): StoredRun | undefined {
    return this.s.runs.find((r) => r.id === id);
  }

  get shown(): string[] {
    return this.s.shownIds.filter((id) => this.get(id));
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
    for (let i = this.s.runs.length - 1; i >= 0; i--) {
      const r = this.s.runs[i];
      if (same(r.inputs, now.inputs) && sameOptions(r.options, now.options)) return r;
    }
    return undefined;
  }

  /** The latest cancel or error of the chosen inputs and options, when it is newer than `run` (shown beside it). */
  currentAttempt(run = this.currentRun()): Attempt | undefined {
    const now = this.wouldRun();
    if (!now) return undefined;
    const a = [...this.s.attempts].reverse().find((x) => same(x.inputs, now.inputs) && (!x.options || sameOptions(x.options, now.options)));
    return a && (!run || (a.after ?? 0) >= run.n) ? a : undefined;
  }

  /** The outcome for the chosen inputs and options: the latest completed run, else a cancel or error (a switch hides them). */
  currentOutcome(): Outcome | undefined {
    const run = this.currentRun();
    return run ? { kind: 'run', runId: run.id } : this.currentAttempt(run);
  }

  /**
   * The latest run, made after run `runId`, of its inputs and options with the LayerNorm fix `mode`:
   * that fix has run already (a notification clicked after the fix ran shows it rather than run it again).
   */
  fixRunOf(runId: string, mode: FixMode): StoredRun | undefined {
    const offered = this.get(runId);
    if (!offered) return undefined;
    const want: RunOptions = { ...offered.options, layerNorm: mode };
    for (let i = this.s.runs.length - 1; i >= 0; i--) {
      const r = this.s.runs[i];
      if (r.n > offered.n && same(r.inputs, offered.inputs) && sameOptions(r.options, want)) return r;
    }
    return undefined;
  }

  /** The run whose fixes the palette's "Fix LayerNorm Overflow" applies: the current outcome's. */
  currentRunWithOffers(): StoredRun | undefined {
    const o = this.currentOutcome();
    const run = o?.kind === 'run' ? this.get(o.runId) : undefined;
    return run?.offers.length ? run : undefined;
  }
}

function merge(scanned: FileEntry[], browsed: FileEntry[], fromSettings: string | undefined): FileEntry[] {
  const out = [...scanned];
  for (const f of browsed) if (!out.some((x) => x.path === f.path)) out.push(f);
  if (fromSettings && !out.some((x) => x.path === fromSettings)) out.push({ path: fromSettings, label: base(fromSettings) });
  return out;
}
