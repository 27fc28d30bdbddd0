/**
 * Save ONNX: a finished run's graph written again as one self-contained file (Export ONNX), from
 * the run's options and what the run settled. A run's own graph is saved by the engine stage
 * (`saveOnnx`), as it runs.
 */
import { buildTimeSformer } from '../model/timesformer';
import { WeightStore } from '../model/weight-store';
import type { PipelineOptions, Report } from '../report';
import { graphOptions } from './graph';
import { openModel, sizeOf } from './load';

/**
 * Write the ONNX graph of a finished run as one self-contained file, built again from the run's
 * options and what the run settled (heads, realization, LayerNorm overrides, batch): the same
 * graph, byte for byte, without keeping a copy of the model in memory between runs (Export ONNX).
 */
export async function saveOnnxOf(report: Report, o: PipelineOptions, file: string): Promise<void> {
  const store = WeightStore.create({ expectBytes: sizeOf(o.weights) });
  try {
    const m = await openModel(o.weights, store);
    const run = { ...o, precision: report.run.precision, layerNorm: report.run.layerNorm, layerNormOverrides: report.run.layerNormOverrides, accumulate: report.run.accumulate };
    buildTimeSformer(m.weights, graphOptions(report.config, report.inputs.input.shape[0], run, report.run.realization)).writeOnnx(file);
  } finally {
    store.close();
  }
}
