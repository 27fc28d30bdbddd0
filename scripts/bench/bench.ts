/**
 * Per-clip latency of our TimeSformer graph on onnxruntime-node's execution providers, after warm-up,
 * against a same-run PyTorch baseline (bench_torch.py's JSON) and the peer model (the official
 * model as torch.onnx.export writes it).
 *
 *   node out/scripts/bench/bench.js [--weights CKPT.pyth] [--ep cpu,webgpu] [--precision fp32,fp16]
 *     [--iters 20] [--warmup 3] [--cpu-iters 3] [--cpu-fp16-iters 1] [--heads 12] [--layernorm plain[,fp32]]
 *     [--variants base,capture] [--peer timesformer_k400_torch_export.onnx] [--baseline torch.json]
 *     [--json out.json] [--all-outputs] [--no-isolate] [--deadline-s 420] [--job-timeout-s 240]
 *
 * Without --weights the weights are generated in memory by gen-checkpoint's generator (same values
 * as the file it writes; its size options apply). Configurations: CPU fp32, CPU fp16 emulated
 * (--cpu-fp16-iters runs, no warm-up: slow), WebGPU/CUDA fp32, WebGPU/CUDA fp16 native (a true fp16
 * graph); always `probes: false`. By default the graph keeps only the `probs` output (the block
 * outputs our graph exposes for comparison are dropped, as PyTorch's and the peer's forward return
 * only the logits); --all-outputs times the graph as the app runs it.
 *
 * WebGPU variants: `base` (session options as the app's engine: graphOptimizationLevel 'all');
 * `capture` (the WebGPU EP's graph capture, session config ep.webgpuexecutionprovider.enableGraphCapture=1,
 * tried first with outputs copied to the CPU, then with preferredOutputLocation 'gpu-buffer');
 * `gpu-out` (outputs left on the GPU). Outputs left on the GPU are read back with getData() when
 * the binding allows it, so every timed run ends with the GPU work done; where it does not, the
 * row is marked "unsynced".
 *
 * Each configuration runs in its own child process (a crash or hang in one provider cannot take
 * the others with it; each row's peak RSS is its own); --no-isolate runs them in this process.
 *
 * (Over ~400 lines: one benchmark whose parent and child halves share its configurations, rows and
 * timing helpers; split, each half would import the other's.)
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import type * as ortTypes from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { loadModel } from '../../extension/core/pipeline';
import { inferConfig, normalizeKeys, type WeightEntry } from '../../extension/core/model/config';
import { buildTimeSformer } from '../../extension/core/model/timesformer';
import { DEFAULT_FP32_OPS } from '../../extension/core/pipeline';
import { ort } from '../../extension/core/engine/session';
import { explainProviderError, realizationFor } from '../../extension/core/engine/providers';
import { Tensor } from '../../extension/core/tensor';
import type { EpName, LayerNormMode, ModelConfig, Precision, Realization } from '../../extension/core/report';
import { GEN_ARG_SPEC, genOptionsFrom, generateWeights, type GenOptions } from '../fixtures/gen-checkpoint';

type Variant = 'base' | 'capture' | 'gpu-out' | 'tuned';
const VARIANTS: readonly Variant[] = ['base', 'capture', 'gpu-out', 'tuned'];
const BENCH_EPS: readonly EpName[] = ['cpu', 'webgpu', 'cuda'];

interface Job {
  id: string;
  model: 'ours' | 'peer';
  ep: EpName;
  precision: Precision;
  realization: Realization;
  layerNorm: LayerNormMode;
  variant: Variant;
  attention?: 'decomposed' | 'fused';
  iters: number;
  warmup: number;
  heads: number;
  allOutputs: boolean;
  weights?: string;
  gen?: GenOptions;
  peerPath?: string;
  resultPath?: string;
}

interface Attempt {
  options: string;
  error?: string;
}

/** What a configuration is, as a Result reports it. */
type JobKey = Pick<Job, 'id' | 'model' | 'ep' | 'precision' | 'realization' | 'layerNorm' | 'variant' | 'attention'>;

