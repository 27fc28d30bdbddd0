/**
 * The host's side of the engine process (extension/worker.ts): forks it on demand, sends requests,
 * routes its progress, and kills it on Cancel (SIGTERM, then SIGKILL after a short grace).
 * A worker that dies without answering (native crash, out-of-memory) fails its requests with a
 * clear error; the next request forks a fresh one. No `vscode` import: unit-tested with mocha.
 */
import { fork, type ChildProcess } from 'child_process';
import type { LayerNormMode, Report, Stage } from '../core/report';
import type { ClipResult, ConfirmedClip, SweepResult } from '../core/sweep/types';
import type { FromWorker, InspectRequest, InspectResult, ProviderInfo, RunOptions, SweepRequest, ToWorker, WorkerError } from '../protocol';

export class RunError extends Error {
  constructor(readonly code: string, message: string, readonly file?: string) {
    super(message);
    this.name = 'RunError';
  }
  static from(e: WorkerError): RunError {
    return new RunError(e.code, e.message, e.file);
  }
}

export interface RunHooks {
  onProgress?: (stage: Stage, detail?: string) => void;
  onLog?: (line: string) => void;
  /** A sweep's clips as they finish, and its confirmation runs. */
  onSweepClip?: (clip: ClipResult, p: { index: number; total: number; skipped: boolean }) => void;
  onSweepConfirm?: (clip: ConfirmedClip, p: { index: number; total: number }) => void;
  /** A run's Report before its minimal fix's confirmation (the run's own result follows). */
  onModeReport?: (report: Report, requestId: number) => void;
}

interface Pending {
  resolve: (m: FromWorker) => void;
  reject: (e: RunError) => void;
  hooks?: RunHooks;
}

interface Proc {
  child: ChildProcess;
  pending: Map<number, Pending>;
  /** Set when we kill it: its requests then end as CANCELLED, not as a crash. */
  killed: boolean;
  exited: Promise<void>;
  /** Request id of the run whose model this process holds. */
  modelOf?: number;
}

export interface WorkerClientOptions {
  /** Path of out/extension/worker.js (or a test double). */
  script: string;
  env?: NodeJS.ProcessEnv;
  /** The worker's stderr and lifecycle lines. */
  log?: (line: string) => void;
  /** Between SIGTERM and SIGKILL on cancel. */
  graceMs?: number;
}

export class WorkerClient {
  private proc: Proc | undefined;
  private nextId = 1;

  constructor(private readonly o: WorkerClientOptions) {}

  /** Process id of the live worker, if any. */
  get pid(): number | undefined {
    return this.proc?.child.pid;
  }

  get busy(): boolean {
    return (this.proc?.pending.size ?? 0) > 0;
  }

  /** Runs the pipeline; resolves with the request id (to export the model later) and the report. */
  async run(options: RunOptions, hooks: RunHooks = {}): Promise<{ requestId: number; report: Report }> {
    const id = this.nextId++;
    // the engine process lets go of the last run's model when the next run starts, whatever its end
    if (this.proc) this.proc.modelOf = undefined;
    const r = await this.request({ type: 'run', id, options }, hooks);
    if (r.type !== 'result') throw new RunError('INTERNAL', `unexpected answer ${r.type}`);
    if (this.proc) this.proc.modelOf = id;
    return { requestId: id, report: r.report };
  }

  /** Writes the ONNX model of run `requestId` if the live worker still holds it; false otherwise. */
  async saveModel(requestId: number, path: string): Promise<boolean> {
    if (!this.proc || this.proc.modelOf !== requestId) return false;
    const r = await this.request({ type: 'saveModel', id: this.nextId++, run: requestId, path });
    return r.type === 'saved';
  }

  /** Writes the FP32 graph for TensorRT of a run's inputs (the pipeline's preparation, then core/export.ts). */
  async exportForTensorRt(options: RunOptions, layerNorm: LayerNormMode | 'minimal', path: string, hooks: RunHooks = {}): Promise<Extract<FromWorker, { type: 'exported' }>> {
    const r = await this.request({ type: 'exportTrt', id: this.nextId++, options, layerNorm, path }, hooks);
    if (r.type !== 'exported') throw new RunError('INTERNAL', `unexpected answer ${r.type}`);
    return r;
  }

