/**
 * The TensorRT hand-off bundle (issue 19, part 1): a folder that runs on a machine with TensorRT
 * and nothing of ours.
 *
 *   model.onnx          the deployed FP32 graph (export.ts: torch.onnx.export node names, only `probs`)
 *   model_marked.onnx   the same graph with every block output marked (`blocks.<i>.out`)
 *   inputs.bin          the clip as trtexec --loadInputs reads it: raw little-endian float32, exactly
 *                       volume × 4 bytes (TensorRT samples/common/sampleUtils.cpp:80-105, loadFromFile
 *                       refuses any other size; Binding::fill, sampleInference.cpp:2046-2049)
 *   inputs.json         the clip as Polygraphy --load-inputs reads it: a JSON list of feed dicts whose
 *                       arrays are np.save bytes in base64 (tools/Polygraphy/polygraphy/json/serde.py:
 *                       219-225 encode, 227-247 decode; TYPE_MARKER "polygraphy_class", constants.py:32)
 *   inputs.npy          the same clip as np.save writes it (the importer's --input)
 *   reference/*.bin     the FP32 reference outputs, raw float32, for trtexec --loadRefOutputs
 *                       (TensorRT 11: sampleOptions.cpp:1732-1781, sampleInference.cpp:2557-2575)
 *   run_trtexec.sh, run_polygraphy.sh, README.txt, bundle.json (what the importer reads back)
 *
 * The scripts are written by scripts.ts. No vscode import.
 */
import * as fs from 'fs';
import * as path from 'path';
import { LabError } from '../errors';
import { exportForTensorRt, layerNormNames } from '../export';
import { torchDecomposedNodeNames } from '../compare/diagnosis';
import type { Prepared } from '../pipeline';
import { DEFAULT_TOLERANCE } from '../compare/verdict';
import type { BundleManifest } from './manifest';
import { pollyScript, readmeText, trtexecScript } from './scripts';

export type { BundleManifest } from './manifest';

export interface BundleResult {
  dir: string;
  manifest: BundleManifest;
  files: string[];
  /** Lines to show the user (what was written, the fix). */
  summary: string[];
}

/** An np.save (format 1.0) little-endian float32 array. */
export function npyBytes(shape: readonly number[], data: Float32Array): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  // numpy pads the header with spaces to a multiple of 64 bytes, ending with a newline
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), f32Bytes(data)]);
}

/** Raw little-endian float32 bytes (every platform onnxruntime-node runs on is little-endian). */
export function f32Bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Polygraphy's JSON encoding of one numpy array (serde.py:219-225). */
export function polygraphyArray(shape: readonly number[], data: Float32Array): { array: string; polygraphy_class: 'ndarray' } {
  return { array: npyBytes(shape, data).toString('base64'), polygraphy_class: 'ndarray' };
}

/** Safe file name of an output (`blocks.3.out` -> `blocks.3.out.bin`). */
function refFile(name: string): string {
  return `${name.replace(/[^\w.-]/g, '_')}.bin`;
}

/**
 * Write the bundle for a preparation (weights, clip, reference) into `dir` (created; files of a
 * previous bundle are overwritten). The proposed fix: the LayerNorms TensorRT's FP16 would overflow,
 * read from our FP32 statistics of this clip (as `export-onnx --layernorm minimal`); every LayerNorm
 * when none would.
 */
