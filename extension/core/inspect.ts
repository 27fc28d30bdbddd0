/**
 * What a checkpoint and a test-data file describe, read cheaply: the checkpoint's tensor shapes
 * (its pickle, or safetensors headers; never the tensors' bytes), the test data's array headers
 * (numpy shapes and dtypes; the data bytes are not converted). Used to pair a checkpoint with its test
 * data before any run, and to say why a pair disagrees.
 */
import { promises as fsp } from 'fs';
import * as nodePath from 'path';
import { LabError } from './errors';
import { findHfFolder, hfWeightFile, readJsonFile } from './formats/hf';
import { BASE_GLOBALS, FINALIZE, NUMPY_GLOBALS, NumpyDType, SET_STATE, typeName, unpickle, type PyCallable } from './formats/pickle';
import { inferConfig } from './model/config';
import { openModelSource } from './model/load';

/** The geometry a checkpoint fixes (heads are not in the weights). */
export interface ModelSignature {
  kind: 'checkpoint';
  /** 'zip' | 'legacy' | 'safetensors' | 'safetensors (3 shards)' | 'pytorch_model.bin' ... */
  format: string;
  hf: boolean;
  frames: number;
  imageSize: number;
  patchSize: number;
  embedDim: number;
  depth: number;
  /** 0 for a model without a classifier (its final output is the final LayerNorm's class token). */
  numClasses: number;
}

/** The geometry test data fixes: its video, its final output and its block outputs. */
export interface DataSignature {
  kind: 'test-data';
  batch: number;
  frames: number;
  /** Video height and width. */
  height: number;
  width: number;
  /** Values per clip of the final output (classes, or the width for a model without a classifier). */
  numClasses: number;
  /** Block outputs in the file (0 when the list is empty). */
  depth: number;
  /** Tokens and channels of a block output (undefined without block outputs). */
  tokens?: number;
  embedDim?: number;
}

/**
 * A folder the workspace scan offers as a checkpoint: config.json of a `timesformer` model beside
 * its weights (HF_WEIGHT_FILES). A small JSON read; false for anything else.
 */
export async function isHfCheckpointFolder(dir: string): Promise<boolean> {
  if ((await findHfFolder(dir)) !== dir || !(await hfWeightFile(dir))) return false;
  try {
    const json = (await readJsonFile(nodePath.join(dir, 'config.json'), 'config.json')) as { model_type?: unknown } | null;
    return typeof json === 'object' && json !== null && json.model_type === 'timesformer';
  } catch {
    return false;
  }
}

/**
 * The checkpoint's geometry from its tensors' shapes, opened as the pipeline opens it (official
 * .pyth/.pth, safetensors, HF folder) but without loading a single tensor.
 */
export async function inspectCheckpoint(file: string): Promise<ModelSignature> {
  const src = await openModelSource(file);
  try {
    const c = inferConfig(src.entries, file, { headOptional: src.headOptional });
    return {
      kind: 'checkpoint', format: src.format, hf: src.info.kind === 'huggingface', frames: c.frames, imageSize: c.imageSize,
      patchSize: c.patchSize, embedDim: c.embedDim, depth: c.depth, numClasses: c.numClasses,
    };
  } finally {
    await src.close();
  }
}

// ---- test data: numpy arrays as headers only ----

/** A numpy array seen only by its header. */
class ArrayHeader {
  constructor(readonly shape: number[], readonly dtype: string) {}
}

function checkShape(shape: unknown): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0)) {
    throw new LabError('BAD_PICKLE', 'invalid array shape');
  }
  return shape as number[];
}

/** numpy's `_reconstruct` + BUILD, keeping the shape and dtype and dropping the bytes. */
class HeaderBuilder {
  private header: ArrayHeader | null = null;
  [SET_STATE](state: unknown): void {
    if (!Array.isArray(state) || (state.length !== 5 && state.length !== 4)) throw new LabError('BAD_PICKLE', 'unexpected numpy array state');
    const [shape, dtype] = state.length === 5 ? state.slice(1) : state;
    if (!(dtype instanceof NumpyDType)) throw new LabError('BAD_PICKLE', `numpy array state holds a ${typeName(dtype)} instead of a dtype`);
    this.header = new ArrayHeader(checkShape(shape), dtype.toDType());
  }
  [FINALIZE](): ArrayHeader {
    if (!this.header) throw new LabError('BAD_PICKLE', 'a numpy array was reconstructed but never given its data');
    return this.header;
  }
}

const NDARRAY = NUMPY_GLOBALS.get('numpy.ndarray');
const headerReconstruct: PyCallable = (args) => {
  if (args[0] !== NDARRAY) throw new LabError('BAD_PICKLE', `numpy _reconstruct of ${typeName(args[0])} (only numpy.ndarray is supported)`);
  return new HeaderBuilder();
};
const headerFrombuffer: PyCallable = (args) => {
  const [, dtype, shape] = args;
  if (!(dtype instanceof NumpyDType)) throw new LabError('BAD_PICKLE', `numpy _frombuffer with a ${typeName(dtype)} instead of a dtype`);
  return new ArrayHeader(checkShape(shape), dtype.toDType());
};

