/**
 * The sweep view: one webview panel (webview/sweep.ts) showing the sweep in progress and its result
 * — per-clip worst error with the tolerance line, headroom per LayerNorm with the 65504 line, the
 * covering fix — fed by commands/sweep.ts. A clip clicked opens as a single run
 * (timesformerLab.openSweepClip).
 */
import * as path from 'path';
import * as vscode from 'vscode';
import type { ClipResult, ConfirmedClip, SweepResult } from '../../core/sweep/types';
import { MARKDOWN_FILE } from '../../core/sweep/store';
import { webviewHtml, webviewOptions } from '../html';
import { toWire } from '../protocol';
import { parseSweepMessage, type SweepView } from '../sweepProtocol';

export class SweepPanel {
  static readonly viewType = 'timesformerLab.sweep';
  private static current: SweepPanel | undefined;
  private view: SweepView = { status: 'running', weights: '', out: '', total: 0, tolerance: 0, clips: [], confirms: [] };
  private readonly disposables: vscode.Disposable[] = [];

  static show(extensionUri: vscode.Uri, log: (line: string) => void): SweepPanel {
    if (SweepPanel.current) {
      SweepPanel.current.panel.reveal(undefined, true);
      return SweepPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(SweepPanel.viewType, 'TimeSformer Sweep', { viewColumn: vscode.ViewColumn.Active, preserveFocus: true }, {
      ...webviewOptions(extensionUri),
      retainContextWhenHidden: true,
    });
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icon.svg');
    panel.webview.html = webviewHtml(panel.webview, extensionUri, { title: 'TimeSformer Sweep', script: 'sweep.js', style: 'sweep.css' });
    SweepPanel.current = new SweepPanel(panel, log);
    return SweepPanel.current;
  }

  private constructor(private readonly panel: vscode.WebviewPanel, log: (line: string) => void) {
    panel.onDidDispose(() => this.dispose(), null, this.disposables);
    panel.webview.onDidReceiveMessage((raw: unknown) => {
      const m = parseSweepMessage(raw);
      if (!m) return log(`ignored a malformed sweep message: ${JSON.stringify(raw).slice(0, 200)}`);
      if (m.type === 'ready') this.post();
      else if (m.type === 'open') void vscode.commands.executeCommand('timesformerLab.openSweepClip', m.clip);
      else if (this.view.out) void vscode.window.showTextDocument(vscode.Uri.file(path.join(this.view.out, MARKDOWN_FILE)));
    }, null, this.disposables);
  }

  start(weights: string, out: string, tolerance: number): void {
    this.view = { status: 'running', weights, out, total: 0, tolerance, clips: [], confirms: [] };
    this.post();
  }

  clip(c: ClipResult, total: number): void {
    this.view.total = total;
    this.view.clips.push(c);
    this.post();
  }

  confirm(c: ConfirmedClip): void {
    this.view.confirms.push(c);
    this.post();
  }

  result(r: SweepResult): void {
    this.view = { ...this.view, status: 'done', result: r, clips: r.clips, total: r.summary.clips };
    this.post();
  }

  cancelled(): void {
    this.view.status = 'cancelled';
    this.view.message = `cancelled: ${this.view.clips.length} clip(s) done are kept in ${this.view.out}; sweeping again resumes`;
    this.post();
  }

  failed(message: string): void {
    this.view.status = 'failed';
    this.view.message = message;
    this.post();
  }

  private post(): void {
    void this.panel.webview.postMessage(toWire({ type: 'sweep', view: this.view }));
  }

  private dispose(): void {
    SweepPanel.current = undefined;
    this.disposables.forEach((d) => d.dispose());
  }
}
