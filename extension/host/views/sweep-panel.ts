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
  /** The last sweep's view: its state outlives the panel (closed during a sweep, reopened with the result). */
  private static current: SweepPanel | undefined;
  /** The open webview panel; undefined once the user closed it (VS Code's webview getter throws after that). */
  private panel: vscode.WebviewPanel | undefined;
  private view: SweepView = { status: 'running', weights: '', out: '', total: 0, tolerance: 0, clips: [], confirms: [] };
  private disposables: vscode.Disposable[] = [];

  /** The sweep view, opened (or revealed) with what it last showed. */
  static show(extensionUri: vscode.Uri, log: (line: string) => void): SweepPanel {
    SweepPanel.current ??= new SweepPanel(extensionUri, log);
    SweepPanel.current.open();
    return SweepPanel.current;
  }

  private constructor(private readonly extensionUri: vscode.Uri, private readonly log: (line: string) => void) {}

  /** Whether the view is open (the user may close it during a sweep: the sweep goes on). */
  get isOpen(): boolean {
    return this.panel !== undefined;
  }

  /** Reveals the panel, or opens a new one that shows this sweep's state (the webview asks for it: 'ready'). */
  open(): void {
    if (this.panel) {
      this.panel.reveal(undefined, true);
      return;
    }
    const { extensionUri } = this;
    const panel = vscode.window.createWebviewPanel(SweepPanel.viewType, 'TimeSformer Sweep', { viewColumn: vscode.ViewColumn.Active, preserveFocus: true }, {
      ...webviewOptions(extensionUri),
      retainContextWhenHidden: true,
    });
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icon.svg');
    panel.webview.html = webviewHtml(panel.webview, extensionUri, { title: 'TimeSformer Sweep', script: 'sweep.js', style: 'sweep.css' });
    this.panel = panel;
    panel.onDidDispose(() => this.closed(), null, this.disposables);
    panel.webview.onDidReceiveMessage((raw: unknown) => {
      const m = parseSweepMessage(raw);
      if (!m) return this.log(`ignored a malformed sweep message: ${JSON.stringify(raw).slice(0, 200)}`);
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

  confirm(c: ConfirmedClip, total: number): void {
    this.view.confirmTotal = total;
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

  /** To the open view; nothing once it was closed (the state is kept for a reopened one). */
  private post(): void {
    void this.panel?.webview.postMessage(toWire({ type: 'sweep', view: this.view }));
  }

  private closed(): void {
    this.panel = undefined;
    const d = this.disposables;
    this.disposables = [];
    d.forEach((x) => x.dispose());
  }
}
