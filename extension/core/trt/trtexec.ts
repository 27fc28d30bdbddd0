/**
 * trtexec as a process (issue 19, part 3): where it is, which TensorRT it is, its arguments, its
 * log read as progress, the engine cache, and running it so that Cancel leaves nothing behind.
 * The run's flow (export, build, run, import) is trtexec-run.ts. No vscode import.
 *
 * Read from NVIDIA/TensorRT's source (main, commit a892d222, TensorRT 11; the 10.x flags as in
 * release 10.16, see scripts.ts):
 *   - every log line is "[MM/DD/YYYY-HH:MM:SS] [I] text" (samples/common/logging.h:85-95 putOutput,
 *     prefixes [E] [W] [I] [V] at 193-200); TensorRT's own builder messages add "[TRT] " (logging.h:330).
 *   - the first line: "&&&& RUNNING TensorRT.trtexec [TensorRT v110100] [b…] # trtexec …" (logging.h:
 *     404 defineTest, 597 the banner; trtexec.cpp:1297-1298), NV_TENSORRT_VERSION = major·10000 +
 *     minor·100 + patch (include/NvInferRuntimeBase.h:98-102); `--help` prints it too.
 *   - "TensorRT version: 11.1.0" (trtexec.cpp:445), "Start parsing network model." (sampleEngines.cpp:192),
 *     "Finished parsing network model. Parse time: …" (258), "Created engine with size: … MiB" (867),
 *     "Engine built in … sec." (877), "Engine deserialized in … sec." (149), "Starting inference"
 *     (trtexec.cpp:696), "&&&& PASSED|FAILED TensorRT.trtexec …" (logging.h:597).
 *   TensorRT's builder (closed source) logs nothing per layer at [I]: the build is one stage whose
 *   elapsed time is shown.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { LabError } from '../errors';

/** What `trtexec --help` says about this trtexec. */
export interface TrtexecInfo {
  /** The program (absolute, or as found on PATH). */
  path: string;
  /** "10.16.0" */
  version: string;
  major: number;
  /** TensorRT ≤ 10: --fp16, --layerPrecisions and --precisionConstraints; TensorRT 11 builds strongly typed networks only. */
  fp16: boolean;
  layerPrecisions: boolean;
  loadRefOutputs: boolean;
}

/** `[TensorRT v101600]` (the banner) or `TensorRT version: 10.16.0` (the run's log) -> "10.16.0". */
export function parseTrtVersion(text: string): { version: string; major: number } | undefined {
  const v = /TensorRT version: (\d+)\.(\d+)\.(\d+)/.exec(text);
  if (v) return { version: `${+v[1]}.${+v[2]}.${+v[3]}`, major: +v[1] };
  const b = /\[TensorRT v(\d+)\]/.exec(text);
  if (!b) return undefined;
  const n = Number(b[1]);
  // NV_TENSORRT_VERSION_INT is major·10000 + minor·100 + patch since TensorRT 10; 8.x/9.x used major·1000 + minor·100 + patch
  const [major, minor, patch] = n >= 100000 ? [Math.floor(n / 10000), Math.floor(n / 100) % 100, n % 100] : [Math.floor(n / 1000), Math.floor(n / 100) % 10, n % 100];
  return { version: `${major}.${minor}.${patch}`, major };
}

/** Read `trtexec --help`'s text: its version and which of the flags we use it has. */
export function parseHelp(exe: string, text: string): TrtexecInfo {
  const v = parseTrtVersion(text);
  if (!v) throw new LabError('PROVIDER_UNAVAILABLE', `does not look like trtexec: its --help has no "[TensorRT v…]" banner (first line: ${JSON.stringify(text.split('\n')[0]?.slice(0, 80) ?? '')})`, exe);
  const has = (flag: string) => new RegExp(`(^|\\s)${flag}(\\b|=)`, 'm').test(text);
  return { path: exe, ...v, fp16: has('--fp16'), layerPrecisions: has('--layerPrecisions'), loadRefOutputs: has('--loadRefOutputs') };
}

