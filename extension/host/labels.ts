/**
 * A run as the store keeps it (its inputs, options and Report; a run that ended without one), and
 * the words that name runs for the sidebar, the status bar, the pickers and the graph: labels,
 * the test data's name, fix titles and offers, the export file name its trtexec line names, and
 * the pairing sentence. Pure (no `vscode`): the store (state.ts) calls them when it renders.
 */
import * as path from 'path';
import { trtexecCommand } from '../core/compare/diagnosis';
import { accumulates16 } from '../core/model/realization';
import type { Report } from '../core/report';
import type { RunOptions } from '../protocol';
import type { Agreement } from './pairing';
import { fixLabel, type FixMode, type PairingView } from './protocol';

export interface RunInputs {
  checkpoint: string;
  /** null: no test data (compared with the model's own FP32 on the CPU). */
  testData: string | null;
}

export interface StoredRun {
  id: string;
  n: number;
  inputs: RunInputs;
  options: RunOptions;
  startedAt: number;
  label: string;
  short: string;
  reference: string;
  report: Report;
  /** The fixes this run offers, the minimal fix first (empty: none needed or none known). */
  offers: FixMode[];
  /** The engine request that produced it, in this session only (Export ONNX asks the engine for its model). */
  requestId?: number;
  /**
   * Landed before its minimal fix's confirmation run ended (the pipeline's onModeReport): blocks and
   * verdict final, the confirmation to come (runConfirmed). Never persisted.
   */
  confirming?: true;
}

/**
 * A run that ended without a report. `options`: what it ran with (absent in older workspace
 * state); `after`: how many runs were made before it ended (it is newer than run #after).
 */
/**
 * A run that ended without a Report (an error, a cancel). `after`: the run counter when it ended;
 * `confirmationOf`: the run (landed before its minimal fix's confirmation) whose confirmation run
 * this was — that run stays, unconfirmed, and this is no re-run of it.
 */
export type Attempt =
  | { kind: 'error'; inputs: RunInputs; options?: RunOptions; code: string; message: string; at: number; after?: number; confirmationOf?: string }
  | { kind: 'cancelled'; inputs: RunInputs; options?: RunOptions; at: number; after?: number; confirmationOf?: string };

const base = (p: string) => path.basename(p);
const clock = (t: number) => new Date(t).toTimeString().slice(0, 8);

/** Two requests run the same: every option equal (an absent option and an undefined one alike). */
export function sameOptions(a: RunOptions, b: RunOptions): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)] as (keyof RunOptions)[]);
  return [...keys].every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
}

/**
 * The test data's name beside its checkpoint: the file name, with its folder when it is not the
 * checkpoint's folder ("hf1/test_data.p" for the HF folder hf1's own), so that a generic name says
 * which file it is. "own FP32" without test data.
 */
export function dataName(inputs: RunInputs): string {
  const td = inputs.testData;
  if (td === null) return 'own FP32';
  return path.dirname(td) === path.dirname(inputs.checkpoint) ? base(td) : `${base(path.dirname(td))}/${base(td)}`;
}

/** The default file name of a run's ONNX export, the one the trtexec lines name: "timesformer-run-3-tensorrt.onnx". */
export function exportFileName(run: { id: string }, how: 'trt' | 'asRun'): string {
  return how === 'trt' ? `timesformer-${run.id}-tensorrt.onnx` : `timesformer-${run.id}.onnx`;
}

/** The trtexec line of a run's minimal fix, naming the file Export ONNX → For TensorRT writes for it. */
export function trtexecLine(run: StoredRun): string | undefined {
  const mf = run.report.diagnosis.minimalFix;
  return mf?.layerNorms.length ? trtexecCommand(mf.layerNorms, { onnx: exportFileName(run, 'trt') }) : undefined;
}

/**
 * The run's LayerNorm realization in words: "LayerNorm plain", or "minimal fix (25 LayerNorms in
 * FP32)" for plain LayerNorms with some kept in FP32 (the minimal fix; `short`: "minimal fix").
 */
