/**
 * The host's session state that needs no `vscode`: the runs of this session (what Compare Runs
 * shows side by side), their labels, and how the sidebar's choices become PipelineOptions.
 */
import * as path from 'path';
import type { EpChoice, LayerNormMode, PipelineOptions, Precision, Report } from '../core/report';
import { summarize, type FileChoice, type RunView } from './protocol';

export interface StoredRun {
  id: string;
  /** The worker request that produced it (Export ONNX asks the worker for this run's model). */
  requestId: number;
  label: string;
  options: PipelineOptions;
  report: Report;
}

/** "#2 FP16 + LayerNorm fp32 · cpu": what the run selector and the status bar show. */
export function runLabel(n: number, r: Report): string {
  const ln = r.run.layerNorm === 'plain' ? '' : ` + LayerNorm ${r.run.layerNorm}`;
  return `#${n} ${r.run.precision.toUpperCase()}${ln} · ${r.run.ep}`;
}

export class RunStore {
  private readonly runs: StoredRun[] = [];
  private count = 0;
  /** Runs drawn in the graph panel, in order. */
  shown: string[] = [];

  constructor(private readonly max = 20) {}

  add(report: Report, requestId: number, options: PipelineOptions): StoredRun {
    const n = ++this.count;
    const run: StoredRun = { id: `run-${n}`, requestId, label: runLabel(n, report), options, report };
    this.runs.push(run);
    if (this.runs.length > this.max) this.runs.shift();
    this.shown = [run.id];
    return run;
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

  /** Keeps only ids of stored runs. */
  show(ids: readonly string[]): void {
    this.shown = ids.filter((id) => this.get(id));
  }

  views(): RunView[] {
    return this.runs.map((r) => ({ id: r.id, label: r.label, summary: summarize(r.report) }));
  }
}

/** The "Expose LayerNorm entries" toggle overrides the LayerNorm mode select. */
export function effectiveLayerNorm(mode: LayerNormMode, expose: boolean): LayerNormMode {
  return expose ? 'expose' : mode;
}

/** Test data for a checkpoint: `<stem>_test_data.*` or `<stem>*` beside it first, else the first found. */
export function pickTestData(checkpoint: string | undefined, found: readonly FileChoice[]): FileChoice | undefined {
  if (!checkpoint) return found[0];
  const stem = path.basename(checkpoint).replace(/\.[^.]+$/, '');
  const base = (f: FileChoice) => path.basename(f.path);
  return found.find((f) => base(f).startsWith(`${stem}_test_data.`))
    ?? found.find((f) => base(f).startsWith(stem))
    ?? found[0];
}

export interface RunChoices {
  checkpoint?: string;
  testData?: string;
  precision: Precision;
  layerNorm: LayerNormMode;
  exposeLayerNorm: boolean;
  ep: EpChoice;
  heads: number | null;
  tolerance: number;
  deviceId: number;
  trtCacheDir: string;
}

/** PipelineOptions from the sidebar/settings, or the reason they are not complete. */
export function pipelineOptions(c: RunChoices): PipelineOptions | { missing: 'checkpoint' | 'testData' } {
  if (!c.checkpoint) return { missing: 'checkpoint' };
  if (!c.testData) return { missing: 'testData' };
  return {
    weights: c.checkpoint,
    data: c.testData,
    ...(c.heads ? { heads: c.heads } : {}),
    precision: c.precision,
    layerNorm: effectiveLayerNorm(c.layerNorm, c.exposeLayerNorm),
    ep: c.ep,
    deviceId: c.deviceId,
    ...(c.trtCacheDir ? { trtCacheDir: c.trtCacheDir } : {}),
    tolerance: c.tolerance,
  };
}
