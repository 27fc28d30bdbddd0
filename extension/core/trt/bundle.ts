/**
 * The TensorRT hand-off bundle (issue 19, part 1): a folder that runs on a machine with TensorRT
 * and nothing of ours.
 *
 *   model.onnx          the deployed FP32 graph (export.ts: torch.onnx.export node names, one output:
 *                       `probs`, or `features` for a model without a classifier)
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
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { jsonSyntaxError, LabError } from '../errors';
import { readSmallFileSync } from '../formats/file';
import { exportForTensorRt, layerNormNames } from '../export';
import { torchDecomposedNodeNames } from '../compare/diagnosis';
import type { Prepared } from '../pipeline';
import { DEFAULT_TOLERANCE } from '../compare/verdict';
import type { BundleManifest } from './manifest';
import { pollyScript, readmeText, trtexecScript } from './scripts';
import { onAbnormalExit } from './trtexec';

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

/** The files a bundle consists of (anything else in its folder is an output of its scripts, or the user's). */
const BUNDLE_FILES = new Set(['model.onnx', 'model_marked.onnx', 'inputs.bin', 'inputs.json', 'inputs.npy', 'reference', 'bundle.json', 'run_trtexec.sh', 'run_polygraphy.sh', 'README.txt']);

/** An fs error (one with an errno code) while writing `file` of the bundle, as a LabError naming it; any other error passes through. */
function writeError(e: unknown, file: string): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (e instanceof LabError || typeof code !== 'string') return e;
  return new LabError('BAD_OPTION', `cannot write the bundle here (${code}: ${(e as Error).message.replace(/^[A-Z]+: /, "")}); the previous bundle, if any, is left as it was`, file, { cause: e });
}

/** `when` as 20260108-143005 (local time), for the folder a previous bundle moves to. */
function stamp(when: Date): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${when.getFullYear()}${p2(when.getMonth() + 1)}${p2(when.getDate())}-${p2(when.getHours())}${p2(when.getMinutes())}${p2(when.getSeconds())}`;
}

/**
 * Write the bundle for a preparation (weights, clip, reference) into `dir`. The proposed fix: the
 * LayerNorms TensorRT's FP16 would overflow, read from our FP32 statistics of this clip (as
 * `export-onnx --layernorm minimal`); every LayerNorm when none would.
 *
 * The bundle is written whole into `DIR.partial-<pid>` beside `dir` and renamed into place once
 * complete: a failed export leaves `dir` as it was. A previous bundle in `dir` is replaced; when its
 * scripts' outputs (trt_*.json, polygraphy_*.json, logs, engines) or other files are in it, the old
 * folder is kept whole as `DIR.previous-<time>` (outputs beside the bundle they came from), else it is
 * removed. A folder that holds files but no bundle.json is not ours to replace: refused.
 */
export async function writeBundle(p: Prepared, dir: string): Promise<BundleResult> {
  dir = path.resolve(dir);
  let existing: string[] | undefined;
  try {
    if (fs.existsSync(dir)) {
      if (!fs.statSync(dir).isDirectory()) throw new LabError('BAD_OPTION', 'is not a folder: export-trt writes the bundle as a folder', dir);
      existing = fs.readdirSync(dir);
    }
  } catch (e) {
    throw writeError(e, dir);
  }
  if (existing?.length && !existing.includes('bundle.json')) {
    throw new LabError('BAD_OPTION', `holds files (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}) and no bundle.json: export-trt writes a bundle into a new or empty folder, or replaces a bundle; choose another --out`, dir);
  }
  const staging = `${dir}.partial-${process.pid}`;
  const removeStaging = () => fs.rmSync(staging, { recursive: true, force: true });
  // killed mid-export (the extension's Cancel ends the CLI): no half-written folder left beside it
  const unhook = onAbnormalExit(removeStaging);
  let current = staging;
  try {
    removeStaging();
    fs.mkdirSync(path.join(staging, 'reference'), { recursive: true });
    const r = await fillBundle(p, staging, dir, (f) => (current = f));
    current = dir;
    const moved = replaceBundle(staging, dir, existing);
    if (moved) r.summary.splice(1, 0, `the previous bundle and its outputs (${moved.outputs.slice(0, 4).join(', ')}${moved.outputs.length > 4 ? ', …' : ''}) moved to ${moved.to}: their outputs belong to its clip and reference, not this one's`);
    return r;
  } catch (e) {
    try {
      removeStaging();
    } catch {
      /* it could not be made either */
    }
    throw writeError(e, current);
  } finally {
    unhook();
  }
}

