/**
 * The ONNX graph of the official divided space-time TimeSformer (facebookresearch/TimeSformer,
 * `vit.py`), rebuilt op by op so that every precision policy can be applied where it matters.
 *
 * Token layout: the official model flattens patch tokens in (h w t) order: patch-major, frame-minor.
 * We keep the patch tokens as P (B, S, T, C), which is exactly that order, and the class token as
 * (B, 1, C); a block output is Concat(cls, Reshape(P, (B, S*T, C))) = (B, 1+S*T, C), as in the
 * reference. Temporal attention runs over Reshape(P, (B*S, T, C)); spatial attention over
 * Transpose(P) -> (B, T, S, C) with the class token prepended to every frame.
 *
 * Precision (see precision.ts): fp32; "emulated" (an fp32 graph with Cast->FLOAT16->FLOAT after
 * every op: ORT's CPU EP would otherwise run fp16 islands in fp32 and hide the overflow);
 * "native" (a true fp16 graph with fp32 inputs/outputs, for GPU EPs); "tensorrt" (the fp32 graph,
 * TensorRT picks precisions).
 */
import * as fs from 'fs';
import { LabError } from '../errors';
import type { LayerNormMode, ModelConfig, Precision, Realization } from '../report';
import { roundToHalfInPlace } from '../tensor';
import { ElemType, OnnxGraphBuilder, writeOnnxFile, type AttrValue, type ElemTypeCode } from './onnx-builder';
import { transpose2d, WeightStore, type StoredKind } from './weight-store';

/**
 * The weights by key without the checkpoint's prefix (`blocks.0.attn.qkv.weight`): float32 arrays in
 * memory (the initializers are then inline), or a WeightStore (external data; the pipeline's way).
 */
export type Weights = ReadonlyMap<string, Float32Array> | WeightStore;

/** Which part of a weight an initializer holds: all of it, all of it transposed from (rows, cols), or elements [start, end). */
interface WeightLayout {
  transpose?: readonly [rows: number, cols: number];
  range?: readonly [start: number, end: number];
}

export interface GraphOptions {
  config: ModelConfig;
  batch: number;
  precision: Precision;
  realization: Realization;
  layerNorm: LayerNormMode;
  /** Build only the first `depthLimit` blocks and no head (head detection). */
  depthLimit?: number;
  /** Add LayerNorm probes (`<ln>.in`, `<ln>.sq`) as outputs. Never under TensorRT: outputs change its precision choices. */
  probes: boolean;
  /** prescaled mode: divide the LayerNorm input by 2^prescaleShift. */
  prescaleShift: number;
  /**
   * Native fp16 graphs only: op types computed in fp32 (inputs cast up, result cast back), e.g.
   * ['Gemm', 'MatMul', 'Conv'] where the GPU's fp16 kernels accumulate in fp16.
   */
  fp32Ops?: readonly string[];
  /**
   * 'decomposed' (default): MatMul, Softmax, MatMul, every op in the chosen precision, as an
   * exporter writes it. 'fused': onnxruntime's com.microsoft.MultiHeadAttention (one kernel; its
   * softmax accumulates in fp32), for speed on GPU providers.
   */
  attention?: 'decomposed' | 'fused';
}

export interface LayerNormTensors {
  name: string;
  block: number | null;
  /** LayerNorm input, as the engine fed it (probe). */
  input?: string;
  /** (x - mean)^2 as the engine computed it (probe; absent for the fused op). */
  sq?: string;
  /** Exposed intermediates (expose mode). */
  diff?: string;
  mean?: string;
  std?: string;
}

export interface BuiltGraph {
  /** The encoded model; with a WeightStore its initializers point at the store's files. */
  model: Uint8Array;
  /** What onnxruntime loads: the model's path in the store's folder, or the model bytes. */
  source: string | Uint8Array;
  /** Write the model as one self-contained .onnx file (weights inline, streamed from the store). */
  writeOnnx(file: string): void;
  inputName: string;
  probsName: string | null;
  blockNames: string[];
  layerNorms: LayerNormTensors[];
  nodeCount: number;
  initializerBytes: number;
  /** Output names other than probabilities and block outputs. */
  extraOutputs: string[];
}