const HEADER_GLOBALS: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ...BASE_GLOBALS,
  ...NUMPY_GLOBALS,
  ['numpy.core.multiarray._reconstruct', headerReconstruct],
  ['numpy._core.multiarray._reconstruct', headerReconstruct],
  ['numpy.core.numeric._frombuffer', headerFrombuffer],
  ['numpy._core.numeric._frombuffer', headerFrombuffer],
]);

/** The test data's geometry from its arrays' headers: `(video, [probs, [block_0, ...]])`. */
export async function inspectTestData(file: string): Promise<DataSignature> {
  let bytes: Buffer;
  try {
    const st = await fsp.stat(file);
    if (!st.isFile()) throw new LabError('FILE_UNREADABLE', 'not a regular file', file);
    bytes = await fsp.readFile(file);
  } catch (e) {
    if (e instanceof LabError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new LabError('FILE_NOT_FOUND', 'file not found', file);
    throw new LabError('FILE_UNREADABLE', `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, file);
  }
  const bad = (what: string) => new LabError('BAD_TEST_DATA', what, file);
  if (bytes.length === 0) throw bad('the file is empty');
  if (bytes[0] !== 0x80) throw bad(bytes[0] === 0x50 && bytes[1] === 0x4b ? 'this is a zip archive (a checkpoint?), not a test-data pickle' : 'not a pickle (protocol 2+)');
  let root: unknown;
  try {
    root = unpickle(bytes, { globals: HEADER_GLOBALS, file });
  } catch (e) {
    if (e instanceof LabError && (e.code === 'BAD_PICKLE' || e.code === 'BAD_TENSOR')) throw bad(`unreadable pickle: ${e.detail}`);
    throw e;
  }
  const pair = (v: unknown, what: string): unknown[] => {
    if (!Array.isArray(v) || v.length !== 2) throw bad(`${what} should be a pair`);
    return v;
  };
  const array = (v: unknown, what: string, ndim: number): ArrayHeader => {
    if (!(v instanceof ArrayHeader)) throw bad(`${what} should be a numpy array, got a ${typeName(v)}`);
    if (v.shape.length !== ndim) throw bad(`${what} should be ${ndim}-D, got shape (${v.shape.join(', ')})`);
    return v;
  };
  const [videoV, outputs] = pair(root, 'the top level (video, [probs, blocks])');
  const [probsV, blocksV] = pair(outputs, 'the second item [probs, blocks]');
  const video = array(videoV, 'the video', 5);
  const probs = array(probsV, 'probs', 2);
  if (!Array.isArray(blocksV)) throw bad(`the block outputs should be a list, got a ${typeName(blocksV)}`);
  const blocks = blocksV.map((b, i) => array(b, `block output ${i}`, 3));
  const [batch, , frames, height, width] = video.shape;
  return {
    kind: 'test-data', batch, frames, height, width, numClasses: probs.shape[1], depth: blocks.length,
    ...(blocks.length ? { tokens: blocks[0].shape[1], embedDim: blocks[0].shape[2] } : {}),
  };
}

/**
 * Why a checkpoint and test data do not belong together, in the user's words (empty: they agree):
 * frames, image size, width, classes and depth, as the pipeline checks them.
 */
export function disagreements(m: ModelSignature, d: DataSignature): string[] {
  const out: string[] = [];
  if (d.frames !== m.frames) out.push(`${d.frames} frames, the checkpoint has ${m.frames}`);
  if (d.height !== m.imageSize || d.width !== m.imageSize) out.push(`${d.height}×${d.width} video, the checkpoint expects ${m.imageSize}×${m.imageSize}`);
  if (d.embedDim !== undefined && d.embedDim !== m.embedDim) out.push(`width ${d.embedDim}, the checkpoint has ${m.embedDim}`);
  if (d.depth > m.depth) out.push(`${d.depth} block outputs, the checkpoint has ${m.depth} blocks`);
  if (m.numClasses > 0 && d.numClasses !== m.numClasses) out.push(`${d.numClasses} classes, the checkpoint has ${m.numClasses}`);
  if (m.numClasses === 0 && d.numClasses !== m.embedDim) out.push(`${d.numClasses} final outputs, the checkpoint (no classifier) outputs ${m.embedDim}`);
  const tokens = 1 + (m.imageSize / m.patchSize) ** 2 * m.frames;
  if (d.tokens !== undefined && !out.length && d.tokens !== tokens) out.push(`${d.tokens} tokens per block output, the checkpoint makes ${tokens}`);
  return out;
}

/** "8×64², width 64, 12 blocks, 400 classes": a signature in a few words. */
export function describeSignature(s: ModelSignature | DataSignature): string {
  if (s.kind === 'checkpoint') return `${s.frames}×${s.imageSize}², width ${s.embedDim}, ${s.depth} blocks, ${s.numClasses ? `${s.numClasses} classes` : 'no classifier'}`;
  const size = s.height === s.width ? `${s.height}²` : `${s.height}×${s.width}`;
  return `${s.frames}×${size}${s.embedDim !== undefined ? `, width ${s.embedDim}` : ''}, ${s.depth} blocks, ${s.numClasses} classes`;
}
