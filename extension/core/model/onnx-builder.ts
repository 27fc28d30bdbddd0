/**
 * A small typed layer over onnx-proto (the ONNX protobuf schema compiled for protobufjs): nodes,
 * initializers and value infos are added by name, and the model is encoded once at the end.
 * Weights go in as raw little-endian initializers.
 */
import { onnx } from 'onnx-proto';
import { float32ToBfloat16Bits, float32ToHalfArray } from '../tensor';

export const OPSET = 17;
export const ElemType = { FLOAT: 1, INT64: 7, FLOAT16: 10, BFLOAT16: 16 } as const;
export type ElemTypeCode = (typeof ElemType)[keyof typeof ElemType];

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs?: string[];
  attrs?: Record<string, AttrValue>;
  /** Node name; defaults to `${scope}/${op}_${n}`. */
  name?: string;
  domain?: string;
}

function attr(name: string, v: AttrValue): onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: A.STRING, s: Buffer.from(v, 'utf8') };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: use {float: x} for non-integer ${v}`);
    return { name, type: A.INT, i: v };
  }
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
  if ('float' in v) return { name, type: A.FLOAT, f: v.float };
  return { name, type: A.FLOATS, floats: v.floats };
}

export class OnnxGraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  readonly inputs: onnx.IValueInfoProto[] = [];
  readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private readonly opCounter = new Map<string, number>();
  private readonly constCache = new Map<string, string>();
  private scopeStack: string[] = [];
  initializerBytes = 0;

  /** Run `fn` with node names prefixed by `scope` (module paths such as `blocks.4.temporal_norm1`). */
  scoped<T>(scope: string, fn: () => T): T {
    this.scopeStack.push(scope);
    try {
      return fn();
    } finally {
      this.scopeStack.pop();
    }
  }
  get scope(): string {
    return this.scopeStack.join('/');
  }

  /** A fresh tensor name under the current scope. */
  fresh(hint: string): string {
    const base = this.scope ? `${this.scope}/${hint}` : hint;
    let name = base;
    let i = 1;
    while (this.used.has(name)) name = `${base}_${i++}`;
    this.used.add(name);
    return name;
  }

  /** Claim an exact tensor name (for outputs named after the model). */
  claim(name: string): string {
    if (this.used.has(name)) throw new Error(`tensor name ${name} used twice`);
    this.used.add(name);
    return name;
  }

  /**
   * Node names are torch.onnx.export's: `<scope>/<Op>` for the first node of a type in a scope,
   * then `<scope>/<Op>_1`, `_2`, ... (`/model/blocks.6/temporal_norm1/ReduceMean_1`).
   */
  node(spec: NodeSpec): string[] {
    const outputs = spec.outputs ?? [this.fresh(spec.op)];
    const scope = this.scope;
    const key = `${scope}\u0000${spec.op}`;
    const count = this.opCounter.get(key) ?? 0;
    this.opCounter.set(key, count + 1);
    const name = spec.name ?? `${scope}/${spec.op}${count ? `_${count}` : ''}`;
    this.nodes.push({
      opType: spec.op,
      input: spec.inputs,
      output: outputs,
      name,
      domain: spec.domain ?? '',
      attribute: Object.entries(spec.attrs ?? {}).map(([k, v]) => attr(k, v)),
    });
    return outputs;
  }

  /** Single-output node helper. */
  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, out?: string): string {
    return this.node({ op, inputs, attrs, outputs: out ? [out] : undefined })[0];
  }

  /** A float initializer stored as FLOAT, FLOAT16 or BFLOAT16 raw data. */
  floatInit(name: string, dims: readonly number[], values: Float32Array, type: ElemTypeCode = ElemType.FLOAT): string {
    this.claim(name);
    let raw: Uint8Array;
    if (type === ElemType.FLOAT) raw = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    else if (type === ElemType.FLOAT16) {
      const h = float32ToHalfArray(values);
      raw = new Uint8Array(h.buffer);
    } else if (type === ElemType.BFLOAT16) {
      const h = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) h[i] = float32ToBfloat16Bits(values[i]);
      raw = new Uint8Array(h.buffer);
    } else throw new Error(`floatInit: unsupported type ${type}`);
    this.initializers.push({ name, dims: [...dims], dataType: type, rawData: raw });
    this.initializerBytes += raw.byteLength;
    return name;
  }

  int64Init(name: string, values: readonly number[], dims?: readonly number[]): string {
    this.claim(name);
    const a = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims: dims ? [...dims] : [values.length], dataType: ElemType.INT64, rawData: new Uint8Array(a.buffer) });
    return name;
  }

  /** A shared int64 1-D constant (shapes, axes, slice bounds). */
  ints(values: readonly number[]): string {
    const key = `i64:${values.join(',')}`;
    let n = this.constCache.get(key);
    if (!n) {
      n = this.int64Init(`const/i64_${values.map((v) => (v < 0 ? 'm' + -v : String(v))).join('_')}`, values);
      this.constCache.set(key, n);
    }
    return n;
  }

  /** A shared int64 scalar constant. */
  intScalar(v: number): string {
    const key = `i64s:${v}`;
    let n = this.constCache.get(key);
    if (!n) {
      n = this.int64Init(`const/i64s_${v < 0 ? 'm' + -v : v}`, [v], []);
      this.constCache.set(key, n);
    }
    return n;
  }

  /** A shared float scalar constant of the given element type. */
  scalar(v: number, type: ElemTypeCode): string {
    const key = `f:${type}:${v}`;
    let n = this.constCache.get(key);
    if (!n) {
      n = this.floatInit(`const/f${type}_${String(v).replace(/[^0-9a-zA-Z]/g, '_')}`, [], new Float32Array([v]), type);
      this.constCache.set(key, n);
    }
    return n;
  }

  input(name: string, type: ElemTypeCode, dims: readonly number[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: ElemTypeCode, dims?: readonly number[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  toModel(graphName: string, docString: string): onnx.ModelProto {
    return onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'timesformer-precision-lab',
      producerVersion: '0.1.0',
      docString,
      opsetImport: [{ domain: '', version: OPSET }, ...(this.nodes.some((n) => n.domain === 'com.microsoft') ? [{ domain: 'com.microsoft', version: 1 }] : [])],
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
  }

  encode(graphName: string, docString: string): Uint8Array {
    return onnx.ModelProto.encode(this.toModel(graphName, docString)).finish();
  }
}

function valueInfo(name: string, type: ElemTypeCode, dims?: readonly number[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: type,
        shape: dims ? { dim: dims.map((d) => ({ dimValue: d })) } : undefined,
      },
    },
  };
}
