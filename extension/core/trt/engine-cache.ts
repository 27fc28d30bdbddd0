/**
 * trtexec's engines by key in a folder (issue 19, part 3; trtexec-run.ts uses it): the key is every
 * input that changes what TensorRT builds — the exported ONNX's hash, the precision, the layers kept
 * in FP32, the TensorRT version (an engine runs only on the TensorRT that built it) and the GPU, its
 * name and compute capability (a plan is specific to both; gpu.ts reads them). A build goes to
 * `<key>.plan.partial-<pid>` and is renamed into place only when trtexec succeeded; an entry trtexec
 * cannot load is dropped (trtexec-run.ts then builds it again, once). No vscode import.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { LabError } from '../errors';

/** A GPU as the key names it (gpu.ts reads it from nvidia-smi or trtexec's log). */
export interface Gpu {
  /** "NVIDIA H100 80GB HBM3" (cudaDeviceProp.name) */
  name: string;
  /** "9.0" */
  computeCapability: string;
}

export interface CacheKeyParts {
  /** sha256 of the ONNX file the engine is built from. */
  modelHash: string;
  precision: 'fp16' | 'fp32';
  /** Layers kept in FP32 (the fix); order does not matter. */
  fp32Layers: readonly string[];
  /** TensorRT version (an engine runs only on the TensorRT that built it). */
  trtVersion: string;
  /** The GPU's name and compute capability (a plan runs only on the compute capability it was built for). */
  gpu: Gpu;
}

/** The cache key: every input that changes what TensorRT builds. */
export function cacheKey(k: CacheKeyParts): string {
  const gpu = { name: k.gpu.name.trim().replace(/\s+/g, ' ').toLowerCase(), cc: k.gpu.computeCapability };
  const canonical = JSON.stringify({ v: 2, model: k.modelHash, precision: k.precision, fp32: [...new Set(k.fp32Layers)].sort(), trt: k.trtVersion, gpu });
  return crypto.createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}

/** sha256 of a file, streamed. */
export function fileHash(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha256');
    fs.createReadStream(file).on('data', (b) => h.update(b)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

const PARTIAL = /^(.+)\.plan\.partial-(\d+)$/;

/**
 * Engines by key in a folder: `<key>.plan` and `<key>.json` (what it was built from). An engine is
 * built under `<key>.plan.partial-<pid>` and renamed into place only when trtexec succeeded, so a
 * cancelled or failed build leaves no entry; partial files of processes that are gone are swept.
 */
export class EngineCache {
  constructor(readonly dir: string) {}

  plan(key: string): string {
    return path.join(this.dir, `${key}.plan`);
  }

  /** The cached engine, or undefined (an empty file is not an engine). */
  lookup(key: string): string | undefined {
    const f = this.plan(key);
    try {
      return fs.statSync(f).size > 0 ? f : undefined;
    } catch {
      return undefined;
    }
  }

  /** A temporary name to build `key` under. */
  partial(key: string): string {
    try {
      fs.mkdirSync(this.dir, { recursive: true });
    } catch (e) {
      throw new LabError('BAD_OPTION', `the engine cache folder cannot be made (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): give another --trt-cache (timesformerLab.tensorrtCacheDir)`, this.dir, { cause: e });
    }
    return `${this.plan(key)}.partial-${process.pid}`;
  }

  /** Move a finished build into place (with its description). */
  commit(key: string, partial: string, meta: object): string {
    if (!fs.existsSync(partial) || fs.statSync(partial).size === 0) throw new LabError('ENGINE_FAILED', 'trtexec ended without writing its engine (--saveEngine)', partial);
    fs.writeFileSync(path.join(this.dir, `${key}.json`), JSON.stringify({ ...meta, key, builtAt: new Date().toISOString() }, null, 2) + '\n');
    fs.renameSync(partial, this.plan(key));
    return this.plan(key);
  }

  /** Remove an entry (its engine and its description): one trtexec could not load. */
  drop(key: string): void {
    fs.rmSync(this.plan(key), { force: true });
    fs.rmSync(path.join(this.dir, `${key}.json`), { force: true });
  }

  discard(partial: string): void {
    fs.rmSync(partial, { force: true });
  }

  /** Remove partial builds whose process is gone (a crash, a kill -9 of ours). */
  sweep(): string[] {
    const removed: string[] = [];
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return removed;
    }
    for (const n of names) {
      const m = PARTIAL.exec(n);
      if (!m || alive(Number(m[2]))) continue;
      fs.rmSync(path.join(this.dir, n), { force: true });
      removed.push(n);
    }
    return removed;
  }

  /** Every complete entry (key and size). */
  entries(): { key: string; bytes: number }[] {
    try {
      return fs.readdirSync(this.dir).filter((n) => /^[0-9a-f]{32}\.plan$/.test(n)).map((n) => ({ key: n.slice(0, 32), bytes: fs.statSync(path.join(this.dir, n)).size }));
    } catch {
      return [];
    }
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
