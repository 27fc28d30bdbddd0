/**
 * Execution providers: the order `auto` tries, how each realizes a precision, and how their load
 * failures read to a user. Pure: no onnxruntime import here (see session.ts).
 */
import type { Accumulate, EpChoice, EpName, LayerNormMode, Precision, Realization } from '../report';
import { accumulates16 } from '../model/realization';

export const AUTO_ORDER: readonly EpName[] = ['tensorrt', 'cuda', 'webgpu', 'cpu'];

/** Providers to try, in order: `auto` tries all; an explicit choice falls back to the ones after it. */
export function providerOrder(choice: EpChoice): EpName[] {
  if (choice === 'auto') return [...AUTO_ORDER];
  const i = AUTO_ORDER.indexOf(choice);
  if (i < 0) throw new Error(`unknown execution provider ${choice}`);
  return AUTO_ORDER.slice(i);
}

/** How a precision is realized on a provider (see README, "How FP16 is realized"). */
export function realizationFor(ep: EpName, precision: Precision): Realization {
  if (precision === 'fp32') return 'fp32';
  if (ep === 'tensorrt') return precision === 'fp16' ? 'tensorrt' : 'emulated';
  if ((ep === 'webgpu' || ep === 'cuda') && precision === 'fp16') return 'native';
  return 'emulated';
}

/**
 * The Report's and the CLI's words for how a precision was realized, accumulation included: the
 * same RealizationSpec the graph was built from (see model/realization.ts), so they cannot disagree.
 */
export function realizationLabel(ep: EpName, precision: Precision, r: Realization, accumulate: Accumulate = 'fp32'): string {
  const EP = { tensorrt: 'TensorRT EP', cuda: 'CUDA EP', webgpu: 'WebGPU EP', cpu: 'CPU EP' }[ep];
  const P = precision.toUpperCase();
  const acc16 = accumulates16({ precision, realization: r, accumulate });
  switch (r) {
    case 'fp32':
      return `FP32 (${EP})`;
    case 'emulated':
      return `${P} emulated (${EP}: fp32 graph, ${P} rounding after every op; ` + (acc16
        ? (precision === 'bf16'
          // BF16 has FP32's range: its reductions cannot overflow, only round
          ? 'bf16 accumulation modelled only as the reductions\' sum rounded to bf16 before the division (no overflow: BF16 has FP32\'s range), not as the per-addition rounding of long dot products)'
          : `${precision} accumulation modelled only as the reductions' 16-bit overflow (sum rounded before the division), not as the per-addition rounding of long dot products)`)
        : 'each result rounded once: fp32 accumulation)');
    case 'native':
      return `${P} native (${EP}: true ${precision} graph, fp32 inputs/outputs; ` + (acc16
        ? `the EP's own ${precision} kernels: ${precision} accumulation, a worst case)`
        : 'MatMul, Conv, attention and ReduceMean accumulate in fp32 as TensorRT\'s kernels do)');
    case 'tensorrt':
      return `${P} (${EP}: fp32 graph with trt_fp16_enable, TensorRT picks layer precisions; its GEMMs and reductions accumulate in fp32)`;
  }
}

/**
 * onnxruntime's graph optimization level for a graph. On a true fp16 graph, ORT's LayerNormFusion
 * and SimplifiedLayerNormFusion fold a decomposed LayerNorm — or its Pow → ReduceMean → Add → Sqrt
 * → Div tail — into one kernel that accumulates in fp32: a `plain` or `prescaled` LayerNorm would
 * silently stop being itself. Measured with onnxruntime-node 1.30 (test/unit/numerics.test.ts):
 * LayerNormFusion already runs at 'basic' (pure fp16 LayerNorms), SimplifiedLayerNormFusion at
 * 'all' (fp32-accumulated ones). The statistics' side outputs read the intermediate tensors
 * (square, variance, mean), which blocks both; without them, no graph optimization at all.
 */
export function optimizationLevel(r: Realization, layerNorm: LayerNormMode | readonly LayerNormMode[], stats: boolean): 'all' | 'disabled' {
  const modes: readonly LayerNormMode[] = typeof layerNorm === 'string' ? [layerNorm] : layerNorm;
  return r === 'native' && !stats && modes.some((m) => m === 'plain' || m === 'prescaled') ? 'disabled' : 'all';
}

/** Turn onnxruntime's load error into a reason a user can act on. */
export function explainProviderError(ep: EpName, message: string): string {
  const m = message.replace(/\x1b\[[0-9;]*m/g, '');
  if (/Failed to load shared library|cannot open shared object|providers_shared|not supported|bundled/i.test(m)) {
    if (ep === 'tensorrt') {
      return 'TensorRT provider library not found: onnxruntime-node ships without libonnxruntime_providers_tensorrt.so (and needs TensorRT and CUDA installed)';
    }
    if (ep === 'cuda') {
      return 'CUDA provider library not found: onnxruntime-node ships without libonnxruntime_providers_cuda.so (and needs CUDA and cuDNN installed)';
    }
  }
  if (ep === 'webgpu') {
    if (/libvulkan/i.test(m) || /adapter/i.test(m)) {
      return 'no WebGPU adapter: no GPU, or no Vulkan loader/driver (libvulkan.so.1)';
    }
  }
  const first = m.split('\n').find((l) => l.trim()) ?? m;
  return `${ep} provider could not be loaded: ${first.slice(0, 300)}`;
}