function isExecutable(f: string): boolean {
  try {
    fs.accessSync(f, fs.constants.X_OK);
    return fs.statSync(f).isFile();
  } catch {
    return false;
  }
}

/**
 * The trtexec to use: the setting (a path; `~` is the home folder) when given — an error when it is
 * not an executable file —, else the first `trtexec` on PATH, else undefined.
 */
export function locateTrtexec(setting: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const s = setting?.trim();
  if (s) {
    const f = s.startsWith('~/') && env.HOME ? path.join(env.HOME, s.slice(2)) : s;
    if (!fs.existsSync(f)) throw new LabError('FILE_NOT_FOUND', 'the trtexec named by timesformerLab.trtexecPath (--trtexec) does not exist', f);
    if (!isExecutable(f)) throw new LabError('PROVIDER_UNAVAILABLE', 'the trtexec named by timesformerLab.trtexecPath (--trtexec) is not an executable file', f);
    return path.resolve(f);
  }
  const exts = process.platform === 'win32' ? ['.exe', ''] : [''];
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const e of exts) {
      const f = path.join(dir, `trtexec${e}`);
      if (isExecutable(f)) return f;
    }
  }
  return undefined;
}

/** Run `trtexec --help` (at most `timeoutMs`) and read it. */
export async function probeTrtexec(exe: string, timeoutMs = 20_000): Promise<TrtexecInfo> {
  const r = await runProcess(exe, ['--help'], { timeoutMs, tailLines: 4000 });
  // trtexec --help exits 0 (trtexec.cpp:400-404); its text is on stdout
  if (r.code !== 0 && !parseTrtVersion(r.tail.join('\n'))) {
    throw new LabError('PROVIDER_UNAVAILABLE', `\`${exe} --help\` ${r.signal ? `ended by ${r.signal}` : `exited with ${r.code}`}: ${r.tail.slice(-3).join(' | ') || 'no output'}`, exe);
  }
  return parseHelp(exe, r.tail.join('\n'));
}

/** Where trtexec is, and which TensorRT, or why not: what the sidebar shows. */
export type TrtexecStatus = { available: true; info: TrtexecInfo } | { available: false; reason: string };

