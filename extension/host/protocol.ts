/**
 * The messages between the extension host and its two webviews (sidebar, graph panel): one union
 * type per direction, and validators for what arrives. Pure: no `vscode`, no DOM. Imported by the
 * host, by the webview bundles (webview/*.ts) and by the unit tests.
 *
 * Webview messages travel as JSON, which turns Infinity and NaN into null; the report holds such
 * numbers (an overflowed block's error is Infinity). `toWire` / `fromWire` tag them on the way.
 */
import {
  ACCUMULATE, EP_CHOICES, LAYERNORM_MODES, PRECISIONS,
  type Accumulate, type BlockResult, type EpChoice, type LayerNormMode, type MinimalFix, type Precision, type Report, type Stage,
} from '../core/report';
import type { ProviderInfo } from '../protocol';

export type { ProviderInfo };

/** core/pipeline's LayerNormChoice, spelled here: that module (fs, onnxruntime) is not for the webviews' DOM-only type-check. */
export type LayerNormChoice = LayerNormMode | 'minimal';

/**
 * What the sidebar's LayerNorm select offers: every mode, and 'minimal' — plain, with only the
 * LayerNorms whose overflow fires kept in FP32 (the engine process reads them from an FP32 run's
 * statistics, as the CLI's `--layernorm minimal`).
 */
export const LAYERNORM_CHOICES: readonly LayerNormChoice[] = [...LAYERNORM_MODES, 'minimal'];

/**
 * The sidebar's engine choice: our providers, or 'trtexec' — the user's TensorRT through trtexec
 * (core/trt/trtexec-run.ts), run by the CLI's trt-run rather than the engine process.
 */
export type SidebarEp = EpChoice | 'trtexec';
export const SIDEBAR_EPS: readonly SidebarEp[] = [...EP_CHOICES, 'trtexec'];

/** Where trtexec is and which TensorRT, or why it is not here; null while it is looked for. */
export type TrtexecView = { available: true; path: string; version: string; fp16: boolean; layerPrecisions: boolean } | { available: false; reason: string };

/** A fix a failing run offers: a LayerNorm mode other than plain, or the minimal fix. */
export type FixMode = Exclude<LayerNormChoice, 'plain'>;

/** The minimal fix's one-click title, the same in the sidebar, the notification and the palette. */
export function minimalFixTitle(count: number): string {
  return `Fix: only the ${count} overflowing LayerNorm${count === 1 ? '' : 's'} in FP32`;
}

/** A fix's title, the same on the sidebar's button and in the palette: "Fix: only the 25 overflowing LayerNorms in FP32", "Fix: FP32 LayerNorm", … */
export function fixLabel(mode: FixMode, minimalCount: number): string {
  if (mode === 'minimal') return minimalFixTitle(minimalCount);
  return { fp32: 'Fix: FP32 LayerNorm', fused: 'Fix: fused', prescaled: 'Fix: prescaled', expose: 'Fix: expose LayerNorm entries' }[mode];
}

/** What a LayerNorm mode does, for the precision chosen (only FP16 has a range to overflow). */
export function layerNormHelp(mode: LayerNormChoice, precision: Precision): string {
  const fp16 = precision === 'fp16';
  switch (mode) {
    case 'plain':
      return fp16 ? 'as exported: overflows in FP16 when (x−mean)² passes 65504'
        : `as exported (${precision.toUpperCase()} has FP32's range: nothing overflows)`;
    case 'expose':
      return 'difference/mean/std become outputs, computed in FP32 (the seed\'s workaround)';
    case 'fp32':
      return 'LayerNorm computed in FP32';
    case 'fused':
      return 'one LayerNormalization op, accumulated in FP32';
    case 'prescaled':
      return fp16 ? 'input scaled by 2⁻³ so (x−mean)² stays in range' : 'input scaled by 2⁻³ (for FP16\'s range; nothing to overflow here)';
    case 'minimal':
      return fp16 ? 'plain, with only the LayerNorms that overflow here in FP32 (read from an FP32 run)'
        : `plain (in ${precision.toUpperCase()} no LayerNorm overflows, so none is kept in FP32)`;
  }
}

