/** Turns per-block errors and LayerNorm statistics into a verdict, a sentence and a fix. Pure. */
import type { BlockResult, Diagnosis, LayerNormMode, LayerNormStats, Precision, ProbsResult, Realization } from '../report';
import { FP16_MAX } from '../tensor';
import { fmtNum } from '../markdown';

export function describeLayerNorm(name: string): string {
  const m = /^blocks\.(\d+)\.(temporal_norm1|norm1|norm2)$/.exec(name);
  if (!m) return name === 'norm' ? 'Final LayerNorm (norm)' : `LayerNorm ${name}`;
  const kind = { temporal_norm1: 'temporal', norm1: 'spatial', norm2: 'MLP' }[m[2] as 'temporal_norm1' | 'norm1' | 'norm2'];
  return `Block ${m[1]} ${kind} LayerNorm (${name})`;
}

/** Node name of a LayerNorm in the graph `torch.onnx.export` (opset 17) writes for the official model. */
export function torchExportNodeName(name: string): string {
  const m = /^blocks\.(\d+)\.(\w+)$/.exec(name);
  return m ? `/model/blocks.${m[1]}/${m[2]}/LayerNormalization` : `/model/${name}/LayerNormalization`;
}

export function trtexecCommand(layerNorms: string[]): string {
  const layers = layerNorms.map((n) => `${torchExportNodeName(n)}:fp32`).join(',');
  return `trtexec --onnx=timesformer.onnx --fp16 --precisionConstraints=obey --layerPrecisions=${layers} --saveEngine=timesformer_fp16.plan`;
}

/** Marks the block where the error first jumps (>= 10x the previous block, or over the tolerance). */
export function markJump(blocks: BlockResult[], tolerance: number): number | null {
  let prev = 0;
  for (const b of blocks) {
    const over = b.relL2 > tolerance;
    const tenfold = prev > 0 && b.relL2 >= 10 * prev && b.relL2 > tolerance / 10;
    if (over || tenfold) {
      b.jump = true;
      return b.index;
    }
    prev = b.relL2;
  }
  return null;
}

const fmt = (x: number) => fmtNum(x, 2);

export interface DiagnoseInput {
  blocks: BlockResult[];
  probs: ProbsResult;
  finalNorm: LayerNormStats | null;
  tolerance: number;
  precision: Precision;
  layerNorm: LayerNormMode;
  realization: Realization;
}

export function diagnose(d: DiagnoseInput): Diagnosis {
  const { blocks, probs, tolerance } = d;
  const jump = markJump(blocks, tolerance);
  const firstBad = blocks.find((b) => !b.passed)?.index ?? null;
  const pass = firstBad === null && probs.relL2 <= tolerance;
  const all = [...blocks.flatMap((b) => b.layerNorms), ...(d.finalNorm ? [d.finalNorm] : [])];
  const overflowed = all.filter((l) => l.overflowed);
  const risky = all.filter((l) => l.overFp16Count > 0);
  const limit = firstBad ?? jump ?? Infinity;
  const culpritLn = overflowed.find((l) => (l.block ?? Infinity) <= limit) ?? overflowed[0] ?? risky[0];
  const culprit = culpritLn
    ? { layerNorm: culpritLn.name, block: culpritLn.block, channel: culpritLn.topChannels[0]?.channel ?? -1, maxSq: culpritLn.maxSq, overFp16Count: culpritLn.overFp16Count }
    : undefined;
  const fixes: LayerNormMode[] = risky.length ? ['fp32', 'fused', 'prescaled', 'expose'] : [];
  const trtexec = risky.length ? trtexecCommand(risky.map((l) => l.name)) : undefined;
  const worst = blocks.reduce((w, b) => (b.relL2 > w.relL2 ? b : w), blocks[0]);
  let sentence: string;
  const lnPhrase = (l: LayerNormStats) =>
    `${describeLayerNorm(l.name)}: (x−mean)² reaches ${fmt(l.maxSq)} > ${FP16_MAX} in channel ${l.topChannels[0]?.channel}`;
  if (!pass) {
    const final = probs.kind === 'features' ? 'The final LayerNorm output (no classifier) fails' : 'Probabilities fail';
    const where = firstBad !== null ? `Block ${firstBad} fails (rel err ${fmt(blocks[firstBad].relL2)} > ${fmt(tolerance)})` : `${final} (rel err ${fmt(probs.relL2)} > ${fmt(tolerance)})`;
    if (culpritLn && culpritLn.overflowed) {
      sentence = `${lnPhrase(culpritLn)} — FP16 overflow (${culpritLn.overFp16Count} values pass 65504; the normalized tokens collapse). ${where}. Fix: LayerNorm in FP32, fused LayerNormalization, or prescaled.`;
    } else if (culpritLn) {
      sentence = `${where}. ${lnPhrase(culpritLn)} — would overflow a 16-bit LayerNorm. Fix: LayerNorm in FP32, fused LayerNormalization, or prescaled.`;
    } else {
      sentence = `${where}; no LayerNorm overflowed, so the error comes from elsewhere (accumulation in attention or the MLP).`;
    }
  } else {
    const final = probs.kind === 'features'
      ? `final LayerNorm output (the model has no classifier) rel err ${fmt(probs.relL2)}`
      : `probabilities rel err ${fmt(probs.relL2)}, top-1 ${probs.top1Agree ? 'agrees' : 'differs'}`;
    const head = `All ${blocks.length} blocks within ${fmt(tolerance)} (worst ${fmt(worst?.relL2 ?? 0)} at block ${worst?.index ?? 0}); ${final}.`;
    sentence = culpritLn && d.precision !== 'fp32'
      ? `${head} ${lnPhrase(culpritLn)} — it would overflow a plain FP16 LayerNorm; the '${d.layerNorm}' LayerNorm mode avoids it.`
      : head;
  }
  return { verdict: pass ? 'pass' : 'fail', firstBadBlock: firstBad, sentence, culprit, trtexec, fixes };
}
