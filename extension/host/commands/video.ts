/**
 * Explorer: "Run TimeSformer Lab on this Video" on a video file. The video becomes the clip of the
 * chosen checkpoint (asked for first when none is chosen) and the run starts, compared with the
 * model's own FP32 (a video carries no reference).
 */
import * as vscode from 'vscode';
import type { LabState } from '../state';

export interface VideoCommandHost {
  state: LabState;
  selectCheckpoint(): Promise<void>;
  run(): Promise<void>;
}

export async function runOnVideo(uri: vscode.Uri | undefined, host: VideoCommandHost): Promise<void> {
  if (!uri) return;
  if (!host.state.checkpoint) await host.selectCheckpoint();
  if (!host.state.checkpoint) {
    void vscode.window.showInformationMessage('TimeSformer: choose a checkpoint to run the video with.');
    return;
  }
  host.state.chooseTestData(uri.fsPath, vscode.workspace.asRelativePath(uri, false));
  await host.run();
}
