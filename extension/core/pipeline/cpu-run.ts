/**
 * One run of an fp32 graph on the CPU EP — head detection, the self-reference, the LayerNorm probe
 * run — on this thread, or on a worker thread of its own beside a GPU engine.
 */
import * as os from 'os';
import { LabError, type LabErrorCode } from '../errors';
import type { BuiltGraph } from '../model/timesformer';
import { startPool, type CpuRunResult } from '../parallel';
import type { Tensor } from '../tensor';
import { runOnce, type RanOnce } from '../engine/session';

export type CpuRun = Pick<RanOnce, 'out' | 'sessionMs' | 'runMs' | 'bytes'>;

/** One run of an fp32 graph on the CPU EP (head detection, the self-reference and LayerNorm probe run). */
export function runFp32OnCpu(g: BuiltGraph, video: Tensor<'float32'>, onSegment?: (done: number, total: number) => void): Promise<CpuRun> {
  return runOnce({ ep: 'cpu', precision: 'fp32', layerNorm: 'plain', buildModel: () => g.source, onSegment }, g.inputName, video.data, [...video.shape]);
}

/**
 * runFp32OnCpu on a worker thread of its own, so that the calling thread can build a GPU engine
 * meanwhile (onnxruntime-node's session creation and run block their thread). Undefined where no
 * thread can start or onnxruntime does not load in one (the caller then runs it itself); a
 * LabError from the run is the run's error.
 */
export async function runFp32OnCpuThread(g: BuiltGraph, video: Tensor<'float32'>, say: (s: string) => void, onSegment?: (done: number, total: number) => void): Promise<CpuRun | undefined> {
  const pool = startPool(1);
  if (!pool) return undefined;
  try {
    const clip = video.data.slice(); // its own buffer, handed over whole
    // all cores but two (the engine's thread, and what feeds the GPU), not spinning when idle
    const threads = Math.max(1, os.availableParallelism() - 2);
    const r = await pool.run<CpuRunResult>({ type: 'cpuRun', source: g.source, inputName: g.inputName, video: clip, dims: [...video.shape], threads }, [clip.buffer], onSegment);
    return { out: new Map(r.outputs), sessionMs: r.sessionMs, runMs: r.runMs, bytes: r.bytes };
  } catch (e) {
    const code = (e as { code?: LabErrorCode }).code;
    if (code) throw new LabError(code, (e as Error).message);
    say(`fp32 run on a worker thread failed (${(e as Error).message}); running it on the main thread`);
    return undefined;
  } finally {
    void pool.close();
  }
}
