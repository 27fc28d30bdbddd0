/**
 * A worker thread of parallel.ts's WorkerPool. Four kinds of job:
 * - 'weight': a weight as read (its float32 buffer is transferred, not copied) is checked,
 *   transposed and converted in one pass (model/weight-kernels.ts), and each form written at the
 *   offset the store reserved for it, through the store's own file descriptors (threads share
 *   them); answers where the first NaN or infinity is, if any (the main thread words the error);
 * - 'compare': one block output against its reference (compare/metrics.ts compareBlock);
 * - 'stats': one exposed tensor's statistics (compare/metrics.ts tensorStats);
 * - 'cpuRun': one run of a graph on the CPU EP (engine/session.ts; onnxruntime-node is loaded in
 *   this thread only for it); the outputs' buffers are handed back, not copied, and each segment
 *   run is reported as it ends ({ id, progress: [done, total] }).
 */
import { writeAtSync } from './formats/file';
import { parentPort } from 'worker_threads';
import { findNonFinite } from './tensor';
import { prepareWeight, type Scratch } from './model/weight-kernels';
import { compareBlock, tensorStats } from './compare/metrics';
import type { CpuRunResult, LabJob } from './parallel';
import { LabError } from './errors';

const scratch: Scratch = {};

async function cpuRun(job: Extract<LabJob, { type: 'cpuRun' }>, id: number): Promise<CpuRunResult> {
  const { runOnce } = await import('./engine/session');
  const onSegment = (done: number, total: number) => parentPort?.postMessage({ id, progress: [done, total] });
  const r = await runOnce({ ep: 'cpu', precision: 'fp32', layerNorm: 'plain', buildModel: () => job.source, cpuThreads: job.threads, onSegment }, job.inputName, job.video, job.dims);
  return { outputs: [...r.out], sessionMs: r.sessionMs, runMs: r.runMs, bytes: r.bytes };
}

function run(job: LabJob, id: number): unknown {
  if (job.type === 'cpuRun') return cpuRun(job, id);
  if (job.type === 'stats') return tensorStats(job.name, job.a, job.shape, job.channels);
  if (job.type === 'weight') {
    const a = new Float32Array(job.buffer, job.byteOffset, job.length);
    const { forms, nonFinite } = prepareWeight(a, job.rows, job.transposed, job.kinds, scratch);
    forms.forEach((bytes, i) => writeAtSync(job.writes[i].fd, bytes, job.writes[i].offset));
    return nonFinite ? findNonFinite(a) : null;
  }
  return compareBlock(job.out, job.ref, job.S, job.T, job.C, job.shape, job.outName, job.refName);
}

parentPort?.on('message', async ({ id, job }: { id: number; job: LabJob }) => {
  try {
    const result = await run(job, id);
    if (job.type !== 'cpuRun') return parentPort!.postMessage({ id, result });
    const buffers = [...new Set((result as CpuRunResult).outputs.map(([, a]) => a.buffer as ArrayBuffer))];
    try {
      parentPort!.postMessage({ id, result }, buffers);
    } catch {
      parentPort!.postMessage({ id, result }); // a buffer that cannot be handed over is copied
    }
  } catch (e) {
    parentPort!.postMessage({ id, error: e instanceof Error ? e.message : String(e), code: e instanceof LabError ? e.code : undefined });
  }
});
