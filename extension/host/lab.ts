/**
 * The services every command group and view shares, made once at activation: the store, the
 * engine process (runs) and the reader process (headers), the workspace's files, the log, the
 * Restricted Mode question and the error notification. Command groups (commands/*.ts) receive
 * this object and register their commands through `command`; they never import each other.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { consent } from './commands/trust';
import { Engine } from './engine';
import { WorkspaceFiles } from './files';
import { errorText, notify } from './notify';
import { WorkerClient } from './runner';
import { SECTION, settingsDefaults } from './settings';
import { LabState } from './state';
import { plain } from './text';

/** A request with its checkpoint chosen and its options accepted. */
type Chosen = Exclude<ReturnType<LabState['request']>, { missing: 'checkpoint' } | { refused: string }>;

export interface Lab {
  readonly context: vscode.ExtensionContext;
  readonly state: LabState;
  readonly engine: Engine;
  readonly files: WorkspaceFiles;
  log(line: string): void;
  showLog(): void;
  /** Restricted Mode: every command that reads the workspace's files or starts a program on them asks here first (commands/trust.ts). */
  consent(action: string, reads: readonly (string | null | undefined)[], runs?: string): Promise<boolean>;
  /** An error in a notification (with Show Log) and in the log. */
  reportError(e: unknown): void;
}

/** A group of commands acting on one thing (commands/index.ts lists them): registered at activation. */
export interface CommandGroup {
  name: string;
  register(lab: Lab): vscode.Disposable[];
}

/**
 * The store's request for a command that needs the chosen checkpoint (Sweep Clips…, the TensorRT
 * commands), or undefined after telling the user why not: no checkpoint chosen, or an option
 * refused. `engine`: as LabState.request's (false: whatever the engine choice).
 */
export function chosenRequest(state: Pick<LabState, 'request'>, engine = true): Chosen | undefined {
  const r = state.request(engine);
  if ('missing' in r) {
    void vscode.window.showWarningMessage('TimeSformer: choose a checkpoint first (TimeSformer: Select Checkpoint).');
    return undefined;
  }
  if ('refused' in r) {
    void vscode.window.showErrorMessage(plain(`TimeSformer: ${r.refused}`));
    return undefined;
  }
  return r;
}

/** Registers `timesformerLab.<id>`. */
export function command(id: string, f: (...args: never[]) => unknown): vscode.Disposable {
  return vscode.commands.registerCommand(`${SECTION}.${id}`, f);
}

/** The services, and what disposes them (the output channel, the two engine processes). */
export function createLab(context: vscode.ExtensionContext): { lab: Lab; disposables: vscode.Disposable[] } {
  const output = vscode.window.createOutputChannel('TimeSformer Lab');
  const log = (l: string) => output.appendLine(l);
  const script = context.asAbsolutePath(path.join('dist', 'worker.js'));
  const client = new WorkerClient({ script, log });
  /** A second engine process for reading file headers, so that pairing never queues behind a run. */
  const reader = new WorkerClient({ script, log: (l) => log(`[reader] ${l}`) });
  const state = new LabState(context.workspaceState, settingsDefaults);
  state.setTrusted(vscode.workspace.isTrusted);
  const files = new WorkspaceFiles(state, reader, log);
  const reportError = (e: unknown) => {
    const { code, msg } = errorText(e);
    log(`error ${code}: ${msg}`);
    void notify.error(`TimeSformer: ${msg}`, 'Show Log').then((a) => a && output.show(true));
  };
  const ask = (action: string, reads: readonly (string | null | undefined)[], runs = 'ONNX Runtime in a separate process') => consent({
    isTrusted: () => vscode.workspace.isTrusted,
    ask: (msg, ...actions) => notify.warn(msg, ...actions),
    manage: () => void vscode.commands.executeCommand('workbench.trust.manage'),
    log,
  }, { action, reads: reads.filter((x): x is string => !!x), runs });
  const engine = new Engine({ context, state, client, files, log, consent: ask, reportError });
  const lab: Lab = { context, state, engine, files, log, showLog: () => output.show(true), consent: ask, reportError };
  return { lab, disposables: [output, { dispose: () => client.dispose() }, { dispose: () => reader.dispose() }] };
}
