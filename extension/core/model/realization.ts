/**
 * How a precision is made real on an execution provider, as one value the graph builder, the
 * statistics, the diagnosis and the Report's label all read, so that a label can never disagree
 * with the graph. Pure: no onnxruntime, no vscode.
 *
 * The 16-bit overflow limits of a LayerNorm (what each mechanism tolerates in a given realization)
 * live here for the same reason: the builder decides where a LayerNorm's reductions accumulate,
 * and the diagnosis must judge exposure by that same decision.
 */
import { FP16_MAX } from '../tensor';
import type { Accumulate, LayerNormMode, Mechanism, Precision, Realization } from '../report';

export interface RealizationSpec {
  precision: Precision;
  realization: Realization;
  accumulate: Accumulate;
}

/**
 * Op types a native 16-bit graph computes with operands cast up to fp32 and the result rounded to
 * fp16 once when accumulating in fp32 (TensorRT's and cuBLAS's tensor-core GEMMs, TensorRT's
 * reduce): the GEMMs (MatMul also covers Linear and the attention products QK^T and PV), the
 * patch-embedding Conv, the fused attention kernel, and the reductions.
 */
export const FP32_ACCUMULATED_OPS: readonly string[] = ['MatMul', 'Gemm', 'Conv', 'MultiHeadAttention', 'ReduceMean'];

/**
 * Whether GEMMs and reductions accumulate in 16 bits: only on 16-bit graphs built by us (native or
 * emulated) with accumulate = fp16. TensorRT picks its own kernels (fp32 accumulation) and an fp32
 * run has nothing to accumulate in 16 bits.
 */
export function accumulates16(s: RealizationSpec): boolean {
  return s.precision !== 'fp32' && (s.realization === 'native' || s.realization === 'emulated') && s.accumulate === 'fp16';
}

/** What each 16-bit mechanism of a LayerNorm tolerates in a realization; null: not exposed. */
export type LnLimits = Record<Exclude<Mechanism, 'nonFiniteInput'>, number | null>;

/**
 * The limits of one LayerNorm built in `mode` under realization `s`, on the statistics measured on
 * its (unscaled) input: max (x−mean)², max Σ(x−mean)², max |Σx|.
 * - Only FP16 has a 16-bit range; BF16 keeps fp32's (≈3.4e38): nothing to overflow.
 * - fp32 / expose compute the statistics in fp32; fused is LayerNormalization with stash_type=1
 *   (fp32 internals; TensorRT ≥ 8.6 runs it as a normalization layer): not exposed.
 * - plain squares in fp16 (TensorRT too: its fp16 elementwise Pow); its sums overflow only where
 *   the reductions accumulate in 16 bits (TensorRT's reduce accumulates in fp32).
 * - prescaled multiplies by 2^-k first: squares and sums of squares shrink by 4^k, sums by 2^k.
 */
export function lnLimits(s: RealizationSpec, mode: LayerNormMode, prescaleShift: number): LnLimits {
  const none: LnLimits = { square: null, sumSquares: null, sumX: null };
  if (s.precision !== 'fp16' || s.realization === 'fp32') return none;
  if (mode !== 'plain' && mode !== 'prescaled') return none;
  const k = mode === 'prescaled' ? prescaleShift : 0;
  const acc16 = accumulates16(s);
  return {
    square: FP16_MAX * 4 ** k,
    sumSquares: acc16 ? FP16_MAX * 4 ** k : null,
    sumX: acc16 ? FP16_MAX * 2 ** k : null,
  };
}

/** The limits TensorRT's FP16 puts on a plain (decomposed, exported) LayerNorm: its square only. */
export const TENSORRT_FP16: RealizationSpec = { precision: 'fp16', realization: 'tensorrt', accumulate: 'fp32' };

/** Words for a mechanism, as the Report and the CLI print them. */
export function mechanismWords(m: Mechanism): string {
  switch (m) {
    case 'square':
      return '(x−mean)² of one value passes 65504';
    case 'sumSquares':
      return 'the sum over the channels of (x−mean)² (C × variance) passes 65504 in a 16-bit accumulator';
    case 'sumX':
      return 'the sum of x over the channels (the mean\'s accumulator) passes 65504 in 16 bits';
    case 'nonFiniteInput':
      return 'inf/NaN already in its input';
  }
}
