/**
 * The base allow-list every reader starts from: containers, bytes, and config objects read as
 * plain data (argparse.Namespace, yacs/fvcore CfgNode). Readers add their own names (torch.ts's
 * TORCH_GLOBALS, numpy-pickle.ts's NUMPY_GLOBALS); nothing outside these maps can be referenced.
 */
import { LabError } from '../errors';
import { LazyBytes, type PyBytes } from './byte-source';
import { mergeState, PyDictObject, PyObject, shortRepr, typeName, type CallContext, type PyCallable } from './pickle-values';

function toBytes(value: unknown, encoding: unknown, what: string, ctx?: CallContext): PyBytes {
  if (value === undefined) return new Uint8Array(0);
  // bytes(b) / bytearray(b): the same bytes (never mutated here), so no copy and no cost.
  if (value instanceof Uint8Array || value instanceof LazyBytes) return value;
  if (typeof value === 'string') {
    ctx?.charge(value.length);
    const enc = typeof encoding === 'string' ? encoding.toLowerCase().replace(/[-_]/g, '') : 'utf8';
    if (enc === 'latin1' || enc === 'iso88591') return Buffer.from(value, 'latin1');
    if (enc === 'utf8') return Buffer.from(value, 'utf8');
    throw new LabError('BAD_PICKLE', `${what}: unsupported text encoding ${shortRepr(encoding)}`);
  }
  if (Array.isArray(value)) {
    ctx?.charge(value.length);
    if (!value.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 256)) throw new LabError('BAD_PICKLE', `${what} of a list that is not all bytes`);
    return Uint8Array.from(value as number[]);
  }
  throw new LabError('BAD_PICKLE', `${what} of a ${typeName(value)}`);
}

function iterableItems(v: unknown, what: string, ctx?: CallContext): unknown[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) {
    ctx?.charge(v.length);
    return v;
  }
  if (v instanceof Set) {
    ctx?.charge(v.size);
    return [...v];
  }
  throw new LabError('BAD_PICKLE', `${what} of a ${typeName(v)}`);
}

function dictSubclass(className: string): PyCallable {
  return (args, _kwargs, ctx) => {
    const d = new PyDictObject(className);
    const init = args[0];
    if (init instanceof Map) {
      ctx?.charge(init.size);
      for (const [k, v] of init) d.set(k, v);
    } else {
      for (const pair of iterableItems(init, `${className}()`, ctx)) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new LabError('BAD_PICKLE', `${className}() expects key/value pairs`);
        d.set(pair[0], pair[1]);
      }
    }
    return d;
  };
}

export const BASE_GLOBALS: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ['collections.OrderedDict', dictSubclass('collections.OrderedDict')],
  ['builtins.set', ((args, _kw, ctx) => new Set(iterableItems(args[0], 'set()', ctx))) satisfies PyCallable],
  ['builtins.frozenset', ((args, _kw, ctx) => new Set(iterableItems(args[0], 'frozenset()', ctx))) satisfies PyCallable],
  ['builtins.bytes', ((args, _kw, ctx) => toBytes(args[0], args[1], 'bytes()', ctx)) satisfies PyCallable],
  ['builtins.bytearray', ((args, _kw, ctx) => toBytes(args[0], args[1], 'bytearray()', ctx)) satisfies PyCallable],
  ['builtins.slice', ((args) => Object.freeze({ start: args[0] ?? null, stop: args[1] ?? null, step: args[2] ?? null })) satisfies PyCallable],
  // Protocol-2 bytes: _codecs.encode('\x00\x01...', 'latin1').
  ['_codecs.encode', ((args, _kw, ctx) => toBytes(args[0], args[1] ?? 'utf-8', '_codecs.encode', ctx)) satisfies PyCallable],
  // Configs are read as plain data, never as live objects.
  ['argparse.Namespace', ((_args, kwargs, ctx) => {
    const o = new PyObject('argparse.Namespace');
    if (kwargs) mergeState(o.attrs, kwargs, o.className, ctx);
    return o;
  }) satisfies PyCallable],
  ['yacs.config.CfgNode', dictSubclass('yacs.config.CfgNode')],
  ['fvcore.common.config.CfgNode', dictSubclass('fvcore.common.config.CfgNode')],
]);