/** Put the complete bundle `staging` at `dir`; the old bundle there is removed, or moved aside when it holds more than a bundle. */
function replaceBundle(staging: string, dir: string, existing: string[] | undefined): { to: string; outputs: string[] } | undefined {
  if (existing === undefined) {
    fs.renameSync(staging, dir);
    return undefined;
  }
  const outputs = existing.filter((n) => !BUNDLE_FILES.has(n)).sort();
  let when = new Date();
  try {
    when = new Date(JSON.parse(readSmallFileSync(path.join(dir, 'bundle.json'), MAX_MANIFEST, 'a bundle manifest').toString('utf8')).exportedAt ?? fs.statSync(path.join(dir, 'bundle.json')).mtime);
    if (Number.isNaN(when.getTime())) when = fs.statSync(path.join(dir, 'bundle.json')).mtime;
  } catch {
    /* an unreadable old manifest: now */
  }
  let aside = `${dir}.previous-${stamp(when)}`;
  for (let k = 2; fs.existsSync(aside); k++) aside = `${dir}.previous-${stamp(when)}-${k}`;
  fs.renameSync(dir, aside);
  try {
    fs.renameSync(staging, dir);
  } catch (e) {
    fs.renameSync(aside, dir); // the old bundle back where it was
    throw e;
  }
  if (!outputs.length) {
    fs.rmSync(aside, { recursive: true, force: true }); // nothing in it that the new bundle does not remake
    return undefined;
  }
  return { to: aside, outputs };
}

