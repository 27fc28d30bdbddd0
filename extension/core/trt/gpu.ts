/**
 * The GPU trtexec builds for (a TensorRT plan runs only on the compute capability it was built for,
 * and is specific to the GPU model: the engine cache's key has both; engine-cache.ts, trtexec-run.ts).
 * No vscode import.
 *
 * Where it is read:
 *   - `nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader` ("NVIDIA H100 80GB HBM3, 9.0"
 *     per GPU; compute_cap since driver R510), when nvidia-smi is there and every GPU it lists is the
 *     same (trtexec runs on CUDA device 0, whose order CUDA_VISIBLE_DEVICES / CUDA_DEVICE_ORDER decide:
 *     with GPUs of several kinds nvidia-smi cannot say which);
 *   - else trtexec's own log: every run starts with "=== Device Information ===", then "Selected
 *     Device: NAME" and "Compute Capability: M.m" (samples/common/sampleDevice.cpp setCudaDevice,
 *     a892d22:153-156, 10.16:91-94; trtexec.cpp a892d22:442, 10.16:293), each line "[…] [I] text"
 *     (logging.h). A probe run (`--loadEngine` of a file that does not exist) prints them and ends
 *     before any TensorRT work.
 * The run's own log says the same lines again: trtexec-run.ts checks them against the key.
 */
import * as fs from 'fs';
import * as path from 'path';
import { LabError } from '../errors';
import type { Gpu } from './engine-cache';
import { runProcess } from './trtexec';

export type { Gpu };

export interface DetectedGpu extends Gpu {
  /** Where it was read: 'nvidia-smi' or 'trtexec' (a probe run's log). */
  source: 'nvidia-smi' | 'trtexec';
}

export const gpuLabel = (g: Gpu) => `${g.name} (compute capability ${g.computeCapability})`;

/** `nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader` -> one entry per GPU. */
export function parseNvidiaSmi(text: string): Gpu[] {
  const out: Gpu[] = [];
  for (const line of text.split(/\r?\n/)) {
    // the name may hold commas of its own; the compute capability is the last field
    const m = /^\s*(.+?)\s*,\s*(\d+\.\d+)\s*$/.exec(line);
    if (m) out.push({ name: m[1], computeCapability: m[2] });
  }
  return out;
}

/** trtexec's "Selected Device: NAME" and "Compute Capability: M.m" lines -> the GPU it runs on, or undefined. */
export function parseDeviceLines(lines: readonly string[]): Gpu | undefined {
  let name: string | undefined;
  let cc: string | undefined;
  for (const l of lines) {
    const m = /\[I\] (Selected Device|Compute Capability): (.*?)\s*$/.exec(l);
    if (!m) continue;
    if (m[1] === 'Selected Device') name = m[2];
    else if (/^\d+\.\d+$/.test(m[2])) cc = m[2];
  }
  return name && cc ? { name, computeCapability: cc } : undefined;
}

/** Whether two readings name the same compute capability and model (names compared without case or extra spaces). */
export function sameGpu(a: Gpu, b: Gpu): boolean {
  const n = (s: string) => s.trim().replace(/\s+/g, ' ').toLowerCase();
  return a.computeCapability === b.computeCapability && n(a.name) === n(b.name);
}

/** nvidia-smi's answer, or why it gave none (not installed, an old driver without compute_cap, GPUs of several kinds). */
export async function gpuFromNvidiaSmi(env: NodeJS.ProcessEnv = process.env): Promise<Gpu | string> {
  let r: Awaited<ReturnType<typeof runProcess>>;
  try {
    r = await runProcess('nvidia-smi', ['--query-gpu=name,compute_cap', '--format=csv,noheader'], { env, timeoutMs: 15_000, tailLines: 256 });
  } catch {
    return 'nvidia-smi is not on PATH';
  }
  if (r.code !== 0) return `nvidia-smi exited with ${r.code ?? r.signal}: ${r.tail.filter((l) => l.trim()).slice(-1)[0] ?? ''}`.trim();
  const gpus = parseNvidiaSmi(r.tail.join('\n'));
  if (!gpus.length) return 'nvidia-smi listed no GPU with its compute capability';
  const kinds = new Map(gpus.map((g) => [`${g.name}|${g.computeCapability}`, g]));
  if (kinds.size > 1) return `nvidia-smi lists GPUs of ${kinds.size} kinds (${[...kinds.values()].map(gpuLabel).join('; ')}): which one is trtexec's device 0 is CUDA's to say`;
  return gpus[0];
}

/**
 * The GPU trtexec runs on: nvidia-smi's when it names one kind, else a probe run of trtexec
 * (`--loadEngine` of a file that is not there, in `scratch`) read for its device lines. An error
 * (PROVIDER_UNAVAILABLE, with trtexec's last lines) when neither names one: trtexec cannot run then.
 */
export async function detectGpu(trtexec: string, scratch: string, o: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {}): Promise<DetectedGpu & { why?: string }> {
  const smi = await gpuFromNvidiaSmi(o.env);
  if (typeof smi !== 'string') return { ...smi, source: 'nvidia-smi' };
  const missing = path.join(scratch, 'gpu-probe-no-engine.plan');
  fs.rmSync(missing, { force: true });
  const r = await runProcess(trtexec, [`--loadEngine=${missing}`], { env: o.env, signal: o.signal, timeoutMs: 60_000, tailLines: 200 });
  if (r.cancelled) throw new LabError('CANCELLED', 'cancelled');
  const g = parseDeviceLines(r.tail);
  if (g) return { ...g, source: 'trtexec', why: smi };
  throw new LabError('PROVIDER_UNAVAILABLE', `trtexec names no GPU (no "Selected Device:" / "Compute Capability:" lines; ${smi}), so its engine could not be cached for one: its last lines:\n${r.tail.filter((l) => l.trim()).slice(-6).map((l) => `  ${l}`).join('\n') || '  (none)'}`, trtexec);
}
