/**
 * The graph panel and its inspector: one webview panel (webview/graph.ts) drawing the shown runs
 * side by side, one lane per run, from the host's store. It answers the inspector's requests for a
 * block's full result from the runs the store keeps, and sends the panel's intents back: `show` to
 * the store, `pick` as the Compare Runs command (by its id: a view imports no command).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { dropTargets } from '../drop';
import { webviewHtml, webviewOptions } from '../html';
import { parseGraphMessage, toWire, type GraphToHost, type HostToGraph } from '../protocol';
import type { LabState, StoreReader } from '../state';

/** What the panel reads of the store, and the one intent it sends (show). */
export type GraphStore = StoreReader & Pick<LabState, 'views' | 'show'>;

export class GraphPanel {
  static readonly viewType = 'timesformerLab.graph';
  private static current: GraphPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private lastSent = '';

  /**
   * Shows the panel (creating it if needed) with the store's shown runs. It opens in a group of its
   * own beside the editor (never in front of the file being edited) and never takes the keyboard:
   * `asked` (Show Graph, Compare Runs) reveals it wherever it is; after a run (`asked` false) an open
   * panel is only refreshed, and revealed only where that hides no editor (a group of its own).
   */
  static show(extensionUri: vscode.Uri, store: GraphStore, log: (line: string) => void, asked = true): void {
    const cur = GraphPanel.current;
    if (cur) {
      cur.refresh();
      if (asked || (!cur.panel.visible && !GraphPanel.sharesGroupWithEditor(cur.panel))) cur.panel.reveal(undefined, true);
      return;
    }
    // beside what the active group shows; into it when it shows nothing (no empty group left behind)
    const column = vscode.window.tabGroups.activeTabGroup.tabs.length ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active;
    const panel = vscode.window.createWebviewPanel(GraphPanel.viewType, 'TimeSformer Graph', { viewColumn: column, preserveFocus: true }, {
      ...webviewOptions(extensionUri),
      retainContextWhenHidden: true,
    });
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icon.svg');
    panel.webview.html = webviewHtml(panel.webview, extensionUri, { title: 'TimeSformer Graph', script: 'graph.js', style: 'graph.css' });
    GraphPanel.current = new GraphPanel(panel, store, log);
  }

  /** Whether a text editor is open in the panel's group (revealing the panel there would hide it). */
  private static sharesGroupWithEditor(panel: vscode.WebviewPanel): boolean {
    return vscode.window.visibleTextEditors.some((e) => e.viewColumn !== undefined && e.viewColumn === panel.viewColumn);
  }

  /** Re-sends the runs to an open panel (after a run); no-op when closed. */
  static refresh(): void {
    GraphPanel.current?.refresh();
  }

  private constructor(private readonly panel: vscode.WebviewPanel, private readonly store: GraphStore, private readonly log: (line: string) => void) {
    panel.onDidDispose(() => this.dispose(), null, this.disposables);
    panel.webview.onDidReceiveMessage((raw: unknown) => {
      const m = parseGraphMessage(raw);
      if (m) this.handle(m);
      else log(`ignored a malformed graph message: ${JSON.stringify(raw).slice(0, 200)}`);
    }, null, this.disposables);
  }

  private post(m: HostToGraph): void {
    void this.panel.webview.postMessage(toWire(m));
  }

  /** Sends the runs when they changed since the last message (the state changes often). */
  private refresh(): void {
    const runs = this.store.views();
    const shown = this.store.shown;
    // a run landed before its minimal fix's confirmation is sent again once confirmed (same id, whole Report)
    const sig = `${runs.map((r) => `${r.id}${r.confirming ? ':confirming' : ''}`).join()}|${shown.join()}`;
    if (sig === this.lastSent) return;
    this.lastSent = sig;
    this.post({ type: 'runs', runs, shown });
  }

  private handle(m: GraphToHost): void {
    switch (m.type) {
      case 'ready':
        this.lastSent = '';
        this.refresh();
        return;
      case 'show':
        this.store.show(m.runIds);
        return;
      case 'pick':
        void vscode.commands.executeCommand('timesformerLab.compareRuns');
        return;
      case 'inspect': {
        const block = this.store.get(m.runId)?.report.blocks[m.block];
        if (block) this.post({ type: 'blockDetail', requestId: m.requestId, runId: m.runId, block });
        else this.post({ type: 'blockDetailError', requestId: m.requestId, message: `run ${m.runId} has no block ${m.block} (it may have been removed)` });
        return;
      }
      case 'drop':
        void this.importDropped(m);
        return;
    }
  }

  /** Dropped output files -> Import TensorRT Outputs (commands/tensorrt.ts) on them. */
  private async importDropped(m: Extract<GraphToHost, { type: 'drop' }>): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-drop-'));
    try {
      const { files, refused } = dropTargets(m, dir);
      this.log(`graph: dropped ${m.uris.length + m.files.length} file(s): importing ${files.map((f) => path.basename(f)).join(', ') || 'none'}${refused.length ? `; not imported: ${refused.join('; ')}` : ''}`);
      if (refused.length) void vscode.window.showWarningMessage(`TimeSformer: not imported: ${refused.join('; ')}`);
      if (files.length) await vscode.commands.executeCommand('timesformerLab.importTrtOutputs', undefined, files.map((f) => vscode.Uri.file(f)));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  private dispose(): void {
    GraphPanel.current = undefined;
    this.disposables.forEach((d) => d.dispose());
  }
}
