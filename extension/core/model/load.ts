/**
 * Where a model's weights come from, and what its own configuration says. One entry point for
 * every checkpoint the lab reads:
 * - a HuggingFace folder (or its config.json, index or weight file): config.json + model.safetensors
 *   (sharded or not) or pytorch_model.bin (sharded or not); heads, eps, labels from config.json,
 *   mean/std from preprocessor_config.json;
 * - an official checkpoint (`.pyth`, torch.save zip or legacy): `model_state` with `model.*` keys,
 *   mean/std and attention type from its `cfg` (the YAML string the official trainer stores);
 * - a lone `.safetensors` file, or a torch file holding a HF state dict, without a config.json:
 *   sizes from the shapes, heads detected or assumed.
 * Weights come back lazily under the official names (`cls_token`, `blocks.0.attn.qkv.weight`).
 */
import { promises as fsp } from 'fs';
import * as nodePath from 'path';
import { load as loadYaml } from 'js-yaml';
import { LabError } from '../errors';
import { findHfFolder, hfWeightFile, modelTree, openHfWeights, readJsonFile, HF_WEIGHT_FILES } from '../formats/hf';
import { openSafetensors } from '../formats/safetensors';
import { readCheckpoint, type LazyTensor } from '../formats/torch';
import { normalizeKeys, type WeightEntry } from './config';
import type { LoadMany } from './validate';
import { hfPrefix, mapHfWeights, readHfConfig, type HfConfig } from './hf';
import type { ModelInfo } from '../report';

/** How a clip of uint8 frames becomes the model's input: x / 255, then (x − mean) / std per channel. */
export interface Normalization {
  mean: number[];
  std: number[];
  /** e.g. "DATA.MEAN/STD in the checkpoint's cfg", "preprocessor_config.json", "default (0.45 / 0.225)". */
  source: string;
}

/** The official data loader's defaults (TimeSformer's DATA.MEAN / DATA.STD). */
export const DEFAULT_NORMALIZATION: Normalization = { mean: [0.45, 0.45, 0.45], std: [0.225, 0.225, 0.225], source: 'default (mean 0.45, std 0.225, as the official loader)' };

/** The checkpoint's own word on video preprocessing: the official cfg's tree, or an HF folder's preprocessor_config.json. */
export type VideoConfig = { kind: 'official'; tree?: unknown } | { kind: 'huggingface'; json?: unknown; file?: string };

export interface ModelSource {
  /** 'zip' | 'legacy' | 'safetensors' | 'safetensors (3 shards)' | 'pytorch_model.bin' ... */
  format: string;
  entries: Map<string, WeightEntry>;
  /** A model without a classifier is allowed (HF TimesformerModel). */
  headOptional: boolean;
  heads?: number;
  layerNormEps?: number;
  labels?: string[];
  normalization?: Normalization;
  /** What says how a video becomes this model's clip (core/video/sampling.ts reads it). */
  videoConfig?: VideoConfig;
  hfConfig?: HfConfig;
  info: Omit<ModelInfo, 'head'>;
  /** Reads several weights at once (a torch checkpoint reads a shared storage once); absent: one by one. */
  loadMany?: LoadMany;
  close(): Promise<void>;
}

