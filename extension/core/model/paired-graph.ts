/**
 * A graph under test and its FP32 reference in one ONNX model, compared inside it (issue 21: a
 * sweep reads back kilobytes per clip instead of both graphs' block outputs, 2 × 12 × 4.8 MB at
 * full size, and compares nothing on the host's threads).
 *
 * The two graphs are built as always (timesformer.ts) and merged here at the protobuf level: the
 * reference's tensors and nodes are renamed under `ref/` (its initializers that are the very same
 * bytes as the test graph's — the same external data, or equal inline constants — are shared, not
 * loaded twice), both take the same `video` input, and their block outputs stop being graph
 * outputs: a comparison subgraph reduces each block pair to the sums that compare/in-graph.ts turns
 * into exactly what compare/metrics.ts's compareBlock gives on the host (the Diff, the per-token
 * errors, both tensors' statistics), in fp32 GPU reductions instead of float64 host sums.
 *
 * What leaves the engine per clip: both graphs' probabilities and LayerNorm statistics (9 values
 * and C channel maxima for each of the 2 × 37 LayerNorms), and per block 6 + (N−1) + 2 × (9 + C)
 * floats — 374 KiB at full size instead of 110.5 MiB (measured on the H200 machine). Every output's
 * first axis is the batch: a run may carry several clips (sweep/batch.ts; packed-outputs.ts's
 * unpackOutputs reads one clip's, as a one-clip run's outputs).
 * The one thing not reduced is the histogram of each block output (32 bins over its range: a
 * second pass per tensor, 32 comparisons an element); a paired run's TensorStats holds a one-bin
 * histogram over [min, max], and says so (compare/in-graph.ts).
 */
import { onnx } from 'onnx-proto';
import { IN_GRAPH_DIFF, IN_GRAPH_STATS, type BuiltGraph, type InGraphBlock, type InGraphComparison, type LayerNormTensors } from './graph-options';
import { ElemType, executionFriendlyOrder, OnnxGraphBuilder, OPSET } from './onnx-builder';
import { packNodes } from './packed-outputs';
import { reducePerClip, type ClipReduce } from './reduce';
import type { WeightStore } from './weight-store';
import { FLT_MAX, FP16_MAX } from '../tensor';

export interface PairedGraph {
  /**
   * The graph under test as the pipeline reads it: its probabilities and LayerNorm statistics under
   * their own names, its block outputs compared inside (`inGraph`), none of them an output.
   */
  test: BuiltGraph;
  /** The reference as an fp32 probe run is read: probabilities and LayerNorm statistics under `ref/` names. */
  ref: BuiltGraph;
  /** Bytes the merged model's outputs take per run (all its clips). */
  outputBytes: number;
  /** Clips per run: every output's first axis (unpackOutputs gives one clip's). */
  batch: number;
}

const REF = 'ref/';

/**
 * Pair `test` with its FP32 reference `ref` (both built on the same weights, with the same input);
 * with a store, the model is saved beside its weights. `pack` (default): every output in one
 * (packed-outputs.ts); false keeps them apart (a benchmark's before).
 */
