/** Commands that act on the kept runs: Show Graph, Compare Runs, Clear Runs, Remove Runs. */
import * as vscode from 'vscode';
import { command, type CommandGroup, type Lab } from '../lab';
import { notify } from '../notify';
import type { StoredRun } from '../state';
import { GraphPanel } from '../views/graph-panel';
import { comparePair, runRows } from './compare-pick';

function showGraph(lab: Lab): void {
  const latest = lab.state.latest;
  if (!latest) {
    void notify.info('TimeSformer: no run yet. Run "TimeSformer: Build & Run Engine" first.');
    return;
  }
  if (!lab.state.shown.length) lab.state.show([latest.id]);
  GraphPanel.show(lab.context.extensionUri, lab.state, lab.log);
}

/**
 * Compare Runs: the user picks the runs; blocks are aligned by index, so only runs of one depth
 * are drawn together (the depth most of the picked runs have; on a tie, the newest run's), and
 * the user is told which runs were left out.
 */
async function compareRuns(lab: Lab): Promise<void> {
  const runs = lab.state.all;
  if (runs.length < 2) {
    void notify.info('TimeSformer: Compare Runs needs two runs or more.');
    if (runs.length) showGraph(lab);
    return;
  }
  const current = lab.state.shown.length > 1 ? lab.state.shown : comparePair(runs);
  const picks = await vscode.window.showQuickPick(runRows(runs, current), {
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
  lab.state.show(kept.map((r) => r.id));
  GraphPanel.show(lab.context.extensionUri, lab.state, lab.log);
}

async function clearRuns(lab: Lab): Promise<void> {
  const n = lab.state.all.length;
  if (!n) return;
  const CLEAR = 'Clear';
  if ((await notify.warn(`TimeSformer: clear all ${n} runs of this workspace?`, CLEAR)) !== CLEAR) return;
  lab.state.clearRuns();
  lab.log(`cleared ${n} runs`);
}

async function removeRuns(lab: Lab): Promise<void> {
  const picks = await vscode.window.showQuickPick(runRows(lab.state.all), { canPickMany: true, title: 'TimeSformer: runs to remove' });
  if (!picks?.length) return;
  lab.state.removeRuns(picks.map((p) => p.run.id));
  lab.log(`removed ${picks.map((p) => p.run.label).join(', ')}`);
}

export const runsAndCompare: CommandGroup = {
  name: 'runs and compare',
  register: (lab) => [
    command('showGraph', () => showGraph(lab)),
    command('compareRuns', () => compareRuns(lab)),
    command('clearRuns', () => clearRuns(lab)),
    command('removeRuns', () => removeRuns(lab)),
  ],
};