interface Ctx {
  /** Element type of tensors in this region. */
  t: ElemTypeCode;
  /** Round to this precision after every op (emulation), or not. */
  emulate: 'fp16' | 'bf16' | null;
}

const F32: Ctx = { t: ElemType.FLOAT, emulate: null };

/**
 * Whether the graph takes a checkpoint weight transposed: nn.Linear weights (out, in) become
 * MatMul's (in, out) (see linear()). A WeightStore filled with this layout serves them without a
 * transpose per graph.
 */
export function takesTransposed(key: string): boolean {
  return /(^|\.)(qkv|proj|temporal_fc|fc1|fc2|head)\.weight$/.test(key) && !key.startsWith('patch_embed.');
}

export function buildTimeSformer(weights: Weights, o: GraphOptions): BuiltGraph {
  return new TimeSformerGraph(weights, o).build();
}

class TimeSformerGraph {
  private readonly g = new OnnxGraphBuilder();
  private readonly main: Ctx;
  private readonly lns: LayerNormTensors[] = [];
  private readonly extra: string[] = [];
  private readonly C: number;
  private readonly B: number;
  private readonly S: number;
  private readonly T: number;

  constructor(private readonly w: Weights, private readonly o: GraphOptions) {
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
  }

  // ---------- precision helpers ----------

  private round(x: string, ctx: Ctx): string {
    if (!ctx.emulate) return x;
    const to = ctx.emulate === 'fp16' ? ElemType.FLOAT16 : ElemType.BFLOAT16;
    const h = this.g.op('Cast', [x], { to }, this.g.fresh(`${baseName(x)}.${ctx.emulate}`));
    return this.g.op('Cast', [h], { to: ElemType.FLOAT });
  }

  /** Apply an op and round its result when emulating (or run it in fp32 when asked, in native graphs). */
  private r(op: string, inputs: string[], ctx: Ctx, attrs?: Record<string, AttrValue>, domain?: string): string {
    const apply = (xs: string[]) => this.g.node({ op, inputs: xs, attrs, domain })[0];
    if (ctx.t === ElemType.FLOAT16 && this.o.fp32Ops?.includes(op)) {
      const up = inputs.map((x) => this.g.op('Cast', [x], { to: ElemType.FLOAT }));
      return this.g.op('Cast', [apply(up)], { to: ElemType.FLOAT16 });
    }
    return this.round(apply(inputs), ctx);
  }

  /** Move a tensor from one region's representation to another's. */
  private convert(x: string, from: Ctx, to: Ctx): string {
    if (from.t !== to.t) return this.round(this.g.op('Cast', [x], { to: to.t }), to);
    if (from.emulate !== to.emulate && to.emulate) return this.round(x, to);
    return x;
  }