export function pairGraphs(test: BuiltGraph, ref: BuiltGraph, store?: WeightStore, o: { pack?: boolean } = {}): PairedGraph {
  if (test.inputName !== ref.inputName) throw new Error(`pairGraphs: inputs ${test.inputName} and ${ref.inputName} differ`);
  if (test.blockNames.length !== ref.blockNames.length || !test.blockNames.length) throw new Error(`pairGraphs: ${test.blockNames.length} and ${ref.blockNames.length} block outputs`);
  if (!test.probsName || !ref.probsName) throw new Error('pairGraphs: both graphs need their final output');
  const tm = onnx.ModelProto.decode(test.model);
  const rm = onnx.ModelProto.decode(ref.model);
  const tg = tm.graph!;
  const rg = rm.graph!;
  const input = tg.input![0];
  const shape = input.type!.tensorType!.shape!.dim!.map((d) => Number(d.dimValue));

  // the reference's names under ref/, but for the input and the initializers shared with the test graph
  const testInits = new Map(tg.initializer!.map((t) => [t.name!, t]));
  const rename = new Map<string, string>([[test.inputName, test.inputName], ['', '']]);
  const initializers = [...tg.initializer!];
  for (const t of rg.initializer!) {
    const same = testInits.get(t.name!);
    if (same && sameTensor(same, t)) rename.set(t.name!, t.name!);
    else {
      rename.set(t.name!, REF + t.name!);
      initializers.push({ ...t, name: REF + t.name! } as onnx.TensorProto);
    }
  }
  const r = (n: string) => rename.get(n) ?? REF + n;
  const refNodes = rg.node!.map((n) => ({ ...n, name: `/ref${n.name ?? ''}`, input: n.input!.map(r), output: n.output!.map(r) }) as onnx.INodeProto);

  // the comparison subgraph
  const b = new OnnxGraphBuilder();
  const T = shape[2];
  const blockShape = blockShapeOf(tg, test.blockNames[0]);
  const [batch, tokens, channels] = blockShape;
  if (batch > 1) {
    // a batch of clips is read clip by clip: every statistics output must be per clip too
    const whole = [...test.layerNorms, ...ref.layerNorms].find((l) => l.stats && (tg.output!.concat(rg.output!).find((o) => o.name === l.stats)?.type?.tensorType?.shape?.dim?.length ?? 0) !== 2);
    if (whole) throw new Error(`pairGraphs: a batch of ${batch} clips needs per-clip LayerNorm statistics (probesPerClip); ${whole.stats} is over the whole batch`);
  }
  const S = (tokens - 1) / T;
  const blocks = b.scoped('/compare', () => test.blockNames.map((name, i) => compareBlock(b, name, r(ref.blockNames[i]), i, blockShape)));
  const blockOut = new Set([...test.blockNames, ...ref.blockNames.map(r)]);
  const outputs = [
    ...tg.output!.filter((o) => !blockOut.has(o.name!)),
    ...rg.output!.map((o) => ({ ...o, name: r(o.name!) }) as onnx.IValueInfoProto).filter((o) => !blockOut.has(o.name!)),
    ...b.outputs,
  ];
  const packed = o.pack === false ? undefined : packNodes(b, outputs, batch);
  // the comparison's and the packing's constants under cmp/ (the builder names them as the two graphs' builders did: const/…)
  const cmpInit = new Map(b.initializers.map((t) => [t.name!, `cmp/${t.name}`]));
  const cmpNodes = b.nodes.map((n) => ({ ...n, input: n.input!.map((x) => cmpInit.get(x) ?? x) }) as onnx.INodeProto);
  const cmpInits = b.initializers.map((t) => ({ ...t, name: cmpInit.get(t.name!)! }) as onnx.ITensorProto);
  const domains = new Map<string, number>();
  for (const o of [...tm.opsetImport!, ...rm.opsetImport!, { domain: '', version: OPSET }]) domains.set(o.domain ?? '', Math.max(domains.get(o.domain ?? '') ?? 0, Number(o.version)));
  const model = onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: tm.irVersion, producerName: tm.producerName, producerVersion: tm.producerVersion,
    docString: `${tm.docString}; paired with its FP32 reference (${rm.docString}), block outputs compared inside the graph`,
    opsetImport: [...domains].map(([domain, version]) => ({ domain, version })),
    graph: {
      name: 'timesformer-paired',
      node: executionFriendlyOrder([...tg.node!, ...refNodes, ...cmpNodes]),
      initializer: [...initializers, ...cmpInits],
      input: [input],
      output: packed ? [packed.output] : outputs,
    },
  })).finish();
  const outputBytes = outputs.reduce((s, o) => s + 4 * o.type!.tensorType!.shape!.dim!.reduce((p, d) => p * Number(d.dimValue), 1), 0);
  const source = store ? store.saveModel(model, 'paired') : model;
  const refLns: LayerNormTensors[] = ref.layerNorms.map((l) => ({ ...l, stats: l.stats && r(l.stats), channels: l.channels && r(l.channels), diff: undefined, mean: undefined, std: undefined }));
  // read per clip (unpackOutputs): one clip's block shape
  const inGraph: InGraphComparison = { blocks, shape: [1, tokens, channels], S, T, C: channels };
  return {
    test: {
      ...test, model, source, inGraph, packed: packed?.layout,
      writeOnnx: () => {
        throw new Error('a paired graph is not written as a model of its own: write the graph under test');
      },
    },
    ref: { ...ref, model, source, probsName: r(ref.probsName), blockNames: [], layerNorms: refLns, extraOutputs: [], packed: packed?.layout },
    outputBytes,
    batch,
  };
}

/** The same initializer: name, type, dims, and the same external bytes or equal inline bytes. */
function sameTensor(a: onnx.ITensorProto, b: onnx.ITensorProto): boolean {
  if (a.dataType !== b.dataType || (a.dims ?? []).join(',') !== (b.dims ?? []).join(',')) return false;
  const ext = (t: onnx.ITensorProto) => (t.externalData ?? []).map((e) => `${e.key}=${e.value}`).join(';');
  if (ext(a) || ext(b)) return ext(a) === ext(b);
  const ra = a.rawData ?? new Uint8Array(0);
  const rb = b.rawData ?? new Uint8Array(0);
  return ra.length === rb.length && ra.every((v, i) => v === rb[i]);
}

