/**
 * The extension host side: commands, sidebar, graph panel, status bar and log. The pipeline runs
 * in the engine process (extension/worker.ts) through WorkerClient, never here.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { reportToJson, reportToMarkdown } from '../core/markdown';
import { STAGES, type EpChoice, type LayerNormMode, type PipelineOptions, type Precision, type Report } from '../core/report';
import { GraphPanel } from './graphPanel';
import type { FileChoice, ProviderInfo, SidebarOption, SidebarState, SidebarToHost } from './protocol';
import { RunError, WorkerClient } from './runner';
import { RunStore, pickTestData, pipelineOptions, type RunChoices, type StoredRun } from './runs';
import { SidebarProvider } from './sidebar';

/** LayerNorm modes that avoid the FP16 overflow (everything but plain). */
const LAYERNORM_FIXES: readonly LayerNormMode[] = ['fp32', 'fused', 'prescaled', 'expose'];
const SECTION = 'timesformerLab';
const CHECKPOINT_GLOB = '**/*.{pyth,pth,pt,ckpt}';
const TEST_DATA_GLOB = '**/*.{p,pkl,pickle}';
const EXCLUDE_GLOB = '**/{node_modules,.git,out}/**';

export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(new Lab(context));
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions (the engine process is killed there).
}

class Lab implements vscode.Disposable {
  private readonly output = vscode.window.createOutputChannel('TimeSformer Lab');
  private readonly status = vscode.window.createStatusBarItem('timesformerLab.status', vscode.StatusBarAlignment.Left, 10);
  private readonly client: WorkerClient;
  private readonly store = new RunStore();
  private readonly sidebar: SidebarProvider;
  private readonly disposables: vscode.Disposable[] = [];
  private files: { checkpoints: FileChoice[]; testData: FileChoice[] } = { checkpoints: [], testData: [] };
  private providers: ProviderInfo[] | null = null;
  private probing: Promise<void> | undefined;
  /** The workspace scan in flight (a command may arrive before the first one ends). */
  private discovering: Promise<void>;
  private running = false;
  private stage: SidebarState['stage'];
  private sidebarQueue = Promise.resolve();

