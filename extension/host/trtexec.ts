/**
 * The engine choice "TensorRT (trtexec)" (issue 19, part 3), wired into the host: where trtexec is
 * (setting timesformerLab.trtexecPath, else PATH; core/trt/trtexec.ts trtexecStatus) for the
 * sidebar, and a run with it — the bundled CLI's `trt-run` as a child process (core/trt/trtexec-run.ts
 * does the work: export, build or cached engine, run, import), its "[stage] detail" lines on stderr
 * as the run's progress, its Report (--json) returned like the engine process's. Cancel ends the
 * CLI with SIGTERM; the CLI kills trtexec's process group and removes the half-built engine first.
 * The engine cache: timesformerLab.tensorrtCacheDir, else the extension's global storage.
 */
import { fork, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as vscode from 'vscode';
import { parseReportJson, STAGES, type Report, type Stage } from '../core/report';
import { trtexecStatus } from '../core/trt/trtexec';
import type { RunOptions } from '../protocol';
import type { TrtexecView } from './protocol';
import { RunError } from './runner';
import type { LabState } from './state';

export interface TrtexecDeps {
  context: vscode.ExtensionContext;
  state: LabState;
  log: (line: string) => void;
  /** timesformerLab.trtexecPath and timesformerLab.tensorrtCacheDir (may be empty). */
  settings: () => { trtexecPath: string; cacheDir: string };
}

let running: ChildProcess | undefined;
let cancelled = false;

/** Look for trtexec (again) and tell the sidebar. */
export async function detectTrtexec(d: TrtexecDeps): Promise<TrtexecView> {
  const s = await trtexecStatus(d.settings().trtexecPath || undefined);
  const view: TrtexecView = s.available
    ? { available: true, path: s.info.path, version: s.info.version, fp16: s.info.fp16, layerPrecisions: s.info.layerPrecisions }
    : { available: false, reason: s.reason };
  d.log(s.available ? `trtexec: ${s.info.path} (TensorRT ${s.info.version}${s.info.fp16 ? '' : ', no --fp16: strongly typed only'})` : `trtexec: not available: ${s.reason}`);
  d.state.setTrtexec(view);
  return view;
}

/** The engine cache folder. */
export function trtexecCacheDir(d: TrtexecDeps): string {
  return d.settings().cacheDir || path.join(d.context.globalStorageUri.fsPath, 'trtexec-engines');
}

/** The CLI's arguments for a run of these options (exported for the unit test). */
export function trtRunArgs(o: RunOptions, trtexec: string, cacheDir: string, json: string): string[] {
  return [
    'trt-run', '--weights', o.weights, ...(o.data ? ['--data', o.data] : []), ...(o.heads ? ['--heads', String(o.heads)] : []),
    '--precision', o.precision ?? 'fp16', '--layernorm', o.layerNorm ?? 'plain', '--trtexec', trtexec, '--trt-cache', cacheDir,
    ...(o.tolerance !== undefined ? ['--tolerance', String(o.tolerance)] : []), '--json', json,
  ];
}

/** A CLI error's text (it may run over several lines: trtexec's command and last log lines). */
export function cliErrorText(stderr: string): { code: string; message: string } {
  const lines = stderr.split('\n');
  const i = lines.findIndex((l) => /^error( \[[A-Z_]+\])?:/.test(l));
  if (i < 0) return { code: 'ENGINE_FAILED', message: lines.filter((l) => l.trim()).slice(-6).join('\n') || 'trt-run failed without a message' };
  const m = /^error(?: \[([A-Z_]+)\])?:\s*(.*)$/.exec(lines[i])!;
  return { code: m[1] ?? 'BAD_OPTION', message: [m[2], ...lines.slice(i + 1)].join('\n').trimEnd() };
}

/** A progress line of the CLI ("  [building engine] trtexec: …"), or undefined. */
export function progressLine(line: string): { stage: Stage; detail?: string } | undefined {
  const m = /^\s*\[([^\]]+)\](?:\s+(.*))?$/.exec(line);
  if (!m || !(STAGES as readonly string[]).includes(m[1])) return undefined;
  return { stage: m[1] as Stage, ...(m[2] ? { detail: m[2] } : {}) };
}

/** Whether a trtexec run is in flight (Cancel asks it to stop). */
export function cancelTrtexec(log?: (l: string) => void): boolean {
  if (!running || running.exitCode !== null) return false;
  cancelled = true;
  log?.('cancel requested: stopping trt-run (it kills trtexec and removes the half-built engine)');
  running.kill('SIGTERM');
  return true;
}

/** Run the options with trtexec; resolves with the Report, rejects with a RunError (code CANCELLED when cancelled). */
export function runWithTrtexec(d: TrtexecDeps, o: RunOptions, onProgress: (stage: Stage, detail?: string) => void): Promise<{ requestId: undefined; report: Report }> {
  const t = d.state.trtexec;
  if (!t?.available) return Promise.reject(new RunError('PROVIDER_UNAVAILABLE', `trtexec is not available: ${t && !t.available ? t.reason : 'not looked for yet'}`));
  if (running && running.exitCode === null) return Promise.reject(new RunError('BAD_OPTION', 'a trtexec run is already in progress'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-trtrun-'));
  const json = path.join(tmp, 'report.json');
  const args = trtRunArgs(o, t.path, trtexecCacheDir(d), json);
  d.log(`[trtexec] timesformer-lab ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = fork(d.context.asAbsolutePath(path.join('dist', 'cli.js')), args, { silent: true });
    running = child;
    cancelled = false;
    let err = '';
    let rest = '';
    child.stdout?.on('data', (b: Buffer) => {
      for (const l of b.toString().split('\n')) if (l.trim()) d.log(`[trtexec] ${l}`);
    });
    child.stderr?.on('data', (b: Buffer) => {
      const text = rest + b.toString();
      err += b.toString();
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) {
        if (!l.trim()) continue;
        d.log(`[trtexec] ${l}`);
        const p = progressLine(l);
        if (p) onProgress(p.stage, p.detail);
      }
    });
    const done = (f: () => void) => {
      running = undefined;
      try {
        f();
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    };
    child.on('error', (e) => done(() => reject(new RunError('ENGINE_FAILED', `cannot start the CLI: ${e.message}`))));
    child.on('exit', (code, signal) => done(() => {
      if (cancelled) return reject(new RunError('CANCELLED', 'cancelled'));
      if ((code === 0 || code === 1) && fs.existsSync(json)) {
        const report = parseReportJson<Report>(fs.readFileSync(json, 'utf8'));
        return resolve({ requestId: undefined, report });
      }
      const e = cliErrorText(err);
      reject(new RunError(e.code, signal ? `trt-run ended by ${signal}` : e.message));
    }));
  });
}