  /**
   * A weight as an initializer in the region's representation (fp16 bits, or fp32 rounded to fp16
   * when emulating). From a WeightStore: external data, converted once per call and shared by every
   * graph that asks for the same form; from memory: inline bytes.
   */
  private weight(key: string, ctx: Ctx, dims?: readonly number[], layout: WeightLayout = {}, name = key): string {
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

  private scalar(v: number, ctx: Ctx): string {
    return this.g.scalar(v, ctx.t);
  }

  private reshape(x: string, shape: number[]): string {
    return this.g.op('Reshape', [x, this.g.ints(shape)]);
  }

  private transpose(x: string, perm: number[]): string {
    return this.g.op('Transpose', [x], { perm });
  }

  private slice(x: string, start: number, end: number, axis: number): string {
    return this.g.op('Slice', [x, this.g.ints([start]), this.g.ints([end]), this.g.ints([axis])]);
  }

  /** Expose a tensor as a graph output named `name`, in fp32. */
  private expose(x: string, ctx: Ctx, name: string): string {
    this.g.claim(name);
    if (ctx.t === ElemType.FLOAT) this.g.op('Identity', [x], undefined, name);
    else this.g.op('Cast', [x], { to: ElemType.FLOAT }, name);
    this.g.output(name, ElemType.FLOAT);
    return name;
  }

  // ---------- layers ----------

  /**
   * nn.Linear over the last dimension: MatMul with the transposed weight, then the bias, rounded
   * once (as a GEMM with a bias epilogue does). MatMul + Add rather than Gemm: the WebGPU EP runs
   * MatMul with its tiled kernel (measured on an H100: our fp32 graph took 88 ms with Gemm, the
   * exporter's MatMul + Add graph 42-46 ms).
   */
  private linear(x: string, key: string, ctx: Ctx, inDim: number, outDim: number, outShape: number[]): string {
    return this.g.scoped(key, () => {
      const fp32 = ctx.t === ElemType.FLOAT16 && (this.o.fp32Ops?.includes('Gemm') || this.o.fp32Ops?.includes('MatMul'));
      const c = fp32 ? F32 : ctx;
      const WT = this.weight(`${key}.weight`, c, [inDim, outDim], { transpose: [outDim, inDim] });
      const b = this.weight(`${key}.bias`, c, [outDim]);
      const xin = fp32 ? this.g.op('Cast', [x], { to: ElemType.FLOAT }) : x; // (..., in)
      const y = this.g.op('Add', [this.g.op('MatMul', [xin, WT]), b]);
      return this.reshape(fp32 ? this.g.op('Cast', [y], { to: ElemType.FLOAT16 }) : this.round(y, ctx), outShape);
    });
  }

  private gelu(x: string, ctx: Ctx): string {
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
   * LayerNorm over the last dim, named after the model (`blocks.4.temporal_norm1`), in the mode asked.
   * `x` is in the main region's representation; so is the result.
   */
  private layerNorm(x: string, key: string, block: number | null): string {
    const mode = this.o.layerNorm;
    const main = this.main;
    const eps = this.o.config.layerNormEps;
    const info: LayerNormTensors = { name: key, block };
    this.lns.push(info);
    const probes = this.o.probes && this.o.realization !== 'tensorrt';
    return this.g.scoped(key, () => {
      if (probes) info.input = this.expose(x, main, `${key}.in`);
      // Which region computes what.
      const statsCtx: Ctx = mode === 'fp32' || mode === 'expose' ? F32 : main; // mean, diff, pow, var, std
      const affineCtx: Ctx = mode === 'fp32' ? F32 : main; // div, scale, shift
      if (mode === 'fp32' && main.t === ElemType.FLOAT16) {
        // On a true fp16 graph, ORT's LayerNormFusion folds a decomposed fp32 LayerNorm and the
        // Cast before it into one LayerNormalization with fp16 input and fp32 scale, which fails
        // to load (seen on WebGPU). The fused op in an fp32 region is the same math, and loads.
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
      let xs = this.convert(x, main, statsCtx);
      let epsv = eps;
      if (mode === 'prescaled') {
        const s = 2 ** -this.o.prescaleShift;
        xs = this.r('Mul', [xs, this.scalar(s, statsCtx)], statsCtx);
        epsv = eps * s * s;
        // keep eps representable in 16-bit (it would flush to zero): the smallest fp16 subnormal
        if (statsCtx.t === ElemType.FLOAT16 || statsCtx.emulate === 'fp16') epsv = Math.max(epsv, 2 ** -24);
      }
      const mean = this.r('ReduceMean', [xs], statsCtx, { axes: [-1], keepdims: 1 });
      const diff = this.r('Sub', [xs, mean], statsCtx);
      const sq = this.r('Pow', [diff, this.scalar(2, statsCtx)], statsCtx);
      const variance = this.r('ReduceMean', [sq], statsCtx, { axes: [-1], keepdims: 1 });
      const std = this.r('Sqrt', [this.r('Add', [variance, this.scalar(epsv, statsCtx)], statsCtx)], statsCtx);
      if (probes) info.sq = this.expose(sq, statsCtx, `${key}.sq`);
      if (mode === 'expose') {
        info.diff = this.expose(diff, statsCtx, `${key}.diff`);
        info.mean = this.expose(mean, statsCtx, `${key}.mean`);
        info.std = this.expose(std, statsCtx, `${key}.std`);
      }
      const d = this.convert(diff, statsCtx, affineCtx);
      const sd = this.convert(std, statsCtx, affineCtx);
      const n = this.r('Div', [d, sd], affineCtx);
      const W = this.weight(`${key}.weight`, affineCtx);
      const b = this.weight(`${key}.bias`, affineCtx);
      const y = this.r('Add', [this.r('Mul', [n, W], affineCtx), b], affineCtx);
      return this.convert(y, affineCtx, main);
    });
  }

  /** Multi-head self-attention (timm's Attention) over (N, L, C). */
  private attention(x: string, key: string, N: number, L: number): string {
    const { C } = this;
    const H = this.o.config.heads;
    const hd = C / H;
    const ctx = this.main;
    const g = this.g;
    return g.scoped(key, () => {
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

  private block(i: number, cls: string, P: string): { out: string; cls: string; P: string } {
    const { B, S, T, C } = this;
    const ctx = this.main;
    const k = `blocks.${i}`;
    return this.g.scoped(k, () => {
      // temporal: attention over each patch's T tokens
      const xt = this.reshape(P, [B * S, T, C]);
      const tn = this.layerNorm(xt, `${k}.temporal_norm1`, i);
      const ta = this.attention(tn, `${k}.temporal_attn`, B * S, T);
      const tf = this.linear(ta, `${k}.temporal_fc`, ctx, C, C, [B, S, T, C]);
      const Pt = this.r('Add', [P, tf], ctx);
      // spatial: attention over each frame's S tokens with the class token
      const frames = this.transpose(Pt, [0, 2, 1, 3]); // (B, T, S, C)
      const clsRep = this.g.op('Expand', [this.reshape(cls, [B, 1, 1, C]), this.g.ints([B, T, 1, C])]);
      const xs = this.reshape(this.g.op('Concat', [clsRep, frames], { axis: 2 }), [B * T, 1 + S, C]);
      const sn = this.layerNorm(xs, `${k}.norm1`, i);
      const sa = this.reshape(this.attention(sn, `${k}.attn`, B * T, 1 + S), [B, T, 1 + S, C]);
      const clsRes = this.r('ReduceMean', [this.slice(sa, 0, 1, 2)], ctx, { axes: [1], keepdims: 0 }); // (B, 1, C)
      const patchRes = this.transpose(this.slice(sa, 1, 1 + S, 2), [0, 2, 1, 3]); // (B, S, T, C)
      const cls2 = this.r('Add', [cls, clsRes], ctx);
      const P2 = this.r('Add', [Pt, patchRes], ctx);
      // MLP on every token
      const x = this.g.op('Concat', [cls2, this.reshape(P2, [B, S * T, C])], { axis: 1 }); // (B, 1+S*T, C)
      const N = 1 + S * T;
      const n2 = this.layerNorm(x, `${k}.norm2`, i);
      const Hd = this.o.config.mlpHidden;
      const h = this.gelu(this.linear(n2, `${k}.mlp.fc1`, ctx, C, Hd, [B, N, Hd]), ctx);
      const m = this.linear(h, `${k}.mlp.fc2`, ctx, Hd, C, [B, N, C]);
      const out = this.r('Add', [x, m], ctx);
      return { out, cls: this.slice(out, 0, 1, 1), P: this.reshape(this.slice(out, 1, N, 1), [B, S, T, C]) };
    });
  }

  build(): BuiltGraph {
    const { B, S, T, C } = this;
    const g = this.g;
    const cfg = this.o.config;
    const ctx = this.main;
    const Pz = cfg.patchSize;
    const video = g.input('video', ElemType.FLOAT, [B, 3, T, cfg.imageSize, cfg.imageSize]);
    const v = this.convert(video, F32, ctx);
    // patch embedding: (B,3,T,H,W) -> (B*T,3,H,W) -> Conv -> (B*T, S, C)
    const frames = this.reshape(this.transpose(v, [0, 2, 1, 3, 4]), [B * T, 3, cfg.imageSize, cfg.imageSize]);
    const emb = g.scoped('patch_embed', () => {
      const W = this.weight('patch_embed.proj.weight', ctx, [C, 3, Pz, Pz]);
      const b = this.weight('patch_embed.proj.bias', ctx, [C]);
      const y = this.r('Conv', [frames, W, b], ctx, { kernel_shape: [Pz, Pz], strides: [Pz, Pz] });
      return this.transpose(this.reshape(y, [B * T, C, S]), [0, 2, 1]);
    });
    // position embedding (spatial) then time embedding, as the official forward_features
    const posPatch = this.weight('pos_embed', ctx, [1, S, C], { range: [C, (S + 1) * C] });
    const posCls = g.scoped('cls', () => {
      const clsTok = this.weight('cls_token', ctx, [1, 1, C]);
      const pos0 = this.weight('pos_embed', ctx, [1, 1, C], { range: [0, C] }, 'pos_embed.cls');
      const c = this.r('Add', [clsTok, pos0], ctx);
      return B === 1 ? c : g.op('Expand', [c, g.ints([B, 1, C])]);
    });
    const xp = this.r('Add', [emb, posPatch], ctx); // (B*T, S, C)
    const xpt = this.transpose(this.reshape(xp, [B, T, S, C]), [0, 2, 1, 3]); // (B, S, T, C)
    const timeEmb = this.weight('time_embed', ctx, [1, T, C]);
    let P = this.r('Add', [xpt, timeEmb], ctx);
    let cls = posCls;
    const depth = Math.min(cfg.depth, this.o.depthLimit ?? cfg.depth);
    const blockNames: string[] = [];
    for (let i = 0; i < depth; i++) {
      const r = this.block(i, cls, P);
      blockNames.push(this.expose(r.out, ctx, `blocks.${i}.out`));
      cls = r.cls;
      P = r.P;
    }
    let probsName: string | null = null;
    if (depth === cfg.depth) {
      const n = this.layerNorm(cls, 'norm', null);
      const logits = this.linear(n, 'head', ctx, C, cfg.numClasses, [B, cfg.numClasses]);
      const probs = this.r('Softmax', [logits], ctx, { axis: -1 });
      probsName = this.expose(probs, ctx, 'probs');
    }
    const model = g.encode('timesformer', describe(this.o));
    const store = this.w instanceof WeightStore ? this.w : undefined;
    return {
      model,
      source: store ? store.saveModel(model) : model,
      writeOnnx: (file) => {
        if (store) writeOnnxFile(file, model, (ref, at, dst) => store.readRef(ref, at, dst));
        else fs.writeFileSync(file, model);
      },
      inputName: video,
      probsName,
      blockNames,
      layerNorms: this.lns,
      nodeCount: g.nodes.length,
      initializerBytes: g.initializerBytes,
      extraOutputs: g.outputs.map((x) => x.name!).filter((n) => n !== 'probs' && !/^blocks\.\d+\.out$/.test(n)),
    };
  }
}

function baseName(x: string): string {
  const i = x.lastIndexOf('/');
  return i < 0 ? x : x.slice(i + 1);
}

export function describe(o: Pick<GraphOptions, 'precision' | 'realization' | 'layerNorm' | 'config'>): string {
  return `TimeSformer divided space-time, ${o.config.depth} blocks, C=${o.config.embedDim}, heads=${o.config.heads}, ` +
    `${o.config.frames}x${o.config.imageSize}x${o.config.imageSize}; precision ${o.precision} (${o.realization}), LayerNorm ${o.layerNorm}`;
}