interface Result extends JobKey {
  status: 'ok' | 'unavailable' | 'failed';
  error?: string;
  notes: string[];
  attempts: Attempt[];
  loadWeightsMs?: number;
  buildGraphMs?: number;
  modelMB?: number;
  nodeCount?: number;
  outputs?: string[];
  sessionMs?: number;
  firstRunMs?: number;
  warmup: number;
  times: number[];
  medianMs?: number;
  minMs?: number;
  meanMs?: number;
  /** Outputs read back after every timed run (false: outputs stayed on the GPU unread). */
  synced?: boolean;
  /** The output changes when the input changes (graph capture could replay a stale input). */
  inputSensitive?: boolean;
  /** The first output for input A, for comparison across variants. */
  output?: number[];
  maxRssMB: number;
}

// ---------------------------------------------------------------- helpers

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function message(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((l) => l.trim()).slice(0, 4).join(' | ').slice(0, 600);
}

function rssMB(): number {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB on Linux
}

function stamp(): string {
  return new Date().toISOString().slice(11, 19);
}

function log(s: string): void {
  process.stderr.write(`[bench ${stamp()}] ${s}\n`);
}

/** A deterministic video-like input in [-1, 1]. */
function makeVideo(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  let a = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    a ^= a << 13;
    a ^= a >>> 17;
    a ^= a << 5;
    v[i] = ((a >>> 0) / 4294967296) * 2 - 1;
  }
  return v;
}

/** Keep only the named graph outputs; drop the nodes that only fed the dropped ones (the exposures). */
export function keepOutputs(model: Uint8Array, keep: readonly string[]): { model: Uint8Array; nodeCount: number } {
  const m = onnx.ModelProto.decode(model);
  const g = m.graph!;
  const keepSet = new Set(keep);
  g.output = (g.output ?? []).filter((o) => keepSet.has(o.name!));
  // remove nodes whose outputs are all unused, repeatedly (Identity/Cast exposures, then nothing else)
  let changed = true;
  while (changed) {
    changed = false;
    const used = new Set<string>(g.output.map((o) => o.name!));
    for (const n of g.node ?? []) for (const i of n.input ?? []) used.add(i);
    const before = g.node!.length;
    g.node = g.node!.filter((n) => (n.output ?? []).some((o) => used.has(o)));
    if (g.node.length !== before) changed = true;
  }
  return { model: onnx.ModelProto.encode(m).finish(), nodeCount: g.node!.length };
}

/** Session options for a provider and variant (the base options match the app's engine, session.ts). */
function sessionOptions(ep: EpName, variant: Variant, attempt: number): { opts: ortTypes.InferenceSession.SessionOptions; label: string } | null {
  const base: ortTypes.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', logSeverityLevel: 3 };
  const provider: ortTypes.InferenceSession.ExecutionProviderConfig =
    ep === 'cpu' ? 'cpu' : ep === 'webgpu' ? { name: 'webgpu' } : ep === 'cuda' ? { name: 'cuda', deviceId: 0 } : { name: ep };
  const withEp = { ...base, executionProviders: [provider] };
  if (variant === 'base') return attempt === 0 ? { opts: withEp, label: 'graphOptimizationLevel=all' } : null;
  if (variant === 'gpu-out') {
    return attempt === 0 ? { opts: { ...withEp, preferredOutputLocation: 'gpu-buffer' }, label: "preferredOutputLocation='gpu-buffer'" } : null;
  }
  if (variant === 'tuned') {
    // WebGPU EP options that trade safety checks for dispatch speed: no shader bounds checks
    // (robustness), no Dawn validation, more dispatches in flight before a submit.
    if (ep !== 'webgpu') return null;
    const tuned = {
      ...base,
      executionProviders: [{ name: 'webgpu', enableRobustness: false } as ortTypes.InferenceSession.ExecutionProviderConfig],
      extra: { 'ep.webgpuexecutionprovider.validationMode': attempt === 0 ? 'disabled' : 'wgpuOnly', 'ep.webgpuexecutionprovider.maxNumPendingDispatches': '64' },
    };
    return attempt < 2 ? { opts: tuned, label: `enableRobustness=false, validationMode=${attempt === 0 ? 'disabled' : 'wgpuOnly'}, maxNumPendingDispatches=64` } : null;
  }
  // capture: the Node binding does not read the JS-level enableGraphCapture option; the EP reads
  // its session config entry, which the binding passes through `extra`.
  const capture = { ...withEp, enableGraphCapture: true, extra: { 'ep.webgpuexecutionprovider.enableGraphCapture': '1' } };
  if (ep !== 'webgpu') return null;
  if (attempt === 0) return { opts: capture, label: 'enableGraphCapture=1, outputs to CPU' };
  if (attempt === 1) return { opts: { ...capture, preferredOutputLocation: 'gpu-buffer' }, label: "enableGraphCapture=1, preferredOutputLocation='gpu-buffer'" };
  return null;
}

