/**
 * The views, wired to the store: the sidebar, the graph panel (with its inspector), the status bar
 * and the context keys the menus read are rendered from the store on each change (batched into one
 * render per tick); a run that lands from this session's engine (the store's onDidLand, a run with
 * a requestId) is said in the log, drawn in the graph and, when it failed on a LayerNorm overflow,
 * offered its fixes — all built from the run the store keeps. Imported runs (TensorRT outputs) are
 * told by their own command.
 */
import * as vscode from 'vscode';
import { SECTION } from '../settings';
import type { LabState } from '../state';
import { offerFix } from './fix-offers';
import { GraphPanel } from './graph-panel';
import { SidebarProvider, type SidebarActions } from './sidebar';
import { StatusBar } from './status-bar';

export interface ViewDeps {
  extensionUri: vscode.Uri;
  state: LabState;
  log(line: string): void;
  /** The sidebar's actions that are not commands (activation hands them over). */
  actions: Omit<SidebarActions, 'ready' | 'command' | 'log'> & { probe(): void };
}

export function registerViews(d: ViewDeps): vscode.Disposable[] {
  const { state, log } = d;
  const sidebar = new SidebarProvider(d.extensionUri, state, {
    ...d.actions,
    ready: () => {
      render();
      d.actions.probe();
    },
    findTrtexec: () => d.actions.findTrtexec(),
    command: (id, ...args) => vscode.commands.executeCommand(`${SECTION}.${id}`, ...args),
    log,
  });
  const status = new StatusBar(state);
  let scheduled = false;
  const render = () => {
    sidebar.post(state.sidebar());
    GraphPanel.refresh();
    status.render();
    const run = state.currentRunWithOffers();
    void vscode.commands.executeCommand('setContext', `${SECTION}.running`, state.running);
    void vscode.commands.executeCommand('setContext', `${SECTION}.sweeping`, state.sweeping);
    void vscode.commands.executeCommand('setContext', `${SECTION}.runCount`, state.all.length);
    void vscode.commands.executeCommand('setContext', `${SECTION}.canFix`, !!run && !state.whyBusy());
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setTimeout(() => {
      scheduled = false;
      render();
    }, 0);
  };
  const disposables = [
    status,
    vscode.window.registerWebviewViewProvider(SidebarProvider.viewId, sidebar),
    state.onDidChange(schedule),
    state.onDidLand((run) => {
      // this session's runs: the engine process's (a requestId) and trtexec's; imported outputs are told by their command
      if (run.requestId === undefined && run.options?.engine !== 'trtexec') return;
      const dg = run.report.diagnosis;
      log(`${run.label}: ${dg.verdict.toUpperCase()} — ${dg.sentence}${run.confirming ? ' (confirming the minimal fix by one run…)' : ''}`);
      // landed before its minimal fix's confirmation: the graph now, the fixes once it is confirmed
      GraphPanel.show(d.extensionUri, state, log, false);
      if (!run.confirming) offerFix(state, run);
    }),
  ];
  render();
  return disposables;
}
