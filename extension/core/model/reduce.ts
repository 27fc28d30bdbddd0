/**
 * A whole tensor reduced to one value a clip, in two stages: over each row's last axis, then over
 * the rows. Used by the LayerNorm statistics (graph-layers.ts) and the sweep's comparison subgraph
 * (paired-graph.ts).
 *
 * Why two stages: onnxruntime's WebGPU EP (1.30, core/providers/webgpu/reduction) gives each output
 * of a Reduce* one workgroup of 64 threads (256 for a single output) that walks the reduced values
 * in turn. One value a clip of a full-size (B, 1569, 768) tensor is then B workgroups of ~18,800
 * steps a thread, on a GPU of 132 SMs, and the statistics ask for a few such reductions per
 * LayerNorm and block. Over the last axis first, B·1569 workgroups take 12 steps each, and the
 * second stage B workgroups 25 steps.
 *
 * The values are the same: maxima, minima and sums of integers (counts below 2^24) do not depend on
 * the order, and a sum of floats in two stages is fp32 partial sums of C values, then of the rows
 * (a flat fp32 sum of 1.2 M values drifts from the host's float64 sum). A NaN is not an order-free
 * maximum on any EP; the statistics count non-finite values apart.
 */
import { type OnnxGraphBuilder } from './onnx-builder';

export type ClipReduce = 'ReduceSum' | 'ReduceSumSquare' | 'ReduceMax' | 'ReduceMin';

/** The second stage of each reduction (a sum of squares is a sum of its rows' sums of squares). */
const ROWS: Record<ClipReduce, 'ReduceSum' | 'ReduceMax' | 'ReduceMin'> = {
  ReduceSum: 'ReduceSum', ReduceSumSquare: 'ReduceSum', ReduceMax: 'ReduceMax', ReduceMin: 'ReduceMin',
};

/** `op` over axes (opset 17: ReduceSum takes its axes as an input, the others as an attribute). */
function reduce(g: OnnxGraphBuilder, op: ClipReduce, x: string, axes: number[], keepdims: 0 | 1): string {
  return op === 'ReduceSum' ? g.op(op, [x, g.ints(axes)], { keepdims }) : g.op(op, [x], { axes, keepdims });
}

/**
 * `op` over every value of each clip of `x`: x is (..., C) whose leading axes hold the B clips one
 * after another (B > 0; every LayerNorm input and block output is so laid out); gives (B, 1). With
 * B = 0, over all of x: gives (1).
 */
export function reducePerClip(g: OnnxGraphBuilder, op: ClipReduce, x: string, B: number): string {
  const rows = reduce(g, op, x, [-1], 0);
  const rowOp = ROWS[op];
  if (!B) return g.op('Reshape', [g.op(rowOp, [rows], { keepdims: 1 }), g.ints([1])]); // no axes: all of them
  return reduce(g, rowOp, g.op('Reshape', [rows, g.ints([B, -1])]), [1], 1);
}
