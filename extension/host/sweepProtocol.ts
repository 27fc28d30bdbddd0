/**
 * The messages between the sweep panel (host/views/sweep-panel.ts) and its webview (webview/sweep.ts).
 * No vscode import: the webview bundles it. Numbers travel through toWire/fromWire (inf, NaN kept).
 */
import type { ClipResult, ConfirmedClip, SweepResult } from '../core/sweep/types';

/** What the view draws: the clips as they finish, then the whole result (headroom, fix). */
export interface SweepView {
  status: 'running' | 'done' | 'cancelled' | 'failed';
  weights: string;
  out: string;
  total: number;
  /** The tolerance line of the error strip. */
  tolerance: number;
  clips: ClipResult[];
  /** The covering fix's confirmation runs as they finish, and how many there are (the clips done). */
  confirms: ConfirmedClip[];
  confirmTotal?: number;
  result?: SweepResult;
  message?: string;
}

export type HostToSweep = { type: 'sweep'; view: SweepView };
export type SweepToHost = { type: 'ready' } | { type: 'open'; clip: string } | { type: 'openMarkdown' };

/** A message from the webview, checked (anything else is ignored). */
export function parseSweepMessage(raw: unknown): SweepToHost | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const m = raw as Record<string, unknown>;
  if (m.type === 'ready' || m.type === 'openMarkdown') return { type: m.type };
  if (m.type === 'open' && typeof m.clip === 'string' && m.clip.length < 4096) return { type: 'open', clip: m.clip };
  return undefined;
}
