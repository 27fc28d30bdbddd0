/**
 * The pipeline: load → clip → reference → engine run → compare → diagnose → Report, as stages (one
 * module each, a typed hand-off between them), and the scheduler that runs several modes over one
 * preparation. Used by the CLI, the worker and the tests; no vscode. The names the rest of the code
 * imports are all here: `import … from './core/pipeline'`.
 *
 *   load.ts        checkpoint, configuration, weights into the store; checkAgreement   → LoadedModel
 *   heads.ts       the head count: option, config, detected, assumed                    → heads
 *   clip.ts        the clip, one ClipReader per kind (test data, synthetic, .npy)       → Clip
 *   reference.ts   the test data's outputs, or our FP32 on the CPU (the probe run)      → Reference
 *   prepare.ts     the four above, once per call                                        → Prepared
 *   graph.ts       graph options, TensorRT cache key, the CPU EP's segmented graph
 *   engine-run.ts  one mode's engine: build (or given), save ONNX, run                  → EngineRun
 *   compare.ts     blocks, LayerNorm statistics, exposed tensors, final output          → Compared, Judged
 *   diagnose.ts    the verdict and its evidence; the 'minimal' mode's overrides         → Diagnosis
 *   assemble.ts    the Report, its timings and memory                                   → Report
 *   mode.ts        one mode: the stages above in order                                  → PipelineResult
 *   scheduler.ts   several modes, the GPU helper process, the minimal fix's confirmation
 *   save-onnx.ts   a finished run's graph as one file (Export ONNX)
 */
export { checkAgreement, loadModel, openModel, PARALLEL_READ_MIN_BYTES, type LoadedModel } from './load';
export { detectHeads } from './heads';
export {
  CLIP_READERS, MAX_CLIP_BYTES, clipFromArray, clipLayout, clipNormalization, readClip, syntheticVideo, type Clip, type ClipReader,
} from './clip';
export type { ProbeHow, ProbeRun, Reference } from './reference';
export { prepare, type EngineShelf, type Prepared } from './prepare';
export { DEFAULT_FP32_OPS, cpuSegmentBlocks, engineCacheKey, graphOptions, intendedSpec } from './graph';
export { buildEngine, ranEngine, type EngineRun, type GivenEngine } from './engine-run';
export { healthyStats, minimalOptions } from './diagnose';
export { memoryText } from './assemble';
export { runOneMode, type PipelineResult } from './mode';
export { helperModes, MODE_REPORT_WAIT_MS, runMode, runModes, runPipeline, type LayerNormChoice, type ModeHooks } from './scheduler';
export { saveOnnxOf } from './save-onnx';
