/**
 * Where the store (state.ts) keeps itself between sessions: VS Code's workspace state, under two
 * keys. The choices and options (a small snapshot) are written on every persisted change; the
 * runs with their Reports (up to 16 MiB) only when the runs change, each run's JSON made once —
 * an option toggled, a run shown or a checkpoint chosen used to serialize every Report again,
 * twice, before the views heard of the change (scripts/bench/bench-state.ts). No `vscode` import.
 */
import { parseReportJson, reportToJson } from '../core/report';
import type { RunSettings } from './protocol';
import type { Attempt, StoredRun } from './labels';
import type { ActiveFix, FileLists } from './state-derive';

/** The subset of vscode.Memento used here. */
export interface Memento {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void>;
}

/** The small state: everything the store keeps but its runs. */
export interface Snapshot {
  v: 1;
  checkpoint?: string;
  pairs: Record<string, string | null>;
  overrides: Partial<RunSettings>;
  browsed: FileLists;
  counter: number;
  shown: string[];
  attempts?: Attempt[];
  fix?: ActiveFix;
  /** Before the runs had their own key (RUNS_KEY): read once, then moved. */
  runs?: string;
}

const STATE_KEY = 'timesformerLab.state';
/** The runs as reportToJson text (keeps Infinity and NaN). */
const RUNS_KEY = 'timesformerLab.runs';
/** Persisted runs stop here (the newest are kept): a Report is 50 KB to 1 MB. */
const MAX_PERSISTED_BYTES = 16 * 2 ** 20;

export class StatePersistence {
  /** The runs as last written or read under RUNS_KEY (the store replaces the array on every change of its runs). */
  private savedRuns?: readonly StoredRun[];
  /** Each run's persisted text, made once: a StoredRun is replaced, never changed. */
  private readonly runTexts = new WeakMap<StoredRun, string>();

  constructor(private readonly memento: Memento | undefined) {}

  /** The small state, always; the runs when they are not the ones last written. */
  save(snap: Omit<Snapshot, 'v' | 'runs'>, runs: readonly StoredRun[]): void {
    if (!this.memento) return;
    if (runs !== this.savedRuns) {
      this.savedRuns = runs;
      void this.memento.update(RUNS_KEY, this.runsText(runs));
    }
    void this.memento.update(STATE_KEY, { v: 1, ...snap } satisfies Snapshot);
  }

  /** What was persisted (undefined: nothing, or another version); throws on damaged JSON. */
  load(): { snap: Snapshot; runs: StoredRun[] } | undefined {
    const snap = this.memento?.get<Snapshot>(STATE_KEY);
    if (!snap || snap.v !== 1) return undefined;
    const text = this.memento?.get<string>(RUNS_KEY);
    const runs = typeof text === 'string' ? parseReportJson<StoredRun[]>(text) : typeof snap.runs === 'string' ? parseReportJson<StoredRun[]>(snap.runs) : [];
    // read from their own key: nothing to write until they change (from the snapshot: moved at the next save)
    if (typeof text === 'string') this.savedRuns = runs;
    return { snap, runs };
  }

  /** Newest runs first until the budget is spent, as one JSON array; requestIds belong to this session's engine. */
  private runsText(runs: readonly StoredRun[]): string {
    const kept: string[] = [];
    let bytes = 0;
    for (let i = runs.length - 1; i >= 0; i--) {
      const r = runs[i];
      let text = this.runTexts.get(r);
      if (text === undefined) {
        text = reportToJson({ ...r, requestId: undefined, confirming: undefined }, 0);
        this.runTexts.set(r, text);
      }
      if (bytes + text.length > MAX_PERSISTED_BYTES) break;
      bytes += text.length;
      kept.push(text);
    }
    return `[${kept.reverse().join(',')}]`;
  }
}