// ---------------------------------------------------------------- one configuration (child)

interface Prepared {
  model: Uint8Array | string;
  inputName: string;
  inputDims: number[];
  outputs: string[];
}

async function prepareOurs(job: Job, res: Result): Promise<Prepared> {
  const t0 = performance.now();
  let weights: Map<string, Float32Array>;
  let base: Omit<ModelConfig, 'heads' | 'headsSource' | 'headsTried'>;
  if (job.weights) {
    const m = await loadModel(job.weights);
    weights = m.weights;
    base = m.base;
  } else {
    const gen = generateWeights(job.gen!);
    const entries = new Map<string, WeightEntry>();
    for (const [k, v] of gen) entries.set(k, { dtype: 'float32', shape: v.shape, load: async () => new Tensor('float32', v.shape, v.data) });
    const norm = normalizeKeys(entries, '<generated>');
    base = inferConfig(norm, '<generated>');
    weights = new Map([...gen].map(([k, v]) => [k.replace(/^model\./, ''), v.data]));
  }
  res.loadWeightsMs = performance.now() - t0;
  const config: ModelConfig = { ...base, heads: job.heads, headsSource: 'option', headsTried: [] };
  const t1 = performance.now();
  const built = buildTimeSformer(weights, {
    config, batch: 1, precision: job.precision, realization: job.realization, layerNorm: job.layerNorm, probes: false, prescaleShift: 3,
    fp32Ops: DEFAULT_FP32_OPS, attention: job.attention ?? 'decomposed',
  });
  weights.clear();
  let model = built.model;
  let nodeCount = built.nodeCount;
  const outputs = job.allOutputs || !built.probsName ? [...(built.probsName ? [built.probsName] : []), ...built.blockNames] : [built.probsName];
  if (!job.allOutputs && built.probsName) {
    const k = keepOutputs(model, [built.probsName]);
    model = k.model;
    nodeCount = k.nodeCount;
  }
  res.buildGraphMs = performance.now() - t1;
  res.modelMB = model.byteLength / 1e6;
  res.nodeCount = nodeCount;
  return { model, inputName: built.inputName, inputDims: [1, 3, config.frames, config.imageSize, config.imageSize], outputs };
}

function preparePeer(job: Job, res: Result): Prepared {
  const m = onnx.ModelProto.decode(fs.readFileSync(job.peerPath!));
  const g = m.graph!;
  const inp = g.input!.find((i) => !(g.initializer ?? []).some((t) => t.name === i.name))!;
  const dims = inp.type!.tensorType!.shape!.dim!.map((d) => Number(d.dimValue ?? 0));
  res.nodeCount = g.node!.length;
  res.modelMB = fs.statSync(job.peerPath!).size / 1e6;
  return { model: job.peerPath!, inputName: inp.name!, inputDims: dims, outputs: g.output!.map((o) => o.name!) };
}

