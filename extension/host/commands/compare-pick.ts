/**
 * The Compare picker's rows and its preselection, without `vscode` (unit-tested): which two runs
 * a user most likely wants side by side, and rows whose words are not cut.
 */
import type { StoredRun } from '../state';
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
  detail: string;
  picked: boolean;
}

/**
 * One row per run, newest first: the run's short name as the label, its verdict beside it, and its
 * whole identity (inputs, precision, LayerNorm, provider, time) on a line of its own below, where
 * the picker has the width for it (on one line the picker cut the label and the verdict).
 */
export function runRows<R extends Run>(runs: readonly R[], picked: readonly string[] = []): (RunRow & { run: R })[] {
  return [...runs].sort((a, b) => b.n - a.n).map((r) => {
    const d = r.report.diagnosis;
    return {
      label: plain(r.short),
      description: `${d.verdict.toUpperCase()}${d.firstBadBlock !== null ? ` at block ${d.firstBadBlock}` : ''} · ${r.report.blocks.length} blocks`,
      detail: plain(r.label),
      picked: picked.includes(r.id),
      run: r,
    };
  });
}
