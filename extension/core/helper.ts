/**
 * The main process's side of gpu-helper.ts: start it, ask it to warm a GPU provider and to run
 * modes' models, read their outputs back. Where it cannot start or a request fails, callers run
 * the mode themselves (it is a speed-up, never a requirement).
 */
import { fork, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readAtSync } from './formats/file';
import type { Engine } from './engine/session';
import type { EpChoice } from './report';
import type { HelperAnswer, HelperOpen, HelperOpened, HelperRequest, HelperRun, HelperRunResult } from './gpu-helper';

export interface HelperOutputs extends Omit<HelperRunResult, 'outputs'> {
  outputs: Map<string, Float32Array>;
  /** The helper process's peak RSS when it answered. */
  helperPeakRssBytes: number;
}

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;

/**
 * Whether work on `ep` may go to a GPU helper process: on WebGPU or CUDA (named: under 'auto' the
 * provider is known only once one loads). TIMESFORMER_LAB_GPU_HELPER=0 turns it off; =1 also gives
 * one to the CPU EP (tests: no GPU here). A run of several modes and a sweep each add their own
 * conditions.
 */
export function helperFor(ep: EpChoice | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  const s = env.TIMESFORMER_LAB_GPU_HELPER;
  return s !== '0' && (ep === 'webgpu' || ep === 'cuda' || (ep === 'cpu' && s === '1'));
}

export class GpuHelper {
  private next = 0;
  private handles = 0;
  private readonly pending = new Map<number, { resolve: (a: HelperAnswer) => void; reject: (e: Error) => void }>();
  private stderr = '';
  private gone: string | undefined;
  /** The helper's peak RSS, as last reported. */
  peakRssBytes = 0;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (a: HelperAnswer) => {
      this.peakRssBytes = Math.max(this.peakRssBytes, a.maxRssBytes);
      const p = this.pending.get(a.id);
      this.pending.delete(a.id);
      p?.resolve(a);
    });
    child.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-2000)));
    child.on('exit', (code, signal) => {
      this.gone = `the GPU helper process ended (${signal ?? `exit code ${code}`})${this.stderr.trim() ? `: ${this.stderr.trim().split('\n').slice(-2).join(' ')}` : ''}`;
      for (const p of this.pending.values()) p.reject(new Error(this.gone));
      this.pending.clear();
    });
    child.on('error', (e) => {
      this.gone = `the GPU helper process failed: ${e.message}`;
      for (const p of this.pending.values()) p.reject(new Error(this.gone));
      this.pending.clear();
    });
  }

  /** Start gpu-helper.js from this file's folder (out/extension/core, or dist/ in the bundle); undefined where it is not there. */
  static start(): GpuHelper | undefined {
    const file = path.join(__dirname, 'gpu-helper.js');
    if (!fs.existsSync(file)) return undefined;
    try {
      const child = fork(file, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' }, execArgv: [] });
      return new GpuHelper(child);
    } catch {
      return undefined;
    }
  }

  private ask(req: Distribute<HelperRequest>): Promise<HelperAnswer> {
    // a channel closed before its 'exit' event: the process is gone all the same
    if (!this.gone && !this.child.connected) this.gone = 'the GPU helper process is gone (its channel closed)';
    if (this.gone) return Promise.reject(new Error(this.gone));
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ ...req, id } as HelperRequest, (e) => {
        if (!e) return;
        this.gone ??= `the GPU helper process is gone (${e.message})`;
        this.pending.delete(id);
        reject(e);
      });
    });
  }

  /** Why the helper process is gone (it ended, failed, or was closed); undefined while it serves. */
  get lost(): string | undefined {
    return this.gone;
  }

  /** The helper process's id (its logs and tests name it). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Load onnxruntime and create the provider's device in the helper; whether the provider loads there. */
  async warm(ep: HelperRun['ep']): Promise<{ available: boolean; reason?: string }> {
    const a = await this.ask({ type: 'warm', ep });
    if (!a.ok) return { available: false, reason: a.error };
    return a.result as { available: boolean; reason?: string };
  }

  private async answer<T>(req: Distribute<HelperRequest>): Promise<{ result: T; maxRssBytes: number }> {
    const a = await this.ask(req);
    if (!a.ok) throw Object.assign(new Error(a.error), a.code ? { code: a.code } : {});
    return { result: a.result as T, maxRssBytes: a.maxRssBytes };
  }

  /** Run one model in the helper; its outputs, read back from the file it wrote (then removed). */
  async run(req: Omit<HelperRun, 'type' | 'id'>): Promise<HelperOutputs> {
    const a = await this.answer<HelperRunResult>({ type: 'run', ...req });
    return { ...a.result, outputs: readOutputs(req.outFile, a.result), helperPeakRssBytes: a.maxRssBytes };
  }

  /**
   * A session kept in the helper, as an Engine: run() hands the input over in a file of `dir` and
   * returns while the helper runs (this process's thread is free meanwhile: a sweep judges the
   * clips of the run before), release() ends it there. Throws as createEngine does.
   */
  async openEngine(req: Omit<HelperOpen, 'type' | 'id' | 'handle'>, dir: string, buildGraphMs = 0): Promise<Engine> {
    const handle = ++this.handles;
    const o = (await this.answer<HelperOpened>({ type: 'open', handle, ...req })).result;
    let runs = 0;
    const helper = this;
    const engine: Engine = {
      ...o, cache: 'none', buildGraphMs, outputBytes: 0, lastRunMs: 0,
      async run(feeds, dims) {
        const [inputName, v] = Object.entries(feeds)[0];
        const data = v instanceof Float32Array ? v : v.data;
        const n = ++runs;
        const videoFile = path.join(dir, `remote-${handle}-${n}.in.f32`);
        const outFile = path.join(dir, `remote-${handle}-${n}.out.f32`);
        fs.writeFileSync(videoFile, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        try {
          const r = (await helper.answer<HelperRunResult>({ type: 'runKept', handle, inputName, videoFile, dims: dims[inputName], outFile })).result;
          engine.lastRunMs = r.runMs;
          engine.outputBytes = r.outputBytes;
          return readOutputs(outFile, r);
        } finally {
          fs.rmSync(videoFile, { force: true });
          fs.rmSync(outFile, { force: true });
        }
      },
      async release() {
        if (!helper.gone) await helper.answer({ type: 'release', handle });
      },
    };
    return engine;
  }

  close(): void {
    this.gone ??= 'closed';
    if (this.child.connected) this.child.disconnect();
    this.child.kill();
  }
}

/** The outputs the helper wrote to `file`, each into an array of its own; the file is removed. */
function readOutputs(file: string, r: HelperRunResult): Map<string, Float32Array> {
  // each output into an array of its own: views into one buffer would each carry the whole file
  // whenever one is posted to a worker thread (structured clone copies a view's entire buffer:
  // expose mode's 221 MB twelve times per comparison, 18.7 s and 3.6 GB in device run 21)
  const outputs = new Map<string, Float32Array>();
  const fd = fs.openSync(file, 'r');
  try {
    for (const [name, at, n] of r.outputs) {
      const a = new Float32Array(n);
      if (readAtSync(fd, new Uint8Array(a.buffer), at) !== a.byteLength) throw new Error(`${file}: ends before output ${name}`);
      outputs.set(name, a);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return outputs;
}
