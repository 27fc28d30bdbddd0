/** What the graph tests share: d1's model opened in memory or from a weight store, and a model run once on the CPU EP. */
import * as path from 'path';
import { createEngine } from '../../../extension/core/engine/session';
import type { BuiltGraph } from '../../../extension/core/model/timesformer';
import { WeightStore } from '../../../extension/core/model/weight-store';
import { loadModel, openModel, type LoadedModel } from '../../../extension/core/pipeline';
import { readTestData, type TestData } from '../../../extension/core/formats/testdata';
import type { ModelConfig } from '../../../extension/core/report';

const FIX = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures');
export const D1 = { weights: path.join(FIX, 'd1_outlier.pyth'), data: path.join(FIX, 'd1_outlier_test_data.p') };

export interface OpenD1 {
  m: LoadedModel;
  /** The store the weights are in ('weight store'), under `parent`; close() it. */
  store?: WeightStore;
  data: TestData;
  /** d1's configuration, 4 heads. */
  config: ModelConfig;
  /** The test data's clip as a graph's feeds and their dims. */
  feeds: Record<string, Float32Array>;
  dims: Record<string, number[]>;
}

/** d1 in memory, or in a weight store (the forms a graph reads: f32 and f16 held as f32) under `parent`. */
export async function openD1(kind: 'in memory' | 'weight store', parent: string): Promise<OpenD1> {
  const store = kind === 'weight store' ? WeightStore.create({ parent }) : undefined;
  try {
    const m = store ? await openModel(D1.weights, store, ['f32', 'f32.f16']) : await loadModel(D1.weights);
    const data = await readTestData(D1.data);
    const config: ModelConfig = { ...m.base, heads: 4, headsSource: 'option', headsTried: [] };
    return { m, store, data, config, feeds: { video: data.video.data }, dims: { video: [...data.video.shape] } };
  } catch (e) {
    store?.close();
    throw e;
  }
}

export async function runOnCpu(source: BuiltGraph['source'], feeds: Record<string, Float32Array>, dims: Record<string, number[]>): Promise<Map<string, Float32Array>> {
  const e = await createEngine({ ep: 'cpu', precision: 'fp32', layerNorm: 'plain', buildModel: () => source });
  try {
    return await e.run(feeds, dims);
  } finally {
    await e.release();
  }
}
