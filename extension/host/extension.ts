/**
 * The extension host side: commands, sidebar, graph panel, status bar and log, all rendered from
 * one LabState (state.ts) and changing it only through its methods. The pipeline runs in the
 * engine process (extension/worker.ts) through WorkerClient, never here; file headers are read
 * there too (a second engine process, so that pairing never waits for a run).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { isHfCheckpointFolder } from '../core/inspect';
import { reportToJson, reportToMarkdown } from '../core/markdown';
import { STAGES, type Stage, type Accumulate, type EpChoice, type LayerNormMode, type Precision, type Report } from '../core/report';
import type { InspectRequest, RunOptions } from '../protocol';
import { GraphPanel } from './graphPanel';
import type { Inspection } from './pairing';
import { confirmationText, LAYERNORM_CHOICES, type FixMode, type LayerNormChoice, type OptionKey, type SidebarToHost } from './protocol';
import { RunError, WorkerClient } from './runner';
import {
  exportFileName, fixTitle, LabState, OPTION_KEYS, SETTING_OF, trtexecLine, type FileEntry, type RunInputs, type SettingsDefaults, type StoredRun,
} from './state';
import { comparePair, runRows } from './commands/compare-pick';
import { makeTestData } from './commands/make-test-data-command';
import { consent } from './commands/trust';
import { SidebarProvider } from './sidebar';
import { exportTrtBundle, importTrtOutputs } from './commands/tensorrt';
import { cancelTrtexec, detectTrtexec, runWithTrtexec, type TrtexecDeps } from './commands/trtexec';
import { plain } from './text';

const SECTION = 'timesformerLab';
const CHECKPOINT_GLOB = '**/*.{pyth,pth,pt,ckpt,safetensors}';
const TEST_DATA_GLOB = '**/*.{p,pkl,pickle}';
const HF_CONFIG_GLOB = '**/config.json';
const EXCLUDE_GLOB = '**/{node_modules,.git,out,dist}/**';
/** Reading one batch of headers may take this long before the reading process is ended. */
const INSPECT_TIMEOUT_MS = 30_000;
/** The notification's second button after a failing run: the run's other fixes, in a pick. */
const OTHER_FIXES = 'Other fixes…';

export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(new Lab(context));
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions (the engine processes are killed there).
}

/** Messages with text from files: plain text, never links or icons (text.ts). */
const notify = {
  error: (msg: string, ...actions: string[]) => vscode.window.showErrorMessage(plain(msg), ...actions),
  warn: (msg: string, ...actions: string[]) => vscode.window.showWarningMessage(plain(msg), ...actions),
  info: (msg: string, ...actions: string[]) => vscode.window.showInformationMessage(plain(msg), ...actions),
};

class Lab implements vscode.Disposable {
  private readonly output = vscode.window.createOutputChannel('TimeSformer Lab');
  private readonly status = vscode.window.createStatusBarItem('timesformerLab.status', vscode.StatusBarAlignment.Left, 10);
  private readonly client: WorkerClient;
  /** A second engine process for reading file headers, so that pairing never queues behind a run. */
  private readonly reader: WorkerClient;
  private readonly state: LabState;
  private readonly sidebar: SidebarProvider;
  private readonly disposables: vscode.Disposable[] = [];
  private probing: Promise<void> | undefined;
  /** The workspace scan in flight (a command may arrive before the first one ends). */
  private discovering: Promise<void>;
  private inspecting: Promise<void> = Promise.resolve();
  private sidebarQueue = Promise.resolve();
  private renderScheduled = false;

