/**
 * The layers of one TimeSformer block as ONNX ops, in a precision policy: LayerNorm (every mode,
 * with its statistics), attention, Linear, GELU, and the block that chains them. timesformer.ts
 * builds the whole model (embedding, blocks, head; whole or in segments) on top of this class.
 * (A little over ~400 lines: one class whose layers share its precision regions, weight forms and
 * module scope; split, each layer would reach back for them.)
 *
 * Precision (see realization.ts): fp32; "emulated" (an fp32 graph with Cast->FLOAT16->FLOAT after
 * every op: ORT's CPU EP would otherwise run fp16 islands in fp32 and hide the overflow);
 * "native" (a true fp16 graph with fp32 inputs/outputs, for GPU EPs); "tensorrt" (the fp32 graph,
 * TensorRT picks precisions).
 *
 * Accumulation (`accumulate`, 16-bit graphs): 'fp32' builds FP16 as TensorRT does: fp16 storage and
 * fp16 weights, but MatMul (Linear, QK^T, PV), Conv, the fused attention kernel and ReduceMean
 * take their operands cast up to fp32 and round the result to fp16 once. 'fp16' leaves the EP's own
 * fp16 kernels (which accumulate in fp16 on WebGPU). The CPU emulation rounds every op's result
 * once, which is fp32 accumulation; with 'fp16' it models the one 16-bit accumulator overflow it
 * can (a ReduceMean is ReduceSum -> round to 16 bits (inf past 65504) -> divide), but not the
 * per-addition rounding of a long fp16 dot product.
 */
import { LabError } from '../errors';
import type { LayerNormMode } from '../report';
import { FLT_MAX, FP16_MAX, roundToHalfInPlace } from '../tensor';
import type { GraphOptions, LayerNormTensors, LnStatField, WeightLayout, Weights } from './graph-options';
import { LN_STAT_FIELDS } from './graph-options';
import { ElemType, OnnxGraphBuilder, type AttrValue, type ElemTypeCode } from './onnx-builder';
import { accumulates16, FP32_ACCUMULATED_OPS } from './realization';
import { reducePerClip } from './reduce';
import { transpose2d, WeightStore, type StoredKind } from './weight-store';

export interface Ctx {
  /** Element type of tensors in this region. */
  t: ElemTypeCode;
  /** Round to this precision after every op (emulation), or not. */
  emulate: 'fp16' | 'bf16' | null;
}

export const F32: Ctx = { t: ElemType.FLOAT, emulate: null };
/**
 * fp16 values held as float32: the form of a weight that an fp32-accumulated op of a native fp16
 * graph reads. The graph used to hold the fp16 weight and Cast it up; onnxruntime folded that Cast
 * when the session was created (every linear weight, 121 M values at full size, converted on the
 * CPU into new float32 initializers). Reading the store's fp16-rounded float32 bytes (the emulated
 * graphs' form) gives onnxruntime the same graph after folding — the same values, bit for bit —
 * without that work, and from mapped external data instead of fresh memory.
 */
export const F16_AS_F32: Ctx = { t: ElemType.FLOAT, emulate: 'fp16' };

/** The engine's own LayerNorm tensors the statistics look at, with their element type. */
interface LnInternals {
  t: ElemTypeCode;
  mean?: string;
  sq?: string;
  variance?: string;
}

/** Module path segments of a weight key: `blocks.4.mlp.fc1` -> ['blocks.4', 'mlp', 'fc1'] (torch's scope names). */
function moduleSegments(key: string): string[] {
  const out: string[] = [];
  const parts = key.split('.');
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === 'blocks' && i + 1 < parts.length && /^\d+$/.test(parts[i + 1])) out.push(`blocks.${parts[++i]}`);
    else out.push(parts[i]);
  }
  return out;
}

function baseName(x: string): string {
  const i = x.lastIndexOf('/');
  return i < 0 ? x : x.slice(i + 1);
}