/** What the minimal fix's confirmation run found, in a few words (`stopped`: that run was cancelled or failed). */
export function confirmationText(c: MinimalFix['confirmed'], confirming = false, stopped?: 'cancelled' | 'error'): string {
  if (!c && confirming) return 'being confirmed by one run with only them in FP32…';
  if (!c && stopped) return `not confirmed: its confirmation run ${stopped === 'cancelled' ? 'was cancelled' : 'failed'}`;
  if (!c) return 'not confirmed by a run (the run that offered it skipped the confirmation)';
  return c.verdict === 'pass'
    ? `confirmed by one run with only them in FP32: every block passes (worst ${c.worstRelL2.toExponential(1)} at block ${c.worstBlock})`
    : `one run with only them in FP32 still fails${c.firstBadBlock !== null ? ` at block ${c.firstBadBlock}` : ' on the probabilities'}`;
}

// ---------------------------------------------------------------------------------------------
// Sidebar

export interface FileChoice {
  /** Absolute path (an HF checkpoint is a folder). */
  path: string;
  /** Workspace-relative path (or the base name) shown to the user. */
  label: string;
  /** Test data: how it fits the chosen checkpoint ('agree' | 'disagree' | 'unknown'). */
  fit?: 'agree' | 'disagree' | 'unknown';
  /** A short note: "HF folder", "4 frames, the checkpoint has 8", "not read yet". */
  note?: string;
}

/** The pair's agreement as the sidebar shows it before any run. */
export type PairingView =
  | { status: 'agree'; text: string }
  | { status: 'disagree'; text: string; problems: string[] }
  | { status: 'unknown'; text: string }
  | { status: 'self'; text: string };

/** A run that ended without a report: its request's identity, and the error. */
/** A cancel or an error; `confirmation`: of the minimal fix's confirmation run of the run it is shown beside. */
export type AttemptView = ({ kind: 'error'; label: string; code: string; message: string } | { kind: 'cancelled'; label: string }) & { confirmation?: true };

/**
 * What the sidebar shows under Run: the latest completed run of the chosen inputs and options (a
 * later cancel or error beside it), else the latest cancel or error of those; nothing otherwise.
 */
export type OutcomeView =
  | {
    kind: 'run'; runId: string; label: string; verdict: 'pass' | 'fail'; sentence: string; reference: string;
    /** How the Report says the precision was realized, accumulation included (its `run.label`). */
    realization: string;
    /** The fixes offered, in order (the minimal fix first when offered). */
    fixes: FixMode[];
    /** The diagnosis' minimal fix, when it has one: how many LayerNorms, its confirmation run, its trtexec line. */
    minimal?: { count: number; confirmed?: MinimalFix['confirmed']; confirming?: true; stopped?: 'cancelled' | 'error'; trtexec: string };
    /** Where the head count came from, when the user should know (assumed without test data). */
    heads?: string;
    /** A cancel or error of the same inputs and options after this run. */
    after?: AttemptView;
  }
  | AttemptView;

/** Sidebar options a user changes (kept in the workspace state; the settings are their defaults). */
export type OptionKey = 'precision' | 'accumulate' | 'layerNorm' | 'exposeLayerNorm' | 'ep' | 'heads';

/** The options the sidebar sets (the host's store keeps them; the sidebar shows them). */
export interface RunSettings {
  precision: Precision;
  /** FP16 runs: where GEMMs and reductions accumulate ('fp32' as TensorRT builds FP16; sent with FP16 runs only). */
  accumulate: Accumulate;
  layerNorm: LayerNormChoice;
  /** The "Expose LayerNorm entries" toggle: when on, it overrides `layerNorm` with `expose`. */
  exposeLayerNorm: boolean;
  ep: SidebarEp;
  /** Attention heads; null = detect from the test data. */
  heads: number | null;
}

