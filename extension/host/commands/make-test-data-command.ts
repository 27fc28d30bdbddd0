/**
 * The "Make Test Data from PyTorch…" command: python3 and its modules looked for, the script
 * copied into the workspace with a header that works there (make-test-data.ts, where the decisions
 * are, unit-tested), and what is missing said with the command that installs it.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { command, type CommandGroup } from '../lab';
import { plain } from '../text';
import { checkPython, copyScript, missingText } from './make-test-data';

/** `asset`: a path inside the installed extension; `log`: the lab's Output channel. */
export async function makeTestData(asset: (p: string) => string, log: (line: string) => void): Promise<void> {
  const script = asset(path.join('scripts', 'make_test_data.py'));
  const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (!fs.existsSync(script) || !root) {
    void vscode.window.showErrorMessage(`TimeSformer: ${!root ? 'open a folder first: the script is copied into it' : `${script} is missing from this installation`}.`);
    return;
  }
  const check = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'TimeSformer: looking for python3 and torch' }, () => checkPython());
  const missing = missingText(check);
  log(`make test data: ${missing ?? `python3 ${check.version}, torch ${check.modules.torch}`}`);
  let copy: { path: string; kept: boolean };
  try {
    copy = copyScript(script, root, { cli: asset(path.join('dist', 'cli.js')), check });
  } catch (e) {
    log(`make test data: ${(e as Error).message}`);
    void vscode.window.showErrorMessage(plain(`TimeSformer: ${(e as Error).message}`));
    return;
  }
  log(`make test data: ${copy.kept ? 'kept the edited' : 'wrote'} ${copy.path}`);
  await vscode.window.showTextDocument(vscode.Uri.file(copy.path), { preview: false });
  const rel = vscode.workspace.asRelativePath(copy.path, false);
  const kept = copy.kept ? ` (your edited ${rel} is kept)` : '';
  if (missing) {
    void vscode.window.showWarningMessage(plain(`TimeSformer: ${rel} is in your workspace${kept}, but it cannot run yet: ${missing}.`));
    return;
  }
  const TERMINAL = 'Open in Terminal';
  const pick = await vscode.window.showInformationMessage(plain(`TimeSformer: ${rel} is in your workspace${kept}; run it with your model (its header says how): it writes test_data.p with every block's output.`), TERMINAL);
  if (pick !== TERMINAL) return;
  const t = vscode.window.createTerminal({ name: 'TimeSformer: make test data', cwd: root });
  t.show();
  t.sendText(`python3 ${JSON.stringify(copy.path)} --weights MODEL --out test_data.p`, false);
}

export const makeTestDataGroup: CommandGroup = {
  name: 'make test data',
  register: (lab) => [command('makeTestData', () => makeTestData((p) => lab.context.asAbsolutePath(p), lab.log))],
};
