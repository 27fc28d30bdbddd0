/**
 * What a checkpoint and a test-data file describe, read cheaply: the checkpoint's pickle (tensor
 * shapes, never their bytes), an HF folder's config.json, the test data's array headers (numpy
 * shapes and dtypes; the data bytes are not converted). Used to pair a checkpoint with its test
 * data before any run, and to say why a pair disagrees.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { LabError } from './errors';
import { readCheckpoint } from './formats/torch';
import { BASE_GLOBALS, FINALIZE, NUMPY_GLOBALS, NumpyDType, SET_STATE, typeName, unpickle, type PyCallable } from './formats/pickle';
import { inferConfig, normalizeKeys, type WeightEntry } from './model/config';

/** The geometry a checkpoint fixes (heads are not in the weights). */
export interface ModelSignature {
  kind: 'checkpoint';
  format: 'zip' | 'legacy' | 'hf';
  frames: number;
  imageSize: number;
  patchSize: number;
  embedDim: number;
  depth: number;
  numClasses: number;
}

/** The geometry test data fixes: its video, its probabilities and its block outputs. */
export interface DataSignature {
  kind: 'test-data';
  batch: number;
  frames: number;
  /** Video height and width. */
  height: number;
  width: number;
  numClasses: number;
  /** Block outputs in the file (0 when the list is empty). */
  depth: number;
  /** Tokens and channels of a block output (undefined without block outputs). */
  tokens?: number;
  embedDim?: number;
}

/** An HF folder: config.json of a `timesformer` model beside its weights. */
export const HF_WEIGHT_FILES: readonly string[] = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin'];

interface HfConfig {
  model_type?: unknown;
  num_frames?: unknown;
  image_size?: unknown;
  patch_size?: unknown;
  hidden_size?: unknown;
  num_hidden_layers?: unknown;
  num_labels?: unknown;
  id2label?: unknown;
}

const posInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/**
 * Reads an HF folder's config.json; undefined when the folder is not a TimeSformer HF folder (no
 * config.json, another model_type, or no weight file beside it).
 */
export async function readHfConfig(folder: string): Promise<{ config: HfConfig; weights: string } | undefined> {
  let text: string;
  try {
    const st = await fsp.stat(path.join(folder, 'config.json'));
    if (!st.isFile() || st.size > 1 << 20) return undefined;
    text = await fsp.readFile(path.join(folder, 'config.json'), 'utf8');
  } catch {
    return undefined;
  }
  let config: HfConfig;
  try {
    config = JSON.parse(text) as HfConfig;
  } catch (e) {
    throw new LabError('BAD_WEIGHTS', `config.json is not valid JSON (${e instanceof Error ? e.message : String(e)})`, path.join(folder, 'config.json'));
  }
  if (typeof config !== 'object' || config === null || config.model_type !== 'timesformer') return undefined;
  for (const f of HF_WEIGHT_FILES) {
    try {
      if ((await fsp.stat(path.join(folder, f))).isFile()) return { config, weights: f };
    } catch { /* next */ }
  }
  return undefined;
}

/** The checkpoint's geometry from its pickle (a `.pyth`/`.pth`/`.pt`) or its config.json (an HF folder). */
export async function inspectCheckpoint(file: string): Promise<ModelSignature> {
  let isDir = false;
  try {
    isDir = (await fsp.stat(file)).isDirectory();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new LabError('FILE_NOT_FOUND', 'file not found', file);
    throw new LabError('FILE_UNREADABLE', `cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`, file);
  }
  if (isDir) {
    const hf = await readHfConfig(file);
    if (!hf) throw new LabError('NOT_A_CHECKPOINT', `not a TimeSformer HF folder: it needs a config.json with "model_type": "timesformer" beside ${HF_WEIGHT_FILES.join(' or ')}`, file);
    const c = hf.config;
    const labels = c.id2label && typeof c.id2label === 'object' ? Object.keys(c.id2label).length : undefined;
    const numClasses = posInt(c.num_labels) ? c.num_labels : labels ?? 2;
    const sig = {
      frames: c.num_frames ?? 8, imageSize: c.image_size ?? 224, patchSize: c.patch_size ?? 16,
      embedDim: c.hidden_size ?? 768, depth: c.num_hidden_layers ?? 12,
    };
    for (const [k, v] of Object.entries(sig)) if (!posInt(v)) throw new LabError('BAD_WEIGHTS', `config.json: ${k} is ${JSON.stringify(v)}, expected a positive whole number`, path.join(file, 'config.json'));
    return { kind: 'checkpoint', format: 'hf', ...(sig as Record<keyof typeof sig, number>), numClasses };
  }
  const ckpt = await readCheckpoint(file);
  try {
    const base = inferConfig(normalizeKeys(ckpt.stateDict as ReadonlyMap<string, WeightEntry>, file), file);
    return {
      kind: 'checkpoint', format: ckpt.format, frames: base.frames, imageSize: base.imageSize, patchSize: base.patchSize,
      embedDim: base.embedDim, depth: base.depth, numClasses: base.numClasses,
    };
  } finally {
    await ckpt.close();
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
  if (d.numClasses !== m.numClasses) out.push(`${d.numClasses} classes, the checkpoint has ${m.numClasses}`);
  const tokens = 1 + (m.imageSize / m.patchSize) ** 2 * m.frames;
  if (d.tokens !== undefined && !out.length && d.tokens !== tokens) out.push(`${d.tokens} tokens per block output, the checkpoint makes ${tokens}`);
  return out;
}

/** "8×64², width 64, 12 blocks, 400 classes": a signature in a few words. */
export function describeSignature(s: ModelSignature | DataSignature): string {
  if (s.kind === 'checkpoint') return `${s.frames}×${s.imageSize}², width ${s.embedDim}, ${s.depth} blocks, ${s.numClasses} classes`;
  const size = s.height === s.width ? `${s.height}²` : `${s.height}×${s.width}`;
  return `${s.frames}×${size}${s.embedDim !== undefined ? `, width ${s.embedDim}` : ''}, ${s.depth} blocks, ${s.numClasses} classes`;
}