  constructor(private readonly context: vscode.ExtensionContext) {
    const log = (l: string) => this.output.appendLine(l);
    const script = context.asAbsolutePath(path.join('dist', 'worker.js'));
    this.client = new WorkerClient({ script, log });
    this.reader = new WorkerClient({ script, log: (l) => log(`[reader] ${l}`) });
    this.state = new LabState(context.workspaceState, () => this.defaults());
    this.state.setTrusted(vscode.workspace.isTrusted);
    this.sidebar = new SidebarProvider(context.extensionUri, (m) => this.onSidebar(m), log);
    const cmd = (id: string, f: (...args: never[]) => unknown) => vscode.commands.registerCommand(`${SECTION}.${id}`, f);
    const watcher = vscode.workspace.createFileSystemWatcher('**/*.{pyth,pth,pt,ckpt,p,pkl,pickle,json,safetensors,bin}');
    this.disposables.push(
      this.output, this.status, watcher,
      { dispose: () => this.client.dispose() },
      { dispose: () => this.reader.dispose() },
      vscode.window.registerWebviewViewProvider(SidebarProvider.viewId, this.sidebar),
      cmd('run', () => this.run()),
      cmd('applyFix', (runId?: string, mode?: FixMode) => this.applyFix(runId, mode)),
      cmd('cancel', () => this.cancel()),
      cmd('selectCheckpoint', (uri?: vscode.Uri) => this.selectFile('checkpoint', uri)),
      cmd('selectTestData', () => this.selectFile('testData')),
      cmd('checkFile', (uri?: vscode.Uri) => this.checkFile(uri)),
      cmd('showGraph', () => this.showGraph()),
      cmd('compareRuns', () => this.compareRuns()),
      cmd('clearRuns', () => this.clearRuns()),
      cmd('removeRuns', () => this.removeRuns()),
      cmd('saveSettings', () => this.saveSettings()),
      cmd('makeTestData', () => this.makeTestData()),
      cmd('exportReport', () => this.exportReport()),
      cmd('exportOnnx', () => this.exportOnnx()),
      cmd('exportTrt', () => exportTrtBundle({ context, state: this.state, log })),
      cmd('importTrtOutputs', (uri?: vscode.Uri, uris?: vscode.Uri[]) => importTrtOutputs({ context, state: this.state, log }, uris ?? (uri ? [uri] : undefined))),
      vscode.workspace.onDidChangeConfiguration((e) => this.onSettings(e)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        // Trusted now: read the headers that Restricted Mode skipped.
        this.state.setTrusted(true);
        const files = [...this.state.checkpointList(), ...this.state.testDataList()].map((f) => f.path);
        this.state.forget(files.filter((p) => this.state.inspection(p)?.state === 'skipped'));
        this.inspect();
      }),
      watcher.onDidCreate(() => this.rescan()),
      watcher.onDidDelete(() => this.rescan()),
      watcher.onDidChange((u) => {
        this.state.forget([u.fsPath, path.dirname(u.fsPath)]);
        this.inspect();
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.rescan()),
      this.state.onDidChange(() => this.scheduleRender()),
    );
    this.status.show();
    this.render();
    this.discovering = this.discover();
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }

  // -------------------------------------------------------------------------------------------
  // Settings: defaults for the sidebar, never written behind the user's back