export interface SidebarState extends RunSettings {
  checkpoints: FileChoice[];
  testData: FileChoice[];
  /** Selected checkpoint (absolute); undefined when none is found or chosen. */
  checkpoint?: string;
  /** Selected test data; null = none (compare with this model's own FP32 on the CPU). */
  testDataPath?: string | null;
  pairing?: PairingView;
  /** Options that differ from the settings (what "Save as Workspace Settings" would write). */
  unsaved: OptionKey[];
  /** Which providers load here; null while the worker probes them. */
  providers: ProviderInfo[] | null;
  /** trtexec (the engine choice "TensorRT (trtexec)"); null while it is looked for. */
  trtexec?: TrtexecView | null;
  running: boolean;
  /** A sweep holds the engine process: Run and the fixes wait (whyNot says so). */
  sweeping: boolean;
  stage?: Stage;
  /** What an empty Heads field means for the chosen inputs (from the checkpoint's config, detected, or assumed). */
  headsPlaceholder: string;
  /** Whether Run can start, and why not. */
  canRun: boolean;
  whyNot?: string;
  /** False in Restricted Mode: files are not read, and a run asks first. */
  trusted: boolean;
  outcome?: OutcomeView;
  runCount: number;
}

/** One sidebar control changed; each key carries its own value type. */
export type SidebarOption =
  | { key: 'precision'; value: Precision }
  | { key: 'accumulate'; value: Accumulate }
  | { key: 'layerNorm'; value: LayerNormChoice }
  | { key: 'exposeLayerNorm'; value: boolean }
  | { key: 'ep'; value: SidebarEp }
  | { key: 'heads'; value: number | null };

export type HostToSidebar = { type: 'state'; state: SidebarState };

export type SidebarToHost =
  | { type: 'ready' }
  | { type: 'set'; option: SidebarOption }
  /** A file from the lists (the host accepts only paths it listed); test data null = none. */
  | { type: 'choose'; kind: 'checkpoint'; path: string }
  | { type: 'choose'; kind: 'testData'; path: string | null }
  | { type: 'browse'; kind: 'checkpoint' | 'testData' }
  | { type: 'run' }
  /** One click: the fix offered by run `runId`, run again on that run's inputs. */
  | { type: 'fix'; runId: string; mode: FixMode }
  /** Copy the trtexec line of run `runId`'s minimal fix to the clipboard. */
  | { type: 'copyTrtexec'; runId: string }
  | { type: 'cancel' }
  | { type: 'saveSettings' }
  /** "Export for TensorRT…" (offered where trtexec is not). */
  | { type: 'exportTrt' }
  | { type: 'compare' }
  | { type: 'showGraph' };

// ---------------------------------------------------------------------------------------------
// Graph panel

/** A block without its heavy parts (token errors, tensor statistics): those come on request. */
export type BlockSummary = Omit<BlockResult, 'tokenError' | 'output' | 'reference' | 'exposed'>;
export type ReportSummary = Omit<Report, 'blocks' | 'log'> & { blocks: BlockSummary[] };

export interface RunView {
  id: string;
  /** The run's identity: "#3 a_model.pyth + a_test_data.p · FP16 · LayerNorm plain · cpu · 14:03:12". */
  label: string;
  /** The same in a few words for a lane's title: "#3 a_model · FP16 plain · cpu". */
  short: string;
  /** What the run was compared with: "reference: a_test_data.p" or "reference: FP32 of this model (CPU)". */
  reference: string;
  summary: ReportSummary;
  /** What the inspector's LayerNorm counts mean in this run's realization (absent: a plain FP16 run's own overflows). */
  layerNormNote?: string;
  /** Its minimal fix's confirmation run is still running (the verdict's last words come with it). */
  confirming?: true;
}

export type HostToGraph =
  | { type: 'runs'; runs: RunView[]; shown: string[] }
  | { type: 'blockDetail'; requestId: number; runId: string; block: BlockResult }
  | { type: 'blockDetailError'; requestId: number; message: string };

