/**
 * How Python values are represented once unpickled (see pickle.ts), and the two hooks through
 * which the allow-list's objects take part: SET_STATE (BUILD) and FINALIZE (after STOP).
 */
import { LabError } from '../errors';
import { Tensor } from '../tensor';
import { NdArray } from './arrays';
import { LazyBytes } from './byte-source';

/**
 * What an allowed callable may use besides its arguments: `charge` counts work that is not an
 * opcode (items or bytes copied out of an argument), against the same budget as the opcodes.
 */
export interface CallContext {
  charge(units: number): void;
}

/** An allowed Python callable: a class or function. Receives the positional args (and kwargs). */
export type PyCallable = (args: unknown[], kwargs?: Map<unknown, unknown>, ctx?: CallContext) => unknown;

/** BUILD calls this method (our stand-in for `__setstate__`); nothing else is ever invoked on objects. */
export const SET_STATE: unique symbol = Symbol('pickle.setState');
/** After STOP, objects with this method are replaced by what it returns (e.g. a numpy array builder by its NdArray). */
export const FINALIZE: unique symbol = Symbol('pickle.finalize');

export interface Stateful {
  [SET_STATE](state: unknown, ctx?: CallContext): void;
}
export interface Finalizable {
  [FINALIZE](): unknown;
}

export function hasMethod<K extends symbol>(v: unknown, key: K): v is Record<K, (...a: unknown[]) => unknown> {
  return typeof v === 'object' && v !== null && typeof (v as Record<symbol, unknown>)[key] === 'function';
}

/** Merge a Python BUILD state (a dict, or a `(dict, slots)` tuple) into an attribute map. */
export function mergeState(attrs: Map<string, unknown>, state: unknown, what: string, ctx?: CallContext): void {
  const parts = Array.isArray(state) && state.length === 2 ? state : [state];
  for (const part of parts) {
    if (part === null) continue;
    if (!(part instanceof Map)) throw new LabError('BAD_PICKLE', `cannot set the state of ${what} from a ${typeName(part)}`);
    ctx?.charge(part.size);
    for (const [k, v] of part) {
      // Attribute names are strings in Python; anything else (a nested tuple...) is refused, not stringified.
      if (typeof k !== 'string') throw new LabError('BAD_PICKLE', `the state of ${what} has an attribute named by a ${typeName(k)}`);
      attrs.set(k, v);
    }
  }
}

/** An instance of an allowed class with no JS counterpart (argparse.Namespace...): attributes only. */
export class PyObject implements Stateful {
  readonly attrs = new Map<string, unknown>();
  constructor(readonly className: string) {}
  [SET_STATE](state: unknown, ctx?: CallContext): void {
    mergeState(this.attrs, state, this.className, ctx);
  }
}

/** An instance of a dict subclass (OrderedDict, yacs CfgNode): items in the Map, attributes (e.g. `_metadata`) apart. */
export class PyDictObject extends Map<unknown, unknown> implements Stateful {
  readonly attrs = new Map<string, unknown>();
  constructor(readonly className: string) {
    super();
  }
  [SET_STATE](state: unknown, ctx?: CallContext): void {
    mergeState(this.attrs, state, this.className, ctx);
  }
}

export function typeName(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'tuple/list';
  if (v instanceof PyDictObject || v instanceof PyObject) return v.className;
  if (v instanceof Map) return 'dict';
  if (v instanceof Set) return 'set';
  if (v instanceof Uint8Array || v instanceof LazyBytes) return 'bytes';
  if (v instanceof Tensor || v instanceof NdArray) return 'array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

/** A short, flat description of a value for an error message: never recurses, never long. */
export function shortRepr(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (Array.isArray(v)) {
    const items = v.slice(0, 8).map((x) => (typeof x === 'number' || typeof x === 'bigint' ? String(x) : typeName(x)));
    return `(${items.join(', ')}${v.length > 8 ? `, ... ${v.length} items` : ''})`;
  }
  return `a ${typeName(v)}`;
}