/** The ops and layers of a block; the model around them is TimeSformerGraph's (timesformer.ts). */
export abstract class BlockGraph {
  protected readonly g = new OnnxGraphBuilder();
  protected readonly main: Ctx;
  protected readonly lns: LayerNormTensors[] = [];
  protected readonly C: number;
  protected readonly B: number;
  protected readonly S: number;
  protected readonly T: number;
  /** GEMMs and reductions accumulate in 16 bits (accumulate = fp16 on a 16-bit graph we build). */
  protected readonly acc16: boolean;
  /** Module path of the scope being built (['blocks.4', 'temporal_attn']). */
  protected readonly path: string[] = [];
  protected statMissing?: string;
  /** Weights already in F16_AS_F32 form: an fp32-accumulated op reads them without a Cast. */
  protected readonly asF32 = new Set<string>();


  constructor(protected readonly w: Weights, protected readonly o: GraphOptions) {
    this.C = o.config.embedDim;
    this.B = o.batch;
    this.S = o.config.numPatches;
    this.T = o.config.frames;
    if (o.config.embedDim % o.config.heads !== 0) {
      throw new LabError('BAD_OPTION', `embed dim ${o.config.embedDim} is not divisible by ${o.config.heads} heads`);
    }
    if (o.precision === 'fp32') this.main = F32;
    else if (o.realization === 'emulated') this.main = { t: ElemType.FLOAT, emulate: o.precision };
    else if (o.realization === 'native') {
      if (o.precision !== 'fp16') throw new LabError('BAD_OPTION', `a native ${o.precision} graph is not supported; use emulation`);
      this.main = { t: ElemType.FLOAT16, emulate: null };
    } else this.main = F32; // tensorrt: fp32 graph, the builder flag decides
    this.acc16 = accumulates16({ precision: o.precision, realization: o.realization, accumulate: o.accumulate ?? 'fp32' });
    for (const k of Object.keys(o.layerNormOverrides ?? {})) {
      if (!/^(blocks\.\d+\.(temporal_norm1|norm1|norm2)|norm)$/.test(k) || (/^blocks\.(\d+)/.exec(k) && Number(/^blocks\.(\d+)/.exec(k)![1]) >= o.config.depth)) {
        throw new LabError('BAD_OPTION', `no LayerNorm named '${k}' in this model (names: blocks.0.temporal_norm1, blocks.0.norm1, blocks.0.norm2, … blocks.${o.config.depth - 1}.norm2, norm)`);
      }
    }
  }

  /** Build `fn` inside the module scope of a weight key, so that node names follow torch's export. */
  protected module<T>(key: string, fn: () => T): T {
    const segs = moduleSegments(key);
    const rel = this.path.every((p, i) => segs[i] === p) ? segs.slice(this.path.length) : segs;
    this.path.push(...rel);
    try {
      return this.g.scoped(rel.join('/'), fn);
    } finally {
      this.path.splice(this.path.length - rel.length, rel.length);
    }
  }

  // ---------- precision helpers ----------

  protected round(x: string, ctx: Ctx): string {
    if (!ctx.emulate) return x;
    const to = ctx.emulate === 'fp16' ? ElemType.FLOAT16 : ElemType.BFLOAT16;
    const h = this.g.op('Cast', [x], { to }, this.g.fresh(`${baseName(x)}.${ctx.emulate}`));
    return this.g.op('Cast', [h], { to: ElemType.FLOAT });
  }

  /** On a native 16-bit graph: whether `op` computes in fp32 (operands cast up, result rounded once). */
  protected up32(op: string): boolean {
    return this.main.t === ElemType.FLOAT16 && ((!this.acc16 && FP32_ACCUMULATED_OPS.includes(op)) || !!this.o.fp32Ops?.includes(op));
  }

  /** Apply an op and round its result when emulating (or run it in fp32, in native graphs, where up32 says so). */
  protected r(op: string, inputs: string[], ctx: Ctx, attrs?: Record<string, AttrValue>, domain?: string): string {
    const apply = (xs: string[]) => this.g.node({ op, inputs: xs, attrs, domain })[0];
    if (ctx.t === ElemType.FLOAT16 && this.up32(op)) {
      const up = inputs.map((x) => (this.asF32.has(x) ? x : this.g.op('Cast', [x], { to: ElemType.FLOAT })));
      return this.g.op('Cast', [apply(up)], { to: ElemType.FLOAT16 });
    }
    return this.round(apply(inputs), ctx);
  }

