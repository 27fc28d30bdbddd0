/**
 * Which test data goes with a checkpoint: first by shape agreement (frames, image size, width,
 * depth and classes, read from the files' headers), then by name. Pure: no `vscode`, no I/O.
 *
 * Names only break ties between files that agree: `d1_outlier_test_data.p` for `d1_outlier.pyth`,
 * a test-data file inside an HF folder for that folder (`hf1/test_data.p` for `hf1/`), then shared
 * words (`a_model.pyth` and `a_test_data.p` share `a`; the generic words model, test, data,
 * weights... do not count), then the same folder (the checkpoint file's folder; an HF folder's own). When no test data agrees, none is chosen:
 * the run compares with the model's own FP32 graph on the CPU.
 */
import * as path from 'path';
import { describeSignature, disagreements, type DataSignature, type ModelSignature } from '../core/inspect';

/** What is known about a file's geometry: its signature, an error reading it, or nothing yet. */
export type Inspection =
  | { state: 'ok'; signature: ModelSignature | DataSignature }
  | { state: 'error'; code: string; message: string }
  | { state: 'pending' }
  | { state: 'skipped'; reason: string };

/** The verdict on a (checkpoint, test data) pair, shown before any run. */
export type Agreement =
  | { status: 'agree'; detail: string }
  | { status: 'disagree'; problems: string[] }
  /** Not known (yet): a file is being read, could not be read, or reading was skipped. */
  | { status: 'unknown'; reason: string }
  /** No test data: the reference is the model's own FP32 graph on the CPU. */
  | { status: 'self'; detail: string };

const GENERIC = new Set(['model', 'models', 'test', 'data', 'testdata', 'weights', 'checkpoint', 'ckpt', 'state', 'dict', 'pytorch', 'final', 'best', 'p', 'pkl']);

function stem(p: string): string {
  return path.basename(p).replace(/\.(pyth|pth|pt|ckpt|p|pkl|pickle|bin|safetensors)$/i, '');
}

function words(s: string): string[] {
  return s.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w && !GENERIC.has(w));
}

/**
 * How well a test-data file's name fits a checkpoint's (higher is better; 0: nothing shared).
 * `hfFolder`: the checkpoint is an HF folder, whose own folder is itself (not its parent).
 */
export function nameScore(checkpoint: string, data: string, hfFolder = false): number {
  const c = stem(checkpoint).toLowerCase();
  const d = stem(data).toLowerCase();
  if (d === `${c}_test_data` || d === `${c}-test-data` || d === `${c}_testdata`) return 100;
  // A file inside the checkpoint's path: the checkpoint is an HF folder and this is its own test data.
  if (path.dirname(data) === checkpoint) return 95;
  if (d === c) return 90;
  if (d.startsWith(c) && c.length >= 3) return 80;
  const cw = words(c);
  const dw = new Set(words(d));
  const folder = hfFolder ? checkpoint : path.dirname(checkpoint);
  return cw.filter((w) => dw.has(w)).length * 10 + (folder === path.dirname(data) ? 1 : 0);
}

export function agreement(checkpoint: Inspection | undefined, data: Inspection | undefined, dataPath: string | null): Agreement {
  if (dataPath === null) {
    return { status: 'self', detail: 'no test data: compared with the FP32 graph of this model on the CPU' };
  }
  const unknown = (i: Inspection | undefined, what: string): string | undefined => {
    if (!i || i.state === 'pending') return `reading the ${what}…`;
    if (i.state === 'skipped') return i.reason;
    if (i.state === 'error') return `the ${what} could not be read: ${i.message}`;
    return undefined;
  };
  const why = unknown(checkpoint, 'checkpoint') ?? unknown(data, 'test data');
  if (why) return { status: 'unknown', reason: why };
  const m = (checkpoint as { signature: ModelSignature }).signature;
  const d = (data as { signature: DataSignature }).signature;
  if (m.kind !== 'checkpoint' || d.kind !== 'test-data') return { status: 'unknown', reason: 'not a checkpoint and test data' };
  const problems = disagreements(m, d);
  return problems.length ? { status: 'disagree', problems } : { status: 'agree', detail: describeSignature(m) };
}

/**
 * The test data for a checkpoint: the best name among those that agree; else a name match among
 * those not read yet (they may agree); else none (compare with the model's own FP32).
 */
export function pairTestData(checkpoint: string, candidates: readonly string[], inspect: (p: string) => Inspection | undefined): string | null {
  const ck = inspect(checkpoint);
  const hf = ck?.state === 'ok' && ck.signature.kind === 'checkpoint' && ck.signature.hf === true;
  const ranked = candidates
    .map((p) => ({ p, a: agreement(ck, inspect(p), p).status, s: nameScore(checkpoint, p, hf) }))
    .sort((x, y) => y.s - x.s || x.p.localeCompare(y.p));
  const agreeing = ranked.find((x) => x.a === 'agree');
  if (agreeing) return agreeing.p;
  const byName = ranked.find((x) => x.a === 'unknown' && x.s >= 10);
  return byName ? byName.p : null;
}