async function readOutput(t: ortTypes.Tensor): Promise<{ data: Float32Array | null; synced: boolean }> {
  if (t.location === 'cpu' || t.location === 'cpu-pinned') return { data: t.data as Float32Array, synced: true };
  try {
    const d = (await t.getData()) as Float32Array;
    return { data: d, synced: true };
  } catch {
    return { data: null, synced: false };
  }
}

export async function runJob(job: Job): Promise<Result> {
  const res: Result = emptyResult(job);
  try {
    const prep = job.model === 'peer' ? preparePeer(job, res) : await prepareOurs(job, res);
    res.outputs = prep.outputs;
    const O = ort();
    const n = prep.inputDims.reduce((a, b) => a * b, 1);
    const videoA = new O.Tensor('float32', makeVideo(n, 1), prep.inputDims);
    const videoB = new O.Tensor('float32', makeVideo(n, 2), prep.inputDims);
    for (let attempt = 0; ; attempt++) {
      const so = sessionOptions(job.ep, job.variant, attempt);
      if (!so) break;
      const at: Attempt = { options: so.label };
      res.attempts.push(at);
      let session: ortTypes.InferenceSession | undefined;
      let phase: 'session' | 'run' = 'session';
      try {
        const t0 = performance.now();
        session = typeof prep.model === 'string'
          ? await O.InferenceSession.create(prep.model, so.opts)
          : await O.InferenceSession.create(prep.model, so.opts);
        res.sessionMs = performance.now() - t0;
        log(`${job.id}: session ${res.sessionMs.toFixed(0)} ms (${so.label})`);
        phase = 'run';
        const fetches = prep.outputs;
        const once = async (feed: ortTypes.Tensor): Promise<{ ms: number; out: Float32Array | null; synced: boolean }> => {
          const s = performance.now();
          const out = await session!.run({ [prep.inputName]: feed }, fetches);
          let synced = true;
          let first: Float32Array | null = null;
          for (const name of fetches) {
            const r = await readOutput(out[name]);
            synced &&= r.synced;
            if (name === fetches[0] && r.data) first = Float32Array.from(r.data.subarray(0, 1024));
          }
          const ms = performance.now() - s;
          for (const name of fetches) out[name].dispose?.();
          return { ms, out: first, synced };
        };
        const r0 = await once(videoA);
        res.firstRunMs = r0.ms;
        res.output = r0.out ? Array.from(r0.out) : undefined;
        let synced = r0.synced;
        for (let i = 1; i < job.warmup; i++) synced = (await once(videoA)).synced && synced;
        res.times = [];
        const timed = job.warmup > 0 ? job.iters : job.iters - 1;
        if (job.warmup === 0) res.times.push(r0.ms);
        for (let i = 0; i < timed; i++) {
          const r = await once(videoA);
          res.times.push(r.ms);
          synced &&= r.synced;
        }
        const rb = job.variant === 'base' ? null : await once(videoB);
        if (r0.out && rb?.out) {
          let d = 0;
          for (let i = 0; i < r0.out.length; i++) d = Math.max(d, Math.abs(r0.out[i] - rb.out[i]));
          res.inputSensitive = d > 0;
          if (d === 0) res.notes.push('the output did not change with the input: a replayed graph reads a stale input; timing kept, outputs invalid');
        }
        res.synced = synced;
        if (!synced) res.notes.push('outputs stayed on the GPU and could not be read back from Node: times may stop before the GPU finished');
        res.medianMs = median(res.times);
        res.minMs = Math.min(...res.times);
        res.meanMs = res.times.reduce((a, b) => a + b, 0) / res.times.length;
        res.status = 'ok';
        res.error = undefined;
        log(`${job.id}: median ${res.medianMs.toFixed(2)} ms, min ${res.minMs.toFixed(2)} ms over ${res.times.length} (first ${res.firstRunMs.toFixed(0)} ms)`);
        break;
      } catch (e) {
        at.error = message(e);
        res.error = at.error;
        // no session: the provider (or this variant's options) is not available here; a failed run is a failure
        res.status = phase === 'session' ? 'unavailable' : 'failed';
        if (phase === 'session' && job.variant === 'base') res.error = `${explainProviderError(job.ep, at.error)} [${at.error.slice(-240)}]`;
        log(`${job.id}: ${so.label}: ${phase} failed: ${at.error}`);
      } finally {
        await session?.release().catch(() => undefined);
      }
    }
    if (!res.attempts.length) {
      res.status = 'unavailable';
      res.error = `variant ${job.variant} does not apply to ${job.ep}`;
    }
  } catch (e) {
    res.status = 'failed';
    res.error = message(e);
    log(`${job.id}: ${res.error}`);
  }
  res.maxRssMB = rssMB();
  return res;
}