  /**
   * Mean over one axis of n values. Emulating a 16-bit accumulator (accumulate = fp16): the sum is
   * rounded to 16 bits before the division, so it turns inf once it passes 65504 — the overflow of
   * an fp16 reduction, which is what can be modelled; the rounding of each partial sum is not.
   */
  protected reduceMean(x: string, ctx: Ctx, axis: number, n: number, keepdims: 0 | 1): string {
    if (ctx.emulate && this.acc16) {
      const sum = this.round(this.g.op('ReduceSum', [x, this.g.ints([axis])], { keepdims }), ctx);
      return this.r('Div', [sum, this.scalar(n, ctx)], ctx);
    }
    return this.r('ReduceMean', [x], ctx, { axes: [axis], keepdims });
  }

  /** Move a tensor from one region's representation to another's. */
  protected convert(x: string, from: Ctx, to: Ctx): string {
    if (from.t !== to.t) return this.round(this.g.op('Cast', [x], { to: to.t }), to);
    if (from.emulate !== to.emulate && to.emulate) return this.round(x, to);
    return x;
  }

  /**
   * A weight as an initializer in the region's representation (fp16 bits, or fp32 rounded to fp16
   * when emulating). From a WeightStore: external data, converted once per call and shared by every
   * graph that asks for the same form; from memory: inline bytes.
   */
  protected weight(key: string, ctx: Ctx, dims?: readonly number[], layout: WeightLayout = {}, name = key): string {
    const init = this.weightInit(key, ctx, dims, layout, name);
    if (ctx === F16_AS_F32) this.asF32.add(init);
    return init;
  }

  protected weightInit(key: string, ctx: Ctx, dims: readonly number[] | undefined, layout: WeightLayout, name: string): string {
    const kind: StoredKind = ctx.t === ElemType.FLOAT16 ? 'f16' : ctx.t === ElemType.BFLOAT16 ? 'bf16' : ctx.emulate === 'fp16' ? 'f32.f16' : ctx.emulate === 'bf16' ? 'f32.bf16' : 'f32';
    if (this.w instanceof WeightStore) {
      if (!this.w.has(key)) throw new LabError('MISSING_WEIGHTS', `missing weight ${key}`);
      const ref = this.w.ref(key, { transposed: !!layout.transpose, kind, range: layout.range });
      return this.g.externalInit(name, dims ?? [ref.length / (ctx.t === ElemType.FLOAT ? 4 : 2)], ctx.t, ref);
    }
    const src = this.w.get(key);
    if (!src) throw new LabError('MISSING_WEIGHTS', `missing weight ${key}`);
    let v = layout.transpose ? transpose2d(src, ...layout.transpose) : layout.range ? src.slice(...layout.range) : src;
    if (ctx.emulate) v = roundToHalfInPlace(v, ctx.emulate, v === src ? new Float32Array(v.length) : v);
    return this.g.floatInit(name, dims ?? [v.length], v, ctx.t);
  }

  /**
   * The context a weight of an op is read in: F16_AS_F32 for an fp32-accumulated op of a native
   * fp16 graph (`fp32`), else the op's own. The weights' names are remembered so that r() reads
   * them as they are.
   */
  protected f32Form(ctx: Ctx, fp32: boolean): Ctx {
    return fp32 && ctx.t === ElemType.FLOAT16 ? F16_AS_F32 : ctx;
  }

  protected scalar(v: number, ctx: Ctx): string {
    return this.g.scalar(v, ctx.t);
  }

  protected reshape(x: string, shape: number[]): string {
    return this.g.op('Reshape', [x, this.g.ints(shape)]);
  }

  protected transpose(x: string, perm: number[]): string {
    return this.g.op('Transpose', [x], { perm });
  }

