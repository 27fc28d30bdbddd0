/**
 * Activation wires, and does nothing else: the services (lab.ts: the store, the engine and reader
 * processes, the workspace's files, the log), the views that render the store (views/), and the
 * command groups (commands/index.ts). Everything goes into context.subscriptions and is disposed
 * with it (the engine processes are killed there). The pipeline runs in the engine process
 * (extension/worker.ts), never here.
 */
import type * as vscode from 'vscode';
import { registerCommands } from './commands';
import { copyTrtexec } from './views/fix-offers';
import { createLab } from './lab';
import { registerViews } from './views';

export function activate(context: vscode.ExtensionContext): void {
  const { lab, disposables } = createLab(context);
  context.subscriptions.push(
    ...disposables,
    ...registerViews({
      extensionUri: context.extensionUri, state: lab.state, log: lab.log,
      actions: {
        probe: () => lab.engine.ensureProviders(),
        findTrtexec: () => lab.engine.findTrtexec(),
        browse: (kind) => lab.files.browse(kind),
        copyTrtexec: (runId) => copyTrtexec(lab.state, runId, lab.log, lab.showLog),
        error: (e) => lab.reportError(e),
      },
    }),
    ...registerCommands(lab),
  );
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions (the engine processes are killed there).
}
