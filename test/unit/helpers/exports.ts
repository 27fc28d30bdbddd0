/**
 * What the tests of our exports share: load an exported .onnx as its consumer does (onnxruntime, from
 * a folder holding that file alone, so that nothing of the engine's scratch can be reached), check
 * the structure onnx.checker requires (every graph input and output with an element type and a
 * full shape; no external data), and compare outputs per block with the run they came from.
 * Used by test/unit/exports.test.ts, test/unit/host.test.ts and the e2e export test.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import type * as ortTypes from 'onnxruntime-node';
import { diff } from '../../../extension/core/compare/metrics';
import { prepare } from '../../../extension/core/pipeline';
import type { PipelineOptions } from '../../../extension/core/report';

const ort = () => require('onnxruntime-node') as typeof ortTypes;

/** The weight store's folders (WeightStore: `tsf-lab-w-<pid>-…`) under `parent`. */
export function storeFolders(parent: string): string[] {
  return fs.existsSync(parent) ? fs.readdirSync(parent).filter((n) => n.startsWith('tsf-lab-w-')) : [];
}

export interface OnnxShape {
  inputs: { name: string; elemType: number; dims: number[] }[];
  outputs: { name: string; elemType: number; dims: number[] }[];
  initializers: number;
  /** Bytes of the initializers held inline (raw_data). */
  inlineBytes: number;
}

/**
 * Decode an .onnx file and assert what onnx.checker.check_model asks of a graph's interface and what
 * a self-contained file is: every graph input and output has a tensor type with an element type
 * and a shape whose every dimension is a positive number; no initializer points at external data.
 */
export function assertWholeOnnx(file: string): OnnxShape {
  const m = onnx.ModelProto.decode(fs.readFileSync(file));
  const g = m.graph!;
  const io = (vs: onnx.IValueInfoProto[] | null | undefined, what: string) => (vs ?? []).map((v) => {
    const t = v.type?.tensorType;
    assert.ok(t, `${path.basename(file)}: graph ${what} ${v.name} has no tensor type`);
    assert.ok(t.elemType && t.elemType > 0, `${path.basename(file)}: graph ${what} ${v.name} has no element type`);
    assert.ok(t.shape?.dim?.length, `${path.basename(file)}: graph ${what} ${v.name} declares no shape`);
    const dims = t.shape.dim.map((d) => Number(d.dimValue ?? 0));
    assert.ok(dims.every((d) => Number.isInteger(d) && d > 0), `${path.basename(file)}: graph ${what} ${v.name} has shape [${dims}]`);
    return { name: v.name!, elemType: t.elemType, dims };
  });
  const inits = g.initializer ?? [];
  const external = inits.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData?.length ?? 0) > 0);
  assert.deepEqual(external.map((t) => t.name), [], `${path.basename(file)}: initializers point at external data`);
  return {
    inputs: io(g.input, 'input'), outputs: io(g.output, 'output'), initializers: inits.length,
    inlineBytes: inits.reduce((a, t) => a + (t.rawData?.length ?? 0), 0),
  };
}

/**
 * Run an exported file as its consumer does: onnxruntime, CPU, from a fresh folder that holds a copy
 * of that file alone (external data, if any, would not be found). Returns every output as float32.
 */
export async function runExported(file: string, video: { data: Float32Array; shape: readonly number[] }): Promise<Map<string, Float32Array>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-consumer-'));
  const alone = path.join(dir, path.basename(file));
  fs.copyFileSync(file, alone);
  try {
    const O = ort();
    const s = await O.InferenceSession.create(alone, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
    try {
      const r = await s.run({ [s.inputNames[0]]: new O.Tensor('float32', video.data, [...video.shape]) });
      return new Map(Object.entries(r).map(([k, t]) => [k, t.data as Float32Array]));
    } finally {
      await s.release();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Our FP32 graph (plain LayerNorms, CPU EP) on the options' clip: every block output and the probabilities. The store is released. */
export async function ourFp32(o: PipelineOptions): Promise<{ out: Map<string, Float32Array>; video: { data: Float32Array; shape: number[] }; blocks: Float32Array[] | undefined; probs: Float32Array | undefined }> {
  const p = await prepare(o);
  try {
    const { out } = await p.fp32Probe();
    return { out, video: { data: p.video.data, shape: [...p.video.shape] }, blocks: p.data?.blocks.map((b) => b.data), probs: p.data?.probs.data };
  } finally {
    p.close();
  }
}

/** Rel L2 of every `blocks.i.out` of `a` against `ref` (whole tensors), and of `probs` (or `features`, without a classifier); `worst` is their max. */
export function perBlock(a: Map<string, Float32Array>, ref: Map<string, Float32Array>): { blocks: number[]; probs: number; worst: number } {
  const blocks: number[] = [];
  for (let i = 0; a.has(`blocks.${i}.out`); i++) {
    assert.ok(ref.has(`blocks.${i}.out`), `the reference has blocks.${i}.out`);
    blocks.push(diff(a.get(`blocks.${i}.out`)!, ref.get(`blocks.${i}.out`)!).relL2);
  }
  const last = a.has('probs') ? 'probs' : 'features';
  const probs = diff(a.get(last)!, ref.get(last)!).relL2;
  return { blocks, probs, worst: Math.max(probs, ...blocks) };
}

/** Rel L2 of every block output of `a` against the test data's blocks as the Report measures it: the patch tokens (the class token, the first C values, left out). */
export function perBlockVsData(a: Map<string, Float32Array>, blocks: readonly Float32Array[], C: number): number[] {
  return blocks.map((b, i) => diff(a.get(`blocks.${i}.out`)!, b, C).relL2);
}