function layerNormText(r: Report, short = false): string {
  const fixed = Object.values(r.run.layerNormOverrides ?? {}).filter((m) => m === 'fp32').length;
  if (r.run.layerNorm !== 'plain' || !fixed) return short ? r.run.layerNorm : `LayerNorm ${r.run.layerNorm}`;
  return short ? 'minimal fix' : `minimal fix (${fixed} LayerNorm${fixed > 1 ? 's' : ''} in FP32)`;
}

/** Whether the run's 16-bit GEMMs and reductions accumulated in 16 bits (not the default; TensorRT never does). */
function acc16(r: Report): boolean {
  return accumulates16({ precision: r.run.precision, realization: r.run.realization, accumulate: r.run.accumulate ?? 'fp32' });
}

/** "#3 a_model.pyth + a_test_data.p · FP16 · LayerNorm plain · cpu · 14:03:12" ("· FP16 · fp16 acc ·" with fp16 accumulation). */
/** The engine in a run's name: its provider, or trtexec for the user's own TensorRT (its Report's label says "(trtexec)"). */
function engineName(r: Report): string {
  return /\(trtexec\)/.test(r.run.label ?? '') ? 'trtexec' : r.run.ep;
}

export function runLabel(n: number, inputs: RunInputs, r: Report, startedAt: number): string {
  const acc = acc16(r) ? ` · ${r.run.precision} acc` : '';
  return `#${n} ${base(inputs.checkpoint)} + ${dataName(inputs)} · ${r.run.precision.toUpperCase()}${acc} · ${layerNormText(r)} · ${engineName(r)} · ${clock(startedAt)}`;
}

/**
 * A run that ended without a report, named by what it was asked to run:
 * "a_model.pyth + a_test_data.p · FP16 · LayerNorm plain · cpu · 14:03:12".
 */
/** A cancel or error said beside the run it came after, in two words: a re-run of it, or its own confirmation run. */
export function afterNote(a: Attempt, run: Pick<StoredRun, 'id'>): string {
  return `${a.confirmationOf === run.id ? 'confirmation' : 're-run'} ${a.kind === 'cancelled' ? 'cancelled' : 'failed'}`;
}

export function attemptLabel(a: Attempt): string {
  const o = a.options;
  if (!o) return `${base(a.inputs.checkpoint)} · ${clock(a.at)}`;
  const precision = o.precision ?? 'fp32';
  const acc = precision === 'fp16' && o.accumulate === 'fp16' ? ' · fp16 acc' : '';
  const ln = o.layerNorm === 'minimal' ? 'minimal fix' : `LayerNorm ${o.layerNorm ?? 'plain'}`;
  return `${base(a.inputs.checkpoint)} + ${dataName(a.inputs)} · ${precision.toUpperCase()}${acc} · ${ln} · ${o.engine === 'trtexec' ? 'trtexec' : o.ep ?? 'cpu'} · ${clock(a.at)}`;
}

/**
 * A run in the run pickers (Compare, Export, Remove): the verdict first and short, so that it is
 * never cut ("#3 ✗ FAIL · a_model.pyth + …"); where it fails, and the depth, after the label.
 */
