/**
 * A worker thread of parallel.ts's WorkerPool. Two kinds of job:
 * - 'weight': a weight as read (its float32 buffer is transferred, not copied) is checked,
 *   transposed and converted in one pass (model/weight-kernels.ts), and each form written at the
 *   offset the store reserved for it, through the store's own file descriptors (threads share
 *   them); answers where the first NaN or infinity is, if any (the main thread words the error);
 * - 'compare': one block output against its reference (compare/metrics.ts compareBlock).
 */
import * as fs from 'fs';
import { parentPort } from 'worker_threads';
import { findNonFinite } from './tensor';
import { prepareWeight, type Scratch } from './model/weight-kernels';
import { compareBlock } from './compare/metrics';
import type { LabJob } from './parallel';

const scratch: Scratch = {};

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
}

function run(job: LabJob): unknown {
  if (job.type === 'weight') {
    const a = new Float32Array(job.buffer, job.byteOffset, job.length);
    const { forms, nonFinite } = prepareWeight(a, job.rows, job.transposed, job.kinds, scratch);
    forms.forEach((bytes, i) => writeAll(job.writes[i].fd, bytes, job.writes[i].offset));
    return nonFinite ? findNonFinite(a) : null;
  }
  return compareBlock(job.out, job.ref, job.S, job.T, job.C, job.shape, job.outName, job.refName);
}

parentPort?.on('message', ({ id, job }: { id: number; job: LabJob }) => {
  try {
    parentPort!.postMessage({ id, result: run(job) });
  } catch (e) {
    parentPort!.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
  }
});
