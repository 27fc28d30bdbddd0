/**
 * What a checkpoint and a test-data file describe, read cheaply: the checkpoint's tensor shapes
 * (its pickle, or safetensors headers; never the tensors' bytes), the test data's array shapes
 * (its pickle parsed with the arrays' bytes left in the file). Both with the readers' budgets. Used to pair a checkpoint with its test
 * data before any run, and to say why a pair disagrees.
 */
import * as nodePath from 'path';
import { findHfFolder, hfWeightFile, readJsonFile } from './formats/hf';
import { readTestDataShapes } from './formats/testdata';
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

/** The test data's geometry from its arrays' shapes (formats/testdata.ts parses the pickle; no array is read). */
export async function inspectTestData(file: string): Promise<DataSignature> {
  const { video, probs, blocks } = await readTestDataShapes(file);
  const [batch, , frames, height, width] = video;
  return {
    kind: 'test-data', batch, frames, height, width, numClasses: probs[1], depth: blocks.length,
    ...(blocks.length ? { tokens: blocks[0][1], embedDim: blocks[0][2] } : {}),
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
