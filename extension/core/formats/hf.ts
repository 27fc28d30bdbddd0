/**
 * A HuggingFace model folder as `save_pretrained` writes it: `config.json`, the weights as
 * `model.safetensors`, or sharded as `model-0000i-of-0000n.safetensors` with
 * `model.safetensors.index.json`, or (older transformers, or `torch.save(model.state_dict())`)
 * `pytorch_model.bin` / sharded `.bin` with `pytorch_model.bin.index.json`; and optionally the
 * preprocessor's `preprocessor_config.json` (image_mean, image_std).
 *
 * This module only reads files: the weights come back lazily under the keys as stored
 * (`timesformer.encoder.layer.0...`); model/hf.ts interprets the configuration and maps the keys.
 * Shard names come from the index file and are trusted only as plain file names inside the folder.
 */
import { promises as fsp } from 'fs';
import * as nodePath from 'path';
import { LabError, jsonSyntaxError } from '../errors';
import { openRegularFile, readAt } from './file';
import { openSafetensors, type SafetensorsFile } from './safetensors';
import { readCheckpoint, type Checkpoint, type LazyTensor } from './torch';

/** config.json and the index files are small; id2label of a few thousand classes is well under this. */
const MAX_JSON_BYTES = 32 << 20;
/**
 * The most distinct shards an index may name. The largest published checkpoints have a few
 * hundred (a 405B-parameter model: 191); every shard stays open while the model is read, and a
 * process gets 1024 file descriptors by default.
 */
export const MAX_SHARDS = 512;

/**
 * The tree a model folder's files may lead into: the folder itself (its real path), or, for a
 * HuggingFace cache snapshot (`models--org--name/snapshots/<rev>/`, whose files are links to
 * `../../blobs/<hash>`), the `models--…` folder.
 */
export async function modelTree(dir: string): Promise<string> {
  let real: string;
  try {
    real = await fsp.realpath(dir);
  } catch {
    return nodePath.resolve(dir);
  }
  const parent = nodePath.dirname(real);
  const root = nodePath.dirname(parent);
  if (nodePath.basename(parent) === 'snapshots' && nodePath.basename(root).startsWith('models--')) return root;
  return real;
}

/**
 * A file of the model folder, refused when it is a link (or sits in a linked folder) that leads
 * outside the model's tree (modelTree): such a file is never opened, and the error names the
 * link, not what it leads to. A missing file is left to the reader (FILE_NOT_FOUND).
 */
export async function confined(path: string, tree: string): Promise<string> {
  let real: string;
  try {
    real = await fsp.realpath(path);
  } catch {
    return path;
  }
  const rel = nodePath.relative(tree, real);
  if (rel === '' || rel.startsWith('..') || nodePath.isAbsolute(rel)) {
    throw new LabError('LINK_OUTSIDE_MODEL', `a symbolic link that leads outside the model's folder ${tree}; only links that stay inside it (a HuggingFace cache snapshot's links to ../../blobs) are followed`, path);
  }
  return path;
}

export const HF_WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'] as const;

export interface HfWeights {
  /** 'safetensors' | 'safetensors (3 shards)' | 'pytorch_model.bin' | 'pytorch_model.bin (2 shards)' */
  format: string;
  /** The weight files read, in shard order. */
  files: string[];
  /** Keys exactly as stored. */
  stateDict: Map<string, LazyTensor>;
  close(): Promise<void>;
}