export type GraphToHost =
  | { type: 'ready' }
  /** Draw these runs side by side, in this order (e.g. one lane closed). */
  | { type: 'show'; runIds: string[] }
  /** Open the run picker (Compare Runs). */
  | { type: 'pick' }
  /** The inspector wants block `block` of run `runId` in full. */
  | { type: 'inspect'; requestId: number; runId: string; block: number }
  /**
   * Files dropped onto the graph, to import as runs (trtexec / Polygraphy outputs): `uris` from the
   * editor's explorer (file: URIs), or `files` read by the webview (a browser's drop has no path);
   * `refused`: what the webview did not send, and why (too large, past 16 files, nothing to import).
   */
  | { type: 'drop'; uris: string[]; files: DroppedFile[]; refused?: string[] };

/** A dropped file's name and text (at most MAX_DROP_BYTES). */
export interface DroppedFile {
  name: string;
  text: string;
}
/** The largest file the graph panel reads from a drop (a full-size trtexec JSON of a marked engine is ~130 MiB). */
export const MAX_DROP_BYTES = 512 * 2 ** 20;

export function summarize(report: Report): ReportSummary {
  const { blocks, log: _log, ...rest } = report;
  return {
    ...rest,
    blocks: blocks.map(({ tokenError: _t, output: _o, reference: _r, exposed: _e, ...b }) => b),
  };
}

// ---------------------------------------------------------------------------------------------
// Validation of what arrives. Webviews are less trusted than the host: every field is checked.

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const isStr = (x: unknown, max = 4096): x is string => typeof x === 'string' && x.length > 0 && x.length <= max;
const isId = (x: unknown): x is string => isStr(x, 64) && /^[\w.-]+$/.test(x);
const isInt = (x: unknown, lo: number, hi: number): x is number => Number.isInteger(x) && (x as number) >= lo && (x as number) <= hi;
const oneOf = <T extends string>(list: readonly T[], x: unknown): x is T => typeof x === 'string' && (list as readonly string[]).includes(x);

function parseOption(o: unknown): SidebarOption | undefined {
  if (!isObj(o)) return undefined;
  const v = o.value;
  switch (o.key) {
    case 'precision':
      return oneOf(PRECISIONS, v) ? { key: 'precision', value: v } : undefined;
    case 'accumulate':
      return oneOf(ACCUMULATE, v) ? { key: 'accumulate', value: v } : undefined;
    case 'layerNorm':
      return oneOf(LAYERNORM_CHOICES, v) ? { key: 'layerNorm', value: v } : undefined;
    case 'exposeLayerNorm':
      return typeof v === 'boolean' ? { key: 'exposeLayerNorm', value: v } : undefined;
    case 'ep':
      return oneOf(SIDEBAR_EPS, v) ? { key: 'ep', value: v } : undefined;
    case 'heads':
      return v === null || isInt(v, 1, 1024) ? { key: 'heads', value: v } : undefined;
    default:
      return undefined;
  }
}

/** A sidebar message, or undefined when it is not one (unknown type, missing or bad field). */
export function parseSidebarMessage(m: unknown): SidebarToHost | undefined {
  if (!isObj(m)) return undefined;
  switch (m.type) {
    case 'ready':
    case 'run':
    case 'cancel':
    case 'saveSettings':
    case 'exportTrt':
    case 'compare':
    case 'showGraph':
      return { type: m.type };
    case 'browse':
      return m.kind === 'checkpoint' || m.kind === 'testData' ? { type: 'browse', kind: m.kind } : undefined;
    case 'choose':
      if (m.kind === 'checkpoint') return isStr(m.path) ? { type: 'choose', kind: 'checkpoint', path: m.path } : undefined;
      if (m.kind === 'testData') return m.path === null || isStr(m.path) ? { type: 'choose', kind: 'testData', path: m.path } : undefined;
      return undefined;
    case 'fix':
      return isId(m.runId) && oneOf(LAYERNORM_CHOICES, m.mode) && m.mode !== 'plain' ? { type: 'fix', runId: m.runId, mode: m.mode } : undefined;
    case 'copyTrtexec':
      return isId(m.runId) ? { type: 'copyTrtexec', runId: m.runId } : undefined;
    case 'set': {
      const option = parseOption(m.option);
      return option && { type: 'set', option };
    }
    default:
      return undefined;
  }
}

