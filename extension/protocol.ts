/**
 * The messages between the extension host (host/runner.ts) and the engine process (worker.ts):
 * a neutral module both sides import, so that neither reaches into the other's folder.
 *
 *   host -> worker: run(options) | saveModel(path) | exportTrt(options, path) | probe | inspect(files) | sweep(weights, clips, options)
 *   worker -> host: progress(stage)* log(line)* sweepClip(result)* then result(report) | saved | exported | providers | inspected | swept | error
 *
 * Messages travel over Node's IPC with `serialization: 'advanced'`, which keeps Infinity, NaN and
 * typed arrays intact.
 */
import { LabError } from './core/errors';
import type { DataSignature, ModelSignature } from './core/inspect';
import type { LayerNormChoice } from './core/pipeline';
import type { EpName, LayerNormMode, PipelineOptions, Report, Stage } from './core/report';
import type { ClipResult, ConfirmedClip, SweepOptions, SweepResult } from './core/sweep/types';

/** A sweep's request: the clips (folders, files, synthetic:SEED), its options and its output folder (core/sweep). */
export interface SweepRequest {
  weights: string;
  clips: string[];
  options: Omit<SweepOptions, 'weights'> & { out: string };
}

/**
 * What the host asks the engine to run: PipelineOptions whose test data may be absent — the
 * pipeline then compares with the model's own FP32 graph on the CPU (issue 9) — and whose
 * LayerNorm may be 'minimal': plain, with the LayerNorms whose overflow fires kept in FP32, read
 * by the engine process from the statistics (the CLI's `--layernorm minimal`).
 */
export type RunOptions = Omit<PipelineOptions, 'data' | 'layerNorm'> & {
  data?: string;
  layerNorm?: LayerNormChoice;
  /** 'trtexec': the user's TensorRT through trtexec (the CLI's trt-run, host/trtexec.ts), not the engine process; `ep` is then 'tensorrt'. */
  engine?: 'trtexec';
};

export interface ProviderInfo {
  ep: EpName;
  available: boolean;
  reason?: string;
}

export interface WorkerError {
  code: string;
  message: string;
  file?: string;
}

/** One file to inspect: a checkpoint (file or HF folder) or test data. */
export interface InspectRequest {
  path: string;
  kind: 'checkpoint' | 'test-data';
}

/** What inspecting one file gave: its signature, or why it could not be read. */
export type InspectResult =
  | { path: string; ok: true; signature: ModelSignature | DataSignature }
  | { path: string; ok: false; error: WorkerError };

export type ToWorker =
  | { type: 'run'; id: number; options: RunOptions }
  /** Write the model of run request `run` (must be the last run of this process). */
  | { type: 'saveModel'; id: number; run: number; path: string }
  /** Write the FP32 graph for TensorRT of a run (core/export.ts): LayerNorm `layerNorm`, torch.onnx.export node names. */
  | { type: 'exportTrt'; id: number; options: RunOptions; layerNorm: LayerNormMode | 'minimal'; path: string }
  | { type: 'probe'; id: number }
  /** Read the headers of these files (checkpoint geometry, test-data shapes); never their tensors. */
  | { type: 'inspect'; id: number; files: InspectRequest[] }
  /** Sweep a set of clips (core/sweep): a sweepClip per clip as it finishes, then swept. */
  | { type: 'sweep'; id: number; request: SweepRequest };

export type FromWorker =
  | { type: 'progress'; id: number; stage: Stage; detail?: string }
  | { type: 'log'; id: number; line: string }
  | { type: 'result'; id: number; report: Report }
  /** A run's mode compared and diagnosed, before its minimal fix's confirmation (the pipeline's onModeReport); its 'result' follows. */
  | { type: 'early'; id: number; report: Report }
  | { type: 'saved'; id: number; path: string }
  /** The TensorRT export: which LayerNorms are in FP32 and the trtexec line that keeps them there. */
  | { type: 'exported'; id: number; path: string; /** Size of the one file written (self-contained: the weights inline). */ bytes: number; layerNorm: LayerNormMode; fixed: string[]; trtexec?: string; nodes: number }
  | { type: 'providers'; id: number; providers: ProviderInfo[] }
  | { type: 'inspected'; id: number; results: InspectResult[] }
  | { type: 'sweepClip'; id: number; clip: ClipResult; index: number; total: number; skipped: boolean }
  | { type: 'sweepConfirm'; id: number; clip: ConfirmedClip; index: number; total: number }
  | { type: 'swept'; id: number; result: SweepResult }
  | { type: 'error'; id: number; error: WorkerError };

export function toWorkerError(e: unknown): WorkerError {
  if (e instanceof LabError) return { code: e.code, message: e.message, file: e.file };
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
}
