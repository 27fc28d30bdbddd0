/** The status bar item: the run (or sweep) in progress, else the latest verdict of the chosen inputs and options (from the store). */
import * as vscode from 'vscode';
import { SECTION } from '../settings';
import { afterNote, type StoreReader } from '../state';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('timesformerLab.status', vscode.StatusBarAlignment.Left, 10);

  constructor(private readonly store: StoreReader) {
    this.item.show();
  }

  render(): void {
    const s = this.store;
    const set = (text: string, tooltip: string, command: string | undefined) => {
      this.item.text = text;
      this.item.tooltip = tooltip;
      this.item.command = command;
    };
    if (s.running) return set(`$(sync~spin) TimeSformer: ${s.stage ?? 'starting'}`, 'Running (cancel from the notification or the sidebar)', `${SECTION}.cancel`);
    if (s.sweeping) return set('$(sync~spin) TimeSformer: sweeping clips', 'Sweeping clips: Run waits until the sweep ends (cancel it from its notification)', undefined);
    const o = s.currentOutcome();
    if (o?.kind === 'run') {
      const run = s.get(o.runId)!;
      const d = run.report.diagnosis;
      // A later cancel or error of the same inputs and options is said beside the verdict, which stays.
      const after = s.currentAttempt(run);
      const note = after ? ` · ${afterNote(after, run)}` : '';
      return set(
        `${d.verdict === 'pass' ? '$(pass) TimeSformer: pass' : `$(error) TimeSformer: ${d.firstBadBlock !== null ? `block ${d.firstBadBlock} fails` : 'fail'}`}${note}`,
        `${run.label}\n${d.sentence}`, `${SECTION}.showGraph`,
      );
    }
    if (o?.kind === 'error') return set('$(warning) TimeSformer: error', o.message, `${SECTION}.run`);
    if (o?.kind === 'cancelled') return set('$(circle-slash) TimeSformer: cancelled', 'The last run was cancelled', `${SECTION}.run`);
    return set('$(beaker) TimeSformer', 'TimeSformer Precision Lab: Build & Run Engine', `${SECTION}.run`);
  }

  dispose(): void {
    this.item.dispose();
  }
}
