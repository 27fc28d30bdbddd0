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
 * Precision and accumulation: see graph-layers.ts, which builds one block's layers; this file
 * builds the whole model around them (embedding, blocks, final LayerNorm and head), whole or as
 * chained segments. The options and the built graph's shape are in graph-options.ts.
 *
 * Node names follow torch.onnx.export for the official model (`/model/blocks.6/temporal_norm1/
 * ReduceMean`, `.../ReduceMean_1`, `.../LayerNormalization`), so a trtexec `--layerPrecisions`
 * line written for the user's own export applies to ours.
 */
import { writeFileAtomic } from '../write-file';
import { writeAtSync } from '../formats/file';
import { LabError } from '../errors';
import { BlockGraph, F32 } from './graph-layers';
import type { BuiltGraph, GraphOptions, Weights } from './graph-options';
import { describe } from './graph-options';
import type { ModelFile } from './model-file';
import { ElemType, writeOnnxFile } from './onnx-builder';
import { WeightStore } from './weight-store';

// The names this module has always exported, from their rooms.
export { describe, LN_STAT_FIELDS, readsAsF32, takesTransposed } from './graph-options';
export type { BuiltGraph, GraphOptions, LayerNormTensors, LnStatField, Weights } from './graph-options';
export type { ModelFile, ModelSource } from './model-file';

export function buildTimeSformer(weights: Weights, o: GraphOptions): BuiltGraph {
  return new TimeSformerGraph(weights, o).build();
}

/**
 * The same graph as chained segments of `perSegment` blocks (the first with the embedding, the last
 * with the head), for the CPU EP: each segment's session maps only its own weights and holds only
 * its own activations, and is released before the next one is created, so a run's memory is one
 * segment's instead of the whole model's (the whole fp32 graph's run held its 464 MiB of mapped
 * weights plus ~0.3 GB of activations and allocator growth at full size). The values are the same:
 * a block's output leaves as fp32 and a 16-bit graph takes it back exactly (it holds 16-bit values).
 * Its `model` and `writeOnnx` are the whole graph's, built when asked for.
 */
export function buildSegmented(weights: Weights, o: GraphOptions, perSegment = 1): BuiltGraph {
  const depth = Math.min(o.config.depth, o.depthLimit ?? o.config.depth);
  if (o.blocks || depth <= perSegment) return buildTimeSformer(weights, o);
  const parts: BuiltGraph[] = [];
  for (let from = 0; from < depth; from += perSegment) parts.push(buildTimeSformer(weights, { ...o, blocks: [from, Math.min(depth, from + perSegment)] }));
  let whole: BuiltGraph | undefined;
  const wholeGraph = () => (whole ??= buildTimeSformer(weights, o));
  const last = parts[parts.length - 1];
  return {
    get model() {
      return wholeGraph().model;
    },
    source: { segments: parts.map((p) => p.source as ModelFile) },
    writeOnnx: (file) => wholeGraph().writeOnnx(file),
    inputName: parts[0].inputName,
    probsName: last.probsName,
    blockNames: parts.flatMap((p) => p.blockNames),
    layerNorms: parts.flatMap((p) => p.layerNorms),
    nodeCount: parts.reduce((n, p) => n + p.nodeCount, 0),
    initializerBytes: parts.reduce((n, p) => n + p.initializerBytes, 0),
    extraOutputs: parts.flatMap((p) => p.extraOutputs),
  };
}

class TimeSformerGraph extends BlockGraph {
  build(): BuiltGraph {
    return this.g.scoped('/model', () => this.buildModel());
  }

