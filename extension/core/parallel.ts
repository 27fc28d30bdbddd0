/**
 * Worker threads for the two passes over big arrays that a run makes in JavaScript: converting
 * the weights as they are read (model/weight-store.ts) and comparing the block outputs
 * (pipeline.ts, compare/metrics.ts compareBlock). Each is ~1 s of one core at full size, and a GPU
 * machine has many idle cores. One script (lab-worker.js) serves every kind of job; the third is
 * the fp32 run on the CPU EP that a GPU run compares with or reads its LayerNorm statistics from,
 * run on a thread of its own while the main thread builds the GPU engine (onnxruntime-node's
 * session creation and run block the thread that calls them).
 *
 * Threads are started for one pass and ended after it: an idle thread holds ~9 MB, and the engine
 * that runs in between should have the memory. Where threads cannot start (no lab-worker.js next
 * to this file, a host that refuses them) callers do the same work on their own thread.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { ModelSource } from './model/model-file';

/** A job for lab-worker.js. */
export type LabJob =
  | { type: 'weight'; buffer: ArrayBuffer; byteOffset: number; length: number; rows: number; transposed: boolean; kinds: ('f16' | 'bf16' | 'f32.f16' | 'f32.bf16')[]; writes: { fd: number; offset: number }[] }
  | { type: 'compare'; out: Float32Array; ref: Float32Array; S: number; T: number; C: number; shape: number[]; outName: string; refName?: string }
  | { type: 'stats'; name: string; a: Float32Array; shape: number[]; channels: boolean }
  | { type: 'cpuRun'; source: ModelSource; inputName: string; video: Float32Array; dims: number[]; threads?: number };

/** What a 'cpuRun' job answers: the outputs by name, and the times of the run. */
export interface CpuRunResult {
  outputs: [string, Float32Array][];
  sessionMs: number;
  runMs: number;
  bytes: number;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** How far the job is (a 'cpuRun' job's segments done, of all), as the thread says. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * How many worker threads a pass gets: $TIMESFORMER_LAB_THREADS, else one per core but the main
 * thread's, at most 8 (past that the main thread's own part — reading the file, dealing out the
 * blocks — is the limit); none on a single core.
 */
export function defaultThreads(env: NodeJS.ProcessEnv = process.env, cores = os.availableParallelism()): number {
  const v = env.TIMESFORMER_LAB_THREADS;
  if (v !== undefined && v !== '' && Number.isInteger(Number(v)) && Number(v) >= 0) return Math.min(64, Number(v));
  return Math.max(0, Math.min(8, cores - 1));
}

/**
 * Worker threads running lab-worker.js; each job goes to the thread with the fewest waiting. A
 * thread that dies fails its jobs with the reason. The constructor throws where threads cannot be
 * started.
 */
export class WorkerPool {
  private readonly slots: { w: Worker; pending: Map<number, Pending>; online: boolean }[] = [];
  private next = 0;
  private closing = false;

  constructor(readonly size: number) {
    const file = path.join(__dirname, 'lab-worker.js');
    if (!fs.existsSync(file)) throw new Error(`no ${file}`);
    // onnxruntime reads ORT_DISABLE_TELEMETRY from the process's environment (getenv). A worker
    // thread's process.env is a copy of its own: what engine/session.ts sets there never reaches
    // getenv, so a worker that loads onnxruntime before the main thread has would leave telemetry
    // on (~/.cache/Microsoft/DeveloperTools/.onnxruntime, mat-debug-<pid>.log). Set it here, on the
    // thread that starts the workers, where process.env is the real environment.
    process.env.ORT_DISABLE_TELEMETRY = '1';
    for (let i = 0; i < size; i++) {
      const w = new Worker(file);
      w.unref();
      const slot = { w, pending: new Map<number, Pending>(), online: false };
      const failAll = (e: Error) => {
        for (const p of slot.pending.values()) p.reject(e);
        slot.pending.clear();
      };
      w.on('online', () => (slot.online = true));
      w.on('message', (r: { id: number; result?: unknown; error?: string; code?: string; progress?: [number, number] }) => {
        const p = slot.pending.get(r.id);
        if (!p) return;
        if (r.progress) return p.onProgress?.(...r.progress);
        slot.pending.delete(r.id);
        if (r.error !== undefined) p.reject(Object.assign(new Error(r.error), r.code ? { code: r.code } : {}));
        else p.resolve(r.result);
      });
      w.on('error', failAll);
      w.on('exit', (code) => {
        if (!this.closing || slot.pending.size) failAll(new Error(`a worker thread stopped (exit code ${code})`));
      });
      this.slots.push(slot);
    }
  }

  /** How many more jobs the started threads can take with at most `depth` waiting on each. */
  room(depth = 2): number {
    return this.slots.reduce((n, s) => n + (s.online ? Math.max(0, depth - s.pending.size) : 0), 0);
  }

  /** Run a job on the least busy thread. `transfer`: buffers handed over instead of copied; `onProgress`: how far it is, while it runs. */
  run<R>(job: LabJob, transfer: ArrayBuffer[] = [], onProgress?: (done: number, total: number) => void): Promise<R> {
    // a started thread first (one still starting may take a while), then the one with least waiting
    const key = (s: { online: boolean; pending: Map<number, Pending> }) => (s.online ? 0 : 1e9) + s.pending.size;
    const slot = this.slots.reduce((a, b) => (key(b) < key(a) ? b : a));
    const id = ++this.next;
    job = ownBuffers(job, transfer);
    return new Promise<R>((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress });
      try {
        slot.w.postMessage({ id, job }, transfer);
      } catch {
        // a buffer that cannot be transferred (a pooled Node Buffer's) is copied instead
        slot.w.postMessage({ id, job });
      }
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.w.terminate()));
  }
}

/**
 * The job with each typed array that views part of a larger buffer (an output unpacked from a
 * packed one: model/packed-outputs.ts) copied into a buffer of its own and handed over: a message
 * copies a view's whole underlying buffer, 55 MiB a block instead of the block's 4.8 MiB.
 */
function ownBuffers(job: LabJob, transfer: ArrayBuffer[]): LabJob {
  let copy: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(job)) {
    if (!ArrayBuffer.isView(v) || v instanceof DataView || v.byteLength === v.buffer.byteLength || v.buffer instanceof SharedArrayBuffer) continue;
    const own = (v as Float32Array).slice();
    (copy ??= { ...job })[k] = own;
    transfer.push(own.buffer);
  }
  return (copy as LabJob | undefined) ?? job;
}

/**
 * `a`'s values in memory the worker threads share: a message carries such an array without a copy.
 * For what is sent to the threads again and again (the reference's blocks, every run of a warm
 * engine process compares with them: 2 × 55 MiB of copies a request at full size otherwise).
 */
export function toShared(a: Float32Array): Float32Array {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
}

/** A pool of `n` threads, or undefined where n is 0 or threads cannot start. */
export function startPool(n: number): WorkerPool | undefined {
  if (n <= 0) return undefined;
  try {
    return new WorkerPool(n);
  } catch {
    return undefined;
  }
}