  /** Reads the headers of these files in the engine process (never the extension host's). */
  async inspect(files: InspectRequest[]): Promise<InspectResult[]> {
    const r = await this.request({ type: 'inspect', id: this.nextId++, files });
    if (r.type !== 'inspected') throw new RunError('INTERNAL', `unexpected answer ${r.type}`);
    return r.results;
  }

  /** Sweeps a set of clips in the engine process (core/sweep); Cancel kills it, the clips done stay in the request's output folder. */
  async sweep(request: SweepRequest, hooks: RunHooks = {}): Promise<SweepResult> {
    const r = await this.request({ type: 'sweep', id: this.nextId++, request }, hooks);
    if (r.type !== 'swept') throw new RunError('INTERNAL', `unexpected answer ${r.type}`);
    return r.result;
  }

  async probe(): Promise<ProviderInfo[]> {
    const r = await this.request({ type: 'probe', id: this.nextId++ });
    if (r.type !== 'providers') throw new RunError('INTERNAL', `unexpected answer ${r.type}`);
    return r.providers;
  }

  /** Kills the worker: its requests fail with CANCELLED at once; resolves when the process is gone. */
  cancel(): Promise<void> {
    const p = this.proc;
    if (!p) return Promise.resolve();
    this.proc = undefined;
    p.killed = true;
    for (const q of p.pending.values()) q.reject(new RunError('CANCELLED', 'cancelled'));
    p.pending.clear();
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), this.o.graceMs ?? 300);
    return p.exited.finally(() => clearTimeout(timer));
  }

  dispose(): void {
    void this.cancel();
  }

  private request(m: ToWorker, hooks?: RunHooks): Promise<FromWorker> {
    const p = this.ensure();
    return new Promise<FromWorker>((resolve, reject) => {
      p.pending.set(m.id, { resolve, reject, hooks });
      p.child.send(m, (err) => {
        if (err && p.pending.delete(m.id)) reject(new RunError('WORKER_FAILED', `could not reach the engine process: ${err.message}`));
      });
    });
  }

  private ensure(): Proc {
    if (this.proc) return this.proc;
    const child = fork(this.o.script, [], {
      serialization: 'advanced', // keeps Infinity/NaN and typed arrays intact
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      execArgv: [], // never inherit the extension host's --inspect flags
      env: this.o.env ?? process.env,
    });
    let onExit!: () => void;
    const p: Proc = { child, pending: new Map(), killed: false, exited: new Promise((r) => (onExit = r)) };
    this.proc = p;
    this.o.log?.(`engine process ${child.pid} started`);
    child.stderr?.setEncoding('utf8').on('data', (d: string) => d.split('\n').filter(Boolean).forEach((l) => this.o.log?.(`[engine] ${l}`)));
    child.on('message', (msg: FromWorker) => {
      const q = p.pending.get(msg.id);
      if (!q) return;
      if (msg.type === 'progress') q.hooks?.onProgress?.(msg.stage, msg.detail);
      else if (msg.type === 'log') q.hooks?.onLog?.(msg.line);
      else if (msg.type === 'sweepClip') q.hooks?.onSweepClip?.(msg.clip, msg);
      else if (msg.type === 'sweepConfirm') q.hooks?.onSweepConfirm?.(msg.clip, msg);
      else if (msg.type === 'early') q.hooks?.onModeReport?.(msg.report, msg.id);
      else {
        p.pending.delete(msg.id);
        if (msg.type === 'error') q.reject(RunError.from(msg.error));
        else q.resolve(msg);
      }
    });
    child.on('error', (e) => this.o.log?.(`engine process error: ${e.message}`));
    child.on('exit', (code, signal) => {
      if (this.proc === p) this.proc = undefined;
      this.o.log?.(`engine process ${child.pid} ${p.killed ? 'killed' : 'exited'} (${signal ?? `code ${code}`})`);
      if (p.pending.size) {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const why = signal === 'SIGKILL' ? ' (often the out-of-memory killer)' : signal === 'SIGSEGV' || signal === 'SIGABRT' ? ' (a native crash)' : '';
        const e = new RunError('WORKER_CRASHED', `the engine process ${how}${why} before it answered; the extension is fine and the next run starts a new engine process`);
        for (const q of p.pending.values()) q.reject(e);
        p.pending.clear();
      }
      onExit();
    });
    return p;
  }
}
