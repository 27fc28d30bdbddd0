/**
 * The engine process: the extension host forks this file (out/extension/worker.js) with an IPC
 * channel, and the pipeline, onnxruntime included, runs here and never in the extension host.
 * A native crash or an out-of-memory ends this process only; Cancel kills it. The messages are in
 * extension/protocol.ts.
 *
 * The last run's preparation (weights in their store, clip, FP32 reference) and the sessions it
 * built stay here between run requests, bounded, and are released on other inputs, when idle and
 * before a sweep or an export (core/warm.ts: warm engines). `saveModel` builds the last run's graph
 * again and writes it where Export ONNX asks.
 */
import { basename } from 'path';
import { LabError } from './core/errors';
import { inspectCheckpoint, inspectTestData } from './core/inspect';
import { WeightStore } from './core/model/weight-store';
import { saveOnnxOf, type ModeHooks } from './core/pipeline';
import { WarmEngines, warmLimits } from './core/warm';
import type { PipelineOptions, Report } from './core/report';
import { toWorkerError, type FromWorker, type InspectResult, type RunOptions, type ToWorker } from './protocol';
import { resetPeakRss } from './core/peak-rss';

/** Test seam: a pause before each run, so that tests can press Cancel while the worker is busy. */
const testDelayMs = Number(process.env.TIMESFORMER_LAB_TEST_DELAY_MS ?? 0) || 0;

let lastRun: { run: number; options: PipelineOptions; report: Report } | undefined;

/**
 * A weight store (its bytes are RAM in /dev/shm) left open when a request ended is released after
 * this long idle, and before the next request: TIMESFORMER_LAB_STORE_IDLE_MS, default 60 s. The warm
 * preparation's store is spared before a request and released with it (core/warm.ts) when idle.
 */
const limits = warmLimits();
const STORE_IDLE_MS = limits.idleMs;

/** The preparation and sessions kept between run requests; its lines go to stderr (the host's log). */
const warm = new WarmEngines(limits, (line) => process.stderr.write(`${line}\n`));

/** Closes the stores still open (WeightStore.releaseAll) but the warm one, and says so on stderr (the host's log). */
function releaseStores(when: string): void {
  for (const u of WeightStore.releaseAll(warm.storeDir)) {
    process.stderr.write(`released the weight store ${u.dir} (${(u.bytes / 2 ** 20).toFixed(0)} MiB${u.inMemory ? ' of RAM' : ' on disk'}) ${when}\n`);
  }
}

