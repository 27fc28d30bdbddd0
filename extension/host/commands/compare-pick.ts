/**
 * The Compare picker's rows and its preselection, without `vscode` (unit-tested): which two runs
 * a user most likely wants side by side, and rows whose words are not cut.
 */
import type { StoredRun } from '../state';
import { runPickItem } from '../labels';
import { plain } from '../text';

type Run = Pick<StoredRun, 'id' | 'n' | 'inputs' | 'label' | 'short' | 'report'>;

/**
 * The runs preselected: the newest run and the newest other run of the same checkpoint and test
 * data (a mode against another on one model); else of the same checkpoint; else of the same depth;
 * else none but the newest (a pair of different models is never proposed).
 */
export function comparePair(runs: readonly Run[]): string[] {
  if (!runs.length) return [];
  const newest = runs.reduce((a, b) => (b.n > a.n ? b : a));
  const others = runs.filter((r) => r.id !== newest.id).sort((a, b) => b.n - a.n);
  const depth = (r: Run) => r.report.blocks.length;
  const mate = others.find((r) => r.inputs.checkpoint === newest.inputs.checkpoint && r.inputs.testData === newest.inputs.testData)
    ?? others.find((r) => r.inputs.checkpoint === newest.inputs.checkpoint && depth(r) === depth(newest));
  return mate ? [mate.id, newest.id] : [newest.id];
}

export interface RunRow {
  label: string;
  description: string;
  picked: boolean;
}

/**
 * One row per run, newest first: the verdict first and the run's whole identity (labels.ts
 * runPickItem: "#3 ✗ FAIL · d1 + d1_test_data.p · FP16 · LayerNorm plain · cpu · 10:02:11"), where it
 * fails and its depth beside it — the verdict leads, so a narrow picker never cuts it.
 */
export function runRows<R extends Run>(runs: readonly R[], picked: readonly string[] = []): (RunRow & { run: R })[] {
  return [...runs].sort((a, b) => b.n - a.n).map((r) => {
    const item = runPickItem(r);
    return { label: plain(item.label), description: item.description, picked: picked.includes(r.id), run: r };
  });
}
