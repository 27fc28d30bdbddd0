/**
 * Loads onnxruntime in each of the lab's process kinds but the CLI's main thread (which
 * robust.test.ts runs on its own): a worker thread of the pool (parallel.ts, the 'cpuRun' job the
 * pipeline runs beside a GPU engine, loading onnxruntime before the main thread has), and the GPU
 * helper process (helper.ts). robust.test.ts runs it with an empty HOME and TMPDIR and no CI
 * variables, and checks that onnxruntime's telemetry left nothing there.
 */
import { GpuHelper } from '../../extension/core/helper';
import { startPool, type CpuRunResult } from '../../extension/core/parallel';
import { ElemType, OnnxGraphBuilder } from '../../extension/core/model/onnx-builder';

async function main(): Promise<void> {
  const g = new OnnxGraphBuilder();
  const x = g.input('video', ElemType.FLOAT, [2, 3]);
  g.op('Neg', [x], undefined, 'y');
  g.output('y', ElemType.FLOAT, [2, 3]);
  const pool = startPool(1);
  if (!pool) throw new Error('no worker thread');
  const r = await pool.run<CpuRunResult>({ type: 'cpuRun', source: g.encode('probe', ''), inputName: 'video', video: Float32Array.from([1, 2, 3, 4, 5, 6]), dims: [2, 3], threads: 1 });
  const y = r.outputs.find(([n]) => n === 'y')?.[1];
  if (!y || y[5] !== -6) throw new Error('the worker thread did not run the model');
  await pool.close();
  const helper = GpuHelper.start();
  if (!helper) throw new Error('no GPU helper process');
  const warm = await helper.warm('cpu');
  helper.close();
  if (!warm.available) throw new Error('the GPU helper did not load onnxruntime');
  process.stdout.write('loaded onnxruntime in a worker thread and in the GPU helper\n');
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(3);
});
