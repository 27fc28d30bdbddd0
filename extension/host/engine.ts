/**
 * Running the pipeline in the engine process (runner.ts), as a service the commands share: "what
 * the store would run now" checked, asked for in Restricted Mode, run behind a cancellable progress
 * notification, and its outcome sent to the store as an intent (runStarted, runProgress, then
 * runFinished, runCancelled or runFailed). What the user is told after a run is built from the
 * store by the views (views/index.ts, on the store's onDidLand), not here.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { STAGES, type Report, type Stage } from '../core/report';
import type { ProviderInfo, RunOptions } from '../protocol';
import type { WorkspaceFiles } from './files';
import { config, resolvePath } from './settings';
import { errorText, isCancel, notify } from './notify';
import type { RunHooks, WorkerClient } from './runner';
import type { LabState, RunInputs, StoredRun } from './state';
import { plain } from './text';
import { cancelTrtexec, detectTrtexec, runWithTrtexec, type TrtexecDeps } from './trtexec';

export interface EngineDeps {
  /** The extension's folder (dist/cli.js runs trtexec's runs) and its global storage (their engine cache). */
  context: vscode.ExtensionContext;
  state: LabState;
  client: WorkerClient;
  files: WorkspaceFiles;
  log(line: string): void;
  consent(action: string, reads: readonly (string | null | undefined)[]): Promise<boolean>;
  reportError(e: unknown): void;
}

export class Engine {
  private probing: Promise<void> | undefined;

  constructor(private readonly d: EngineDeps) {}

  get client(): WorkerClient {
    return this.d.client;
  }

  /** Cancel: trtexec's run when one is in flight, else the engine process's. */
  cancel(): Promise<void> {
    if (cancelTrtexec(this.d.log)) return Promise.resolve();
    return this.d.client.cancel();
  }

  /** Looks for trtexec (again: it may have been installed, or its setting changed) and tells the store. */
  findTrtexec(): void {
    void detectTrtexec(this.trtexecDeps()).catch((e: unknown) => this.d.log(`could not look for trtexec: ${e instanceof Error ? e.message : String(e)}`));
  }

  private trtexecDeps(): TrtexecDeps {
    return {
      context: this.d.context, state: this.d.state, log: this.d.log,
      settings: () => ({ trtexecPath: config().get<string>('trtexecPath', ''), cacheDir: resolvePath(config().get<string>('tensorrtCacheDir', '')) ?? '' }),
    };
  }

  /** Which execution providers load here, asked of the engine process once per session. */
  ensureProviders(): void {
    const { state, log } = this.d;
    if (state.trtexec === null) this.findTrtexec();
    if (state.providers || this.probing) return;
    this.probing = this.d.client.probe()
      .then((p: ProviderInfo[]) => {
        state.setProviders(p);
        log(`execution providers: ${p.map((x) => `${x.ep} ${x.available ? 'available' : `unavailable (${x.reason})`}`).join('; ')}`);
      })
      .catch((e: unknown) => log(`could not probe the execution providers: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => (this.probing = undefined));
  }

  /** Runs what the store would run now. `consented`: the caller asked already (Check FP16, a fix), before it changed the sidebar. */
  async runChosen(consented = false): Promise<void> {
    const { state, files } = this.d;
    await files.discovering;
    await files.inspecting;
    const busy = state.whyBusy();
    if (busy) {
      void notify.info(`TimeSformer: ${busy}; run when it ends.`);
      return;
    }
    const req = state.request();
    if ('missing' in req) {
      const pick = await notify.error('TimeSformer: no checkpoint (*.pyth, *.pth, *.pt, or an HF folder) found in the workspace.', 'Select…');
      if (pick) await files.browse('checkpoint');
      return;
    }
    if ('refused' in req) {
      this.d.log(`not run: ${req.refused}`);
      void notify.error(`TimeSformer: ${req.refused}`);
      return;
    }
    if (!consented && !(await this.d.consent('Build & Run Engine', [req.inputs.checkpoint, req.inputs.testData]))) return;
    await this.execute(req.options, req.inputs);
  }

  /** Runs these options and inputs as Build & Run does (the store's run flow): a swept clip opened as a run. */
  async execute(o: RunOptions, inputs: RunInputs): Promise<void> {
    const { state, log } = this.d;
    // The engine process takes one request at a time and Cancel kills it with all it holds: a run
    // queued behind a sweep (or a sweep's clip opened during a run) would wait, and its Cancel kill both.
    const busy = state.whyBusy();
    if (busy) {
      void notify.info(`TimeSformer: ${busy}; run when it ends.`);
      return;
    }
    state.runStarted(inputs, o);
    const t0 = Date.now();
    log(`--- run: ${path.basename(inputs.checkpoint)} + ${inputs.testData ? path.basename(inputs.testData) : 'no test data (own FP32)'}, ${o.precision}, LayerNorm ${o.layerNorm}, ${o.ep}`);
    // the mode's Report before its minimal fix's confirmation: the graph is colored while that runs
    let early: StoredRun | undefined;
    const onModeReport = (report: Report, requestId: number) => (early = state.runFinished(report, o, requestId, inputs, t0, true));
    try {
      const { requestId, report } = o.engine === 'trtexec' ? await this.withTrtexecProgress(o) : await this.withProgress('Build & Run Engine', o, onModeReport);
      if (early) state.runConfirmed(early.id, report);
      else state.runFinished(report, o, requestId, inputs, t0);
    } catch (e) {
      if (isCancel(e)) {
        log('run cancelled');
        state.runCancelled(inputs);
      } else {
        const { code, msg } = errorText(e);
        state.runFailed(inputs, code, msg);
        this.d.reportError(e);
      }
    }
  }

  /** A run with TensorRT (trtexec): the bundled CLI's trt-run behind the same cancellable notification (trtexec.ts). */
  private withTrtexecProgress(o: RunOptions): Thenable<{ requestId: undefined; report: Report }> {
    const { state, log } = this.d;
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'TimeSformer: Build & Run Engine (trtexec)', cancellable: true }, (progress, token) => {
      token.onCancellationRequested(() => cancelTrtexec(log));
      return runWithTrtexec(this.trtexecDeps(), o, (stage, detail) => {
        state.runProgress(stage);
        progress.report({ message: `${stage}…${detail ? ` (${plain(detail)})` : ''}` });
      });
    });
  }

  /** Runs the pipeline in the engine process behind a cancellable progress notification. */
  withProgress(title: string, o: RunOptions, onModeReport?: RunHooks['onModeReport']): Thenable<{ requestId: number; report: Report }> {
    const { state, log, client } = this.d;
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `TimeSformer: ${title}`, cancellable: true }, (progress, token) => {
      token.onCancellationRequested(() => {
        log('cancel requested: killing the engine process');
        void client.cancel();
      });
      let last: Stage | undefined;
      return client.run(o, {
        onProgress: (stage, detail) => {
          state.runProgress(stage);
          // a file's path is in the log; progress within a stage ("segment 2/4") is shown with it
          const shown = detail && !/^reading /.test(stage) ? ` (${plain(detail)})` : '';
          progress.report({ message: `${stage}…${shown}`, increment: stage === last ? 0 : 100 / STAGES.length });
          last = stage;
        },
        onLog: (l) => log(l),
        onModeReport,
      });
    });
  }
}
