/** The sidebar: a webview view (webview/sidebar.ts) that shows SidebarState and reports choices. */
import * as vscode from 'vscode';
import { webviewHtml, webviewOptions } from './html';
import { parseSidebarMessage, toWire, type HostToSidebar, type SidebarState, type SidebarToHost } from './protocol';

export class SidebarProvider implements vscode.WebviewViewProvider {
  static readonly viewId = 'timesformerLab.sidebar';
  private view: vscode.WebviewView | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly onMessage: (m: SidebarToHost) => void,
    private readonly log: (line: string) => void,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    view.webview.options = webviewOptions(this.extensionUri);
    view.webview.html = webviewHtml(view.webview, this.extensionUri, { title: 'TimeSformer Lab', script: 'sidebar.js', style: 'sidebar.css' });
    view.webview.onDidReceiveMessage((raw: unknown) => {
      const m = parseSidebarMessage(raw);
      if (m) this.onMessage(m);
      else this.log(`ignored a malformed sidebar message: ${JSON.stringify(raw).slice(0, 200)}`);
    });
    view.onDidDispose(() => (this.view = undefined));
  }

  post(state: SidebarState): void {
    const m: HostToSidebar = { type: 'state', state };
    void this.view?.webview.postMessage(toWire(m));
  }
}
