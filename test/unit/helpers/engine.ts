/** A model (path or bytes) run once on the CPU EP, its session released: what the graph tests compare. */
import { createEngine } from '../../../extension/core/engine/session';
import type { BuiltGraph } from '../../../extension/core/model/timesformer';

export async function runOnCpu(source: BuiltGraph['source'], feeds: Record<string, Float32Array>, dims: Record<string, number[]>): Promise<Map<string, Float32Array>> {
  const e = await createEngine({ ep: 'cpu', precision: 'fp32', layerNorm: 'plain', buildModel: () => source });
  try {
    return await e.run(feeds, dims);
  } finally {
    await e.release();
  }
}
