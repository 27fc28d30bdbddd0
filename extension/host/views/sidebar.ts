/**
 * The sidebar: a webview view (webview/sidebar.ts) that shows the store's SidebarState and sends
 * the user's intents back. Choices (an option, a listed file) go to the store as its intents;
 * actions go out as the lab's commands, by id (a view imports no command), or to the two actions
 * activation hands it (browse, copy the trtexec line): sidebar-messages.ts handles the messages.
 */
import * as vscode from 'vscode';
import { webviewHtml, webviewOptions } from '../html';
import { toWire, type HostToSidebar, type SidebarState } from '../protocol';
import { SidebarMessages, type SidebarActions, type SidebarStore } from './sidebar-messages';

export type { SidebarActions, SidebarStore };

export class SidebarProvider implements vscode.WebviewViewProvider {
  static readonly viewId = 'timesformerLab.sidebar';
  private view: vscode.WebviewView | undefined;
  private readonly messages: SidebarMessages;

  constructor(
    private readonly extensionUri: vscode.Uri,
    store: SidebarStore,
    actions: SidebarActions,
  ) {
    this.messages = new SidebarMessages(store, actions);
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    view.webview.options = webviewOptions(this.extensionUri);
    view.webview.html = webviewHtml(view.webview, this.extensionUri, { title: 'TimeSformer Lab', script: 'sidebar.js', style: 'sidebar.css' });
    view.webview.onDidReceiveMessage((raw: unknown) => this.messages.receive(raw));
    view.onDidDispose(() => (this.view = undefined));
  }

  post(state: SidebarState): void {
    const m: HostToSidebar = { type: 'state', state };
    void this.view?.webview.postMessage(toWire(m));
  }
}