  /** Patch, position and time embedding: the video to the class token (B, 1, C) and the patch tokens P (B, S, T, C). */
  private embed(video: string): { cls: string; P: string } {
    const { B, S, T, C } = this;
    const g = this.g;
    const cfg = this.o.config;
    const ctx = this.main;
    const Pz = cfg.patchSize;
    const v = this.convert(video, F32, ctx);
    // patch embedding: (B,3,T,H,W) -> (B*T,3,H,W) -> Conv -> (B*T, S, C)
    const frames = this.reshape(this.transpose(v, [0, 2, 1, 3, 4]), [B * T, 3, cfg.imageSize, cfg.imageSize]);
    const emb = this.module('patch_embed.proj', () => {
      const wctx = this.f32Form(ctx, ctx.t === ElemType.FLOAT16 && this.up32('Conv'));
      const W = this.weight('patch_embed.proj.weight', wctx, [C, 3, Pz, Pz]);
      const b = this.weight('patch_embed.proj.bias', wctx, [C]);
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
    return { cls: posCls, P: this.r('Add', [xpt, timeEmb], ctx) };
  }

  private buildModel(): BuiltGraph {
    const { B, S, T, C } = this;
    const g = this.g;
    const cfg = this.o.config;
    const ctx = this.main;
    const depth = Math.min(cfg.depth, this.o.depthLimit ?? cfg.depth);
    const [from, to] = this.o.blocks ?? [0, depth];
    if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from < to && to <= depth)) {
      throw new LabError('BAD_OPTION', `blocks [${from}, ${to}) is not a range of this model's ${depth} blocks`);
    }
    let input: string;
    let P: string;
    let cls: string;
    if (from === 0) {
      input = g.input('video', ElemType.FLOAT, [B, 3, T, cfg.imageSize, cfg.imageSize]);
      ({ cls, P } = this.embed(input));
    } else {
      // a later segment: the previous block's output as it left the previous segment (fp32)
      const N = 1 + S * T;
      input = g.input(`blocks.${from - 1}.out`, ElemType.FLOAT, [B, N, C]);
      const x = this.convert(input, F32, ctx);
      cls = this.slice(x, 0, 1, 1);
      P = this.reshape(this.slice(x, 1, N, 1), [B, S, T, C]);
    }
    const blockNames: string[] = [];
    for (let i = from; i < to; i++) {
      const r = this.block(i, cls, P);
      // a segment's last block leaves it even when block outputs are not asked for: the next segment takes it
      if (this.o.blockOutputs !== false || (i === to - 1 && to < cfg.depth)) blockNames.push(this.expose(r.out, ctx, `blocks.${i}.out`, [B, 1 + S * T, C]));
      cls = r.cls;
      P = r.P;
    }
    let probsName: string | null = null;
    if (to === cfg.depth) {
      const n = this.layerNorm(cls, 'norm', null, [B, 1, C]);
      if (cfg.numClasses === 0) {
        // no classifier (HF TimesformerModel): the final LayerNorm's class token is the output
        probsName = this.expose(this.reshape(n, [B, C]), ctx, 'features', [B, C]);
      } else {
        const logits = this.linear(n, 'head', ctx, C, cfg.numClasses, [B, cfg.numClasses]);
        const probs = this.r('Softmax', [logits], ctx, { axis: -1 });
        probsName = this.expose(probs, ctx, 'probs', [B, cfg.numClasses]);
      }
    }
    const model = g.encode('timesformer', describe(this.o));
    const store = this.w instanceof WeightStore ? this.w : undefined;
    return {
      model,
      source: store ? store.saveModel(model) : model,
      writeOnnx: (file) => {
        if (store) writeOnnxFile(file, model, (ref, at, dst) => store.readRef(ref, at, dst));
        else writeFileAtomic(file, (fd) => writeAtSync(fd, model, 0));
      },
      inputName: input,
      probsName,
      blockNames,
      layerNorms: this.lns,
      nodeCount: g.nodes.length,
      initializerBytes: g.initializerBytes,
      extraOutputs: g.outputs.map((x) => x.name!).filter((n) => n !== probsName && !/^blocks\.\d+\.out$/.test(n)),
    };
  }
}