// ---------------------------------------------------------------- parent: plan, run, report

interface TorchBaseline {
  fp32_ms?: number;
  fp16_ms?: number;
  device?: string;
  torch?: string;
  [k: string]: unknown;
}

function plan(o: {
  eps: EpName[]; precisions: Precision[]; layerNorms: LayerNormMode[]; variants: Variant[]; attentions: ('decomposed' | 'fused')[]; iters: number; warmup: number;
  cpuIters: number; cpuFp16Iters: number; heads: number; allOutputs: boolean; weights?: string; gen: GenOptions; peerPath?: string;
}): Job[] {
  const jobs: Job[] = [];
  for (const ep of o.eps) {
    const variants = ep === 'webgpu' ? o.variants : o.variants.filter((v) => v === 'base');
    // per provider: every base configuration first (ours, then the peer), then the other variants,
    // so that a deadline cuts the extras, not the comparisons
    const phases: Variant[][] = [variants.filter((v) => v === 'base'), variants.filter((v) => v !== 'base')];
    for (const phase of phases) {
      for (const variant of phase) {
        for (const precision of o.precisions) {
          const realization = realizationFor(ep, precision);
          const lns = precision === 'fp32' ? ['plain' as LayerNormMode] : o.layerNorms;
          for (const layerNorm of lns) for (const attention of ep === 'cpu' && precision !== 'fp32' ? ['decomposed' as const] : o.attentions) {
            const cpuEmu = ep === 'cpu' && realization === 'emulated';
            jobs.push({
              id: `ours ${ep} ${precision}${precision === 'fp32' ? '' : `-${realization}`}${layerNorm === 'plain' ? '' : ` ln=${layerNorm}`}${attention === 'fused' ? ' mha' : ''} ${variant}`,
              model: 'ours', ep, precision, realization, layerNorm, variant, attention,
              iters: cpuEmu ? o.cpuFp16Iters : ep === 'cpu' ? o.cpuIters : o.iters,
              warmup: cpuEmu ? 0 : ep === 'cpu' ? Math.min(o.warmup, 1) : o.warmup,
              heads: o.heads, allOutputs: o.allOutputs, weights: o.weights, gen: o.weights ? undefined : o.gen,
            });
          }
        }
        if (o.peerPath) {
          jobs.push({
            id: `peer ${ep} fp32 ${variant}`, model: 'peer', ep, precision: 'fp32', realization: 'fp32', layerNorm: 'plain', variant,
            iters: ep === 'cpu' ? o.cpuIters : o.iters, warmup: ep === 'cpu' ? Math.min(o.warmup, 1) : o.warmup,
            heads: o.heads, allOutputs: true, peerPath: o.peerPath,
          });
        }
      }
    }
  }
  return jobs;
}

