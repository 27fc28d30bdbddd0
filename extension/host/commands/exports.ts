/**
 * Commands that write a kept run out: Export Report (JSON + Markdown) and Export ONNX, "as run"
 * (the graph the engine ran) or "for TensorRT" (core/export.ts, built in the engine process).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { reportToJson, reportToMarkdown } from '../../core/markdown';
import type { LayerNormMode } from '../../core/report';
import { command, type CommandGroup, type Lab } from '../lab';
import { isCancel, notify } from '../notify';
import { reportFiles, writeReportFiles } from '../report-files';
import { exportFileName, type StoredRun } from '../state';
import { plain } from '../text';
import { runRows } from './compare-pick';

async function pickRun(lab: Lab): Promise<StoredRun | undefined> {
  const runs = lab.state.all;
  if (runs.length <= 1) return runs[0];
  const pick = await vscode.window.showQuickPick(runRows(runs), { title: 'TimeSformer: which run?' });
  return pick?.run;
}

function defaultUri(name: string): vscode.Uri | undefined {
  const root = vscode.workspace.workspaceFolders?.[0]?.uri;
  return root && vscode.Uri.joinPath(root, name);
}

/** What an ONNX export wrote: one file holding its weights (no external data beside it). */
function oneFile(bytes: number): string {
  return `one self-contained file, ${(bytes / 2 ** 20).toFixed(1)} MiB with its weights inline`;
}

async function exportReport(lab: Lab): Promise<void> {
  const run = await pickRun(lab);
  if (!run) return;
  const uri = await vscode.window.showSaveDialog({ defaultUri: defaultUri(`timesformer-report-${run.id}.json`), filters: { JSON: ['json'] }, title: 'Export the report (JSON + Markdown)' });
  if (!uri) return;
  // the dialog asked before replacing the JSON; the Markdown beside it is asked about here
  const f = reportFiles(uri.fsPath);
  if (f.mdExists) {
    const REPLACE = 'Replace';
    const pick = await vscode.window.showWarningMessage(plain(`TimeSformer: ${path.basename(f.md)} already exists beside ${path.basename(f.json)}. Replace it?`), { modal: true, detail: f.md }, REPLACE);
    if (pick !== REPLACE) return;
  }
  const w = writeReportFiles(f, reportToJson(run.report), reportToMarkdown(run.report));
  if ('failed' in w) {
    const msg = `could not write ${w.failed}: ${w.cause}${w.written.length ? ` (${w.written.map((p) => path.basename(p)).join(', ')} written)` : ''}`;
    lab.log(`export report: ${msg}`);
    void notify.error(`TimeSformer: ${msg}`);
    return;
  }
  lab.log(`exported ${run.label} to ${f.json} and ${f.md}`);
  void notify.info(`TimeSformer: report written to ${path.basename(f.json)} and ${path.basename(f.md)}.`);
}

/**
 * Export ONNX: "as run" (the graph the engine ran: emulation casts, statistics outputs) or "for
 * TensorRT" (core/export.ts: the FP32 graph with the run's LayerNorm realization — the minimal
 * fix after a plain FP16 overflow — node names as torch.onnx.export writes them, and the trtexec
 * line that keeps its FP32 LayerNorms in FP32).
 */
async function exportOnnx(lab: Lab): Promise<void> {
  const { state, engine } = lab;
  const run = await pickRun(lab);
  if (!run) return;
  const plainFp16Failed = run.report.run.layerNorm === 'plain' && run.offers.length > 0;
  // A minimal-fix run (plain, some LayerNorms in FP32) exports as one: its overflowing LayerNorms in FP32 for TensorRT.
  const minimalRun = run.report.run.layerNorm === 'plain' && Object.keys(run.report.run.layerNormOverrides ?? {}).length > 0;
  const trtLn: LayerNormMode | 'minimal' = plainFp16Failed || minimalRun ? 'minimal' : run.report.run.layerNorm;
  const how = await vscode.window.showQuickPick([
    { label: 'For TensorRT', id: 'trt' as const, description: trtLn === 'minimal' ? 'the LayerNorms that overflow in FP32' : `LayerNorm ${trtLn}`, detail: 'The FP32 graph TensorRT builds FP16 from, node names as torch.onnx.export writes them, with the trtexec line for its FP32 LayerNorms' },
    { label: 'As run', id: 'asRun' as const, description: run.report.run.label, detail: 'The graph exactly as the engine ran it (FP16 emulation casts, statistics outputs): to reproduce this run' },
  ], { title: `TimeSformer: export ${plain(run.short)}` });
  if (!how) return;
  const trt = how.id === 'trt';
  if (!(await lab.consent(`Export ONNX (${how.label})`, [run.inputs.checkpoint, run.inputs.testData]))) return;
  const uri = await vscode.window.showSaveDialog({
    defaultUri: defaultUri(exportFileName(run, trt ? 'trt' : 'asRun')), filters: { ONNX: ['onnx'] },
    title: trt ? 'Export the ONNX graph for TensorRT' : 'Export the ONNX graph as run',
  });
  if (!uri) return;
  const busy = state.whyBusy();
  if (busy) {
    void notify.info(`TimeSformer: ${busy}; export again when it ends.`);
    return;
  }
  try {
    if (trt) {
      state.runStarted(run.inputs);
      let x;
      try {
        x = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'TimeSformer: Export ONNX for TensorRT' },
          () => engine.client.exportForTensorRt(run.options, trtLn, uri.fsPath, { onLog: (l) => lab.log(l) }));
      } finally {
        state.runEnded();
      }
      lab.log(`exported the ONNX graph of ${run.label} for TensorRT to ${uri.fsPath} (${oneFile(x.bytes)}): ${x.nodes} nodes, LayerNorm ${x.layerNorm}${x.fixed.length ? `, in FP32: ${x.fixed.join(', ')}` : ''}`);
      if (x.trtexec) lab.log(`trtexec: ${x.trtexec}`);
      const COPY = 'Copy trtexec Line';
      const pick = await notify.info(`TimeSformer: ${path.basename(uri.fsPath)} written for TensorRT${x.fixed.length ? ` with ${x.fixed.length} LayerNorm(s) in FP32` : ''} — ${oneFile(x.bytes)}.`, ...(x.trtexec ? [COPY] : []));
      if (pick === COPY && x.trtexec) await vscode.env.clipboard.writeText(x.trtexec);
      return;
    }
    // The engine process keeps the last run's model; an older run is built again, identically.
    if (run.requestId === undefined || !(await engine.client.saveModel(run.requestId, uri.fsPath))) {
      state.runStarted(run.inputs);
      try {
        await engine.withProgress('Export ONNX', { ...run.options, saveOnnx: uri.fsPath });
      } finally {
        state.runEnded();
      }
    }
    const bytes = fs.statSync(uri.fsPath).size;
    lab.log(`exported the ONNX graph of ${run.label} to ${uri.fsPath} (${oneFile(bytes)})`);
    void notify.info(`TimeSformer: ONNX graph written to ${path.basename(uri.fsPath)} — ${oneFile(bytes)}.`);
  } catch (e) {
    if (!isCancel(e)) lab.reportError(e);
  }
}

export const exportsGroup: CommandGroup = {
  name: 'exports',
  register: (lab) => [
    command('exportReport', () => exportReport(lab)),
    command('exportOnnx', () => exportOnnx(lab)),
  ],
};
