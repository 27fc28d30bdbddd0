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
 * folder; its outputs are written to `outFile`, their places sent back). A sweep keeps its session
 * here (issue 21: the GPU runs the next group of clips while the main process judges this one):
 * {type:'open', handle, ...} creates a session and keeps it, {type:'runKept', handle, ...} runs it
 * on an input from a file as 'run' does, {type:'release', handle} ends it. Out: the answers, with
 * this process's peak RSS. It leaves when the main process disconnects.
 */
import * as fs from 'fs';
import { createEngine, disableOrtTelemetry, providerLoads, runOnce, type Engine, type EngineRequest } from './engine/session';
import { writeAtSync } from './formats/file';
import type { EpName, Fallback, LayerNormMode, Precision, Realization } from './report';

disableOrtTelemetry();

/** A model and the provider to run it on: what a session in the helper is created from. */
interface HelperModel {
  model: string;
  ep: EpName;
  precision: Precision;
  layerNorm: LayerNormMode;
  layerNormModes: LayerNormMode[];
  probes?: boolean;
}

/** One model run once: created, run on the input in `videoFile`, its outputs to `outFile`, released. */
export interface HelperRun extends HelperModel {
  type: 'run';
  id: number;
  inputName: string;
  videoFile: string;
  dims: number[];
  outFile: string;
}

/** A session kept in the helper under `handle` until released. */
export interface HelperOpen extends HelperModel {
  type: 'open';
  id: number;
  handle: number;
}

/** One run of a kept session: its input from `videoFile`, its outputs to `outFile`. */
export interface HelperRunKept {
  type: 'runKept';
  id: number;
  handle: number;
  inputName: string;
  videoFile: string;
  dims: number[];
  outFile: string;
}

export type HelperRequest = { type: 'warm'; id: number; ep: EpName } | HelperRun | HelperOpen | HelperRunKept | { type: 'release'; id: number; handle: number };

/** What 'open' answers: the kept session's provider and what creating it cost. */
export interface HelperOpened {
  ep: EpName;
  realization: Realization;
  fallbacks: Fallback[];
  sessionMs: number;
}

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
  | { id: number; ok: true; result: HelperRunResult | HelperOpened | { available: boolean; reason?: string } | null; maxRssBytes: number }
  | { id: number; ok: false; error: string; code?: string; maxRssBytes: number };

/** The helper runs GPU sessions only (the CPU EP where asked for: tests). */
const gpuOnly = (ep: EpName) => (ep === 'cpu' ? undefined : { cpu: 'the GPU helper process runs GPU sessions only' });

/** The engine request for a model: only the provider asked for (a mode it cannot run goes back to the main process, which runs it there). */
function engineRequest(m: HelperModel): EngineRequest {
  return {
    ep: m.ep, precision: m.precision, layerNorm: m.layerNorm, layerNormModes: m.layerNormModes, probes: m.probes,
    buildModel: () => m.model, forceUnavailable: gpuOnly(m.ep),
  };
}

function readVideo(file: string): Float32Array {
  const buf = fs.readFileSync(file);
  return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
}

/** Outputs into one file, in order; each one's name, byte offset and float32 count. */
function writeOutputs(file: string, out: Map<string, Float32Array>): [string, number, number][] {
  const outputs: [string, number, number][] = [];
  const fd = fs.openSync(file, 'w');
  try {
    let at = 0;
    for (const [name, a] of out) {
      writeAtSync(fd, new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
      outputs.push([name, at, a.length]);
      at += a.byteLength;
    }
  } finally {
    fs.closeSync(fd);
  }
  return outputs;
}

async function run(m: HelperRun): Promise<HelperRunResult> {
  const r = await runOnce(engineRequest(m), m.inputName, readVideo(m.videoFile), m.dims);
  return { ep: r.ep, realization: r.realization, fallbacks: r.fallbacks, sessionMs: r.sessionMs, runMs: r.runMs, outputBytes: r.bytes, outputs: writeOutputs(m.outFile, r.out) };
}

/** The sessions kept for the main process, by its handle. */
const kept = new Map<number, Engine>();

async function open(m: HelperOpen): Promise<HelperOpened> {
  if (kept.has(m.handle)) throw new Error(`session ${m.handle} is open already`);
  const e = await createEngine(engineRequest(m));
  kept.set(m.handle, e);
  return { ep: e.ep, realization: e.realization, fallbacks: e.fallbacks, sessionMs: e.sessionMs };
}

async function runKept(m: HelperRunKept): Promise<HelperRunResult> {
  const e = kept.get(m.handle);
  if (!e) throw new Error(`no session ${m.handle} is open`);
  const out = await e.run({ [m.inputName]: readVideo(m.videoFile) }, { [m.inputName]: m.dims });
  return { ep: e.ep, realization: e.realization, fallbacks: e.fallbacks, sessionMs: 0, runMs: e.lastRunMs, outputBytes: e.outputBytes, outputs: writeOutputs(m.outFile, out) };
}

async function release(handle: number): Promise<null> {
  const e = kept.get(handle);
  kept.delete(handle);
  await e?.release();
  return null;
}

const answer = (m: HelperRequest) => {
  switch (m.type) {
    case 'warm': return providerLoads(m.ep);
    case 'run': return run(m);
    case 'open': return open(m);
    case 'runKept': return runKept(m);
    case 'release': return release(m.handle);
  }
};

if (process.send) {
  // one request at a time, in order
  let queue = Promise.resolve();
  process.on('message', (m: HelperRequest) => {
    queue = queue.then(async () => {
      const rss = () => process.resourceUsage().maxRSS * 1024;
      try {
        const result = await answer(m);
        process.send!({ id: m.id, ok: true, result, maxRssBytes: rss() } satisfies HelperAnswer);
      } catch (e) {
        const code = (e as { code?: string }).code;
        process.send!({ id: m.id, ok: false, error: e instanceof Error ? e.message : String(e), code, maxRssBytes: rss() } satisfies HelperAnswer);
      }
    });
  });
  process.on('disconnect', () => process.exit(0));
}