  constructor(private readonly context: vscode.ExtensionContext) {
    const log = (l: string) => this.output.appendLine(l);
    this.client = new WorkerClient({ script: context.asAbsolutePath(path.join('out', 'extension', 'worker.js')), log });
    this.sidebar = new SidebarProvider(context.extensionUri, (m) => this.onSidebar(m), log);
    const cmd = (id: string, f: () => unknown) => vscode.commands.registerCommand(`${SECTION}.${id}`, f);
    const watcher = vscode.workspace.createFileSystemWatcher('**/*.{pyth,pth,pt,ckpt,p,pkl,pickle}', false, true, false);
    this.disposables.push(
      this.output, this.status, watcher,
      { dispose: () => this.client.dispose() },
      vscode.window.registerWebviewViewProvider(SidebarProvider.viewId, this.sidebar),
      cmd('run', () => this.run()),
      vscode.commands.registerCommand(`${SECTION}.applyFix`, (mode?: LayerNormMode) => this.applyFix(mode && LAYERNORM_FIXES.includes(mode) ? mode : 'fp32')),
      cmd('cancel', () => this.client.cancel()),
      cmd('selectCheckpoint', () => this.selectFile('checkpoint')),
      cmd('selectTestData', () => this.selectFile('testData')),
      cmd('showGraph', () => this.showGraph(false)),
      cmd('compareRuns', () => this.showGraph(true)),
      cmd('exportReport', () => this.exportReport()),
      cmd('exportOnnx', () => this.exportOnnx()),
      vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration(SECTION) && this.pushState()),
      watcher.onDidCreate(() => this.rescan()),
      watcher.onDidDelete(() => this.rescan()),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.rescan()),
    );
    this.setStatus('$(beaker) TimeSformer', 'TimeSformer Precision Lab: Build & Run Engine', `${SECTION}.run`);
    this.status.show();
    void this.setContext();
    this.discovering = this.discover();
  }

  private rescan(): void {
    this.discovering = this.discovering.then(() => this.discover());
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }

  // -------------------------------------------------------------------------------------------
  // Settings and state

  private config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(SECTION);
  }

  /** A setting's path: absolute, or relative to the first workspace folder. */
  private resolvePath(p: string | undefined): string | undefined {
    if (!p) return undefined;
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    return path.isAbsolute(p) || !root ? p : path.join(root, p);
  }

  private choices(): RunChoices {
    const c = this.config();
    const checkpoint = this.resolvePath(c.get<string>('checkpoint')) ?? this.files.checkpoints[0]?.path;
    return {
      checkpoint,
      testData: this.resolvePath(c.get<string>('testData')) ?? pickTestData(checkpoint, this.files.testData)?.path,
      precision: c.get<Precision>('precision', 'fp16'),
      layerNorm: c.get<LayerNormMode>('layerNorm', 'plain'),
      exposeLayerNorm: c.get<boolean>('exposeLayerNorm', false),
      ep: c.get<EpChoice>('executionProvider', 'cpu'),
      heads: c.get<number | null>('heads', null) || null,
      tolerance: c.get<number>('tolerance', 1e-2),
      deviceId: c.get<number>('deviceId', 0),
      trtCacheDir: c.get<string>('tensorrtCacheDir', ''),
    };
  }

  private async write(o: SidebarOption): Promise<void> {
    const key = { checkpoint: 'checkpoint', testData: 'testData', precision: 'precision', layerNorm: 'layerNorm', exposeLayerNorm: 'exposeLayerNorm', ep: 'executionProvider', heads: 'heads' }[o.key];
    let value: unknown = o.value;
    if (o.key === 'checkpoint' || o.key === 'testData') value = vscode.workspace.asRelativePath(o.value, false);
    const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
    await this.config().update(key, value, target);
  }

  private state(): SidebarState {
    const c = this.choices();
    const withChosen = (list: FileChoice[], p: string | undefined) =>
      !p || list.some((f) => f.path === p) ? list : [...list, { path: p, label: vscode.workspace.asRelativePath(p, false) }];
    const last = this.store.latest?.report;
    return {
      checkpoints: withChosen(this.files.checkpoints, c.checkpoint),
      testData: withChosen(this.files.testData, c.testData),
      checkpoint: c.checkpoint,
      testDataPath: c.testData,
      precision: c.precision,
      layerNorm: c.layerNorm,
      exposeLayerNorm: c.exposeLayerNorm,
      ep: c.ep,
      heads: c.heads,
      providers: this.providers,
      running: this.running,
      stage: this.stage,
      last: last && {
        verdict: last.diagnosis.verdict,
        label: this.store.latest!.label,
        sentence: last.diagnosis.sentence,
        fixes: last.diagnosis.verdict === 'fail' && last.diagnosis.culprit ? last.diagnosis.fixes : [],
      },
    };
  }

  private pushState(): void {
    this.sidebar.post(this.state());
  }

  private async discover(): Promise<void> {
    const find = async (glob: string): Promise<FileChoice[]> =>
      (await vscode.workspace.findFiles(glob, EXCLUDE_GLOB, 500))
        .map((u) => ({ path: u.fsPath, label: vscode.workspace.asRelativePath(u, false) }))
        .sort((a, b) => a.label.localeCompare(b.label));
    const [checkpoints, testData] = await Promise.all([find(CHECKPOINT_GLOB), find(TEST_DATA_GLOB)]);
    this.files = { checkpoints, testData };
    this.pushState();
  }

  /** Which execution providers load here, asked of the engine process once per session. */
  private ensureProviders(): void {
    if (this.providers || this.probing) return;
    this.probing = this.client.probe()
      .then((p) => {
        this.providers = p;
        this.output.appendLine(`execution providers: ${p.map((x) => `${x.ep} ${x.available ? 'available' : `unavailable (${x.reason})`}`).join('; ')}`);
      })
      .catch((e: unknown) => this.output.appendLine(`could not probe the execution providers: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        this.probing = undefined;
        this.pushState();
      });
  }

  private async setContext(): Promise<void> {
    await vscode.commands.executeCommand('setContext', `${SECTION}.running`, this.running);
    await vscode.commands.executeCommand('setContext', `${SECTION}.runCount`, this.store.all.length);
    const d = this.store.latest?.report.diagnosis;
    await vscode.commands.executeCommand('setContext', `${SECTION}.canFix`, !!d && d.verdict === 'fail' && !!d.culprit);
  }

  private setStatus(text: string, tooltip: string, command?: string): void {
    this.status.text = text;
    this.status.tooltip = tooltip;
    this.status.command = command;
  }

  /**
   * Sidebar messages are handled in order, so that Run sees the settings written just before it;
   * Cancel jumps the queue, and a run does not hold it.
   */
  private onSidebar(m: SidebarToHost): void {
    if (m.type === 'cancel') {
      void this.client.cancel();
      return;
    }
    this.sidebarQueue = this.sidebarQueue.then(() => this.handleSidebar(m)).catch((e: unknown) => this.reportError(e));
  }

  private async handleSidebar(m: Exclude<SidebarToHost, { type: 'cancel' }>): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.pushState();
        this.ensureProviders();
        return;
      case 'set':
        await this.write(m.option);
        return;
      case 'browse':
        await this.selectFile(m.kind, true);
        return;
      case 'run':
        void this.run();
        return;
      case 'fix':
        await this.applyFix(m.mode);
        return;
    }
  }

  /** One click: switch the LayerNorm to a mode that avoids the overflow, and run again. */
  private async applyFix(mode: LayerNormMode = 'fp32'): Promise<void> {
    if (this.running) return;
    if (mode === 'expose') await this.write({ key: 'exposeLayerNorm', value: true });
    else {
      await this.write({ key: 'exposeLayerNorm', value: false });
      await this.write({ key: 'layerNorm', value: mode });
    }
    this.output.appendLine(`fix: LayerNorm ${mode}, running again`);
    await this.run();
  }

  // -------------------------------------------------------------------------------------------
  // Commands

  private async selectFile(kind: 'checkpoint' | 'testData', browse = false): Promise<void> {
    await this.discovering;
    const list = kind === 'checkpoint' ? this.files.checkpoints : this.files.testData;
    const what = kind === 'checkpoint' ? 'checkpoint' : 'test data';
    let chosen: string | undefined;
    if (!browse) {
      const BROWSE = '$(folder-opened) Browse…';
      const pick = await vscode.window.showQuickPick([...list.map((f) => ({ label: f.label, path: f.path })), { label: BROWSE, path: '' }], {
        title: `TimeSformer: select the ${what}`, placeHolder: list.length ? `${what} found in the workspace` : `no ${what} found in the workspace`,
      });
      if (!pick) return;
      chosen = pick.path || undefined;
      browse = !chosen;
    }
    if (browse) {
      const filters: Record<string, string[]> = kind === 'checkpoint'
        ? { 'PyTorch checkpoint': ['pyth', 'pth', 'pt', 'ckpt'], 'All files': ['*'] }
        : { 'Test data (pickle)': ['p', 'pkl', 'pickle'], 'All files': ['*'] };
      const uris = await vscode.window.showOpenDialog({ canSelectMany: false, filters, title: `Select the ${what}` });
      chosen = uris?.[0]?.fsPath;
    }
    if (chosen) await this.write({ key: kind, value: chosen });
  }

  private async run(): Promise<void> {
    await this.discovering;
    if (this.running) {
      void vscode.window.showInformationMessage('TimeSformer: a run is already in progress.');
      return;
    }
    const o = pipelineOptions(this.choices());
    if ('missing' in o) {
      const what = o.missing === 'checkpoint' ? 'checkpoint (*.pyth, *.pth, *.pt)' : 'test data (*.p, *.pkl)';
      const pick = await vscode.window.showErrorMessage(`TimeSformer: no ${what} found in the workspace.`, 'Select…');
      if (pick) await this.selectFile(o.missing, true);
      return;
    }
    this.setRunning(true);
    this.setStatus('$(sync~spin) TimeSformer: starting', 'Running (cancel from the notification)', `${SECTION}.cancel`);
    this.output.appendLine(`--- run: ${path.basename(o.weights)} + ${o.data ? path.basename(o.data) : 'no test data (reference: FP32 of this model)'}, ${o.precision}, LayerNorm ${o.layerNorm}, ${o.ep}`);
    try {
      const { requestId, report } = await this.withProgress('Build & Run Engine', o);
      const run = this.store.add(report, requestId, o);
      this.output.appendLine(`${run.label}: ${report.diagnosis.verdict.toUpperCase()} — ${report.diagnosis.sentence}`);
      this.showVerdict();
      GraphPanel.show(this.context.extensionUri, this.store, (l) => this.output.appendLine(l));
      this.offerFix(report);
    } catch (e) {
      this.reportError(e);
    } finally {
      this.setRunning(false);
    }
  }

  /** Runs the pipeline in the engine process behind a cancellable progress notification. */
  private withProgress(title: string, o: PipelineOptions): Thenable<{ requestId: number; report: Report }> {
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `TimeSformer: ${title}`, cancellable: true }, (progress, token) => {
      token.onCancellationRequested(() => {
        this.output.appendLine('cancel requested: killing the engine process');
        void this.client.cancel();
      });
      return this.client.run(o, {
        onProgress: (stage, detail) => {
          this.stage = stage;
          progress.report({ message: `${stage}…${detail && stage !== 'reading checkpoint' && stage !== 'reading test data' ? ` (${detail})` : ''}`, increment: 100 / STAGES.length });
          this.setStatus(`$(sync~spin) TimeSformer: ${stage}`, 'Running (cancel from the notification)', `${SECTION}.cancel`);
          this.pushState();
        },
        onLog: (l) => this.output.appendLine(l),
      });
    });
  }

  /** After a run that failed on a LayerNorm overflow: the fixes, one click each. */
  private offerFix(report: Report): void {
    const d = report.diagnosis;
    if (d.verdict !== 'fail' || !d.culprit || !d.fixes.length) return;
    const titles: Record<string, LayerNormMode> = { 'Fix: FP32 LayerNorm': 'fp32', 'Fix: fused': 'fused', 'Fix: prescaled': 'prescaled' };
    const where = d.culprit.block !== null ? `block ${d.culprit.block} ` : '';
    void vscode.window
      .showWarningMessage(`TimeSformer: ${where}LayerNorm overflows FP16 in channel ${d.culprit.channel} (${d.culprit.layerNorm}).`, ...Object.keys(titles))
      .then((pick) => (pick ? this.applyFix(titles[pick]) : undefined));
  }

  /** The status bar shows the last run's verdict. */
  private showVerdict(): void {
    const run = this.store.latest;
    if (!run) return;
    const d = run.report.diagnosis;
    this.setStatus(
      d.verdict === 'pass' ? '$(pass) TimeSformer: pass' : `$(error) TimeSformer: ${d.firstBadBlock !== null ? `block ${d.firstBadBlock} fails` : 'fail'}`,
      `${run.label}\n${d.sentence}`,
      `${SECTION}.showGraph`,
    );
  }

  private reportError(e: unknown): void {
    if (e instanceof RunError && e.code === 'CANCELLED') {
      this.output.appendLine('run cancelled');
      this.setStatus('$(circle-slash) TimeSformer: cancelled', 'The last run was cancelled', `${SECTION}.run`);
      return;
    }
    const msg = e instanceof Error ? e.message : String(e);
    const code = e instanceof RunError ? e.code : 'INTERNAL';
    this.output.appendLine(`error ${code}: ${msg}`);
    this.setStatus('$(warning) TimeSformer: error', msg, `${SECTION}.run`);
    void vscode.window.showErrorMessage(`TimeSformer: ${msg}`, 'Show Log').then((a) => a && this.output.show(true));
  }

  private setRunning(on: boolean): void {
    this.running = on;
    if (!on) this.stage = undefined;
    void this.setContext();
    this.pushState();
  }

  private showGraph(compare: boolean): void {
    if (!this.store.latest) {
      void vscode.window.showInformationMessage('TimeSformer: no run yet. Run "TimeSformer: Build & Run Engine" first.');
      return;
    }
    if (compare) this.store.show(this.store.all.slice(-6).map((r) => r.id));
    else if (!this.store.shown.length) this.store.show([this.store.latest.id]);
    GraphPanel.show(this.context.extensionUri, this.store, (l) => this.output.appendLine(l));
  }

  private async pickRun(): Promise<StoredRun | undefined> {
    const runs = [...this.store.all].reverse();
    if (runs.length <= 1) return runs[0];
    const pick = await vscode.window.showQuickPick(
      runs.map((r) => ({ label: r.label, description: r.report.diagnosis.verdict, detail: r.report.diagnosis.sentence, run: r })),
      { title: 'TimeSformer: which run?' },
    );
    return pick?.run;
  }

  private defaultUri(name: string): vscode.Uri | undefined {
    const root = vscode.workspace.workspaceFolders?.[0]?.uri;
    return root && vscode.Uri.joinPath(root, name);
  }

  private async exportReport(): Promise<void> {
    const run = await this.pickRun();
    if (!run) return;
    const uri = await vscode.window.showSaveDialog({ defaultUri: this.defaultUri(`timesformer-report-${run.id}.json`), filters: { JSON: ['json'] }, title: 'Export the report (JSON + Markdown)' });
    if (!uri) return;
    const json = uri.fsPath;
    const md = json.replace(/\.json$/i, '') + '.md';
    fs.writeFileSync(json, reportToJson(run.report));
    fs.writeFileSync(md, reportToMarkdown(run.report));
    this.output.appendLine(`exported ${run.label} to ${json} and ${md}`);
    void vscode.window.showInformationMessage(`TimeSformer: report written to ${path.basename(json)} and ${path.basename(md)}.`);
  }

  private async exportOnnx(): Promise<void> {
    const run = await this.pickRun();
    if (!run) return;
    const uri = await vscode.window.showSaveDialog({ defaultUri: this.defaultUri(`timesformer-${run.id}.onnx`), filters: { ONNX: ['onnx'] }, title: 'Export the ONNX graph as run' });
    if (!uri) return;
    try {
      // The engine process keeps the last run's model; an older run is built again, identically.
      if (!(await this.client.saveModel(run.requestId, uri.fsPath))) {
        if (this.running) throw new Error('a run is in progress; export again when it ends');
        this.setRunning(true);
        try {
          await this.withProgress('Export ONNX', { ...run.options, saveOnnx: uri.fsPath });
        } finally {
          this.setRunning(false);
          this.showVerdict();
        }
      }
      this.output.appendLine(`exported the ONNX graph of ${run.label} to ${uri.fsPath}`);
      void vscode.window.showInformationMessage(`TimeSformer: ONNX graph written to ${path.basename(uri.fsPath)}.`);
    } catch (e) {
      this.reportError(e);
    }
  }
}