/** `send` gives back the message's write (process.send's callback). */
async function handle(m: ToWorker, send: (r: FromWorker) => Promise<void>): Promise<void> {
  const id = m.id;
  try {
    switch (m.type) {
      case 'run': {
        lastRun = undefined;
        // this run's peak memory, not the largest of any request this process served before
        resetPeakRss();
        if (testDelayMs) await new Promise((r) => setTimeout(r, testDelayMs));
        // Test data may be absent (a self-reference run): the pipeline compares with the model's own FP32.
        const hooks: ModeHooks = {
          onProgress: (stage, detail) => send({ type: 'progress', id, stage, detail }),
          log: (line) => send({ type: 'log', id, line }),
          // the graph is colored while the minimal fix's confirmation runs (sent now: a copy); the
          // confirmation starts once it is written (its engine run would hold the write back)
          onModeReport: (report) => send({ type: 'early', id, report }),
        };
        // One mode, as the CLI runs it: 'minimal' (the one-click minimal fix) is plain, with the
        // LayerNorms whose overflow fires kept in FP32; the run's overrides are what Export ONNX rebuilds.
        const options = pipelineOptions(m.options);
        const report = await warm.run(options, m.options.layerNorm ?? 'plain', hooks);
        lastRun = { run: id, options: { ...options, layerNormOverrides: report.run.layerNormOverrides }, report };
        send({ type: 'result', id, report });
        return;
      }
      case 'saveModel': {
        if (lastRun?.run !== m.run) throw new LabError('BAD_OPTION', 'the engine process no longer holds this run\'s model');
        await warm.release('before Export ONNX (it reads the checkpoint again)');
        await saveOnnxOf(lastRun.report, lastRun.options, m.path);
        send({ type: 'saved', id, path: m.path });
        return;
      }
      case 'exportTrt': {
        await warm.release('before the export for TensorRT (it reads the checkpoint again)');
        const { exportForTensorRt } = await import('./core/export');
        const { prepare } = await import('./core/pipeline');
        const p = await prepare(pipelineOptions(m.options), {
          onProgress: (stage, detail) => send({ type: 'progress', id, stage, detail }),
          log: (line) => send({ type: 'log', id, line }),
        });
        // One self-contained file, the weights inline (x.model's initializers point at the
        // preparation's store, which close() removes): written beside and renamed into place by the
        // graph's writer (core/write-file.ts), so that a failed export leaves no half file.
        let bytes: number;
        let x: Awaited<ReturnType<typeof exportForTensorRt>>;
        try {
          x = await exportForTensorRt(p, { layerNorm: m.layerNorm, prescaleShift: m.options.prescaleShift, onnxName: basename(m.path) });
          bytes = x.write(m.path);
        } finally {
          p.close();
        }
        send({ type: 'exported', id, path: m.path, bytes, layerNorm: x.layerNorm, fixed: x.fixed, trtexec: x.trtexec, nodes: x.nodeNames.length });
        return;
      }
      case 'inspect': {
        const results: InspectResult[] = [];
        for (const f of m.files) {
          try {
            results.push({ path: f.path, ok: true, signature: f.kind === 'checkpoint' ? await inspectCheckpoint(f.path) : await inspectTestData(f.path) });
          } catch (e) {
            results.push({ path: f.path, ok: false, error: toWorkerError(e) });
          }
        }
        send({ type: 'inspected', id, results });
        return;
      }
      case 'sweep': {
        // the clips' results are written one by one in the output folder: Cancel (this process
        // killed) keeps the clips done, and the next sweep into it resumes
        await warm.release('before the sweep (it reads the checkpoint for itself)');
        const { sweep } = await import('./core/sweep');
        const { weights, clips, options } = m.request;
        const result = await sweep(weights, clips, options, {
          onStage: (stage, detail) => send({ type: 'log', id, line: `[${stage}]${detail ? ' ' + detail : ''}` }),
          onClip: (clip, p) => send({ type: 'sweepClip', id, clip, ...p }),
          onConfirm: (clip, p) => send({ type: 'sweepConfirm', id, clip, ...p }),
        });
        send({ type: 'swept', id, result });
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

/** The pipeline's options for a request: 'minimal' is plain LayerNorms until the statistics name the ones to keep in FP32. */
function pipelineOptions(o: RunOptions): PipelineOptions {
  return { ...o, layerNorm: o.layerNorm === 'minimal' ? 'plain' : o.layerNorm };
}

if (require.main === module) {
  if (!process.send) {
    process.stderr.write('worker.js is forked by the extension (child_process.fork with IPC); use out/extension/cli.js from a shell\n');
    process.exit(2);
  }
  // the last message's write to the host: building a session ahead (below) holds this thread for
  // ~1-2 s at full size, and a message not yet written waits that long (an H100 run: the answer
  // came 1.8 s late, session 19)
  let written: Promise<void> = Promise.resolve();
  const send = (r: FromWorker): Promise<void> => {
    written = new Promise<void>((done) => {
      if (process.send) process.send(r, () => done()); // false (a full channel) still queues it: the callback says when it is written
      else done();
    });
    return written;
  };
  // One message at a time: a run and a probe never share the native runtime concurrently.
  let queue = Promise.resolve();
  let pending = 0;
  let idle: NodeJS.Timeout | undefined;
  process.on('message', (m: ToWorker) => {
    pending++;
    if (idle) clearTimeout(idle);
    queue = queue.then(async () => {
      // a store is one request's: one still open now was left by an earlier request (another checkpoint, maybe)
      releaseStores('before the next request');
      await handle(m, send);
      // the answer is sent: now the warm engines' bounds (and its own idle timer)
      await warm.settle().catch((e: Error) => process.stderr.write(`warm: ${e.message}\n`));
      // and, after a run when nothing else waits, the session the sidebar's expose toggle asks for next (a request that comes meanwhile waits for it)
      if (m.type === 'run' && pending === 1) {
        await written;
        const ranOn = lastRun?.run === m.id ? lastRun.report.run.ep : undefined;
        await warm.buildAhead(pipelineOptions(m.options), process.env, () => pending > 1, ranOn).catch((e: Error) => process.stderr.write(`warm: ${e.message}\n`));
      }
      if (--pending === 0) idle = setTimeout(() => releaseStores(`after ${STORE_IDLE_MS / 1000} s idle`), STORE_IDLE_MS).unref();
    });
  });
  // The host went away (closed, crashed): nothing left to do.
  process.on('disconnect', () => process.exit(0));
}
