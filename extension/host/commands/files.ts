/**
 * Commands that act on the workspace's files: Select Checkpoint, Select Test Data, the explorer's
 * "Check FP16 with TimeSformer Lab" on a checkpoint or an HF folder, "Run TimeSformer Lab on this Video"; and the workspace scan kept
 * current (a watcher on the model and test-data files, the workspace's folders, its trust).
 */
import * as vscode from 'vscode';
import { command, type CommandGroup, type Lab } from '../lab';
import { plain } from '../text';
import { VIDEO_GLOB_EXTS } from '../video';

async function selectFile(lab: Lab, kind: 'checkpoint' | 'testData', uri?: vscode.Uri): Promise<void> {
  const { state, files } = lab;
  await files.discovering;
  if (uri) {
    state.chooseCheckpoint(uri.fsPath, vscode.workspace.asRelativePath(uri, false));
    files.inspect();
    return;
  }
  const BROWSE = '$(folder-opened) Browse…';
  const NONE = '$(circle-slash) none: compare with FP32 of this model';
  type Item = vscode.QuickPickItem & { path?: string | null };
  const items: Item[] = [];
  if (kind === 'checkpoint') {
    for (const f of state.checkpointList()) items.push({ label: plain(f.label), description: f.path === state.checkpoint ? 'chosen' : undefined, path: f.path });
  } else {
    items.push({ label: NONE, path: null, description: state.testData === null ? 'chosen' : undefined });
    for (const f of state.sidebar().testData) {
      items.push({
        label: plain(f.label), path: f.path,
        description: [f.path === state.testData ? 'chosen' : '', f.fit === 'agree' ? 'matches the checkpoint' : f.fit === 'disagree' ? `does not match: ${plain(f.note ?? '')}` : ''].filter(Boolean).join(' · ') || undefined,
      });
    }
  }
  items.push({ label: BROWSE });
  const what = kind === 'checkpoint' ? 'checkpoint' : 'test data';
  const pick = await vscode.window.showQuickPick(items, { title: `TimeSformer: select the ${what}`, placeHolder: `${what} found in the workspace` });
  if (!pick) return;
  if (pick.label === BROWSE) return files.browse(kind);
  if (kind === 'checkpoint' && pick.path) state.chooseCheckpoint(pick.path);
  else if (kind === 'testData' && pick.path !== undefined) state.chooseTestData(pick.path);
}

/** A run or a sweep holds the engine process: says so (`what` waits) and returns true; nothing is changed. */
function refusedWhileBusy(lab: Lab, what: string): boolean {
  const busy = lab.state.whyBusy();
  if (busy) void vscode.window.showInformationMessage(`TimeSformer: ${busy}; ${what} when it ends.`);
  return !!busy;
}

/** Explorer: "Check FP16 with TimeSformer Lab" on a checkpoint or an HF folder. */
async function checkFile(lab: Lab, uri?: vscode.Uri): Promise<void> {
  if (!uri) return selectFile(lab, 'checkpoint');
  const { state, files } = lab;
  await files.discovering;
  // before anything changes: switching the checkpoint under a run would hide that run's verdict, and run nothing
  if (refusedWhileBusy(lab, 'Check FP16')) return;
  // asked before the sidebar's checkpoint changes: "cancel" leaves everything as it was
  if (!(await lab.consent('Check FP16 with TimeSformer Lab', [uri.fsPath])) || refusedWhileBusy(lab, 'Check FP16')) return;
  state.chooseCheckpoint(uri.fsPath, vscode.workspace.asRelativePath(uri, false));
  if (state.settings.precision !== 'fp16') state.setOption('precision', 'fp16');
  files.inspect();
  await files.inspecting;
  await vscode.commands.executeCommand('workbench.view.extension.timesformerLab');
  await lab.engine.runChosen(true);
}

/** Explorer: "Run TimeSformer Lab on this Video": the video is the chosen checkpoint's clip (asked for first when none is chosen), compared with the model's own FP32. */
async function runOnVideo(lab: Lab, uri?: vscode.Uri): Promise<void> {
  if (!uri) return;
  const { state, files } = lab;
  await files.discovering;
  if (refusedWhileBusy(lab, 'run the video')) return;
  if (!state.checkpoint) await selectFile(lab, 'checkpoint');
  if (!state.checkpoint) {
    void vscode.window.showInformationMessage('TimeSformer: choose a checkpoint to run the video with.');
    return;
  }
  if (!(await lab.consent('Run TimeSformer Lab on this Video', [state.checkpoint, uri.fsPath]))) return;
  state.chooseTestData(uri.fsPath, vscode.workspace.asRelativePath(uri, false));
  await lab.engine.runChosen(true);
}

export const filesAndExplorer: CommandGroup = {
  name: 'files and explorer',
  register: (lab) => {
    const { files } = lab;
    const watcher = vscode.workspace.createFileSystemWatcher(`**/*.{pyth,pth,pt,ckpt,p,pkl,pickle,json,safetensors,bin,${VIDEO_GLOB_EXTS}}`);
    const disposables = [
      watcher,
      command('selectCheckpoint', (uri?: vscode.Uri) => selectFile(lab, 'checkpoint', uri)),
      command('selectTestData', () => selectFile(lab, 'testData')),
      command('checkFile', (uri?: vscode.Uri) => checkFile(lab, uri)),
      command('runOnVideo', (uri?: vscode.Uri) => runOnVideo(lab, uri)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => files.trusted()),
      watcher.onDidCreate(() => files.rescan()),
      watcher.onDidDelete(() => files.rescan()),
      watcher.onDidChange((u) => files.changed(u.fsPath)),
      vscode.workspace.onDidChangeWorkspaceFolders(() => files.rescan()),
    ];
    files.rescan();
    return disposables;
  },
};
