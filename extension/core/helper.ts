/**
 * The main process's side of gpu-helper.ts: start it, ask it to warm a GPU provider and to run
 * modes' models, read their outputs back. Where it cannot start or a request fails, callers run
 * the mode themselves (it is a speed-up, never a requirement).
 */
import { fork, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readAtSync } from './formats/file';
import type { HelperAnswer, HelperRequest, HelperRun, HelperRunResult } from './gpu-helper';

export interface HelperOutputs extends Omit<HelperRunResult, 'outputs'> {
  outputs: Map<string, Float32Array>;
  /** The helper process's peak RSS when it answered. */
  helperPeakRssBytes: number;
}

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;

export class GpuHelper {
  private next = 0;
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
    if (this.gone) return Promise.reject(new Error(this.gone));
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ ...req, id } as HelperRequest, (e) => {
        if (!e) return;
        this.pending.delete(id);
        reject(e);
      });
    });
  }

  /** Load onnxruntime and create the provider's device in the helper; whether the provider loads there. */
  async warm(ep: HelperRun['ep']): Promise<{ available: boolean; reason?: string }> {
    const a = await this.ask({ type: 'warm', ep });
    if (!a.ok) return { available: false, reason: a.error };
    return a.result as { available: boolean; reason?: string };
  }

  /** Run one model in the helper; its outputs, read back from the file it wrote (then removed). */
  async run(req: Omit<HelperRun, 'type' | 'id'>): Promise<HelperOutputs> {
    const a = await this.ask({ type: 'run', ...req });
    if (!a.ok) throw Object.assign(new Error(a.error), a.code ? { code: a.code } : {});
    const r = a.result as HelperRunResult;
    // each output into an array of its own: views into one buffer would each carry the whole file
    // whenever one is posted to a worker thread (structured clone copies a view's entire buffer:
    // expose mode's 221 MB twelve times per comparison, 18.7 s and 3.6 GB in device run 21)
    const outputs = new Map<string, Float32Array>();
    const fd = fs.openSync(req.outFile, 'r');
    try {
      for (const [name, at, n] of r.outputs) {
        const a = new Float32Array(n);
        if (readAtSync(fd, new Uint8Array(a.buffer), at) !== a.byteLength) throw new Error(`${req.outFile}: ends before output ${name}`);
        outputs.set(name, a);
      }
    } finally {
      fs.closeSync(fd);
      fs.rmSync(req.outFile, { force: true });
    }
    return { ...r, outputs, helperPeakRssBytes: a.maxRssBytes };
  }

  close(): void {
    this.gone ??= 'closed';
    if (this.child.connected) this.child.disconnect();
    this.child.kill();
  }
}