/** Read a small JSON file of a model folder whole (its size checked first; confined to the model's tree, by default its folder's). Errors name the file. */
export async function readJsonFile(path: string, what: string, tree?: string): Promise<unknown> {
  let text: string;
  try {
    await confined(path, tree ?? (await modelTree(nodePath.dirname(path))));
    // a regular file only (a FIFO or device is NOT_A_FILE, never opened), its size checked before it is read
    const f = await openRegularFile(path);
    try {
      if (f.size > MAX_JSON_BYTES) throw new LabError('BAD_WEIGHTS', `${what} is ${f.size} bytes; more than ${MAX_JSON_BYTES} is not a configuration`, path);
      const bytes = Buffer.alloc(f.size);
      text = bytes.subarray(0, await readAt(f.handle, bytes, 0)).toString('utf8');
    } finally {
      await f.handle.close();
    }
  } catch (e) {
    if (e instanceof LabError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new LabError('FILE_NOT_FOUND', `${what} not found`, path, { cause: e });
    throw new LabError('FILE_UNREADABLE', `cannot read ${what} (${code ?? String(e)})`, path, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LabError('BAD_WEIGHTS', `${what} is not valid JSON (${jsonSyntaxError(e)})`, path, { cause: e });
  }
}

/**
 * Whether a folder has an entry of this name (any kind: a FIFO or a directory named config.json is
 * there, and its reader says NOT_A_FILE naming it, instead of "no config.json").
 */
async function present(p: string): Promise<boolean> {
  try {
    await fsp.stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * The HF folder a path points at: the folder itself, its config.json, an index file, or a weight
 * file inside a folder that has a config.json. Null when the path is none of those.
 */
export async function findHfFolder(p: string): Promise<string | null> {
  let st;
  try {
    st = await fsp.stat(p);
  } catch {
    return null;
  }
  const dir = st.isDirectory() ? p : nodePath.dirname(p);
  if (!(await present(nodePath.join(dir, 'config.json')))) return null;
  if (st.isDirectory()) return dir;
  const base = nodePath.basename(p);
  if (base === 'config.json' || (HF_WEIGHT_FILES as readonly string[]).includes(base) || /\.safetensors(\.index\.json)?$/.test(base) || /^pytorch_model.*\.bin$/.test(base)) return dir;
  return null;
}

/** Which weight files a folder holds, in the order they are preferred (what from_pretrained prefers). */
export async function hfWeightFile(dir: string): Promise<string | null> {
  for (const f of HF_WEIGHT_FILES) if (await present(nodePath.join(dir, f))) return f;
  return null;
}

/** A shard name from an index file: a plain file name inside the folder, nothing else. */
function shardPath(dir: string, name: unknown, index: string): string {
  if (typeof name !== 'string' || name === '' || name !== nodePath.basename(name) || name === '.' || name === '..' || /[\\/]/.test(name)) {
    throw new LabError('BAD_WEIGHTS', `the index names shard ${JSON.stringify(name)}, which is not a plain file name in the folder`, index);
  }
  return nodePath.join(dir, name);
}

async function readIndex(dir: string, file: string, tree: string): Promise<{ map: Map<string, string>; shards: string[] }> {
  const path = nodePath.join(dir, file);
  const json = await readJsonFile(path, 'the weight index', tree);
  const wm = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) throw new LabError('BAD_WEIGHTS', 'the index has no weight_map object', path);
  const map = new Map<string, string>();
  // shard name -> its path, in first-seen order (one lookup per entry: linear in the index)
  const shards = new Map<unknown, string>();
  for (const [key, name] of Object.entries(wm as Record<string, unknown>)) {
    let sp = shards.get(name);
    if (sp === undefined) {
      sp = shardPath(dir, name, path);
      shards.set(name, sp);
      if (shards.size > MAX_SHARDS) {
        throw new LabError('LIMIT_EXCEEDED', `the index names more than ${MAX_SHARDS} distinct shards; a real checkpoint has at most a few hundred`, path);
      }
    }
    map.set(key, sp);
  }
  if (!map.size) throw new LabError('BAD_WEIGHTS', 'the index lists no weights', path);
  return { map, shards: [...shards.values()] };
}

/** Open the folder's weights lazily. `file` is one of HF_WEIGHT_FILES (see hfWeightFile). */
export async function openHfWeights(dir: string, file: string): Promise<HfWeights> {
  const opened: (SafetensorsFile | Checkpoint)[] = [];
  const tree = await modelTree(dir);
  const closeAll = async () => {
    for (const o of opened) await o.close();
  };
  try {
    const stateDict = new Map<string, LazyTensor>();
    const add = (from: Map<string, LazyTensor>, keys?: Map<string, string>, shard?: string) => {
      for (const [k, t] of from) {
        // a sharded folder: each key is taken from the shard its index names
        if (keys && keys.get(k) !== shard) continue;
        stateDict.set(k, t);
      }
    };
    if (file === 'model.safetensors' || file === 'pytorch_model.bin') {
      const path = await confined(nodePath.join(dir, file), tree);
      const f = file.endsWith('.bin') ? await readCheckpoint(path) : await openSafetensors(path);
      opened.push(f);
      add('tensors' in f ? f.tensors : f.stateDict);
      return { format: file === 'model.safetensors' ? 'safetensors' : 'pytorch_model.bin', files: [path], stateDict, close: closeAll };
    }
    const { map, shards } = await readIndex(dir, file, tree);
    for (const sp of shards) await confined(sp, tree);
    for (const sp of shards) {
      const f = file.startsWith('model.safetensors') ? await openSafetensors(sp) : await readCheckpoint(sp);
      opened.push(f);
      add('tensors' in f ? f.tensors : f.stateDict, map, sp);
    }
    const missing = [...map.keys()].filter((k) => !stateDict.has(k));
    if (missing.length) {
      throw new LabError('BAD_WEIGHTS', `${missing.length} weight(s) listed in the index are not in their shard: ${missing.slice(0, 4).map((k) => `${k} (${nodePath.basename(map.get(k)!)})`).join(', ')}`, nodePath.join(dir, file));
    }
    const kind = file.startsWith('model.safetensors') ? 'safetensors' : 'pytorch_model.bin';
    return { format: `${kind} (${shards.length} shards)`, files: shards, stateDict, close: closeAll };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