export async function trtexecStatus(setting: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<TrtexecStatus> {
  let exe: string | undefined;
  try {
    exe = locateTrtexec(setting, env);
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  }
  if (!exe) return { available: false, reason: 'trtexec is not on PATH and timesformerLab.trtexecPath is not set (trtexec ships with TensorRT: <TensorRT>/bin/trtexec)' };
  try {
    return { available: true, info: await probeTrtexec(exe) };
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  }
}

/** The LayerNorm modes trtexec realizes: as built (plain), every LayerNorm in FP32, or the minimal fix (from our FP32 statistics). */
export const TRTEXEC_LAYERNORMS = ['plain', 'fp32', 'minimal'] as const;
export type TrtexecLayerNorm = (typeof TRTEXEC_LAYERNORMS)[number];

/** Why trtexec cannot run these options, or undefined (the sidebar and the CLI ask before a run). */
export function trtexecRefusal(o: { precision?: string; layerNorm?: string; accumulate?: string }, info?: Pick<TrtexecInfo, 'fp16' | 'layerPrecisions' | 'version'>): string | undefined {
  const p = o.precision ?? 'fp32';
  if (p !== 'fp16' && p !== 'fp32') return `TensorRT (trtexec) builds FP16 or FP32 engines here; ${p.toUpperCase()} is not asked of it`;
  const ln = o.layerNorm ?? 'plain';
  if (!(TRTEXEC_LAYERNORMS as readonly string[]).includes(ln)) {
    return `TensorRT (trtexec) realizes LayerNorm ${TRTEXEC_LAYERNORMS.join(', ')} (the fix as --layerPrecisions); '${ln}' is a realization of ours: choose another engine for it`;
  }
  if (o.accumulate === 'fp16') return 'TensorRT (trtexec) chooses its own accumulation (FP32 in its FP16 kernels): the fp16 accumulation worst case runs on our engines only';
  if (info && p === 'fp16' && !info.fp16) return `TensorRT ${info.version}'s trtexec has no --fp16 (TensorRT 11 builds strongly typed networks only): choose FP32, or point timesformerLab.trtexecPath at a TensorRT 10 trtexec`;
  if (info && ln !== 'plain' && p === 'fp16' && !info.layerPrecisions) return `TensorRT ${info.version}'s trtexec has no --layerPrecisions: the LayerNorm fix cannot be asked of it`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Arguments

export interface TrtexecArgs {
  /** Build from this ONNX file, or load this engine (a cache hit). */
  onnx?: string;
  loadEngine?: string;
  /** Where the built engine goes (the cache's temporary name). */
  saveEngine?: string;
  /** The input's name and file (raw float32, volume × 4 bytes): `--loadInputs='name':file` (loadInputsSpec). */
  inputName: string;
  inputFile: string;
  exportOutput: string;
  precision: 'fp16' | 'fp32';
  /** trtexec layer names kept in FP32 (--layerPrecisions, with --precisionConstraints=obey). */
  fp32Layers: readonly string[];
}

/**
 * trtexec's arguments (sampleOptions.cpp: --onnx, --loadEngine 1272, --saveEngine 1279, --loadInputs
 * 1742, --iterations/--duration/--warmUp 1674-1676, --exportOutput 1868; --fp16, --precisionConstraints,
 * --layerPrecisions in TensorRT 10, scripts.ts). One inference: the outputs, not a benchmark.
 */
export function trtexecArgs(a: TrtexecArgs, info: Pick<TrtexecInfo, 'fp16' | 'layerPrecisions' | 'version'>): string[] {
  if (!!a.onnx === !!a.loadEngine) throw new Error('trtexecArgs: exactly one of onnx and loadEngine');
  if (a.precision === 'fp16' && !info.fp16) {
    throw new LabError('BAD_OPTION', `TensorRT ${info.version}'s trtexec has no --fp16 (TensorRT 11 builds strongly typed networks only: the ONNX types decide the precision); choose FP32, or a trtexec of TensorRT 10`);
  }
  if (a.fp32Layers.length && !info.layerPrecisions) {
    throw new LabError('BAD_OPTION', `TensorRT ${info.version}'s trtexec has no --layerPrecisions: the LayerNorm fix cannot be asked of it`);
  }
  const out = a.onnx ? [`--onnx=${a.onnx}`] : [`--loadEngine=${a.loadEngine}`];
  if (a.onnx) {
    if (a.precision === 'fp16') out.push('--fp16');
    if (a.fp32Layers.length) out.push('--precisionConstraints=obey', `--layerPrecisions=${a.fp32Layers.map((l) => `${l}:fp32`).join(',')}`);
    if (a.saveEngine) out.push(`--saveEngine=${a.saveEngine}`);
  }
  out.push(`--loadInputs=${loadInputsSpec(a.inputName, a.inputFile)}`, `--exportOutput=${a.exportOutput}`, '--iterations=1', '--warmUp=0', '--duration=0');
  return out;
}

/**
 * trtexec's `--loadInputs` pair for one input: `'name':file`. trtexec splits the list at every ','
 * and an unquoted pair at its LAST ':' (sampleOptions.cpp 10.16:292-328 splitNameAndValue, 1756-1758),
 * so `video:C:\…\inputs.bin` (a Windows path) would name the input `video:C`, match no input and
 * run on random values (sampleInference.cpp 10.16:547-557). A quoted name is taken whole and the file
 * is all that follows its `':` — unless the pair has another `'` or `,`, refused here.
 */
export function loadInputsSpec(name: string, file: string): string {
  const odd = /[',]/.exec(name) ?? /[',]/.exec(file);
  if (odd) throw new LabError('BAD_OPTION', `trtexec cannot be given this input: its --loadInputs list splits at ',' and takes a name in single quotes, so a ${JSON.stringify(odd[0])} in the input name '${name}' or its file cannot be passed`, file);
  return `'${name}':${file}`;
}

/**
 * Whether trtexec fed the input from our file: its log says "Using values loaded from FILE for input
 * NAME" (sampleInference.cpp 10.16:550, a892d22:560) or "Using random values for input NAME" (557 / 567).
 * Undefined when it loaded it, else why not (an error for the run: random inputs compare with nothing).
 */
export function inputNotLoaded(lines: readonly string[], name: string): string | undefined {
  const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const loaded = new RegExp(`\\[I\\] Using values loaded from .* for input ${esc}$`);
  if (lines.some((l) => loaded.test(l))) return undefined;
  const random = lines.find((l) => new RegExp(`\\[I\\] Using random values for input ${esc}$`).test(l));
  if (random) return `trtexec ran on random values, not the clip: its log says "${random.replace(/^.*\[I\] /, '')}" (its --loadInputs pair named no input '${name}')`;
  return `trtexec's log never says "Using values loaded from … for input ${name}": whether it ran on the clip is unknown`;
}

/** A command line as a user could paste it (sh quoting). */
export function commandLine(exe: string, args: readonly string[]): string {
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [exe, ...args].map(q).join(' ');
}

// ---------------------------------------------------------------------------------------------
// The log as progress

export type TrtexecEvent =
  | { kind: 'version'; version: string }
  | { kind: 'stage'; stage: 'parsing' | 'building' | 'loading engine' | 'running'; detail?: string }
  | { kind: 'built'; seconds: number; sizeMiB?: number }
  | { kind: 'engine size'; sizeMiB: number }
  | { kind: 'result'; passed: boolean }
  | { kind: 'error'; text: string };

/** One line of trtexec's log -> what it says about progress, or undefined. */
export function parseLogLine(line: string): TrtexecEvent | undefined {
  const banner = /^&&&& (PASSED|FAILED|RUNNING) TensorRT\.trtexec/.exec(line);
  if (banner) {
    if (banner[1] === 'RUNNING') {
      const v = parseTrtVersion(line);
      return v && { kind: 'version', version: v.version };
    }
    return { kind: 'result', passed: banner[1] === 'PASSED' };
  }
  const m = /^(?:\[\d\d\/\d\d\/\d{4}-\d\d:\d\d:\d\d\] )?\[([EWIV])\] (.*)$/.exec(line);
  if (!m) return undefined;
  const [, sev, text] = m;
  if (sev === 'E') return { kind: 'error', text };
  if (sev !== 'I') return undefined;
  let x: RegExpExecArray | null;
  if ((x = /^TensorRT version: (\d+\.\d+\.\d+)/.exec(text))) return { kind: 'version', version: x[1] };
  if (/^Start parsing network model\./.test(text)) return { kind: 'stage', stage: 'parsing' };
  if ((x = /^Finished parsing network model\. Parse time: ([\d.e+-]+)/.exec(text))) return { kind: 'stage', stage: 'building', detail: `parsed in ${Number(x[1]).toFixed(2)} s` };
  if ((x = /^Created engine with size: ([\d.e+-]+) MiB/.exec(text))) return { kind: 'engine size', sizeMiB: Number(x[1]) };
  if ((x = /^Engine built in ([\d.e+-]+) sec\./.exec(text))) return { kind: 'built', seconds: Number(x[1]) };
  if (/^Engine deserialized in /.test(text)) return { kind: 'stage', stage: 'loading engine' };
  if (/^Starting inference/.test(text)) return { kind: 'stage', stage: 'running' };
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Running a process so that it can be cancelled

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last `tailLines` lines of stdout and stderr, in order of arrival. */
  tail: string[];
  cancelled: boolean;
  timedOut: boolean;
}

export interface ProcessOptions {
  signal?: AbortSignal;
  onLine?: (line: string) => void;
  tailLines?: number;
  timeoutMs?: number;
  /** SIGTERM, then SIGKILL after this many ms (default 2000). */
  killGraceMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Every process started here that still runs, and the files to remove should our own process be ended by a signal. */
const live = new Set<number>();
const cleanups = new Set<() => void>();
function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(process.platform === 'win32' ? pid : -pid, sig);
  } catch {
    /* gone already */
  }
}
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let hooked = false;
/**
 * SIGINT/SIGTERM/SIGHUP of our process (Ctrl-C; the extension's Cancel kills the CLI): trtexec's
 * group is killed and the cleanups run, synchronously; then the process ends by the signal unless
 * another handler (the weight store's, which re-raises it) is left to do that.
 */
function onSignal(sig: NodeJS.Signals): void {
  cleanUpNow();
  for (const s of SIGNALS) process.off(s, onSignal);
  hooked = false;
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}
function cleanUpNow(): void {
  for (const pid of live) killGroup(pid, 'SIGKILL');
  for (const f of cleanups) {
    try {
      f();
    } catch {
      /* best effort: the cache's sweep removes what is left */
    }
  }
}
function syncHooks(): void {
  const want = live.size > 0 || cleanups.size > 0;
  if (want && !hooked) for (const s of SIGNALS) process.prependListener(s, onSignal);
  if (!want && hooked) for (const s of SIGNALS) process.off(s, onSignal);
  hooked = want;
}
let exitHook = false;
function hookExit(): void {
  if (exitHook) return;
  exitHook = true;
  // Our own process ending normally (process.exit) takes trtexec with it.
  process.on('exit', cleanUpNow);
}

/** Run `f` (synchronous) should our process be ended by a signal before the returned function is called. */
export function onAbnormalExit(f: () => void): () => void {
  hookExit();
  cleanups.add(f);
  syncHooks();
  return () => {
    cleanups.delete(f);
    syncHooks();
  };
}

/**
 * Run `exe args` in a process group of its own (detached), reading its output by lines. Abort
 * (`signal`) or the timeout kills the whole group — SIGTERM, then SIGKILL — and resolves only once
 * the process has ended, so that no file it writes is touched after.
 */
export function runProcess(exe: string, args: readonly string[], o: ProcessOptions = {}): Promise<ProcessResult> {
  hookExit();
  return new Promise((resolve, reject) => {
    if (o.signal?.aborted) {
      resolve({ code: null, signal: null, tail: [], cancelled: true, timedOut: false });
      return;
    }
    const child = spawn(exe, [...args], { detached: process.platform !== 'win32', stdio: ['ignore', 'pipe', 'pipe'], env: o.env ?? process.env, cwd: o.cwd });
    const max = o.tailLines ?? 40;
    const tail: string[] = [];
    let cancelled = false;
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'), o.killGraceMs ?? 2000);
    };
    const onAbort = () => {
      cancelled = true;
      stop();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = o.timeoutMs ? setTimeout(() => {
      timedOut = true;
      stop();
    }, o.timeoutMs) : undefined;
    if (child.pid !== undefined) live.add(child.pid);
    syncHooks();
    const reader = () => {
      let rest = '';
      return (b: Buffer) => {
        const lines = (rest + b.toString('utf8')).split(/\r?\n/);
        rest = lines.pop() ?? '';
        for (const l of lines) push(l);
      };
    };
    const push = (l: string) => {
      tail.push(l);
      if (tail.length > max) tail.shift();
      o.onLine?.(l);
    };
    child.stdout.on('data', reader());
    child.stderr.on('data', reader());
    child.on('error', (e) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (child.pid !== undefined) live.delete(child.pid);
      syncHooks();
      reject(new LabError('PROVIDER_UNAVAILABLE', `cannot start it: ${(e as NodeJS.ErrnoException).code ?? e.message}`, exe));
    });
    // trtexec has ended: whatever it started in its group goes too (it could hold the pipes open and delay 'close')
    child.on('exit', () => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'));
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      o.signal?.removeEventListener('abort', onAbort);
      if (child.pid !== undefined) {
        // whatever it left running in its group goes with it
        killGroup(child.pid, 'SIGKILL');
        live.delete(child.pid);
        syncHooks();
      }
      resolve({ code, signal: sig, tail, cancelled, timedOut });
    });
  });
}

export { cacheKey, EngineCache, fileHash, type CacheKeyParts } from './engine-cache';
