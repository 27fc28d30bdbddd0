/**
 * Honest verdicts on broken inputs: what is wrong with a model or its weights is said as such,
 * before anything runs, instead of surfacing later as a misleading diagnosis (a NaN weight is not
 * an FP16 overflow; all-NaN weights are not the test data's fault) or a stack trace.
 *
 * The pipeline calls these in one line each:
 *   loadModel, openModel: streamModelWeights(entries, base, file, sink, loadMany) — only the weights the graph
 *                uses, checked finite, one at a time
 *   detectHeads: headCandidatesFor(base.embedDim, file)       — a typed error when there is nothing to try
 */
import { LabError } from '../errors';
import { DTYPE_SIZE, findNonFinite, numel, unravelIndex, type Tensor } from '../tensor';
import type { ModelConfig } from '../report';
import { BLOCK_PARAMS, TOP_PARAMS, headCandidates, type WeightEntry } from './config';

type BaseConfig = Omit<ModelConfig, 'heads' | 'headsSource' | 'headsTried'>;

/** The state-dict keys (without the `model.` prefix) the TimeSformer graph uses, in order. */
export function modelKeys(depth: number): string[] {
  const keys: string[] = [...TOP_PARAMS];
  for (let i = 0; i < depth; i++) for (const p of BLOCK_PARAMS) keys.push(`blocks.${i}.${p}`);
  return keys;
}

/**
 * Every size the graph is built from must be at least 1 (a 0-wide model or 0 classes gives a
 * vacuous run). A model without a classifier (HF TimesformerModel: numClasses 0, no head weights)
 * is allowed where `headOptional`.
 */
export function checkModelSizes(base: BaseConfig, file: string, headOptional = false): void {
  const sizes: [string, number][] = [
    ['embedding width (cls_token)', base.embedDim], ['depth (blocks)', base.depth], ['frames (time_embed)', base.frames],
    ['patch size', base.patchSize], ['patches (pos_embed)', base.numPatches],
    ...(headOptional && base.numClasses === 0 ? [] : [['classes (head.weight)', base.numClasses] as [string, number]]),
    ['MLP width (fc1)', base.mlpHidden],
  ];
  const zero = sizes.filter(([, n]) => !(n >= 1));
  if (zero.length) throw new LabError('BAD_WEIGHTS', `the model is empty: ${zero.map(([what, n]) => `${what} ${n}`).join(', ')}`, file);
}

/**
 * Refuse NaN or infinite weights, naming the first tensor and element, and how many tensors are
 * affected: the run would otherwise blame FP16 (or the test data) for them.
 */
class FiniteCheck {
  private first: { key: string; shape?: readonly number[]; index: number; value: number; count: number } | undefined;
  private tensors = 0;
  private values = 0;
  private total = 0;
  /** Whether `a` is all finite. */
  add(key: string, a: Float32Array, shape?: readonly number[]): boolean {
    return this.record(key, a.length, findNonFinite(a), shape);
  }
  /** The same for a weight someone else checked (`nf`: where its first NaN or infinity is). */
  record(key: string, size: number, nf: { index: number; value: number; count: number } | null, shape?: readonly number[]): boolean {
    this.total += size;
    if (!nf) return true;
    this.tensors++;
    this.values += nf.count;
    this.first ??= { key, shape, ...nf };
    return false;
  }
  throwIfAny(file: string): void {
    const { first, tensors, values } = this;
    if (!first) return;
    const all = values === this.total;
    const where = `${first.key}[${unravelIndex(first.index, first.shape ?? [first.index + 1]).join(', ')}]`;
    throw new LabError(
      'NON_FINITE',
      all
        ? `every weight is NaN or infinite (first: ${where} = ${first.value}): the checkpoint is broken, not the precision`
        : `${where} is ${first.value} (${values.toLocaleString('en-US')} non-finite value(s) in ${tensors} tensor(s)): the checkpoint is broken, not the precision`,
      file,
    );
  }
}

/** Loads several weights at once, so that storages they share are read (inflated) once (Checkpoint.loadMany). */
export type LoadMany = (entries: readonly WeightEntry[]) => Promise<Tensor[]>;

/**
 * A sink that checks what it is given itself (a WeightStore on worker threads: the check is fused
 * with the transpose and conversion there): `put` may keep `data`'s buffer (it is not used again)
 * and resolves with where the first NaN or infinity is, or null. Up to `window` weights are in
 * flight at once.
 */
