/**
 * The engine process: the extension host forks this file (out/extension/worker.js) with an IPC
 * channel, and the pipeline, onnxruntime included, runs here and never in the extension host.
 * A native crash or an out-of-memory ends this process only; Cancel kills it.
 *
 *   host -> worker: run(options) | saveModel(path) | probe
 *   worker -> host: progress(stage)* log(line)* then result(report) | saved | providers | error
 *
 * The last run's options and what it settled stay here; `saveModel` builds its graph again and
 * writes it where Export ONNX asks (keeping the model's bytes between runs would hold a second copy
 * of the weights in this process: 486 MB at full size).
 */
import { LabError } from './core/errors';
import { runPipeline, saveOnnxOf } from './core/pipeline';
import type { PipelineOptions, Report, Stage } from './core/report';
import type { ProviderInfo } from './host/protocol';

export interface WorkerError {
  code: string;
  message: string;
  file?: string;
}

export type ToWorker =
  | { type: 'run'; id: number; options: PipelineOptions }
  /** Write the model of run request `run` (must be the last run of this process). */
  | { type: 'saveModel'; id: number; run: number; path: string }
  | { type: 'probe'; id: number };

export type FromWorker =
  | { type: 'progress'; id: number; stage: Stage; detail?: string }
  | { type: 'log'; id: number; line: string }
  | { type: 'result'; id: number; report: Report }
  | { type: 'saved'; id: number; path: string }
  | { type: 'providers'; id: number; providers: ProviderInfo[] }
  | { type: 'error'; id: number; error: WorkerError };

export function toWorkerError(e: unknown): WorkerError {
  if (e instanceof LabError) return { code: e.code, message: e.message, file: e.file };
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
}

/** Test seam: a pause before each run, so that tests can press Cancel while the worker is busy. */
const testDelayMs = Number(process.env.TIMESFORMER_LAB_TEST_DELAY_MS ?? 0) || 0;

let lastRun: { run: number; options: PipelineOptions; report: Report } | undefined;

async function handle(m: ToWorker, send: (r: FromWorker) => void): Promise<void> {
  const id = m.id;
  try {
    switch (m.type) {
      case 'run': {
        lastRun = undefined;
        if (testDelayMs) await new Promise((r) => setTimeout(r, testDelayMs));
        const { report } = await runPipeline(m.options, {
          onProgress: (stage, detail) => send({ type: 'progress', id, stage, detail }),
          log: (line) => send({ type: 'log', id, line }),
        });
        lastRun = { run: id, options: m.options, report };
        send({ type: 'result', id, report });
        return;
      }
      case 'saveModel': {
        if (lastRun?.run !== m.run) throw new LabError('BAD_OPTION', 'the engine process no longer holds this run\'s model');
        await saveOnnxOf(lastRun.report, lastRun.options, m.path);
        send({ type: 'saved', id, path: m.path });
        return;
      }
      case 'probe': {
        const { probeProviders } = await import('./core/engine/session');
        send({ type: 'providers', id, providers: await probeProviders() });
        return;
      }
    }
  } catch (e) {
    send({ type: 'error', id, error: toWorkerError(e) });
  }
}

if (require.main === module) {
  if (!process.send) {
    process.stderr.write('worker.js is forked by the extension (child_process.fork with IPC); use out/extension/cli.js from a shell\n');
    process.exit(2);
  }
  const send = (r: FromWorker) => process.send?.(r);
  // One message at a time: a run and a probe never share the native runtime concurrently.
  let queue = Promise.resolve();
  process.on('message', (m: ToWorker) => {
    queue = queue.then(() => handle(m, send));
  });
  // The host went away (closed, crashed): nothing left to do.
  process.on('disconnect', () => process.exit(0));
}