  protected slice(x: string, start: number, end: number, axis: number): string {
    return this.g.op('Slice', [x, this.g.ints([start]), this.g.ints([end]), this.g.ints([axis])]);
  }

  /** Expose a tensor of shape `dims` as a graph output named `name`, in fp32 (every graph output declares its shape: tools such as onnx.checker require it). */
  protected expose(x: string, ctx: Ctx, name: string, dims: readonly number[]): string {
    this.g.claim(name);
    if (ctx.t === ElemType.FLOAT) this.g.op('Identity', [x], undefined, name);
    else this.g.op('Cast', [x], { to: ElemType.FLOAT }, name);
    this.g.output(name, ElemType.FLOAT, dims);
    return name;
  }

  // ---------- layers ----------

  /**
   * nn.Linear over the last dimension: MatMul with the transposed weight, then the bias, rounded
   * once (as a GEMM with a bias epilogue does). MatMul + Add rather than Gemm: the WebGPU EP runs
   * MatMul with its tiled kernel (measured on an H100: our fp32 graph took 88 ms with Gemm, the
   * exporter's MatMul + Add graph 42-46 ms).
   */
  protected linear(x: string, key: string, ctx: Ctx, inDim: number, outDim: number, outShape: number[]): string {
    return this.module(key, () => {
      // fp32 accumulation: fp16 operands (the weights stay fp16 initializers) cast up, the bias
      // added in fp32 (a GEMM's epilogue), one rounding to fp16
      const fp32 = ctx.t === ElemType.FLOAT16 && (this.up32('Gemm') || this.up32('MatMul'));
      const wctx = this.f32Form(ctx, fp32);
      const WT = this.weight(`${key}.weight`, wctx, [inDim, outDim], { transpose: [outDim, inDim] });
      const b = this.weight(`${key}.bias`, wctx, [outDim]);
      const up = (t: string) => (fp32 ? this.g.op('Cast', [t], { to: ElemType.FLOAT }) : t);
      const y = this.g.op('Add', [this.g.op('MatMul', [up(x), WT]), b]); // (..., out)
      return this.reshape(fp32 ? this.g.op('Cast', [y], { to: ElemType.FLOAT16 }) : this.round(y, ctx), outShape);
    });
  }

  protected gelu(x: string, ctx: Ctx): string {
    // exact GELU: 0.5 x (1 + erf(x / sqrt 2)); rounded once, as fused fp16 kernels do
    const g = this.g;
    if (ctx.t === ElemType.FLOAT16 && this.o.fp32Ops?.includes('Gelu')) {
      return g.op('Cast', [this.gelu(g.op('Cast', [x], { to: ElemType.FLOAT }), F32)], { to: ElemType.FLOAT16 });
    }
    const e = g.op('Erf', [g.op('Div', [x, this.scalar(Math.SQRT2, ctx)])]);
    const y = g.op('Mul', [g.op('Mul', [x, g.op('Add', [e, this.scalar(1, ctx)])]), this.scalar(0.5, ctx)]);
    return this.round(y, ctx);
  }

  /**
   * LayerNorm over the last dim, named after the model (`blocks.4.temporal_norm1`), in its mode (the
   * graph's, or its override). `x` is in the main region's representation; so is the result.
   */
  protected layerNorm(x: string, key: string, block: number | null, dims: readonly number[]): string {
    const mode = this.o.layerNormOverrides?.[key] ?? this.o.layerNorm;
    const info: LayerNormTensors = { name: key, block, mode };
    this.lns.push(info);
    const stats = this.o.probes && this.o.realization !== 'tensorrt';
    return this.module(key, () => {
      const internals: LnInternals = { t: this.main.t };
      const y = this.layerNormBody(x, key, mode, info, internals, dims);
      if (stats) this.layerNormStats(x, key, info, internals);
      return y;
    });
  }

