/**
 * The sweep view's words and rows, from the SweepView the host sends (webview/sweep.ts draws them):
 * the summary, the progress of the clips and then of the covering fix's confirmation, each clip's
 * row with its confirmation verdict once it has one, and the headroom's tooltips. Numbers in the
 * lab's one format (fmtNum: inf, NaN, 0). No DOM (unit-tested).
 */
import { fmtNum } from '../extension/core/markdown';
import type { ClipResult, ConfirmedClip, LayerNormHeadroom } from '../extension/core/sweep/types';
import type { SweepView } from '../extension/host/sweepProtocol';

export const base = (c: string) => c.split(/[\\/]/).pop() ?? c;
export const fmt = (x: number | null | undefined) => (x === null || x === undefined ? '—' : fmtNum(x));

/** Worst first (NaN as the worst, clips that could not be read last). */
export function ranked(clips: ClipResult[]): ClipResult[] {
  const err = (c: ClipResult) => (c.status === 'done' ? (Number.isNaN(c.worstRelL2) ? Infinity : c.worstRelL2 ?? 0) : -1);
  return [...clips].sort((a, b) => err(b) - err(a));
}

/** The confirmation runs known so far: the result's once there is one, else those sent as they finished. */
function confirmations(v: SweepView): ConfirmedClip[] {
  return v.result?.fix.confirmed?.clips ?? v.confirms;
}

/** What the sweep is doing now: its clips, then the covering fix's confirmation (empty once it ended). */
export function progress(v: SweepView): string {
  if (v.status !== 'running') return '';
  if (v.confirmTotal) return `confirming the covering fix: ${v.confirms.length}/${v.confirmTotal} clips re-run with it`;
  return v.total ? `sweeping: clip ${v.clips.length}/${v.total}` : 'sweeping: reading the checkpoint…';
}

/** The one line a screen reader is told (a change of phase, not every clip). */
export function announcement(v: SweepView): string {
  if (v.status === 'running') return v.confirmTotal ? 'confirming the covering fix' : 'sweeping';
  if (v.result) return `sweep ${v.result.summary.verdict}: ${v.result.summary.passed} of ${v.result.summary.done} clips pass`;
  return `sweep ${v.status}`;
}

export interface SummaryModel { verdict: string; done: number; text: string }

export function summary(v: SweepView): SummaryModel {
  const done = v.clips.filter((c) => c.status === 'done');
  const failed = done.filter((c) => c.verdict === 'fail').length;
  const bad = v.clips.length - done.length;
  return {
    verdict: v.result ? v.result.summary.verdict : v.status,
    done: done.length,
    text: ` — ${done.length - failed} of ${done.length} clips pass, ${failed} fail${bad ? `, ${bad} could not be read` : ''}${v.total ? ` (${v.clips.length}/${v.total})` : ''} · ${base(v.weights)}`,
  };
}

export interface ClipRow {
  clip: string;
  status: 'pass' | 'fail' | 'error';
  cells: [string, string, string, string, string];
  /** The clip's run with the covering fix: its verdict, once confirmed ('' before or without a confirmation). */
  confirmed: '' | 'pass' | 'fail' | 'error';
  title: string;
}

function confirmedCell(c: ConfirmedClip | undefined): { text: string; confirmed: ClipRow['confirmed'] } {
  if (!c) return { text: '', confirmed: '' };
  if (c.status !== 'done') return { text: `ERROR: ${c.error?.message ?? ''}`, confirmed: 'error' };
  return { text: c.verdict === 'pass' ? 'PASS' : `FAIL, worst ${fmt(c.worstRelL2)} (block ${c.worstBlock})`, confirmed: c.verdict ?? 'fail' };
}

export function clipRows(v: SweepView): ClipRow[] {
  const byClip = new Map(confirmations(v).map((c) => [c.key, c]));
  return ranked(v.clips).map((c) => {
    const conf = confirmedCell(byClip.get(c.key));
    const worst = c.status === 'done' ? `${fmt(c.worstRelL2)} (block ${c.worstBlock})` : `${c.error?.code}: ${c.error?.message}`;
    return {
      clip: c.clip,
      status: c.status === 'done' ? c.verdict! : 'error',
      cells: [base(c.clip), c.status === 'done' ? c.verdict!.toUpperCase() : 'ERROR', worst, c.fix?.length ? `${c.fix.length} LayerNorm(s) overflow` : '', conf.text],
      confirmed: conf.confirmed,
      title: `${base(c.clip)}: ${c.status === 'done' ? `${c.verdict}, worst ${fmt(c.worstRelL2)} at block ${c.worstBlock}` : `${c.error?.code}: ${c.error?.message}`}${conf.text ? `; with the fix: ${conf.text}` : ''} — click to open as a run`,
    };
  });
}

export function headroomTitle(l: LayerNormHeadroom): string {
  return `${l.name} (${l.place}): max (x−mean)² ${fmt(l.square.max)}, Σ(x−mean)² ${fmt(l.sumSquares.max)}, |Σx| ${fmt(l.sumX.max)}; headroom ${l.factor === null ? '—' : `${fmt(l.factor)}×`}; closest: ${l.closest.map((c) => `${base(c.clip)} ${c.factor === null ? '—' : `${fmt(c.factor)}×`}`).join(', ')}`;
}