export interface CheckingSink {
  put(key: string, shape: readonly number[], data: Float32Array): Promise<{ index: number; value: number; count: number } | null>;
  window: number;
}

/**
 * Read the weights the graph uses (nothing else in the state dict is read; `entries` are the
 * weights under the official names: config.normalizeKeys, or a HuggingFace mapping; a model
 * without a classifier has no `head.*`), without holding the model: each is read, converted to
 * float32, checked finite and handed to `sink` (which may keep it, or write it in the background:
 * its promise is awaited one weight later), then dropped. One read ahead and one write behind keep the file,
 * the conversion and the sink busy together. A CheckingSink checks the values itself and takes up
 * to its `window` weights at once (a store's worker threads). Returns the dominant dtype and the
 * weights' bytes in the checkpoint's own dtypes.
 */
export async function streamModelWeights(
  entries: ReadonlyMap<string, WeightEntry>, base: BaseConfig, file: string,
  sink: ((key: string, shape: readonly number[], data: Float32Array) => unknown) | CheckingSink, loadMany?: LoadMany,
): Promise<{ dtype: string; bytes: number }> {
  const headless = base.numClasses === 0;
  checkModelSizes(base, file, headless);
  const keys = modelKeys(base.depth).filter((k) => !(headless && k.startsWith('head.')));
  const list = keys.map((k) => {
    const e = entries.get(k);
    if (!e) throw new LabError('MISSING_WEIGHTS', `missing weight ${k}`, file);
    return e;
  });
  const quiet = <T>(p: Promise<T>) => {
    p.catch(() => undefined); // awaited below; a failure surfaces there, not as an unhandled rejection
    return p;
  };
  // one at a time: a storage two weights share is read twice rather than the model held whole
  const load = (i: number) => quiet(loadMany ? loadMany([list[i]]).then((t) => t[0]) : list[i].load());
  const finite = new FiniteCheck();
  const counts = new Map<string, number>();
  const checking = typeof sink === 'function' ? undefined : sink;
  const window = Math.max(1, checking?.window ?? 1);
  // a checking sink's answers, in key order (the error names the first bad weight of the file)
  const checked: Promise<{ index: number; value: number; count: number } | null>[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const shapes: (readonly number[])[] = [];
  let bytes = 0;
  let next = list.length ? load(0) : undefined;
  let written: Promise<unknown> = Promise.resolve();
  try {
    for (let i = 0; i < list.length; i++) {
      const t = await next!;
      next = i + 1 < list.length ? load(i + 1) : undefined;
      const a = t.toFloat32();
      // counted first: a checking sink may take the buffer (then the tensor reads as empty)
      counts.set(t.dtype, (counts.get(t.dtype) ?? 0) + t.size);
      bytes += t.size * DTYPE_SIZE[t.dtype];
      if (checking) {
        const w = quiet(checking.put(keys[i], t.shape, a));
        checked.push(w);
        shapes.push(t.shape);
        inFlight.add(w);
        void w.then(() => inFlight.delete(w), () => inFlight.delete(w));
        while (inFlight.size >= window) await Promise.race(inFlight);
      } else if (finite.add(keys[i], a, t.shape)) {
        // past a non-finite weight the rest is only read for the count the error gives
        const w = quiet(Promise.resolve((sink as (key: string, shape: readonly number[], data: Float32Array) => unknown)(keys[i], t.shape, a)));
        await written;
        written = w;
      }
    }
    await written;
    for (let i = 0; i < checked.length; i++) finite.record(keys[i], numel(shapes[i]), await checked[i], shapes[i]);
  } catch (e) {
    // nothing may still be writing into the sink when the caller cleans up after the error
    await Promise.allSettled([...inFlight, written]);
    throw e;
  }
  finite.throwIfAny(file);
  const dtype = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'float32';
  return { dtype, bytes };
}

/** Head counts to try for detection; none (a model narrower than 8 per head) is a typed error, not `Reduce of empty array`. */
export function headCandidatesFor(embedDim: number, file: string): number[] {
  const candidates = headCandidates(embedDim);
  if (candidates.length === 0) {
    throw new LabError('HEADS_UNDETECTED', `the model is ${embedDim} wide: no head count leaves a head dimension of at least 8 to try, so the head count cannot be detected; pass --heads (the heads setting)`, file);
  }
  return candidates;
}