  protected layerNormBody(x: string, key: string, mode: LayerNormMode, info: LayerNormTensors, internals: LnInternals, dims: readonly number[]): string {
    const main = this.main;
    const eps = this.o.config.layerNormEps;
    // Which region computes what.
    const statsCtx: Ctx = mode === 'fp32' || mode === 'expose' ? F32 : main; // mean, diff, pow, var, std
    const affineCtx: Ctx = mode === 'fp32' ? F32 : main; // div, scale, shift
    if (mode === 'fp32' && (main.t === ElemType.FLOAT16 || (main === F32 && this.o.fp32LayerNormForm === 'fused'))) {
      // On a true fp16 graph, ORT's LayerNormFusion folds a decomposed fp32 LayerNorm and the
      // Cast before it into one LayerNormalization with fp16 input and fp32 scale, which fails
      // to load (seen on WebGPU). The fused op in an fp32 region is the same math, and loads.
      // (In an fp32 graph for TensorRT it is the node a `--layerPrecisions ...:fp32` names.)
      const x32 = this.convert(x, main, F32);
      const W = this.weight(`${key}.weight`, F32);
      const b = this.weight(`${key}.bias`, F32);
      const y = this.g.op('LayerNormalization', [x32, W, b], { axis: -1, epsilon: { float: eps }, stash_type: 1 });
      return this.convert(y, F32, main);
    }
    if (mode === 'fused') {
      const W = this.weight(`${key}.weight`, main);
      const b = this.weight(`${key}.bias`, main);
      return this.r('LayerNormalization', [x, W, b], main, { axis: -1, epsilon: { float: eps }, stash_type: 1 });
    }
    const C = this.C;
    let xs = this.convert(x, main, statsCtx);
    let epsv = eps;
    if (mode === 'prescaled') {
      const s = 2 ** -this.o.prescaleShift;
      xs = this.r('Mul', [xs, this.scalar(s, statsCtx)], statsCtx);
      epsv = eps * s * s;
      // keep eps representable in 16-bit (it would flush to zero): the smallest fp16 subnormal
      if (statsCtx.t === ElemType.FLOAT16 || statsCtx.emulate === 'fp16') epsv = Math.max(epsv, 2 ** -24);
    }
    const mean = this.reduceMean(xs, statsCtx, -1, C, 1);
    const diff = this.r('Sub', [xs, mean], statsCtx);
    const sq = this.r('Pow', [diff, this.scalar(2, statsCtx)], statsCtx);
    const variance = this.reduceMean(sq, statsCtx, -1, C, 1);
    const std = this.r('Sqrt', [this.r('Add', [variance, this.scalar(epsv, statsCtx)], statsCtx)], statsCtx);
    Object.assign(internals, { t: statsCtx.t, mean, sq, variance });
    if (mode === 'expose') {
      const rows = [...dims.slice(0, -1), 1];
      info.diff = this.expose(diff, statsCtx, `${key}.diff`, dims);
      info.mean = this.expose(mean, statsCtx, `${key}.mean`, rows);
      info.std = this.expose(std, statsCtx, `${key}.std`, rows);
    }
    const d = this.convert(diff, statsCtx, affineCtx);
    const sd = this.convert(std, statsCtx, affineCtx);
    const n = this.r('Div', [d, sd], affineCtx);
    const W = this.weight(`${key}.weight`, affineCtx);
    const b = this.weight(`${key}.bias`, affineCtx);
    const y = this.r('Add', [this.r('Mul', [n, W], affineCtx), b], affineCtx);
    return this.convert(y, affineCtx, main);
  }