/** Write every file of the bundle into `out` (`dir` is where it will be); `at` is told each file before it is written. */
async function fillBundle(p: Prepared, out: string, dir: string, at: (file: string) => void): Promise<BundleResult> {
  const exportedAt = new Date().toISOString();
  const files: string[] = [];
  const put = (name: string, bytes: string | Uint8Array) => {
    at(path.join(out, name));
    fs.writeFileSync(path.join(out, name), bytes);
    files.push(name);
  };
  const deployed = await exportForTensorRt(p, { layerNorm: 'plain', form: 'decomposed', onnxName: 'model.onnx' });
  at(path.join(out, 'model.onnx'));
  deployed.write(path.join(out, 'model.onnx'));
  files.push('model.onnx');
  const marked = await exportForTensorRt(p, { layerNorm: 'plain', form: 'decomposed', onnxName: 'model_marked.onnx', markBlocks: true });
  at(path.join(out, 'model_marked.onnx'));
  marked.write(path.join(out, 'model_marked.onnx'));
  files.push('model_marked.onnx');
  // the final output as the graph names it: probs, or features for a model without a classifier (model/timesformer.ts)
  if (deployed.outputs.length !== 1) throw new Error(`model.onnx has ${deployed.outputs.length} outputs (${deployed.outputs.join(', ')}); the deployed graph has one`);
  const final = deployed.outputs[0];

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
  const inputBytes = f32Bytes(p.video.data);
  put('inputs.bin', inputBytes);
  put('inputs.json', JSON.stringify([{ [inputName]: polygraphyArray(shape, p.video.data) }], null, 4));
  put('inputs.npy', npyBytes(shape, p.video.data)); // the clip for our own import (--input)

  const ref = await p.reference();
  const B = shape[0];
  const finalShape = [B, ref.probs.length / B];
  const blockShape = ref.blockShape;
  const markedShapes: Record<string, number[]> = {};
  const reference: Record<string, string> = {};
  const writeRef = (name: string, a: Float32Array) => {
    reference[name] = refFile(name);
    put(path.join('reference', refFile(name)), f32Bytes(a));
  };
  writeRef(final, ref.probs); // the reference's final output (pipeline/reference.ts: the graph's probsName)
  ref.blocks.forEach((b, i) => {
    writeRef(`blocks.${i}.out`, b);
    markedShapes[`blocks.${i}.out`] = blockShape;
  });
  markedShapes[final] = finalShape;
  const expectMarked = [...marked.outputs].sort();
  if (JSON.stringify(expectMarked) !== JSON.stringify(Object.keys(markedShapes).sort())) {
    throw new Error(`model_marked.onnx outputs (${marked.outputs.join(', ')}) are not the reference's (${Object.keys(markedShapes).join(', ')})`);
  }

  const manifest: BundleManifest = {
    tool: 'timesformer-precision-lab', kind: 'tensorrt-bundle', version: 1,
    id: crypto.randomBytes(8).toString('hex'), exportedAt,
    weights: path.resolve(p.options.weights), ...(p.options.data ? { data: path.resolve(p.options.data) } : {}), heads: p.config.heads,
    input: { name: inputName, shape, file: 'inputs.bin', json: 'inputs.json', sha256: crypto.createHash('sha256').update(inputBytes).digest('hex') },
    outputs: { deployed: { [final]: finalShape }, marked: markedShapes },
    fix: { layerNorms: fixLns, source, layers },
    reference, referenceLabel: ref.info.label,
    tolerance: { fp16: DEFAULT_TOLERANCE.fp16, fp32: DEFAULT_TOLERANCE.fp32 },
  };
  put('bundle.json', JSON.stringify(manifest, null, 2) + '\n');
  put('run_trtexec.sh', trtexecScript(manifest));
  put('run_polygraphy.sh', pollyScript(manifest));
  for (const s of ['run_trtexec.sh', 'run_polygraphy.sh']) fs.chmodSync(path.join(out, s), 0o755);
  put('README.txt', readmeText(manifest));
  const summary = [
    `wrote the TensorRT bundle ${dir}: model.onnx (${deployed.nodeNames.length} nodes, output ${final}), model_marked.onnx (+${ref.blocks.length} block outputs), inputs.bin/.json (${inputName} ${shape.join('x')}), reference/ (${ref.info.label})`,
    source === 'statistics'
      ? `proposed fix: ${fixLns.length} LayerNorm(s) TensorRT's FP16 would overflow on this clip kept in FP32: ${fixLns.join(', ')}`
      : 'proposed fix: no LayerNorm overflows FP16 on this clip (by our FP32 statistics); the fix keeps every LayerNorm in FP32',
    'next: on the TensorRT machine, ./run_trtexec.sh (or ./run_polygraphy.sh), then: timesformer-lab import --weights W [--data D] DIR/*.json',
  ];
  return { dir, manifest, files, summary };
}

/** The largest bundle.json read (export-trt writes ~12 KB). */
export const MAX_MANIFEST = 4 << 20;

/** Read a bundle's manifest (bundle.json) from a folder, or undefined when there is none. */
export function readManifest(dir: string): BundleManifest | undefined {
  const f = path.join(dir, 'bundle.json');
  if (!fs.existsSync(f)) return undefined;
  // a regular file of at most 4 MiB (one written by export-trt is ~12 KB): a FIFO there is NOT_A_FILE, never opened
  const text = readSmallFileSync(f, MAX_MANIFEST, 'a bundle manifest').toString('utf8');
  let m: BundleManifest;
  try {
    m = JSON.parse(text) as BundleManifest;
  } catch (e) {
    throw new LabError('BAD_OUTPUTS', `not a bundle manifest (${jsonSyntaxError(e)})`, f);
  }
  if (m.kind !== 'tensorrt-bundle' || !m.fix || !m.outputs) throw new LabError('BAD_OUTPUTS', 'not a TensorRT bundle manifest (written by export-trt)', f);
  return m;
}