  private config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(SECTION);
  }

  /** A setting's path: absolute, or relative to the first workspace folder. */
  private resolvePath(p: string | undefined): string | undefined {
    if (!p) return undefined;
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    return path.isAbsolute(p) || !root ? p : path.join(root, p);
  }

  private defaults(): SettingsDefaults {
    const c = this.config();
    return {
      checkpoint: this.resolvePath(c.get<string>('checkpoint')),
      testData: this.resolvePath(c.get<string>('testData')),
      precision: c.get<Precision>('precision', 'fp16'),
      accumulate: c.get<Accumulate>('accumulate', 'fp32'),
      layerNorm: c.get<LayerNormChoice>('layerNorm', 'plain'),
      exposeLayerNorm: c.get<boolean>('exposeLayerNorm', false),
      ep: c.get<EpChoice>('executionProvider', 'cpu'),
      heads: c.get<number | null>('heads', null) || null,
      tolerance: c.get<number | null>('tolerance', null) ?? null,
      deviceId: c.get<number>('deviceId', 0),
      trtCacheDir: c.get<string>('tensorrtCacheDir', ''),
    };
  }

  /** A setting the user edited wins over the sidebar's value for it. */
  private onSettings(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration(SECTION)) return;
    if (e.affectsConfiguration(`${SECTION}.trtexecPath`)) void detectTrtexec(this.trtexecDeps());
    const keys: (OptionKey | 'checkpoint' | 'testData')[] = [];
    for (const k of OPTION_KEYS) if (e.affectsConfiguration(`${SECTION}.${SETTING_OF[k]}`)) keys.push(k);
    if (e.affectsConfiguration(`${SECTION}.checkpoint`)) keys.push('checkpoint');
    if (e.affectsConfiguration(`${SECTION}.testData`)) keys.push('testData');
    this.state.settingsChanged(keys);
  }

  /** "Save as Workspace Settings": the one place the extension writes settings, when asked. */
  private async saveSettings(): Promise<void> {
    const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
    const s = this.state.settings;
    const c = this.config();
    for (const k of OPTION_KEYS) await c.update(SETTING_OF[k], s[k], target);
    const ck = this.state.checkpoint;
    const td = this.state.testData;
    if (ck) await c.update('checkpoint', vscode.workspace.asRelativePath(ck, false), target);
    await c.update('testData', td ? vscode.workspace.asRelativePath(td, false) : undefined, target);
    this.state.saved();
    this.output.appendLine('saved the sidebar\'s choices as workspace settings');
    void notify.info('TimeSformer: the sidebar\'s choices are saved in the workspace settings.');
  }

  // -------------------------------------------------------------------------------------------
  // Files

  private rescan(): void {
    this.discovering = this.discovering.then(() => this.discover());
  }

  private async discover(): Promise<void> {
    const entry = (u: vscode.Uri): FileEntry => ({ path: u.fsPath, label: vscode.workspace.asRelativePath(u, false) });
    const find = async (glob: string) => (await vscode.workspace.findFiles(glob, EXCLUDE_GLOB, 500)).map(entry);
    const [files, testData, configs] = await Promise.all([find(CHECKPOINT_GLOB), find(TEST_DATA_GLOB), find(HF_CONFIG_GLOB)]);
    // HF folders: a config.json of a timesformer model beside its weights (a small JSON read, size-capped).
    const hf: FileEntry[] = [];
    for (const c of configs) {
      const dir = path.dirname(c.path);
      if (await isHfCheckpointFolder(dir)) hf.push({ path: dir, label: `${path.dirname(c.label) === '.' ? path.basename(dir) : path.dirname(c.label)}/`, hf: true });
    }
    const byLabel = (a: FileEntry, b: FileEntry) => a.label.localeCompare(b.label);
    // A weight file inside an HF folder is the folder's, not a checkpoint of its own.
    const loose = files.filter((f) => !hf.some((h) => path.dirname(f.path) === h.path));
    this.state.setScan([...loose, ...hf].sort(byLabel), testData.sort(byLabel));
    void vscode.commands.executeCommand('setContext', `${SECTION}.hfFolders`, hf.map((f) => f.path));
    this.inspect();
  }

  /** Reads the headers of files not read yet, in the reader process (skipped in Restricted Mode). */
  private inspect(): void {
    this.inspecting = this.inspecting.then(async () => {
      const todo: InspectRequest[] = this.state.uninspected();
      if (!todo.length) return;
      const results = new Map<string, Inspection>();
      if (!this.state.trusted) {
        for (const f of todo) results.set(f.path, { state: 'skipped', reason: 'not read in Restricted Mode' });
        this.state.setInspections(results);
        return;
      }
      for (const f of todo) results.set(f.path, { state: 'pending' });
      this.state.setInspections(results);
      for (let i = 0; i < todo.length; i += 16) {
        const batch = todo.slice(i, i + 16);
        const done = new Map<string, Inspection>();
        try {
          const timer = setTimeout(() => void this.reader.cancel(), INSPECT_TIMEOUT_MS);
          const answers = await this.reader.inspect(batch).finally(() => clearTimeout(timer));
          for (const a of answers) done.set(a.path, a.ok ? { state: 'ok', signature: a.signature } : { state: 'error', code: a.error.code, message: a.error.message });
        } catch (e) {
          const why = e instanceof RunError && e.code === 'CANCELLED' ? `reading the headers took more than ${INSPECT_TIMEOUT_MS / 1000} s` : e instanceof Error ? e.message : String(e);
          for (const f of batch) done.set(f.path, { state: 'error', code: 'UNREADABLE', message: why });
        }
        this.state.setInspections(done);
      }
    }).catch((e: unknown) => this.output.appendLine(`reading headers: ${e instanceof Error ? e.message : String(e)}`));
  }

  /** Which execution providers load here, asked of the engine process once per session. */
  private ensureProviders(): void {
    if (this.state.providers || this.probing) return;
    this.probing = this.client.probe()
      .then((p) => {
        this.state.setProviders(p);
        this.output.appendLine(`execution providers: ${p.map((x) => `${x.ep} ${x.available ? 'available' : `unavailable (${x.reason})`}`).join('; ')}`);
      })
      .catch((e: unknown) => this.output.appendLine(`could not probe the execution providers: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => (this.probing = undefined));
  }

  // -------------------------------------------------------------------------------------------
  // Rendering: every view from the state

  private scheduleRender(): void {
    if (this.renderScheduled) return;
    this.renderScheduled = true;
    setTimeout(() => {
      this.renderScheduled = false;
      this.render();
    }, 0);
  }

  private render(): void {
    this.sidebar.post(this.state.sidebar());
    GraphPanel.refresh();
    this.renderStatus();
    const run = this.state.currentRunWithOffers();
    void vscode.commands.executeCommand('setContext', `${SECTION}.running`, this.state.running);
    void vscode.commands.executeCommand('setContext', `${SECTION}.runCount`, this.state.all.length);
    void vscode.commands.executeCommand('setContext', `${SECTION}.canFix`, !!run && !this.state.running);
  }

  private renderStatus(): void {
    const s = this.state;
    const set = (text: string, tooltip: string, command: string) => {
      this.status.text = text;
      this.status.tooltip = tooltip;
      this.status.command = command;
    };
    if (s.running) return set(`$(sync~spin) TimeSformer: ${s.stage ?? 'starting'}`, 'Running (cancel from the notification or the sidebar)', `${SECTION}.cancel`);
    const o = s.currentOutcome();
    if (o?.kind === 'run') {
      const run = s.get(o.runId)!;
      const d = run.report.diagnosis;
      // A later cancel or error of the same inputs and options is said beside the verdict, which stays.
      const after = s.currentAttempt(run);
      const note = after ? ` · re-run ${after.kind === 'cancelled' ? 'cancelled' : 'failed'}` : '';
      return set(
        `${d.verdict === 'pass' ? '$(pass) TimeSformer: pass' : `$(error) TimeSformer: ${d.firstBadBlock !== null ? `block ${d.firstBadBlock} fails` : 'fail'}`}${note}`,
        `${run.label}\n${d.sentence}`, `${SECTION}.showGraph`,
      );
    }
    if (o?.kind === 'error') return set('$(warning) TimeSformer: error', o.message, `${SECTION}.run`);
    if (o?.kind === 'cancelled') return set('$(circle-slash) TimeSformer: cancelled', 'The last run was cancelled', `${SECTION}.run`);
    return set('$(beaker) TimeSformer', 'TimeSformer Precision Lab: Build & Run Engine', `${SECTION}.run`);
  }

  // -------------------------------------------------------------------------------------------
  // Sidebar intents

  /**
   * Sidebar messages are handled in order, so that Run sees the choices made just before it;
   * Cancel jumps the queue, and a run does not hold it.
   */
  private onSidebar(m: SidebarToHost): void {
    if (m.type === 'cancel') {
      this.cancel();
      return;
    }
    this.sidebarQueue = this.sidebarQueue.then(() => this.handleSidebar(m)).catch((e: unknown) => this.reportError(e));
  }

  private async handleSidebar(m: Exclude<SidebarToHost, { type: 'cancel' }>): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.render();
        this.ensureProviders();
        if (this.state.trtexec === null) void detectTrtexec(this.trtexecDeps());
        return;
      case 'exportTrt':
        await vscode.commands.executeCommand(`${SECTION}.exportTrt`);
        return;
      case 'set':
        this.state.setOption(m.option.key, m.option.value);
        // choosing TensorRT (trtexec) looks for it again (it may have been installed since)
        if (m.option.key === 'ep' && m.option.value === 'trtexec') void detectTrtexec(this.trtexecDeps());
        return;
      case 'choose':
        // Only files the sidebar was given: a webview cannot name an arbitrary path.
        if (m.kind === 'checkpoint' && this.state.isListed('checkpoint', m.path)) this.state.chooseCheckpoint(m.path);
        else if (m.kind === 'testData' && (m.path === null || this.state.isListed('testData', m.path))) this.state.chooseTestData(m.path);
        return;
      case 'browse':
        await this.browse(m.kind);
        return;
      case 'run':
        void this.run();
        return;
      case 'fix':
        await this.applyFix(m.runId, m.mode);
        return;
      case 'copyTrtexec':
        await this.copyTrtexec(m.runId);
        return;
      case 'saveSettings':
        await this.saveSettings();
        return;
      case 'compare':
        await this.compareRuns();
        return;
      case 'showGraph':
        this.showGraph();
        return;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Choosing files

  private async browse(kind: 'checkpoint' | 'testData'): Promise<void> {
    const filters: Record<string, string[]> = kind === 'checkpoint'
      ? { 'PyTorch checkpoint': ['pyth', 'pth', 'pt', 'ckpt'], 'All files': ['*'] }
      : { 'Test data (pickle)': ['p', 'pkl', 'pickle'], 'All files': ['*'] };
    const uris = await vscode.window.showOpenDialog({
      canSelectMany: false, canSelectFiles: true, canSelectFolders: kind === 'checkpoint', filters,
      title: kind === 'checkpoint' ? 'Select the checkpoint (a file, or an HF folder)' : 'Select the test data',
    });
    const p = uris?.[0]?.fsPath;
    if (!p) return;
    const label = vscode.workspace.asRelativePath(p, false);
    if (kind === 'checkpoint') this.state.chooseCheckpoint(p, label);
    else this.state.chooseTestData(p, label);
    this.inspect();
  }

  private async selectFile(kind: 'checkpoint' | 'testData', uri?: vscode.Uri): Promise<void> {
    await this.discovering;
    if (uri) {
      this.state.chooseCheckpoint(uri.fsPath, vscode.workspace.asRelativePath(uri, false));
      this.inspect();
      return;
    }
    const BROWSE = '$(folder-opened) Browse…';
    const NONE = '$(circle-slash) none: compare with FP32 of this model';
    type Item = vscode.QuickPickItem & { path?: string | null };
    const items: Item[] = [];
    if (kind === 'checkpoint') {
      for (const f of this.state.checkpointList()) items.push({ label: plain(f.label), description: f.path === this.state.checkpoint ? 'chosen' : undefined, path: f.path });
    } else {
      items.push({ label: NONE, path: null, description: this.state.testData === null ? 'chosen' : undefined });
      for (const f of this.state.sidebar().testData) {
        items.push({
          label: plain(f.label), path: f.path,
          description: [f.path === this.state.testData ? 'chosen' : '', f.fit === 'agree' ? 'matches the checkpoint' : f.fit === 'disagree' ? `does not match: ${plain(f.note ?? '')}` : ''].filter(Boolean).join(' · ') || undefined,
        });
      }
    }
    items.push({ label: BROWSE });
    const what = kind === 'checkpoint' ? 'checkpoint' : 'test data';
    const pick = await vscode.window.showQuickPick(items, { title: `TimeSformer: select the ${what}`, placeHolder: `${what} found in the workspace` });
    if (!pick) return;
    if (pick.label === BROWSE) return this.browse(kind);
    if (kind === 'checkpoint' && pick.path) this.state.chooseCheckpoint(pick.path);
    else if (kind === 'testData' && pick.path !== undefined) this.state.chooseTestData(pick.path);
  }

  /** Explorer: "Check FP16 with TimeSformer Lab" on a checkpoint or an HF folder. */
  private async checkFile(uri?: vscode.Uri): Promise<void> {
    if (!uri) return this.selectFile('checkpoint');
    await this.discovering;
    // asked before the sidebar's checkpoint changes: "cancel" leaves everything as it was
    if (!(await this.consent('Check FP16 with TimeSformer Lab', [uri.fsPath]))) return;
    this.state.chooseCheckpoint(uri.fsPath, vscode.workspace.asRelativePath(uri, false));
    if (this.state.settings.precision !== 'fp16') this.state.setOption('precision', 'fp16');
    this.inspect();
    await this.inspecting;
    await vscode.commands.executeCommand('workbench.view.extension.timesformerLab');
    await this.run(true);
  }

  // -------------------------------------------------------------------------------------------
  // Running

  /** Restricted Mode: every command that reads the workspace's files or starts a program on them asks here first (commands/trust.ts). */
  private consent(action: string, reads: readonly (string | null | undefined)[], runs = 'ONNX Runtime in a separate process'): Promise<boolean> {
    return consent({
      isTrusted: () => vscode.workspace.isTrusted,
      ask: (msg, ...actions) => notify.warn(msg, ...actions),
      manage: () => void vscode.commands.executeCommand('workbench.trust.manage'),
      log: (l) => this.output.appendLine(l),
    }, { action, reads: reads.filter((x): x is string => !!x), runs });
  }

  /** `consented`: the caller asked already (Check FP16, a fix), before it changed the sidebar. */
  private async run(consented = false): Promise<void> {
    await this.discovering;
    await this.inspecting;
    if (this.state.running) {
      void notify.info('TimeSformer: a run is already in progress.');
      return;
    }
    const req = this.state.request();
    if ('missing' in req) {
      const pick = await notify.error('TimeSformer: no checkpoint (*.pyth, *.pth, *.pt, or an HF folder) found in the workspace.', 'Select…');
      if (pick) await this.browse('checkpoint');
      return;
    }
    if ('refused' in req) {
      this.output.appendLine(`not run: ${req.refused}`);
      void notify.error(`TimeSformer: ${req.refused}`);
      return;
    }
    if (!consented && !(await this.consent('Build & Run Engine', [req.inputs.checkpoint, req.inputs.testData]))) return;
    await this.execute(req.options, req.inputs);
  }

  private async execute(o: RunOptions, inputs: RunInputs): Promise<void> {
    this.state.runStarted(inputs, o);
    const t0 = Date.now();
    this.output.appendLine(`--- run: ${path.basename(inputs.checkpoint)} + ${inputs.testData ? path.basename(inputs.testData) : 'no test data (own FP32)'}, ${o.precision}, LayerNorm ${o.layerNorm}, ${o.ep}`);
    try {
      const { requestId, report } = o.engine === 'trtexec' ? await this.withTrtexecProgress(o) : await this.withProgress('Build & Run Engine', o);
      const run = this.state.runFinished(report, o, requestId, inputs, t0);
      this.output.appendLine(`${run.label}: ${report.diagnosis.verdict.toUpperCase()} — ${report.diagnosis.sentence}`);
      GraphPanel.show(this.context.extensionUri, this.state, (l) => this.output.appendLine(l), false);
      this.offerFix(run);
    } catch (e) {
      if (e instanceof RunError && e.code === 'CANCELLED') {
        this.output.appendLine('run cancelled');
        this.state.runCancelled(inputs);
      } else {
        const { code, msg } = errorText(e);
        this.state.runFailed(inputs, code, msg);
        this.reportError(e);
      }
    }
  }

  /** Cancel: the engine process's run, or trtexec's. */
  private cancel(): void {
    if (!cancelTrtexec((l) => this.output.appendLine(l))) void this.client.cancel();
  }

  private trtexecDeps(): TrtexecDeps {
    const c = this.config();
    return {
      context: this.context, state: this.state, log: (l) => this.output.appendLine(l),
      settings: () => ({ trtexecPath: c.get<string>('trtexecPath', ''), cacheDir: this.resolvePath(c.get<string>('tensorrtCacheDir', '')) ?? '' }),
    };
  }

  /** A run with TensorRT (trtexec): the CLI's trt-run behind the same cancellable notification (commands/trtexec.ts). */
  private withTrtexecProgress(o: RunOptions): Thenable<{ requestId: undefined; report: Report }> {
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'TimeSformer: Build & Run Engine (trtexec)', cancellable: true }, (progress, token) => {
      token.onCancellationRequested(() => cancelTrtexec((l) => this.output.appendLine(l)));
      return runWithTrtexec(this.trtexecDeps(), o, (stage, detail) => {
        this.state.runProgress(stage);
        progress.report({ message: `${stage}…${detail ? ` (${plain(detail)})` : ''}` });
      });
    });
  }

  /** Runs the pipeline in the engine process behind a cancellable progress notification. */
  private withProgress(title: string, o: RunOptions): Thenable<{ requestId: number; report: Report }> {
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `TimeSformer: ${title}`, cancellable: true }, (progress, token) => {
      token.onCancellationRequested(() => {
        this.output.appendLine('cancel requested: killing the engine process');
        void this.client.cancel();
      });
      let last: Stage | undefined;
      return this.client.run(o, {
        onProgress: (stage, detail) => {
          this.state.runProgress(stage);
          // a file's path is in the log; progress within a stage ("segment 2/4") is shown with it
          const shown = detail && !/^reading /.test(stage) ? ` (${plain(detail)})` : '';
          progress.report({ message: `${stage}…${shown}`, increment: stage === last ? 0 : 100 / STAGES.length });
          last = stage;
        },
        onLog: (l) => this.output.appendLine(l),
      });
    });
  }

  /**
   * After a run that failed on a LayerNorm overflow: its first fix in one click (the minimal fix
   * when offered), and "Other fixes…" for the rest, both bound to that run. Two buttons, because a
   * notification shortens its buttons' labels to fit one row (four fixes read "Fix: only the 25
   * overflow…", "Fix…"); the sidebar and the palette list every fix in full.
   */
  private offerFix(run: StoredRun): void {
    const d = run.report.diagnosis;
    if (!run.offers.length || !d.culprit) return;
    const first = run.offers[0];
    const actions = [fixTitle(run, first), ...(run.offers.length > 1 ? [OTHER_FIXES] : [])];
    const where = d.culprit.block !== null ? `block ${d.culprit.block} ` : '';
    const minimal = first === 'minimal' && d.minimalFix ? ` Minimal fix: ${d.minimalFix.layerNorms.length} LayerNorm(s) in FP32, ${confirmationText(d.minimalFix.confirmed)}.` : '';
    void notify
      .warn(`TimeSformer: ${run.short}: ${where}LayerNorm overflows FP16 in channel ${d.culprit.channel} (${d.culprit.layerNorm}).${minimal}`, ...actions)
      .then(async (pick) => {
        if (pick === actions[0]) return this.applyFix(run.id, first);
        if (pick !== OTHER_FIXES) return;
        const mode = await this.pickFix(run);
        return mode && this.applyFix(run.id, mode);
      });
  }

  /** The fixes run `run` offers, to pick one from (the minimal fix first; Enter takes it). */
  private async pickFix(run: StoredRun): Promise<FixMode | undefined> {
    const mf = run.report.diagnosis.minimalFix;
    const pick = await vscode.window.showQuickPick(run.offers.map((m) => ({
      label: fixTitle(run, m), mode: m,
      detail: m === 'minimal' && mf ? `${confirmationText(mf.confirmed)} (${mf.layerNorms[0]}${mf.layerNorms.length > 1 ? ` … ${mf.layerNorms[mf.layerNorms.length - 1]}` : ''})` : undefined,
    })), { title: `TimeSformer: fix ${plain(run.short)} and run again` });
    return pick?.mode;
  }

  /** The trtexec line of run `runId`'s minimal fix, to the clipboard (and the log, to read it back). */
  private async copyTrtexec(runId: string): Promise<void> {
    const run = this.state.get(runId);
    const line = run && trtexecLine(run);
    if (!run || !line) {
      void notify.warn(`TimeSformer: ${run ? `${run.short} has no minimal fix` : `run ${runId} is no longer kept`}, so no trtexec line to copy.`);
      return;
    }
    const n = run.report.diagnosis.minimalFix!.layerNorms.length;
    try {
      await vscode.env.clipboard.writeText(line);
    } catch (e) {
      // A browser (code-server) may refuse the clipboard: the line is still in the log.
      this.output.appendLine(`the minimal fix's trtexec line of ${run.label}: ${line}`);
      void notify.warn(`TimeSformer: the clipboard refused the trtexec line (${e instanceof Error ? e.message : String(e)}); it is in the TimeSformer Lab log.`, 'Show Log').then((a) => a && this.output.show(true));
      return;
    }
    this.output.appendLine(`copied the minimal fix's trtexec line of ${run.label}: ${line}`);
    void notify.info(`TimeSformer: trtexec line copied: the ${n} overflowing LayerNorm(s) in FP32, the rest FP16.`);
  }

  /**
   * One click: run `runId`'s inputs and options again with the LayerNorm fix `mode`. The fix is
   * bound to its run: after a switch to another model, an old offer still fixes the model it was
   * made for (the sidebar switches back to it and says so), never the model chosen since.
   */
  private async applyFix(runId?: string, mode?: FixMode): Promise<void> {
    if (this.state.running) return;
    let id = runId;
    // `mode` may come from a command's arguments: only a fix the lab knows.
    let fix = LAYERNORM_CHOICES.find((m): m is FixMode => m !== 'plain' && m === mode);
    if (!id) {
      const run = this.state.currentRunWithOffers();
      if (!run) {
        void notify.info('TimeSformer: no fix is offered for the chosen checkpoint: run it first (fixes are offered after a LayerNorm overflow).');
        return;
      }
      id = run.id;
      // The palette: the run's offers to pick from, the minimal fix first (Enter takes it).
      if (!fix && run.offers.length > 1) {
        fix = await this.pickFix(run);
        if (!fix) return;
      }
    }
    fix ??= this.state.get(id)?.offers[0] ?? 'fp32';
    const fixed = this.state.get(id);
    if (fixed && !(await this.consent('The LayerNorm fix', [fixed.inputs.checkpoint, fixed.inputs.testData]))) return;
    const before = { checkpoint: this.state.checkpoint, testData: this.state.testData };
    const run = this.state.adoptFix(id, fix);
    if (typeof run === 'string') {
      void notify.warn(`TimeSformer: ${run}`);
      return;
    }
    if (before.checkpoint !== run.inputs.checkpoint || before.testData !== run.inputs.testData) {
      this.output.appendLine(`fix for ${run.label}: switched back to ${path.basename(run.inputs.checkpoint)}`);
      void notify.info(`TimeSformer: the fix offered by ${run.short} runs on ${path.basename(run.inputs.checkpoint)}${run.inputs.testData ? ` + ${path.basename(run.inputs.testData)}` : ''}, the model it was offered for.`);
    }
    this.output.appendLine(`fix: LayerNorm ${fix} for ${run.label}, running again`);
    await this.run(!!fixed);
  }

  private reportError(e: unknown): void {
    const { code, msg } = errorText(e);
    this.output.appendLine(`error ${code}: ${msg}`);
    void notify.error(`TimeSformer: ${msg}`, 'Show Log').then((a) => a && this.output.show(true));
  }

  // -------------------------------------------------------------------------------------------
  // Runs: graph, compare, prune

  private showGraph(): void {
    const latest = this.state.latest;
    if (!latest) {
      void notify.info('TimeSformer: no run yet. Run "TimeSformer: Build & Run Engine" first.');
      return;
    }
    if (!this.state.shown.length) this.state.show([latest.id]);
    GraphPanel.show(this.context.extensionUri, this.state, (l) => this.output.appendLine(l));
  }

  /** The picker's rows (commands/compare-pick.ts): short name and verdict, the whole identity below. */
  private runItems(runs: readonly StoredRun[], picked: readonly string[] = []): (vscode.QuickPickItem & { run: StoredRun })[] {
    return runRows(runs, picked);
  }

  /**
   * Compare Runs: the user picks the runs; blocks are aligned by index, so only runs of one depth
   * are drawn together (the depth most of the picked runs have; on a tie, the newest run's), and
   * the user is told which runs were left out.
   */
  private async compareRuns(): Promise<void> {
    const runs = this.state.all;
    if (runs.length < 2) {
      void notify.info('TimeSformer: Compare Runs needs two runs or more.');
      if (runs.length) this.showGraph();
      return;
    }
    const current = this.state.shown.length > 1 ? this.state.shown : comparePair(runs);
    const picks = await vscode.window.showQuickPick(this.runItems(runs, current), {
      canPickMany: true, title: 'TimeSformer: runs to compare side by side (blocks aligned by index)', placeHolder: 'Pick two or more runs of models with the same depth',
    });
    if (!picks?.length) return;
    const chosen = picks.map((p) => p.run).sort((a, b) => a.n - b.n);
    const depthOf = (r: StoredRun) => r.report.blocks.length;
    const count = (d: number) => chosen.filter((r) => depthOf(r) === d).length;
    const depth = [...chosen].reverse().map(depthOf).reduce((best, d) => (count(d) > count(best) ? d : best));
    const left = chosen.filter((r) => depthOf(r) !== depth);
    const kept = chosen.filter((r) => depthOf(r) === depth);
    if (left.length) {
      void notify.warn(`TimeSformer: runs of another depth cannot be compared block by block with ${depth}-block runs; left out: ${left.map((r) => `${r.short} (${depthOf(r)} blocks)`).join(', ')}.`);
    }
    this.state.show(kept.map((r) => r.id));
    GraphPanel.show(this.context.extensionUri, this.state, (l) => this.output.appendLine(l));
  }

  private async clearRuns(): Promise<void> {
    const n = this.state.all.length;
    if (!n) return;
    const CLEAR = 'Clear';
    if ((await notify.warn(`TimeSformer: clear all ${n} runs of this workspace?`, CLEAR)) !== CLEAR) return;
    this.state.clearRuns();
    this.output.appendLine(`cleared ${n} runs`);
  }

  private async removeRuns(): Promise<void> {
    const picks = await vscode.window.showQuickPick(this.runItems(this.state.all), { canPickMany: true, title: 'TimeSformer: runs to remove' });
    if (!picks?.length) return;
    this.state.removeRuns(picks.map((p) => p.run.id));
    this.output.appendLine(`removed ${picks.map((p) => p.run.label).join(', ')}`);
  }

  // -------------------------------------------------------------------------------------------
  // Export, help

  private async pickRun(): Promise<StoredRun | undefined> {
    const runs = this.state.all;
    if (runs.length <= 1) return runs[0];
    const pick = await vscode.window.showQuickPick(this.runItems(runs), { title: 'TimeSformer: which run?' });
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
    void notify.info(`TimeSformer: report written to ${path.basename(json)} and ${path.basename(md)}.`);
  }

  /**
   * Export ONNX: "as run" (the graph the engine ran: emulation casts, statistics outputs) or "for
   * TensorRT" (core/export.ts: the FP32 graph with the run's LayerNorm realization — the minimal
   * fix after a plain FP16 overflow — node names as torch.onnx.export writes them, and the trtexec
   * line that keeps its FP32 LayerNorms in FP32).
   */
  private async exportOnnx(): Promise<void> {
    const run = await this.pickRun();
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
    if (!(await this.consent(`Export ONNX (${how.label})`, [run.inputs.checkpoint, run.inputs.testData]))) return;
    const uri = await vscode.window.showSaveDialog({
      defaultUri: this.defaultUri(exportFileName(run, trt ? 'trt' : 'asRun')), filters: { ONNX: ['onnx'] },
      title: trt ? 'Export the ONNX graph for TensorRT' : 'Export the ONNX graph as run',
    });
    if (!uri) return;
    if (this.state.running) {
      void notify.info('TimeSformer: a run is in progress; export again when it ends.');
      return;
    }
    try {
      if (trt) {
        this.state.runStarted(run.inputs);
        let x;
        try {
          x = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'TimeSformer: Export ONNX for TensorRT' },
            () => this.client.exportForTensorRt(run.options, trtLn, uri.fsPath, { onLog: (l) => this.output.appendLine(l) }));
        } finally {
          this.state.runEnded();
        }
        this.output.appendLine(`exported the ONNX graph of ${run.label} for TensorRT to ${uri.fsPath} (${oneFile(x.bytes)}): ${x.nodes} nodes, LayerNorm ${x.layerNorm}${x.fixed.length ? `, in FP32: ${x.fixed.join(', ')}` : ''}`);
        if (x.trtexec) this.output.appendLine(`trtexec: ${x.trtexec}`);
        const COPY = 'Copy trtexec Line';
        const pick = await notify.info(`TimeSformer: ${path.basename(uri.fsPath)} written for TensorRT${x.fixed.length ? ` with ${x.fixed.length} LayerNorm(s) in FP32` : ''} — ${oneFile(x.bytes)}.`, ...(x.trtexec ? [COPY] : []));
        if (pick === COPY && x.trtexec) await vscode.env.clipboard.writeText(x.trtexec);
        return;
      }
      // The engine process keeps the last run's model; an older run is built again, identically.
      if (run.requestId === undefined || !(await this.client.saveModel(run.requestId, uri.fsPath))) {
        this.state.runStarted(run.inputs);
        try {
          await this.withProgress('Export ONNX', { ...run.options, saveOnnx: uri.fsPath });
        } finally {
          this.state.runEnded();
        }
      }
      const bytes = fs.statSync(uri.fsPath).size;
      this.output.appendLine(`exported the ONNX graph of ${run.label} to ${uri.fsPath} (${oneFile(bytes)})`);
      void notify.info(`TimeSformer: ONNX graph written to ${path.basename(uri.fsPath)} — ${oneFile(bytes)}.`);
    } catch (e) {
      if (!(e instanceof RunError && e.code === 'CANCELLED')) this.reportError(e);
    }
  }

  /** "Make Test Data from PyTorch…" (commands/make-test-data-command.ts). */
  private makeTestData(): Promise<void> {
    return makeTestData((p) => this.context.asAbsolutePath(p), (l) => this.output.appendLine(l));
  }
}

function errorText(e: unknown): { code: string; msg: string } {
  return { code: e instanceof RunError ? e.code : 'INTERNAL', msg: e instanceof Error ? e.message : String(e) };
}

/** What an ONNX export wrote: one file holding its weights (no external data beside it). */
function oneFile(bytes: number): string {
  return `one self-contained file, ${(bytes / 2 ** 20).toFixed(1)} MiB with its weights inline`;
}