  /**
   * The LayerNorm's statistics as an fp32 side branch that only reads the main path (it changes
   * none of its numbers), so that a few floats per LayerNorm leave the GPU instead of its whole
   * input and square: `<key>.stats` (LN_STAT_FIELDS) and `<key>.channels` (max |x| per channel).
   * Only comparisons count inf/NaN (|v| <= FLT_MAX): the WebGPU EP has no IsInf/IsNaN kernels.
   */
  protected layerNormStats(x: string, key: string, info: LayerNormTensors, internals: LnInternals): void {
    const g = this.g;
    // per clip (probesPerClip): every tensor as (B, rest) — each LayerNorm input holds its batch
    // element's rows together (temporal (B·S, T, C), spatial (B·T, 1+S, C), MLP (B, N, C)) — reduced
    // over the rest; else one value over everything
    const B = this.o.probesPerClip ? this.B : 0;
    const f32 = (t: string, type: ElemTypeCode) => (type === ElemType.FLOAT ? t : g.op('Cast', [t], { to: ElemType.FLOAT }));
    const reduceAll = (op: 'ReduceMax' | 'ReduceSum', t: string) => reducePerClip(g, op, t, B);
    const count = (cond: string) => reduceAll('ReduceSum', g.op('Cast', [cond], { to: ElemType.FLOAT }));
    const fltMax = g.scalar(FLT_MAX, ElemType.FLOAT);
    const nonFinite = (t: string) => count(g.op('Not', [g.op('LessOrEqual', [g.op('Abs', [t]), fltMax])]));
    const inf = (t: string) => count(g.op('Greater', [g.op('Abs', [t]), fltMax]));
    const missing = () => (B
      ? g.op('Expand', [(this.statMissing ??= g.floatInit('const/stat_missing', [1], Float32Array.of(-1))), g.ints([B, 1])])
      : (this.statMissing ??= g.floatInit('const/stat_missing', [1], Float32Array.of(-1))));
    const x32 = f32(x, this.main.t);
    const mean = g.op('ReduceMean', [x32], { axes: [-1], keepdims: 1 });
    const d = g.op('Sub', [x32, mean]);
    const sq = g.op('Mul', [d, d]);
    const rowSum = (t: string) => g.op('ReduceSum', [t, g.ints([-1])], { keepdims: 1 });
    const fields: Record<LnStatField, string> = {
      maxSq: reduceAll('ReduceMax', sq),
      overFp16Count: count(g.op('Greater', [sq, g.scalar(FP16_MAX, ElemType.FLOAT)])),
      maxSumSq: reduceAll('ReduceMax', rowSum(sq)),
      maxAbsSum: reduceAll('ReduceMax', g.op('Abs', [rowSum(x32)])),
      inputNonFinite: nonFinite(x32),
      sqInf: internals.sq ? inf(f32(internals.sq, internals.t)) : missing(),
      sqNonFinite: internals.sq ? nonFinite(f32(internals.sq, internals.t)) : missing(),
      varNonFinite: internals.variance ? nonFinite(f32(internals.variance, internals.t)) : missing(),
      meanNonFinite: internals.mean ? nonFinite(f32(internals.mean, internals.t)) : missing(),
    };
    info.stats = g.claim(`${key}.stats`);
    g.op('Concat', LN_STAT_FIELDS.map((f) => fields[f]), { axis: B ? 1 : 0 }, info.stats);
    g.output(info.stats, ElemType.FLOAT, B ? [B, LN_STAT_FIELDS.length] : [LN_STAT_FIELDS.length]);
    info.channels = g.claim(`${key}.channels`);
    const ax = g.op('Abs', [x32]);
    if (B) g.op('ReduceMax', [this.reshape(ax, [B, -1, this.C])], { axes: [1], keepdims: 0 }, info.channels);
    else g.op('ReduceMax', [ax], { axes: [0, 1], keepdims: 0 }, info.channels); // every LayerNorm input is (N, L, C)
    g.output(info.channels, ElemType.FLOAT, B ? [B, this.C] : [this.C]);
  }