/** A graph panel message, or undefined when it is not one. */
export function parseGraphMessage(m: unknown): GraphToHost | undefined {
  if (!isObj(m)) return undefined;
  switch (m.type) {
    case 'ready':
    case 'pick':
      return { type: m.type };
    case 'show':
      return Array.isArray(m.runIds) && m.runIds.length <= 64 && m.runIds.every(isId) ? { type: 'show', runIds: [...m.runIds] } : undefined;
    case 'inspect':
      return isInt(m.requestId, 0, Number.MAX_SAFE_INTEGER) && isId(m.runId) && isInt(m.block, 0, 10_000)
        ? { type: 'inspect', requestId: m.requestId, runId: m.runId, block: m.block }
        : undefined;
    case 'drop': {
      const uris = Array.isArray(m.uris) ? m.uris : [];
      const files = Array.isArray(m.files) ? m.files : [];
      const refused = Array.isArray(m.refused) ? m.refused : [];
      if (refused.length > 32 || !refused.every((r) => isStr(r, 400))) return undefined;
      if (uris.length + files.length + refused.length === 0 || uris.length > 16 || files.length > 16) return undefined;
      if (!uris.every((u) => isStr(u) && /^file:/.test(u as string))) return undefined;
      const okFile = (f: unknown) => isObj(f) && isStr(f.name, 255) && !/[\\/\0]/.test(f.name as string) && typeof f.text === 'string' && (f.text as string).length <= MAX_DROP_BYTES;
      if (!files.every(okFile)) return undefined;
      return {
        type: 'drop', uris: uris as string[], files: files.map((f) => ({ name: (f as Obj).name as string, text: (f as Obj).text as string })),
        ...(refused.length ? { refused: refused as string[] } : {}),
      };
    }
    default:
      return undefined;
  }
}

/** The webviews' side: the host is trusted for content, but the envelope is still checked. */
export function parseHostToGraph(m: unknown): HostToGraph | undefined {
  if (!isObj(m)) return undefined;
  switch (m.type) {
    case 'runs':
      return Array.isArray(m.runs) && m.runs.every((r) => isObj(r) && isId(r.id) && typeof r.label === 'string' && typeof r.short === 'string' && typeof r.reference === 'string' && isObj(r.summary) && Array.isArray(r.summary.blocks))
        && Array.isArray(m.shown) && m.shown.every(isId)
        ? (m as HostToGraph) : undefined;
    case 'blockDetail':
      return isInt(m.requestId, 0, Number.MAX_SAFE_INTEGER) && isId(m.runId) && isObj(m.block) && typeof m.block.index === 'number' ? (m as HostToGraph) : undefined;
    case 'blockDetailError':
      return isInt(m.requestId, 0, Number.MAX_SAFE_INTEGER) && typeof m.message === 'string' ? (m as HostToGraph) : undefined;
    default:
      return undefined;
  }
}

export function parseHostToSidebar(m: unknown): HostToSidebar | undefined {
  return isObj(m) && m.type === 'state' && isObj(m.state) && Array.isArray(m.state.checkpoints) ? (m as HostToSidebar) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Non-finite numbers over JSON.

type NonFinite = { $nonFinite: 'Infinity' | '-Infinity' | 'NaN' };
const isNonFinite = (x: unknown): x is NonFinite => isObj(x) && Object.keys(x).length === 1 && oneOf(['Infinity', '-Infinity', 'NaN'] as const, x.$nonFinite);

/** A deep copy where Infinity / -Infinity / NaN become `{ $nonFinite: '…' }`. */
export function toWire<T>(x: T): T {
  if (typeof x === 'number') return (Number.isFinite(x) ? x : { $nonFinite: String(x) }) as T;
  if (Array.isArray(x)) return x.map(toWire) as T;
  if (isObj(x)) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, toWire(v)])) as T;
  return x;
}

/** The inverse of toWire. */
export function fromWire<T>(x: T): T {
  if (isNonFinite(x)) return Number(x.$nonFinite) as T;
  if (Array.isArray(x)) return x.map(fromWire) as T;
  if (isObj(x)) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, fromWire(v)])) as T;
  return x;
}