/** Copy the peer model into a fresh folder and create its external weights file (values do not matter for timing). */
function preparePeerCopy(src: string): { path: string; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-peer-'));
  const dst = path.join(dir, path.basename(src));
  fs.copyFileSync(src, dst);
  const m = onnx.ModelProto.decode(fs.readFileSync(dst));
  const files = new Map<string, number>();
  for (const t of m.graph?.initializer ?? []) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const kv = new Map((t.externalData ?? []).map((e) => [e.key!, e.value!]));
    const loc = kv.get('location')!;
    const end = Number(kv.get('offset') ?? 0) + Number(kv.get('length') ?? 0);
    files.set(loc, Math.max(files.get(loc) ?? 0, end));
  }
  for (const [loc, size] of files) {
    const fd = fs.openSync(path.join(dir, loc), 'w');
    const chunk = new Float32Array(1 << 22);
    for (let i = 0; i < chunk.length; i++) chunk[i] = Math.sin(i) * 0.02;
    const bytes = new Uint8Array(chunk.buffer);
    for (let off = 0; off < size; off += bytes.length) fs.writeSync(fd, bytes, 0, Math.min(bytes.length, size - off));
    fs.closeSync(fd);
    log(`peer: wrote ${loc} (${size.toLocaleString('en-US')} bytes) next to a copy of ${path.basename(src)}`);
  }
  return { path: dst, dir };
}

let activeChild: ReturnType<typeof spawn> | null = null;
// stopped from outside (timeout in device-run.sh): take the running configuration down too
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    activeChild?.kill('SIGKILL');
    process.exit(sig === 'SIGTERM' ? 143 : 130);
  });
}

