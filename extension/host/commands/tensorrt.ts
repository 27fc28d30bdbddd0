/**
 * Palette commands of issue 19 (TensorRT in the loop), thin over the CLI's export-trt and import
 * (extension/trt-cli.ts over core/trt/*), run as a child process of the bundled CLI (dist/cli.js)
 * so that nothing heavy runs in the extension host:
 *   "Export for TensorRT…"        the chosen checkpoint (and test data) -> a bundle folder
 *   "Import TensorRT Outputs…"    trtexec / Polygraphy output JSON -> runs in the sidebar, the graph
 *                                 and Compare, as any run; the observer effect in a notification.
 * Cancel kills the child. Errors show the CLI's own message (it names the file and the cause).
 */
import { fork } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { parseReportJson, type Report } from '../../core/report';
import { readManifest } from '../../core/trt/bundle';
import type { RunOptions } from '../../protocol';
import { chosenRequest, command, type CommandGroup } from '../lab';
import type { LabState, RunInputs } from '../state';
import { plain } from '../text';

export interface TensorRtDeps {
  context: vscode.ExtensionContext;
  state: LabState;
  log: (line: string) => void;
  /** Restricted Mode's question (commands/trust.ts), asked before the CLI reads anything. */
  consent(action: string, reads: readonly (string | null | undefined)[], runs?: string): Promise<boolean>;
}

/** Run the bundled CLI with `args`; resolves with its exit code and output, rejects when cancelled. */
function runCli(d: TensorRtDeps, args: string[], title: string): Thenable<{ code: number; out: string; err: string }> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) =>
    new Promise((resolve, reject) => {
      const cli = d.context.asAbsolutePath(path.join('dist', 'cli.js'));
      d.log(`[tensorrt] timesformer-lab ${args.join(' ')}`);
      const child = fork(cli, args, { silent: true });
      let out = '';
      let err = '';
      child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr?.on('data', (b: Buffer) => {
        err += b.toString();
        const last = err.trimEnd().split('\n').pop()?.trim();
        if (last) progress.report({ message: plain(last.replace(/^\[[^\]]*\]\s*/, '')).slice(0, 120) });
      });
      const sub = token.onCancellationRequested(() => child.kill());
      child.on('error', (e) => reject(e));
      child.on('exit', (code, signal) => {
        sub.dispose();
        for (const l of (out + err).split('\n')) if (l.trim()) d.log(`[tensorrt] ${l}`);
        if (token.isCancellationRequested || signal) reject(new vscode.CancellationError());
        else resolve({ code: code ?? 2, out, err });
      });
    }));
}

function cliError(err: string): string {
  return err.split('\n').find((l) => l.startsWith('error'))?.replace(/^error(\s*\[[A-Z_]+\])?:\s*/, '') ?? (err.trim().split('\n').pop() ?? 'failed');
}

/** The chosen checkpoint and test data, or undefined after saying why. */
function chosen(d: TensorRtDeps): { options: RunOptions; inputs: RunInputs } | undefined {
  // the inputs, whatever the engine choice (trtexec may be the one that is absent)
  return chosenRequest(d.state, false);
}

export async function exportTrtBundle(d: TensorRtDeps): Promise<void> {
  const r = chosen(d);
  if (!r) return;
  if (!(await d.consent('Export for TensorRT', [r.inputs.checkpoint, r.inputs.testData]))) return;
  const root = vscode.workspace.workspaceFolders?.[0]?.uri;
  const picked = await vscode.window.showOpenDialog({
    canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Write the TensorRT bundle here',
    title: 'Export for TensorRT: the folder for model.onnx, inputs, reference and the trtexec/Polygraphy scripts', defaultUri: root,
  });
  if (!picked?.[0]) return;
  const dir = path.join(picked[0].fsPath, `${path.basename(r.inputs.checkpoint).replace(/\.[^.]+$/, '')}-tensorrt`);
  const args = ['export-trt', '--weights', r.inputs.checkpoint, ...(r.inputs.testData ? ['--data', r.inputs.testData] : []), ...(r.options.heads ? ['--heads', String(r.options.heads)] : []), '--out', dir];
  try {
    const res = await runCli(d, args, 'TimeSformer: Export for TensorRT');
    if (res.code !== 0) {
      void vscode.window.showErrorMessage(plain(`TimeSformer: export for TensorRT failed: ${cliError(res.err)}`));
      return;
    }
    const open = await vscode.window.showInformationMessage(plain(`TimeSformer: wrote the TensorRT bundle ${dir}. Run run_trtexec.sh there, then Import TensorRT Outputs.`), 'Open README');
    if (open) await vscode.window.showTextDocument(vscode.Uri.file(path.join(dir, 'README.txt')));
  } catch (e) {
    if (!(e instanceof vscode.CancellationError)) void vscode.window.showErrorMessage(plain(`TimeSformer: ${(e as Error).message}`));
  }
}

