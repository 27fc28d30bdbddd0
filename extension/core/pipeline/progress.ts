/**
 * How a stage speaks: its lines go to a log (the Report's) and to the hooks; a stage line checks
 * cancellation first. Shared by the preparation and each mode's run.
 */
import { LabError } from '../errors';
import type { PipelineHooks, Stage } from '../report';

export function check(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new LabError('CANCELLED', 'cancelled');
}

export interface Voice {
  log: string[];
  say(line: string): void;
  /** A stage line ("[building engine] cpu, …"), after a check for cancellation. */
  stage(s: Stage, detail?: string): void;
}

export function voice(hooks: PipelineHooks, log: string[] = []): Voice {
  const say = (s: string) => {
    log.push(s);
    hooks.log?.(s);
  };
  const stage = (s: Stage, detail?: string) => {
    check(hooks.signal);
    hooks.onProgress?.(s, detail);
    say(`[${s}]${detail ? ' ' + detail : ''}`);
  };
  return { log, say, stage };
}

/** Calls of `f` at most every `ms` milliseconds, and always the last (done === total). */
export function throttled(ms: number, f: (done: number, total: number) => void): (done: number, total: number) => void {
  let last = -Infinity;
  return (done, total) => {
    const now = performance.now();
    if (done < total && now - last < ms) return;
    last = now;
    f(done, total);
  };
}