export async function writeBundle(p: Prepared, dir: string): Promise<BundleResult> {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new LabError('BAD_OPTION', `cannot create the bundle folder (${(e as Error).message})`, dir);
  }
  if (!fs.statSync(dir).isDirectory()) throw new LabError('BAD_OPTION', 'is not a folder', dir);
  const files: string[] = [];
  const put = (name: string, bytes: string | Uint8Array) => {
    fs.writeFileSync(path.join(dir, name), bytes);
    files.push(name);
  };
  const deployed = await exportForTensorRt(p, { layerNorm: 'plain', form: 'decomposed', onnxName: 'model.onnx' });
  deployed.write(path.join(dir, 'model.onnx'));
  files.push('model.onnx');
  const marked = await exportForTensorRt(p, { layerNorm: 'plain', form: 'decomposed', onnxName: 'model_marked.onnx', markBlocks: true });
  marked.write(path.join(dir, 'model_marked.onnx'));
  files.push('model_marked.onnx');

  // the fix: read from the statistics of our FP32 graph on this clip (export.ts 'minimal')
  const minimal = await exportForTensorRt(p, { layerNorm: 'minimal', form: 'decomposed' });
  const source = minimal.fixed.length ? 'statistics' : 'all';
  const fixLns = minimal.fixed.length ? minimal.fixed : layerNormNames(p.config.depth);
  const layers = fixLns.flatMap((n) => torchDecomposedNodeNames(n));
  const missing = layers.filter((l) => !deployed.nodeNames.includes(l));
  if (missing.length) throw new Error(`the fix names layers model.onnx lacks: ${missing.slice(0, 3).join(', ')}`);

  const { onnx } = await import('onnx-proto');
  const g = onnx.ModelProto.decode(deployed.model).graph!;
  const inputName = g.input![0].name!;
  const shape = [...p.video.shape];
  put('inputs.bin', f32Bytes(p.video.data));
  put('inputs.json', JSON.stringify([{ [inputName]: polygraphyArray(shape, p.video.data) }], null, 4));
  put('inputs.npy', npyBytes(shape, p.video.data)); // the clip for our own import (--input)

  const ref = await p.reference();
  const B = shape[0];
  const probsShape = [B, ref.probs.length / B];
  const blockShape = ref.blockShape;
  const markedShapes: Record<string, number[]> = {};
  fs.mkdirSync(path.join(dir, 'reference'), { recursive: true });
  const reference: Record<string, string> = {};
  const writeRef = (name: string, a: Float32Array) => {
    reference[name] = refFile(name);
    put(path.join('reference', refFile(name)), f32Bytes(a));
  };
  writeRef('probs', ref.probs);
  ref.blocks.forEach((b, i) => {
    writeRef(`blocks.${i}.out`, b);
    markedShapes[`blocks.${i}.out`] = blockShape;
  });
  markedShapes.probs = probsShape;
  const expectMarked = [...marked.outputs].sort();
  if (JSON.stringify(expectMarked) !== JSON.stringify(Object.keys(markedShapes).sort())) {
    throw new Error(`model_marked.onnx outputs (${marked.outputs.join(', ')}) are not the reference's (${Object.keys(markedShapes).join(', ')})`);
  }

  const manifest: BundleManifest = {
    tool: 'timesformer-precision-lab', kind: 'tensorrt-bundle', version: 1,
    weights: path.resolve(p.options.weights), ...(p.options.data ? { data: path.resolve(p.options.data) } : {}), heads: p.config.heads,
    input: { name: inputName, shape, file: 'inputs.bin', json: 'inputs.json' },
    outputs: { deployed: { probs: probsShape }, marked: markedShapes },
    fix: { layerNorms: fixLns, source, layers },
    reference, referenceLabel: ref.info.label,
    tolerance: { fp16: DEFAULT_TOLERANCE.fp16, fp32: DEFAULT_TOLERANCE.fp32 },
  };
  put('bundle.json', JSON.stringify(manifest, null, 2) + '\n');
  put('run_trtexec.sh', trtexecScript(manifest));
  put('run_polygraphy.sh', pollyScript(manifest));
  for (const s of ['run_trtexec.sh', 'run_polygraphy.sh']) fs.chmodSync(path.join(dir, s), 0o755);
  put('README.txt', readmeText(manifest));
  const summary = [
    `wrote the TensorRT bundle ${dir}: model.onnx (${deployed.nodeNames.length} nodes, output probs), model_marked.onnx (+${ref.blocks.length} block outputs), inputs.bin/.json (${inputName} ${shape.join('x')}), reference/ (${ref.info.label})`,
    source === 'statistics'
      ? `proposed fix: ${fixLns.length} LayerNorm(s) TensorRT's FP16 would overflow on this clip kept in FP32: ${fixLns.join(', ')}`
      : 'proposed fix: no LayerNorm overflows FP16 on this clip (by our FP32 statistics); the fix keeps every LayerNorm in FP32',
    'next: on the TensorRT machine, ./run_trtexec.sh (or ./run_polygraphy.sh), then: timesformer-lab import --weights W [--data D] DIR/*.json',
  ];
  return { dir, manifest, files, summary };
}

/** Read a bundle's manifest (bundle.json) from a folder, or undefined when there is none. */
export function readManifest(dir: string): BundleManifest | undefined {
  const f = path.join(dir, 'bundle.json');
  if (!fs.existsSync(f)) return undefined;
  let m: BundleManifest;
  try {
    m = JSON.parse(fs.readFileSync(f, 'utf8')) as BundleManifest;
  } catch (e) {
    throw new LabError('BAD_OUTPUTS', `not a bundle manifest (${(e as Error).message})`, f);
  }
  if (m.kind !== 'tensorrt-bundle' || !m.fix || !m.outputs) throw new LabError('BAD_OUTPUTS', 'not a TensorRT bundle manifest (written by export-trt)', f);
  return m;
}
