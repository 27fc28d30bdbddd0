/**
 * Execution providers: the order `auto` tries, how each realizes a precision, and how their load
 * failures read to a user. Pure: no onnxruntime import here (see session.ts).
 */
import type { EpChoice, EpName, LayerNormMode, Precision, Realization } from '../report';

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

export function realizationLabel(ep: EpName, precision: Precision, r: Realization): string {
  const EP = { tensorrt: 'TensorRT EP', cuda: 'CUDA EP', webgpu: 'WebGPU EP', cpu: 'CPU EP' }[ep];
  const P = precision.toUpperCase();
  switch (r) {
    case 'fp32':
      return `FP32 (${EP})`;
    case 'emulated':
      return `${P} emulated (${EP}: fp32 graph, ${P} rounding after every op)`;
    case 'native':
      return `${P} native (${EP}: true ${precision} graph, fp32 inputs/outputs)`;
    case 'tensorrt':
      return `${P} (${EP}: fp32 graph with trt_fp16_enable, TensorRT picks layer precisions)`;
  }
}

/**
 * onnxruntime's graph optimization level for a graph. On a true fp16 graph, ORT's LayerNormFusion
 * (level 'extended' and up) would fold a decomposed LayerNorm into one LayerNormalization that
 * accumulates in fp32: a `plain` or `prescaled` LayerNorm would silently stop being itself. Probe
 * outputs on the intermediate tensors block that fusion; without them, stay at 'basic'.
 */
export function optimizationLevel(r: Realization, layerNorm: LayerNormMode, probes: boolean): 'all' | 'basic' {
  return r === 'native' && !probes && (layerNorm === 'plain' || layerNorm === 'prescaled') ? 'basic' : 'all';
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