  /** Multi-head self-attention (timm's Attention) over (N, L, C). */
  protected attention(x: string, key: string, N: number, L: number): string {
    const { C } = this;
    const H = this.o.config.heads;
    const hd = C / H;
    const ctx = this.main;
    const g = this.g;
    return this.module(key, () => {
      if (this.o.attention === 'fused') {
        const qkv3 = this.linear(x, `${key}.qkv`, ctx, C, 3 * C, [N, L, 3 * C]);
        const [q, k, v] = g.node({ op: 'Split', inputs: [qkv3, g.ints([C, C, C])], attrs: { axis: 2 }, outputs: [g.fresh('q'), g.fresh('k'), g.fresh('v')] });
        const o = this.r('MultiHeadAttention', [q, k, v], ctx, { num_heads: H, scale: { float: hd ** -0.5 } }, 'com.microsoft');
        return this.linear(o, `${key}.proj`, ctx, C, C, [N, L, C]);
      }
      const qkv = this.linear(x, `${key}.qkv`, ctx, C, 3 * C, [N, L, 3, H, hd]);
      const qkvT = this.transpose(qkv, [2, 0, 3, 1, 4]); // (3, N, H, L, hd)
      const q = g.op('Gather', [qkvT, g.intScalar(0)], { axis: 0 });
      const k = g.op('Gather', [qkvT, g.intScalar(1)], { axis: 0 });
      const v = g.op('Gather', [qkvT, g.intScalar(2)], { axis: 0 });
      const logits = this.r('MatMul', [q, this.transpose(k, [0, 1, 3, 2])], ctx);
      const scaled = this.r('Mul', [logits, this.scalar(hd ** -0.5, ctx)], ctx);
      const p = this.r('Softmax', [scaled], ctx, { axis: -1 });
      const o = this.r('MatMul', [p, v], ctx); // (N, H, L, hd)
      const merged = this.reshape(this.transpose(o, [0, 2, 1, 3]), [N, L, C]);
      return this.linear(merged, `${key}.proj`, ctx, C, C, [N, L, C]);
    });
  }

  protected block(i: number, cls: string, P: string): { out: string; cls: string; P: string } {
    const { B, S, T, C } = this;
    const ctx = this.main;
    const k = `blocks.${i}`;
    return this.module(k, () => {
      // temporal: attention over each patch's T tokens
      const xt = this.reshape(P, [B * S, T, C]);
      const tn = this.layerNorm(xt, `${k}.temporal_norm1`, i, [B * S, T, C]);
      const ta = this.attention(tn, `${k}.temporal_attn`, B * S, T);
      const tf = this.linear(ta, `${k}.temporal_fc`, ctx, C, C, [B, S, T, C]);
      const Pt = this.r('Add', [P, tf], ctx);
      // spatial: attention over each frame's S tokens with the class token
      const frames = this.transpose(Pt, [0, 2, 1, 3]); // (B, T, S, C)
      const clsRep = this.g.op('Expand', [this.reshape(cls, [B, 1, 1, C]), this.g.ints([B, T, 1, C])]);
      const xs = this.reshape(this.g.op('Concat', [clsRep, frames], { axis: 2 }), [B * T, 1 + S, C]);
      const sn = this.layerNorm(xs, `${k}.norm1`, i, [B * T, 1 + S, C]);
      const sa = this.reshape(this.attention(sn, `${k}.attn`, B * T, 1 + S), [B, T, 1 + S, C]);
      const clsRes = this.reduceMean(this.slice(sa, 0, 1, 2), ctx, 1, T, 0); // (B, 1, C): the class token averaged over frames
      const patchRes = this.transpose(this.slice(sa, 1, 1 + S, 2), [0, 2, 1, 3]); // (B, S, T, C)
      const cls2 = this.r('Add', [cls, clsRes], ctx);
      const P2 = this.r('Add', [Pt, patchRes], ctx);
      // MLP on every token
      const x = this.g.op('Concat', [cls2, this.reshape(P2, [B, S * T, C])], { axis: 1 }); // (B, 1+S*T, C)
      const N = 1 + S * T;
      const n2 = this.layerNorm(x, `${k}.norm2`, i, [B, N, C]);
      const Hd = this.o.config.mlpHidden;
      const fc1 = this.linear(n2, `${k}.mlp.fc1`, ctx, C, Hd, [B, N, Hd]);
      const h = this.module(`${k}.mlp.act`, () => this.gelu(fc1, ctx));
      const m = this.linear(h, `${k}.mlp.fc2`, ctx, Hd, C, [B, N, C]);
      const out = this.r('Add', [x, m], ctx);
      return { out, cls: this.slice(out, 0, 1, 1), P: this.reshape(this.slice(out, 1, N, 1), [B, S, T, C]) };
    });
  }
}
