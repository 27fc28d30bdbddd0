/**
 * "Sweep Clips…" (issue 21): the chosen checkpoint against every clip of a folder or a list of
 * files, in the engine process (core/sweep through WorkerClient.sweep), behind a cancellable
 * progress notification; the sweep view (views/sweep-panel.ts) fills as the clips finish. The results go
 * to the workspace's storage, one folder per checkpoint + clips + options, so that a sweep
 * cancelled (the engine process killed: the clips done are on disk) resumes where it stopped.
 * "Open Swept Clip as a Run" (from the view): that clip as a single run with the sweep's options,
 * into the sidebar's runs and the graph (graph, inspector), as Build & Run gives.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { defaultTolerance } from '../../core/compare/verdict';
import { CLIP_EXTENSIONS } from '../../core/sweep/clips';
import type { SweepResult } from '../../core/sweep/types';
import type { RunOptions, SweepRequest } from '../../protocol';
import { chosenRequest, command, type CommandGroup, type Lab } from '../lab';
import { RunError } from '../runner';
import { SweepPanel } from '../views/sweep-panel';
import { plain } from '../text';

const BROWSE = 'Browse…';
const SHOW_SWEEP = 'Show Sweep';

/** Workspace folders that hold clip files (at most 200 files looked at), as quick pick items. */
async function clipFolders(): Promise<{ label: string; description: string; dir: string }[]> {
  const exts = CLIP_EXTENSIONS.filter((e) => !['.p', '.pkl', '.pickle'].includes(e)).map((e) => e.slice(1)).join(',');
  const files = await vscode.workspace.findFiles(`**/*.{${exts}}`, '**/node_modules/**', 200);
  const count = new Map<string, number>();
  for (const f of files) count.set(path.dirname(f.fsPath), (count.get(path.dirname(f.fsPath)) ?? 0) + 1);
  return [...count].sort(([a], [b]) => a.localeCompare(b)).map(([dir, n]) => ({ label: vscode.workspace.asRelativePath(dir, false), description: `${n} clip${n > 1 ? 's' : ''}`, dir }));
}

/** The clips to sweep: given (explorer), a workspace folder picked, or files/folders browsed. */
async function pickClips(given?: vscode.Uri[]): Promise<string[] | undefined> {
  if (given?.length) return given.map((u) => u.fsPath);
  const folders = await clipFolders();
  const pick = await vscode.window.showQuickPick([...folders, { label: BROWSE, description: 'clip files or a folder', dir: '' }], {
    title: 'TimeSformer: Sweep Clips — which clips?', placeHolder: 'a folder of clips (.npy, videos, test_data.p) or Browse…',
  });
  if (!pick) return undefined;
  if (pick.label !== BROWSE) return [pick.dir];
  const uris = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: true, canSelectMany: true, openLabel: 'Sweep', title: 'Clips to sweep' });
  return uris?.map((u) => u.fsPath);
}

/** Where a sweep's results go: workspace storage, by checkpoint, clips and options (a rerun resumes there). */
function outDir(d: Lab, weights: string, clips: string[], o: RunOptions): string {
  const root = (d.context.storageUri ?? d.context.globalStorageUri).fsPath;
  const key = crypto.createHash('sha256').update(JSON.stringify({ weights, clips, precision: o.precision, layerNorm: o.layerNorm, ep: o.ep, heads: o.heads })).digest('hex').slice(0, 16);
  return path.join(root, 'sweeps', `${path.basename(weights).replace(/[^\w.-]/g, '_')}-${key}`);
}

let last: { request: SweepRequest; options: RunOptions } | undefined;

export async function sweepClips(d: Lab, given?: vscode.Uri[]): Promise<SweepResult | undefined> {
  const r = chosenRequest(d.state);
  if (!r) return undefined;
  // the store knows what holds the engine process (a run, an export, a sweep); a probe of the
  // providers is short, and the sweep queues behind it
  const before = d.state.whyBusy();
  if (before) {
    void vscode.window.showInformationMessage(`TimeSformer: ${before}; sweep when it ends.`);
    return undefined;
  }
  const clips = await pickClips(given);
  if (!clips?.length) return undefined;
  if (!(await d.consent('Sweep Clips', [r.inputs.checkpoint, ...clips]))) return undefined;
  // The store holds the sweep from now on (the sidebar's Run, the menus and the engine read it): a run
  // started while the clips were picked wins, and this sweep does not start.
  const why = d.state.sweepStarted(r.inputs.checkpoint);
  if (why) {
    void vscode.window.showInformationMessage(`TimeSformer: ${why}; sweep when it ends.`);
    return undefined;
  }
  try {
    return await sweep(d, r, clips);
  } finally {
    d.state.sweepEnded();
  }
}