function runChild(job: Job, timeoutS: number): Promise<Result> {
  return new Promise((resolve) => {
    const resultPath = path.join(os.tmpdir(), `tsf-bench-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
    const child = spawn(process.execPath, [...process.execArgv, __filename, '--child', JSON.stringify({ ...job, resultPath })], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    activeChild = child;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      activeChild = null;
      try {
        const r = JSON.parse(fs.readFileSync(resultPath, 'utf8')) as Result;
        fs.rmSync(resultPath, { force: true });
        resolve(r);
      } catch {
        resolve({
          ...emptyResult(job),
          error: signal === 'SIGKILL' ? `killed after ${timeoutS} s (--job-timeout-s)` : `child exited with ${signal ?? code} before reporting`,
        });
      }
    });
  });
}

function fmt(v: number | undefined, digits = 2): string {
  return v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

function report(results: Result[], baseline: TorchBaseline | null): { rows: Record<string, unknown>[]; text: string } {
  const peerMedian = (ep: EpName) => results.find((r) => r.model === 'peer' && r.ep === ep && r.variant === 'base' && r.status === 'ok')?.medianMs;
  const rows = results.map((r) => {
    const p = peerMedian(r.ep);
    return {
      config: r.id + (r.status === 'ok' && r.synced === false ? ' (unsynced)' : ''),
      status: r.status,
      session_s: r.sessionMs !== undefined ? r.sessionMs / 1000 : undefined,
      first_ms: r.firstRunMs,
      median_ms: r.medianMs,
      min_ms: r.minMs,
      n: r.times.length,
      ours_torch_fp32: r.medianMs && baseline?.fp32_ms ? r.medianMs / baseline.fp32_ms : undefined,
      ours_torch_fp16: r.medianMs && baseline?.fp16_ms ? r.medianMs / baseline.fp16_ms : undefined,
      ours_peer: r.model === 'ours' && r.medianMs && p ? r.medianMs / p : undefined,
      rss_mb: r.maxRssMB,
    };
  });
  const head = ['configuration', 'status', 'session s', 'first ms', 'median ms', 'min ms', 'n', 'ours/torch_fp32', 'ours/torch_fp16', 'ours/peer', 'peak RSS MB'];
  const body = rows.map((x) => [
    String(x.config), String(x.status), fmt(x.session_s), fmt(x.first_ms, 1), fmt(x.median_ms), fmt(x.min_ms), String(x.n),
    fmt(x.ours_torch_fp32), fmt(x.ours_torch_fp16), fmt(x.ours_peer), fmt(x.rss_mb, 0),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) => c.map((s, i) => (i < 2 ? s.padEnd(w[i]) : s.padStart(w[i]))).join('  ');
  const lines = [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)];
  if (baseline) {
    lines.push(`PyTorch baseline (${baseline.device ?? '?'}, torch ${baseline.torch ?? '?'}): fp32 ${fmt(baseline.fp32_ms)} ms, fp16 ${fmt(baseline.fp16_ms)} ms per clip`);
  }
  for (const r of results) {
    if (r.status !== 'ok' && r.error) lines.push(`${r.id}: ${r.status}: ${r.error}`);
    for (const a of r.attempts) if (a.error && r.status === 'ok') lines.push(`${r.id}: tried ${a.options}: ${a.error}`);
    for (const n of r.notes) lines.push(`${r.id}: ${n}`);
  }
  // outputs of variants of one configuration should agree (fused attention compares with decomposed)
  const groups = new Map<string, Result[]>();
  for (const r of results) {
    if (r.status !== 'ok' || !r.output) continue;
    const k = `${r.model} ${r.ep} ${r.precision} ${r.layerNorm}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  for (const [k, g] of groups) {
    const ref = g.find((r) => r.variant === 'base' && r.attention !== 'fused');
    if (!ref?.output) continue;
    const name = (r: Result) => `${r.variant}${r.attention === 'fused' ? ' mha' : ''}`;
    for (const r of g) {
      if (r === ref || !r.output) continue;
      let d = 0;
      for (let i = 0; i < Math.min(ref.output.length, r.output.length); i++) d = Math.max(d, Math.abs(ref.output[i] - r.output[i]));
      lines.push(`${k}: ${name(r)} vs ${name(ref)}, max |output diff| ${d.toExponential(2)}`);
    }
  }
  return { rows, text: lines.join('\n') };
}

function list<T extends string>(v: string | undefined, allowed: readonly T[], name: string, def: T[]): T[] {
  if (!v) return def;
  const out = v.split(',').map((s) => s.trim()).filter(Boolean) as T[];
  for (const x of out) if (!allowed.includes(x)) throw new Error(`--${name}: ${x} is not one of ${allowed.join(', ')}`);
  return out;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    const job = JSON.parse(argv[1]) as Job;
    const r = await runJob(job);
    fs.writeFileSync(job.resultPath!, JSON.stringify(r));
    process.exit(0); // some providers keep threads alive
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      ...GEN_ARG_SPEC,
      weights: { type: 'string' }, ep: { type: 'string' }, precision: { type: 'string' }, layernorm: { type: 'string' },
      variants: { type: 'string' }, attention: { type: 'string' }, iters: { type: 'string' }, warmup: { type: 'string' }, 'cpu-iters': { type: 'string' },
      'cpu-fp16-iters': { type: 'string' }, heads: { type: 'string' }, peer: { type: 'string' }, baseline: { type: 'string' },
      json: { type: 'string' }, 'all-outputs': { type: 'boolean' }, 'no-isolate': { type: 'boolean' },
      'deadline-s': { type: 'string' }, 'job-timeout-s': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(fs.readFileSync(__filename, 'utf8').split('*/')[0]);
    return;
  }
  const int = (v: string | undefined, def: number, name: string): number => {
    if (v === undefined) return def;
    const x = Number(v);
    if (!Number.isInteger(x) || x < 0) throw new Error(`--${name} must be a non-negative integer`);
    return x;
  };
  const iters = Math.max(1, int(values.iters, 20, 'iters'));
  const warmup = int(values.warmup, 3, 'warmup');
  const opts = {
    eps: list(values.ep, BENCH_EPS, 'ep', ['cpu']),
    precisions: list(values.precision, ['fp32', 'fp16'] as const, 'precision', ['fp32', 'fp16']) as Precision[],
    layerNorms: list(values.layernorm, ['plain', 'expose', 'fp32', 'fused', 'prescaled'] as const, 'layernorm', ['plain']) as LayerNormMode[],
    variants: list(values.variants, VARIANTS, 'variants', ['base', 'capture']),
    attentions: list(values.attention, ['decomposed', 'fused'] as const, 'attention', ['decomposed']) as ('decomposed' | 'fused')[],
    iters, warmup,
    cpuIters: Math.max(1, int(values['cpu-iters'], Math.min(iters, 3), 'cpu-iters')),
    cpuFp16Iters: Math.max(1, int(values['cpu-fp16-iters'], 1, 'cpu-fp16-iters')),
    heads: Math.max(1, int(values.heads, 12, 'heads')),
    allOutputs: !!values['all-outputs'],
    weights: values.weights,
    gen: genOptionsFrom(values),
    peerPath: undefined as string | undefined,
  };
  if (!opts.weights && opts.gen.embed % opts.heads !== 0) throw new Error(`--embed ${opts.gen.embed} is not divisible by --heads ${opts.heads}`);
  const baseline = values.baseline ? (JSON.parse(fs.readFileSync(values.baseline, 'utf8')) as TorchBaseline) : null;
  const deadline = values['deadline-s'] ? Date.now() + int(values['deadline-s'], 0, 'deadline-s') * 1000 : Infinity;
  const jobTimeout = int(values['job-timeout-s'], 300, 'job-timeout-s');
  let peerDir: string | undefined;
  if (values.peer) {
    const p = preparePeerCopy(values.peer);
    opts.peerPath = p.path;
    peerDir = p.dir;
  }
  log(`node ${process.version}, onnxruntime-node ${ort().env.versions.node ?? '?'}, ${os.cpus().length} CPUs, ` +
    `weights ${opts.weights ?? `generated in memory (C=${opts.gen.embed}, depth ${opts.gen.depth}, seed ${opts.gen.seed})`}`);
  const jobs = plan(opts);
  const results: Result[] = [];
  try {
    for (const job of jobs) {
      if (Date.now() > deadline) {
        results.push({ ...emptyResult(job), error: 'skipped: --deadline-s reached' });
        continue;
      }
      // the provider is down when its first configuration could not even open a session
      const first = results.find((r) => r.ep === job.ep);
      const down = first && first.status === 'unavailable' && first.variant === 'base' ? first : undefined;
      if (down) {
        results.push({ ...emptyResult(job), status: 'unavailable', error: `skipped: ${job.ep} unavailable (see ${down.id})` });
        continue;
      }
      log(`start ${job.id} (${job.iters} iters after ${job.warmup} warm-up)`);
      const r = values['no-isolate'] ? await runJob(job) : await runChild(job, jobTimeout);
      results.push(r);
      log(`done  ${job.id}: ${r.status}${r.medianMs !== undefined ? `, ${r.medianMs.toFixed(2)} ms/clip` : ''}, peak RSS ${r.maxRssMB.toFixed(0)} MB`);
      if (values.json) writeJson(values.json, opts, baseline, results, null);
    }
  } finally {
    if (peerDir) fs.rmSync(peerDir, { recursive: true, force: true });
  }
  const rep = report(results, baseline);
  console.log(rep.text);
  console.log(`peak RSS of this process ${rssMB().toFixed(0)} MB` + (values['no-isolate'] ? '' : ' (each row: its own process)'));
  if (values.json) writeJson(values.json, opts, baseline, results, rep.rows);
}

/** A Result for `job` before (or without) any measurement. */
function emptyResult(job: Job): Result {
  return {
    id: job.id, model: job.model, ep: job.ep, precision: job.precision, realization: job.realization, layerNorm: job.layerNorm,
    variant: job.variant, attention: job.attention, status: 'failed', notes: [], attempts: [], warmup: job.warmup, times: [], maxRssMB: 0,
  };
}

function writeJson(file: string, opts: object, baseline: TorchBaseline | null, results: Result[], rows: Record<string, unknown>[] | null): void {
  const info = {
    date: new Date().toISOString(), node: process.version, onnxruntime: ort().env.versions, host: os.hostname(), cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
  };
  fs.writeFileSync(file, JSON.stringify({ info, options: opts, baseline, rows, results }, null, 1));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`bench: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exit(1);
  });
}