function blockShapeOf(g: onnx.IGraphProto, name: string): [number, number, number] {
  const o = g.output!.find((x) => x.name === name);
  const dims = o?.type?.tensorType?.shape?.dim?.map((d) => Number(d.dimValue)) ?? [];
  if (dims.length !== 3) throw new Error(`pairGraphs: block output ${name} is not (B, N, C)`);
  return dims as [number, number, number];
}

/**
 * One block pair's reductions, per batch element (each a clip of a sweep): a = the block under
 * test, r = the reference, (B, N, C) fp32. The diff over each clip's tokens 1 .. N−1 (diff(a, r, C)
 * of a one-clip batch: the class token left out), per-token errors of those tokens (tokenErrors),
 * and each tensor's statistics (tensorStats): outputs (B, k), one row a clip.
 */
function compareBlock(g: OnnxGraphBuilder, a: string, ref: string, i: number, [B, N, C]: [number, number, number]): InGraphBlock {
  return g.scoped(`blocks.${i}`, () => {
    const f = (v: number) => g.scalar(v, ElemType.FLOAT);
    // over each clip's values of x (B, L, C): (B, 1), over each token's C values and then over the
    // tokens (reduce.ts: fp32 partial sums; fast on the WebGPU EP)
    const per = (op: ClipReduce, x: string) => reducePerClip(g, op, x, B);
    const count = (cond: string) => per('ReduceSum', g.op('Cast', [cond], { to: ElemType.FLOAT }));
    const finite = (x: string) => g.op('LessOrEqual', [g.op('Abs', [x]), f(FLT_MAX)]);
    const out = (name: string, parts: string[], k: number) => {
      g.claim(name);
      g.op('Concat', parts, { axis: 1 }, name);
      g.output(name, ElemType.FLOAT, [B, k]);
      return name;
    };
    // diff(a, r, C) of each clip: its patch tokens
    const patches = (x: string) => g.op('Slice', [x, g.ints([1]), g.ints([N]), g.ints([1])]); // (B, N-1, C)
    const ap = patches(a);
    const rp = patches(ref);
    const d = g.op('Sub', [ap, rp]);
    const diff = out(`cmp/blocks.${i}.diff`, [
      per('ReduceSumSquare', d), per('ReduceSumSquare', rp), per('ReduceSumSquare', ap), per('ReduceSum', g.op('Mul', [ap, rp])),
      per('ReduceMax', g.op('Abs', [d])), count(g.op('Not', [finite(ap)])),
    ], IN_GRAPH_DIFF.length);
    // tokenErrors(a, r, S, T, C): per patch token, (B, N-1)
    // the first stage of per('ReduceSumSquare', d) and of rp, node for node (onnxruntime's common
    // subexpression elimination computes each once)
    const td2 = g.op('ReduceSumSquare', [d], { axes: [-1], keepdims: 0 });
    const tr2 = g.op('ReduceSumSquare', [rp], { axes: [-1], keepdims: 0 });
    const ratio = g.op('Where', [g.op('Greater', [tr2, f(0)]), g.op('Div', [td2, tr2]), td2]);
    const tokens = `cmp/blocks.${i}.tokens`;
    g.claim(tokens);
    g.op('Sqrt', [ratio], undefined, tokens);
    g.output(tokens, ElemType.FLOAT, [B, N - 1]);
    // tensorStats of each: (B, 9) and the channel maxima (B, C)
    const stats = (x: string, which: 'out' | 'ref') => {
      const fin = finite(x);
      const ax = g.op('Abs', [x]);
      const xf = g.op('Where', [fin, x, f(0)]);
      const axf = g.op('Abs', [xf]);
      const s = out(`cmp/blocks.${i}.${which}.stats`, [
        count(fin), count(g.op('Not', [g.op('Equal', [x, x])])), count(g.op('Greater', [ax, f(FLT_MAX)])), count(g.op('Greater', [axf, f(FP16_MAX)])),
        per('ReduceMin', g.op('Where', [fin, x, f(Infinity)])), per('ReduceMax', g.op('Where', [fin, x, f(-Infinity)])),
        per('ReduceSum', xf), per('ReduceSumSquare', xf), per('ReduceMax', axf),
      ], IN_GRAPH_STATS.length);
      const ch = `cmp/blocks.${i}.${which}.channels`;
      g.claim(ch);
      g.op('ReduceMax', [axf], { axes: [1], keepdims: 0 }, ch);
      g.output(ch, ElemType.FLOAT, [B, C]);
      return { s, ch };
    };
    const o = stats(a, 'out');
    const rr = stats(ref, 'ref');
    return { diff, tokens, outStats: o.s, outChannels: o.ch, refStats: rr.s, refChannels: rr.ch };
  });
}