async function sweep(d: Lab, r: NonNullable<ReturnType<typeof chosenRequest>>, clips: string[]): Promise<SweepResult | undefined> {
  const client = d.engine.client;
  const o = r.options;
  const layerNorm = o.layerNorm === 'minimal' ? 'plain' : o.layerNorm;
  const request: SweepRequest = {
    weights: r.inputs.checkpoint, clips,
    options: { precision: o.precision, layerNorm, accumulate: o.accumulate, ep: o.ep, heads: o.heads, tolerance: o.tolerance, deviceId: o.deviceId, out: outDir(d, r.inputs.checkpoint, clips, o) },
  };
  last = { request, options: { ...o, layerNorm, data: undefined } };
  d.log(`--- sweep: ${path.basename(request.weights)} over ${clips.map((c) => path.basename(c)).join(', ')}, ${o.precision}, LayerNorm ${layerNorm}, ${o.ep}; results in ${request.options.out}`);
  const panel = SweepPanel.show(d.context.extensionUri, d.log);
  panel.start(request.weights, request.options.out, o.tolerance ?? defaultTolerance(o.precision ?? 'fp32'));
  try {
    const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'TimeSformer: Sweep Clips', cancellable: true }, (progress, token) => {
      token.onCancellationRequested(() => {
        d.log('sweep cancelled: killing the engine process (the clips done are kept; sweeping again resumes)');
        void client.cancel();
      });
      const t0 = Date.now();
      let ran = 0;
      return client.sweep(request, {
        onLog: (l) => d.log(l),
        onSweepClip: (c, p) => {
          if (!p.skipped) ran++;
          panel.clip(c, p.total);
          const left = p.total - p.index - 1;
          const rate = ran / ((Date.now() - t0) / 1000);
          progress.report({ message: `clip ${p.index + 1}/${p.total}${ran && left ? `, ETA ${Math.round(left / rate)} s` : ''}`, increment: 100 / p.total });
        },
        onSweepConfirm: (c, p) => {
          panel.confirm(c, p.total);
          progress.report({ message: `the covering fix: clip ${p.index + 1}/${p.total}` });
        },
      });
    });
    panel.result(result);
    const s = result.summary;
    const said = `${s.verdict.toUpperCase()} — ${s.passed}/${s.done} pass, ${s.failed} fail, ${s.bad} could not be read; fix ${result.fix.layerNorms.length} LayerNorm(s)${result.fix.confirmed ? ` (${result.fix.confirmed.verdict})` : ''}`;
    d.log(`sweep: ${said}`);
    // the view was closed during the sweep: the result is offered, not pushed into the editor
    if (!panel.isOpen) {
      void vscode.window.showInformationMessage(`TimeSformer: the sweep is done: ${said}.`, SHOW_SWEEP).then((a) => {
        if (a === SHOW_SWEEP) panel.open();
      });
    }
    return result;
  } catch (e) {
    if (e instanceof RunError && e.code === 'CANCELLED') panel.cancelled();
    else {
      panel.failed(e instanceof Error ? e.message : String(e));
      void vscode.window.showErrorMessage(plain(`TimeSformer: the sweep failed: ${e instanceof Error ? e.message : String(e)}`));
    }
    return undefined;
  }
}

/** One clip of the last sweep as a single run (its options), into the runs and the graph. */
export async function openSweepClip(d: Lab, clip?: string): Promise<void> {
  if (!last || !clip) {
    void vscode.window.showWarningMessage('TimeSformer: sweep clips first (TimeSformer: Sweep Clips…), then click a clip in the sweep view.');
    return;
  }
  const busy = d.state.whyBusy();
  if (busy) {
    void vscode.window.showInformationMessage(`TimeSformer: ${busy}; open the clip when it ends.`);
    return;
  }
  if (!/^synthetic(:\d+)?$/.test(clip) && !fs.existsSync(clip)) {
    void vscode.window.showErrorMessage(plain(`TimeSformer: ${clip} is gone`));
    return;
  }
  const isData = /\.(p|pkl|pickle)$/i.test(clip);
  const options: RunOptions = { ...last.options, ...(isData ? { data: clip } : { input: clip }) };
  const inputs = { checkpoint: last.request.weights, testData: isData ? clip : null };
  d.log(`opening the swept clip ${path.basename(clip)} as a run`);
  await d.engine.execute(options, inputs);
}

export const sweepGroup: CommandGroup = {
  name: 'Sweep',
  register: (lab) => [
    command('sweepClips', (uri?: vscode.Uri, uris?: vscode.Uri[]) => sweepClips(lab, uris ?? (uri ? [uri] : undefined))),
    command('openSweepClip', (clip?: string) => openSweepClip(lab, clip)),
  ],
};
