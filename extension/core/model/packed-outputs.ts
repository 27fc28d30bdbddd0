/**
 * A graph's outputs packed into one: each output flattened per row (a clip of a batch, or the whole
 * run), concatenated into a single (rows, Σ k) float32 output, and unpacked on the host as views
 * into it — no copy.
 *
 * Why: onnxruntime's WebGPU EP reads each output back from the GPU on its own, a copy and a wait per
 * output. Measured on an H100 (session 19, full size): 0.46 ms an output — the paired graph's 222
 * outputs cost 103 ms of its 351 ms run at batch 1 (248 ms packed); a single FP16 run with its
 * LayerNorm statistics has 87 outputs, 200 in expose mode. The one Concat costs a copy on the GPU.
 *
 * Used by the paired graph (paired-graph.ts: its rows are the batch's clips) and by a single run
 * on a GPU EP (pipeline/engine-run.ts: one row). Not on the CPU EP, where there is nothing to read
 * back and the Concat would be one more copy of every output.
 */
import { onnx } from 'onnx-proto';
import type { BuiltGraph, PackedOutputs } from './graph-options';
import { ElemType, OnnxGraphBuilder } from './onnx-builder';
import type { WeightStore } from './weight-store';

/** The name of the one output. */
export const PACKED_OUTPUT = 'packed/outputs';

/**
 * Reshape and Concat nodes in `g` that pack `outputs` into PACKED_OUTPUT, `rows` rows: each output's
 * first axis is the rows (a batch's clips), or, with one row, any shape (statistics over the run).
 */
export function packNodes(g: OnnxGraphBuilder, outputs: readonly onnx.IValueInfoProto[], rows: number): { output: onnx.IValueInfoProto; layout: PackedOutputs } {
  const parts: PackedOutputs['parts'] = [];
  let offset = 0;
  const flat = g.scoped('/pack', () => outputs.map((o) => {
    const dims = o.type!.tensorType!.shape!.dim!.map((d) => Number(d.dimValue));
    if (o.type!.tensorType!.elemType !== ElemType.FLOAT) throw new Error(`packing outputs: ${o.name} is not float32`);
    if (dims.some((d) => !(d > 0))) throw new Error(`packing outputs: ${o.name} has no fixed shape (${dims.join('×')})`);
    if (dims[0] !== rows && rows !== 1) throw new Error(`packing outputs: ${o.name} (${dims.join('×')}) is not per clip of a batch of ${rows}`);
    const length = dims.reduce((p, d) => p * d, 1) / rows;
    parts.push({ name: o.name!, offset, length });
    offset += length;
    return dims.length === 2 && dims[0] === rows ? o.name! : g.op('Reshape', [o.name!, g.ints([rows, length])]);
  }));
  g.claim(PACKED_OUTPUT);
  g.op('Concat', flat, { axis: 1 }, PACKED_OUTPUT);
  const output = onnx.ValueInfoProto.create({
    name: PACKED_OUTPUT,
    type: { tensorType: { elemType: ElemType.FLOAT, shape: { dim: [{ dimValue: rows }, { dimValue: offset }] } } },
  });
  return { output, layout: { name: PACKED_OUTPUT, parts, perClip: offset } };
}

/**
 * `built` with its outputs packed into one row (a single run); saved beside its weights when they
 * are a store's. Everything else of the graph (names, LayerNorms, writeOnnx: the model as built,
 * with its outputs apart) is as it was.
 */
export function packGraph(built: BuiltGraph, store?: WeightStore): BuiltGraph {
  const m = onnx.ModelProto.decode(built.model);
  const graph = m.graph!;
  const b = new OnnxGraphBuilder();
  const { output, layout } = packNodes(b, graph.output!, 1);
  // the packing's constants under pack/ (the builder names them as the graph's own builder did: const/…)
  const rename = new Map(b.initializers.map((t) => [t.name!, `pack/${t.name}`]));
  const model = onnx.ModelProto.encode(onnx.ModelProto.create({
    ...m,
    graph: {
      ...graph,
      node: [...graph.node!, ...b.nodes.map((n) => ({ ...n, input: n.input!.map((x) => rename.get(x) ?? x) }) as onnx.INodeProto)],
      initializer: [...graph.initializer!, ...b.initializers.map((t) => ({ ...t, name: rename.get(t.name!)! }) as onnx.ITensorProto)],
      output: [output],
    },
  })).finish();
  return { ...built, source: store ? store.saveModel(model, 'packed') : model, packed: layout };
}

/**
 * Row `row` of `rows` of a run's outputs by their own names: views into the packed output where
 * `packed` is given and the run has it (an engine run elsewhere gives its outputs apart already);
 * otherwise each output's row (every output's first axis the rows).
 */
export function unpackOutputs(out: ReadonlyMap<string, Float32Array>, packed?: PackedOutputs, row = 0, rows = 1): Map<string, Float32Array> {
  const all = packed ? out.get(packed.name) : undefined;
  const res = new Map<string, Float32Array>();
  if (packed && all) {
    if (all.length !== rows * packed.perClip) throw new Error(`output ${packed.name}: ${all.length} values, not ${rows} row(s) of ${packed.perClip}`);
    const r = all.subarray(row * packed.perClip, (row + 1) * packed.perClip);
    for (const p of packed.parts) res.set(p.name, r.subarray(p.offset, p.offset + p.length));
    return res;
  }
  if (rows === 1) return new Map(out);
  for (const [name, a] of out) {
    if (a.length % rows !== 0) throw new Error(`output ${name}: ${a.length} values are not ${rows} clips`);
    const n = a.length / rows;
    res.set(name, a.subarray(row * n, (row + 1) * n));
  }
  return res;
}
