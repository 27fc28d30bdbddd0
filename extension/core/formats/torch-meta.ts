/**
 * A checkpoint's entries other than its weights (epoch, config, optimizer state) as plain, bounded,
 * JSON-able data: nothing is read from storages, shared references are rendered within a budget,
 * and the optimizer state is summarized by counts and hyper-parameters.
 */
import { Tensor } from '../tensor';
import { LazyBytes } from './byte-source';
import { PyObject, shortRepr, typeName } from './pickle-values';
import { StorageType, TensorRef, TorchDType } from './torch-globals';

/** At most this many values are rendered into a checkpoint's meta, all entries together. */
export const META_NODES = 10_000;
/** ... and no deeper than this. */
const META_DEPTH = 32;

/**
 * Plain, JSON-able data. Tensors become `{ tensor: { dtype, shape } }`; nothing is read. Shared
 * references are rendered each time they appear, so the rendering is bounded instead: at most
 * `budget.nodes` values and META_DEPTH levels, past which a value reads '<...>'.
 */
export function toPlain(v: unknown, budget = { nodes: META_NODES }, depth = 0): unknown {
  if (budget.nodes <= 0 || depth > META_DEPTH) return '<...>';
  budget.nodes--;
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === 'string') return v.length > 4096 ? `${v.slice(0, 4096)}<... ${v.length} characters>` : v;
  if (typeof v !== 'object') return typeof v === 'function' ? '<function>' : v;
  const sub = (x: unknown) => toPlain(x, budget, depth + 1);
  if (v instanceof TensorRef) return { tensor: { dtype: v.storage.dtype, shape: [...v.shape] } };
  if (v instanceof Tensor) return { tensor: { dtype: v.dtype, shape: [...v.shape] } };
  if (v instanceof Uint8Array || v instanceof LazyBytes) return { bytes: v.length };
  if (Array.isArray(v)) return v.slice(0, budget.nodes).map(sub);
  if (v instanceof Set) return [...v].slice(0, budget.nodes).map(sub);
  if (v instanceof Map) return plainObject([...v].slice(0, budget.nodes).map(([k, x]) => [typeof k === 'string' ? k : shortRepr(k), sub(x)]));
  if (v instanceof PyObject) return plainObject([...v.attrs].slice(0, budget.nodes).map(([k, x]) => [k, sub(x)]));
  if (v instanceof StorageType || v instanceof TorchDType) return v.name;
  return `<${typeName(v)}>`;
}

/** An object whose keys come from the file: data properties only, never a prototype change. */
function plainObject(entries: [string, unknown][]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

/** Every tensor reference in a value, each object visited once (iterative: no depth limit needed). */
function collectTensors(root: unknown): TensorRef[] {
  const out: TensorRef[] = [];
  const seen = new Set<object>();
  const todo: unknown[] = [root];
  while (todo.length) {
    const v = todo.pop();
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof TensorRef) out.push(v);
    else if (Array.isArray(v) || v instanceof Set) for (const x of v) todo.push(x);
    else if (v instanceof Map) for (const x of v.values()) todo.push(x);
    else if (v instanceof PyObject) for (const x of v.attrs.values()) todo.push(x);
  }
  return out;
}

/** The optimizer state, summarized: counts and hyper-parameters; its tensors are never read. */
export function summarizeOptimizer(v: unknown, budget: { nodes: number }): Record<string, unknown> {
  const tensors = collectTensors(v);
  const summary: Record<string, unknown> = {
    loaded: false,
    tensors: tensors.length,
    elements: tensors.reduce((s, t) => s + t.numel, 0),
  };
  if (v instanceof Map) {
    const state = v.get('state');
    if (state instanceof Map) summary.stateEntries = state.size;
    const groups = v.get('param_groups');
    if (Array.isArray(groups)) {
      summary.paramGroups = groups.slice(0, 64).map((g) => {
        if (!(g instanceof Map)) return toPlain(g, budget);
        const params = g.get('params');
        const rest = new Map([...g].filter(([k]) => k !== 'params'));
        return { ...(toPlain(rest, budget) as Record<string, unknown>), params: Array.isArray(params) ? params.length : 0 };
      });
    }
  }
  return summary;
}
