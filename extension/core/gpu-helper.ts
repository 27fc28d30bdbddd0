/**
 * A second process that creates and runs GPU sessions for a run of several LayerNorm modes (see
 * helper.ts, which starts it and speaks to it over Node's IPC channel).
 *
 * Why a process: on the GPU machine a WebGPU session costs 0.6-1.0 s to create, nearly all of it on
 * the thread that creates it (graph transformers, allocation plan, weights to the GPU: onnxruntime's
 * verbose log, device run 16), and two sessions created on two threads of one process crashed it
 * (device run 15). Five modes and the minimal fix's confirmation paid six of them one after the
 * other. Two processes each have their own onnxruntime and WebGPU device, so half the sessions are
 * created here while the main process creates the other half.
 *
 * Messages in: {type:'warm', ep} (load onnxruntime and create the provider's device now, while the
 * main process reads the checkpoint), {type:'run', ...} (one model from a file in the weight store's
 * folder; its outputs are written to `outFile`, their places sent back). Out: the answers, with this
 * process's peak RSS. It leaves when the main process disconnects.
 */
import * as fs from 'fs';
import { disableOrtTelemetry, providerLoads, runOnce } from './engine/session';
import { writeAtSync } from './formats/file';
import type { EpName, Fallback, LayerNormMode, Precision, Realization } from './report';

disableOrtTelemetry();

export interface HelperRun {
  type: 'run';
  id: number;
  model: string;
  ep: EpName;
  precision: Precision;
  layerNorm: LayerNormMode;
  layerNormModes: LayerNormMode[];
  probes?: boolean;
  inputName: string;
  videoFile: string;
  dims: number[];
  outFile: string;
}

export type HelperRequest = { type: 'warm'; id: number; ep: EpName } | HelperRun;

export interface HelperRunResult {
  ep: EpName;
  realization: Realization;
  fallbacks: Fallback[];
  sessionMs: number;
  runMs: number;
  outputBytes: number;
  /** Each output's place in outFile: name, byte offset, float32 count. */
  outputs: [string, number, number][];
}

export type HelperAnswer =
  | { id: number; ok: true; result: HelperRunResult | { available: boolean; reason?: string }; maxRssBytes: number }
  | { id: number; ok: false; error: string; code?: string; maxRssBytes: number };

async function run(m: HelperRun): Promise<HelperRunResult> {
  const buf = fs.readFileSync(m.videoFile);
  const video = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const r = await runOnce({
    ep: m.ep, precision: m.precision, layerNorm: m.layerNorm, layerNormModes: m.layerNormModes, probes: m.probes,
    buildModel: () => m.model,
    // only the provider asked for: a mode it cannot run goes back to the main process, which runs it there
    forceUnavailable: m.ep === 'cpu' ? undefined : { cpu: 'the GPU helper process runs GPU sessions only' },
  }, m.inputName, video, m.dims);
  const outputs: [string, number, number][] = [];
  const fd = fs.openSync(m.outFile, 'w');
  try {
    let at = 0;
    for (const [name, a] of r.out) {
      writeAtSync(fd, new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
      outputs.push([name, at, a.length]);
      at += a.byteLength;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { ep: r.ep, realization: r.realization, fallbacks: r.fallbacks, sessionMs: r.sessionMs, runMs: r.runMs, outputBytes: r.bytes, outputs };
}

if (process.send) {
  // one request at a time, in order
  let queue = Promise.resolve();
  process.on('message', (m: HelperRequest) => {
    queue = queue.then(async () => {
      const rss = () => process.resourceUsage().maxRSS * 1024;
      try {
        const result = m.type === 'warm' ? await providerLoads(m.ep) : await run(m);
        process.send!({ id: m.id, ok: true, result, maxRssBytes: rss() } satisfies HelperAnswer);
      } catch (e) {
        const code = (e as { code?: string }).code;
        process.send!({ id: m.id, ok: false, error: e instanceof Error ? e.message : String(e), code, maxRssBytes: rss() } satisfies HelperAnswer);
      }
    });
  });
  process.on('disconnect', () => process.exit(0));
}