export function runPickItem(r: Pick<StoredRun, 'label' | 'report'>): { label: string; description: string } {
  const d = r.report.diagnosis;
  const verdict = d.verdict === 'pass' ? '✓ PASS' : '✗ FAIL';
  const where = d.verdict === 'pass' ? '' : d.firstBadBlock !== null ? `fails at block ${d.firstBadBlock} · ` : 'the probabilities fail · ';
  return { label: r.label.replace(/^(#\d+) /, `$1 ${verdict} · `), description: `${where}${r.report.blocks.length} blocks` };
}

/** "#3 a_model · FP16 plain · cpu": a lane's title ("FP16 minimal fix", "FP16 plain · fp16 acc"). */
export function runShort(n: number, inputs: RunInputs, r: Report): string {
  const acc = acc16(r) ? ` · ${r.run.precision} acc` : '';
  return `#${n} ${base(inputs.checkpoint).replace(/\.(pyth|pth|pt|ckpt)$/i, '')} · ${r.run.precision.toUpperCase()} ${layerNormText(r, true)}${acc} · ${engineName(r)}`;
}

/** What the run compared with: the Report's `inputs.reference` (self: this model's FP32 on the CPU), else the test data. */
export function referenceText(inputs: RunInputs, r: Report): string {
  const ref = (r.inputs as { reference?: { kind?: unknown; path?: unknown } }).reference;
  if (ref?.kind === 'self' || inputs.testData === null) return 'reference: FP32 of this model (CPU)';
  return `reference: ${inputs.testData ? dataName(inputs) : typeof ref?.path === 'string' ? base(ref.path) : 'test data'}`;
}

/**
 * The fixes a run offers: only after a failure the diagnosis pins on a LayerNorm overflow. The
 * minimal fix comes first — the fewest LayerNorms in FP32 — unless its confirmation run failed or
 * this run already is one (its LayerNorms plain with some kept in FP32).
 */
export function offersOf(r: Report): FixMode[] {
  const d = r.diagnosis;
  if (d.verdict !== 'fail' || !d.culprit) return [];
  const mf = d.minimalFix;
  const isMinimal = r.run.layerNorm === 'plain' && Object.keys(r.run.layerNormOverrides ?? {}).length > 0;
  const minimal: FixMode[] = mf?.layerNorms.length && mf.confirmed?.verdict !== 'fail' && !isMinimal ? ['minimal'] : [];
  return [...minimal, ...d.fixes.filter((m) => m !== 'plain')];
}

/** A fix's notification and quick-pick title: "Fix: only the 25 overflowing LayerNorms in FP32", "Fix: FP32 LayerNorm", … */
export function fixTitle(run: StoredRun, mode: FixMode): string {
  return fixLabel(mode, run.report.diagnosis.minimalFix?.layerNorms.length ?? 0);
}

/** Where the head count came from, when the user should know: assumed (no test data to detect it from). */
/**
 * What an empty Heads field means for these inputs, as the pipeline settles it (core/pipeline/heads.ts):
 * an HF folder's config.json gives the count; else test data with block outputs detects it; without
 * test data (or with a video, compared with the model's own FP32) it is assumed (head dim 64).
 */
export function headsPlaceholder(o: { hfFolder: boolean; testData: string | null | undefined; video: boolean }): string {
  if (o.hfFolder) return 'from the checkpoint\'s config.json';
  if (o.testData === null || o.video) return 'auto (assumed without test data)';
  return 'detect from test data';
}

export function headsNote(r: Report): string | undefined {
  const c = r.config;
  if (c.headsSource !== 'assumed') return undefined;
  return `Heads: ${c.heads}, assumed (head dim ${c.embedDim / c.heads}): without test data the count cannot be detected. If the model has another, enter it in Heads above and run again.`;
}

/** The diagnosis sentence without what the minimal fix's confirmation run found (core's pipeline appends it last). */
export function withoutConfirmation(sentence: string): string {
  const at = [' Confirmed by one run with only them in FP32', ' One run with only them in FP32 still fails'].map((m) => sentence.indexOf(m)).filter((i) => i >= 0);
  return at.length ? sentence.slice(0, Math.min(...at)) : sentence;
}

export function pairingView(a: Agreement, inputs: RunInputs, trusted: boolean): PairingView {
  const [data, ck] = [dataName(inputs), base(inputs.checkpoint)];
  switch (a.status) {
    case 'agree':
      return { status: 'agree', text: `${data} matches ${ck}: ${a.detail}` };
    case 'disagree':
      return { status: 'disagree', text: `${data} does not match ${ck}: the test data has ${a.problems.join('; ')}`, problems: a.problems };
    case 'self':
      return { status: 'self', text: 'No test data: the reference is the FP32 graph of this model on the CPU.' };
    default:
      return { status: 'unknown', text: trusted ? `Not checked: ${a.reason}` : 'Not checked in Restricted Mode (files are read only in a trusted workspace).' };
  }
}