export async function importTrtOutputs(d: TensorRtDeps, given?: vscode.Uri[]): Promise<void> {
  const uris = given?.length ? given : await vscode.window.showOpenDialog({
    canSelectMany: true, filters: { 'trtexec / Polygraphy outputs': ['json'] }, openLabel: 'Import',
    title: 'Import TensorRT outputs (trtexec --exportOutput, Polygraphy --save-outputs)', defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
  });
  if (!uris?.length) return;
  const files = uris.map((u) => u.fsPath);
  // before the bundle's manifest is read: the import reads these files and the checkpoint it names
  if (!(await d.consent('Import TensorRT Outputs', files, 'ONNX Runtime in a separate process (the FP32 reference of their checkpoint)'))) return;
  // the bundle's checkpoint and test data when the outputs are in a bundle, else the chosen ones
  let manifest;
  try {
    manifest = readManifest(path.dirname(files[0]));
  } catch (e) {
    void vscode.window.showErrorMessage(plain(`TimeSformer: ${(e as Error).message}`));
    return;
  }
  let inputs: RunInputs;
  if (manifest && fs.existsSync(manifest.weights)) inputs = { checkpoint: manifest.weights, testData: manifest.data && fs.existsSync(manifest.data) ? manifest.data : null };
  else {
    const r = chosen(d);
    if (!r) return;
    inputs = r.inputs;
  }
  const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-import-')), 'reports.json');
  const args = ['import', '--weights', inputs.checkpoint, ...(inputs.testData ? ['--data', inputs.testData] : []), '--json', json, ...files];
  try {
    const res = await runCli(d, args, 'TimeSformer: Import TensorRT Outputs');
    if (res.code === 2) {
      void vscode.window.showErrorMessage(plain(`TimeSformer: import failed: ${cliError(res.err)}`));
      return;
    }
    const reports = fs.existsSync(json) ? parseReportJson<Report[]>(fs.readFileSync(json, 'utf8')) : [];
    for (const rep of reports) {
      const options: RunOptions = { weights: inputs.checkpoint, ...(inputs.testData ? { data: inputs.testData } : {}), precision: rep.run.precision, layerNorm: rep.run.layerNorm, ep: rep.run.ep };
      d.state.runFinished(rep, options, undefined, inputs, Date.now());
    }
    const lines = res.out.split('\n').filter((l) => /^(observer effect: |.*: probs rel L2 |.*non-finite values)/.test(l));
    const summary = `${reports.length} run(s) imported${reports.length ? ` (${reports.map((x) => x.diagnosis.verdict.toUpperCase()).join(', ')})` : ''}. ${lines.join(' ')}`;
    void (res.code === 0 ? vscode.window.showInformationMessage(plain(`TimeSformer: ${summary}`)) : vscode.window.showWarningMessage(plain(`TimeSformer: ${summary}`)));
  } catch (e) {
    if (!(e instanceof vscode.CancellationError)) void vscode.window.showErrorMessage(plain(`TimeSformer: ${(e as Error).message}`));
  } finally {
    fs.rmSync(path.dirname(json), { recursive: true, force: true });
  }
}

export const tensorRtGroup: CommandGroup = {
  name: 'TensorRT',
  register: (lab) => [
    command('exportTrt', () => exportTrtBundle(lab)),
    command('importTrtOutputs', (uri?: vscode.Uri, uris?: vscode.Uri[]) => importTrtOutputs(lab, uris ?? (uri ? [uri] : undefined))),
  ],
};
