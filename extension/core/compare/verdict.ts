/** Pass/fail per block: the tolerance of each precision, and the jump rule. Pure. */
import type { BlockResult, Precision } from '../report';

/**
 * Default per-block tolerance (rel L2 of the patch tokens) per precision: about 1.5× the largest
 * error a healthy engine of that precision was measured at (shared NOTES, "The seed's own numbers"
 * and "Full size on the H100"); a user's tolerance overrides it.
 *
 * | precision | tolerance | healthy, must pass                                              | broken, must fail                  |
 * |-----------|-----------|-----------------------------------------------------------------|------------------------------------|
 * | fp32      | 0.01      | true FP32 ≤ 3e-6 (ours vs the official model); the seed's       | `--heads 6` on a 4-head model:     |
 * |           |           | TensorRT FP32 engine (TF32 GEMMs) up to 0.0077                  | 0.88 at block 0                    |
 * | fp16      | 0.025     | the seed's TensorRT FP16 engine with LayerNorm exposed up to    | the seed's plain FP16 engine:      |
 * |           |           | 0.0162; PyTorch `.half()` 2.0e-3–2.9e-3 (full size); WebGPU's   | .0131 → 0.409 at block 6; d1 plain |
 * |           |           | fp16-accumulating kernels 1.3e-2–2.0e-2                         | 0.13 at block 4                    |
 * | bf16      | 0.05      | PyTorch's own BF16 1.6e-2–2.3e-2 (full size), 0.9e-2–2.8e-2     | an overflow or wrong heads (≥ 0.1) |
 * |           |           | (narrow); ours emulated on a narrow model up to 0.031           |                                    |
 */
export const DEFAULT_TOLERANCE: Readonly<Record<Precision, number>> = { fp32: 0.01, fp16: 0.025, bf16: 0.05 };

export function defaultTolerance(p: Precision): number {
  return DEFAULT_TOLERANCE[p];
}

/** A block jumps when its error is at least this many times its predecessor's (and over the tolerance). */
export const JUMP_FACTOR = 10;

/**
 * Marks the block where the error first jumps: >= 10x the previous block AND over the tolerance
 * (a tenfold rise that stays within the tolerance is noise, a slow climb past it is no jump).
 */
export function markJump(blocks: BlockResult[], tolerance: number): number | null {
  for (let i = 1; i < blocks.length; i++) {
    const prev = blocks[i - 1].relL2;
    const b = blocks[i];
    if (b.relL2 > tolerance && prev > 0 && b.relL2 >= JUMP_FACTOR * prev) {
      b.jump = true;
      return b.index;
    }
  }
  return null;
}

/** The first block over the tolerance (inf/NaN errors fail), or null. */
export function firstFailing(blocks: readonly BlockResult[]): number | null {
  return blocks.find((b) => !b.passed)?.index ?? null;
}

/** The block of largest error, a NaN error counting as the largest; the first such on a tie (the first block if there are none). */
export function worstBlock<B extends Pick<BlockResult, 'relL2'>>(blocks: readonly B[]): B {
  const worse = (a: number, b: number) => (Number.isNaN(a) ? !Number.isNaN(b) : a > b);
  return blocks.reduce((w, b) => (worse(b.relL2, w.relL2) ? b : w), blocks[0]);
}

/** relL2 <= tolerance, with NaN failing. */
export function passes(relL2: number, tolerance: number): boolean {
  return relL2 <= tolerance;
}