export async function openModelSource(path: string): Promise<ModelSource> {
  const dir = await findHfFolder(path);
  if (dir) return openHfFolder(dir, path);
  let st;
  try {
    st = await fsp.stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new LabError('FILE_NOT_FOUND', 'file not found', path, { cause: e });
    throw new LabError('FILE_UNREADABLE', `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, path, { cause: e });
  }
  if (st.isDirectory()) {
    const weights = await hfWeightFile(path);
    throw new LabError('NOT_A_CHECKPOINT', weights
      ? `the folder has ${weights} but no config.json: a HuggingFace model folder needs both (save_pretrained writes them); or pass the weight file itself`
      : `a folder, but not a HuggingFace model folder: it has no config.json and none of ${HF_WEIGHT_FILES.join(', ')}`, path);
  }
  if (/\.safetensors$/i.test(path)) {
    const f = await openSafetensors(path);
    return fromStateDict(path, 'safetensors', f.tensors, undefined, () => f.close());
  }
  const ckpt = await readCheckpoint(path);
  const nameOf = new Map<WeightEntry, string>([...ckpt.stateDict].map(([name, t]) => [t, name]));
  const loadMany: LoadMany = async (es) => {
    const names = es.map((e) => nameOf.get(e));
    const got = await ckpt.loadMany(names.filter((n): n is string => n !== undefined));
    return Promise.all(es.map((e, i) => (names[i] !== undefined ? got.get(names[i]!)! : e.load())));
  };
  return fromStateDict(path, ckpt.format, ckpt.stateDict, ckpt.meta.cfg, () => ckpt.close(), loadMany);
}

async function openHfFolder(dir: string, asked: string): Promise<ModelSource> {
  const configPath = nodePath.join(dir, 'config.json');
  const tree = await modelTree(dir);
  const cfg = readHfConfig(await readJsonFile(configPath, 'config.json', tree), configPath);
  const base = nodePath.basename(asked);
  const file = (HF_WEIGHT_FILES as readonly string[]).includes(base) ? base : await hfWeightFile(dir);
  if (!file) throw new LabError('MISSING_WEIGHTS', `the folder has config.json but no weights: none of ${HF_WEIGHT_FILES.join(', ')}`, dir);
  const w = await openHfWeights(dir, file);
  try {
    const { entries } = mapHfWeights(w.stateDict, w.files[0], { qkvBias: cfg.qkvBias });
    return {
      format: w.format, entries, headOptional: true, heads: cfg.heads, layerNormEps: cfg.layerNormEps, labels: cfg.labels,
      normalization: await hfNormalization(dir, tree), videoConfig: await hfVideoConfig(dir, tree), hfConfig: cfg,
      info: { kind: 'huggingface', architecture: cfg.architecture, config: configPath, files: w.files },
      close: () => w.close(),
    };
  } catch (e) {
    await w.close();
    throw e;
  }
}

/** A state dict read from one file: HF keys or official ones, no config.json. */
async function fromStateDict(path: string, format: string, sd: Map<string, LazyTensor>, cfg: unknown, close: () => Promise<void>, loadMany?: LoadMany): Promise<ModelSource> {
  try {
    if (hfPrefix(sd.keys()) !== null) {
      // no config.json: a qkv bias is zero where the file has none
      const { entries } = mapHfWeights(sd, path, { qkvBias: false });
      return { format, entries, headOptional: true, videoConfig: { kind: 'huggingface' }, info: { kind: 'huggingface', files: [path] }, loadMany, close };
    }
    const entries = normalizeKeys(sd as ReadonlyMap<string, WeightEntry>, path);
    const official = officialConfig(cfg, path);
    return { format, entries, headOptional: false, normalization: official.normalization, videoConfig: { kind: 'official', tree: official.tree }, info: { kind: 'official', files: [path], ...(official.found ? { config: 'cfg in the checkpoint' } : {}) }, loadMany, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * The official checkpoint's `cfg`: the trainer's YAML dump (yacs), read for what changes the
 * computation: TIMESFORMER.ATTENTION_TYPE (refused unless divided_space_time) and DATA.MEAN/STD.
 */
export function officialConfig(cfg: unknown, path: string): { found: boolean; normalization?: Normalization; tree?: unknown } {
  if (cfg === undefined || cfg === null) return { found: false };
  let tree: unknown = cfg;
  if (typeof cfg === 'string') {
    try {
      tree = loadYaml(cfg);
    } catch (e) {
      // an unreadable cfg changes nothing we compute: note it, use the defaults
      return { found: false };
    }
  }
  const get = (o: unknown, k: string): unknown => (typeof o === 'object' && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>)[k] : undefined);
  const attention = get(get(tree, 'TIMESFORMER'), 'ATTENTION_TYPE');
  if (attention !== undefined && attention !== 'divided_space_time') {
    throw new LabError('UNSUPPORTED_MODEL', `the checkpoint's cfg has TIMESFORMER.ATTENTION_TYPE '${String(attention)}': only divided_space_time (the default) is supported`, path);
  }
  const data = get(tree, 'DATA');
  const mean = triple(get(data, 'MEAN'));
  const std = triple(get(data, 'STD'));
  return { found: true, tree, normalization: mean && std ? { mean, std, source: "DATA.MEAN / DATA.STD in the checkpoint's cfg" } : undefined };
}

/** [a, b, c] or a single number for all three channels. */
function triple(v: unknown): number[] | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return [v, v, v];
  if (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return v as number[];
  return undefined;
}

/** The folder's preprocessor_config.json as read (resize, crop, rescale for a video: core/video/sampling.ts). */
async function hfVideoConfig(dir: string, tree: string): Promise<VideoConfig> {
  const p = nodePath.join(dir, 'preprocessor_config.json');
  try {
    await fsp.stat(p); // absent: none; present but not a regular file: NOT_A_FILE from readJsonFile, not silently none
  } catch {
    return { kind: 'huggingface' };
  }
  return { kind: 'huggingface', json: await readJsonFile(p, 'preprocessor_config.json', tree), file: p };
}

/** image_mean / image_std from the folder's (video_)preprocessor_config.json, when there is one. */
async function hfNormalization(dir: string, tree: string): Promise<Normalization | undefined> {
  for (const name of ['preprocessor_config.json', 'video_preprocessor_config.json']) {
    const p = nodePath.join(dir, name);
    try {
      await fsp.stat(p);
    } catch {
      continue;
    }
    const j = await readJsonFile(p, name, tree);
    const get = (k: string) => (typeof j === 'object' && j !== null ? (j as Record<string, unknown>)[k] : undefined);
    if (get('do_normalize') === false) return { mean: [0, 0, 0], std: [1, 1, 1], source: `${name} (do_normalize: false)` };
    const mean = triple(get('image_mean'));
    const std = triple(get('image_std'));
    // as --std: a std of 0 (or below) divides by zero, a clip of infinities the run would blame on the precision
    if (std && !std.every((x) => x > 0)) throw new LabError('BAD_WEIGHTS', `image_std is [${std.join(', ')}]: every channel's std must be a positive number`, p);
    if (mean && std) return { mean, std, source: name };
  }
  return undefined;
}
