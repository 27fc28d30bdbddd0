/**
 * The model configuration, read from the weights' shapes. Heads are not in the weights: they come
 * from an option or from detection against the test data (see heads.ts).
 */
import { LabError } from '../errors';
import type { DType, Tensor } from '../tensor';
import type { ModelConfig } from '../report';

export interface WeightEntry {
  dtype: DType;
  shape: readonly number[];
  load(): Promise<Tensor>;
}
export type WeightMap = ReadonlyMap<string, WeightEntry>;

export const BLOCK_PARAMS = [
  'norm1.weight', 'norm1.bias',
  'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias',
  'temporal_norm1.weight', 'temporal_norm1.bias',
  'temporal_attn.qkv.weight', 'temporal_attn.qkv.bias', 'temporal_attn.proj.weight', 'temporal_attn.proj.bias',
  'temporal_fc.weight', 'temporal_fc.bias',
  'norm2.weight', 'norm2.bias',
  'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias',
] as const;
export const TOP_PARAMS = ['cls_token', 'pos_embed', 'time_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias', 'norm.weight', 'norm.bias', 'head.weight', 'head.bias'] as const;

/**
 * The official checkpoint stores `model.cls_token`, `model.blocks.0...`; DataParallel adds `module.`.
 * Returns the weights keyed without that prefix (`cls_token`, `blocks.0.norm1.weight`).
 */
export function normalizeKeys(stateDict: WeightMap, file: string): Map<string, WeightEntry> {
  const clsKey = [...stateDict.keys()].find((k) => k === 'cls_token' || k.endsWith('.cls_token'));
  if (!clsKey) {
    throw new LabError('MISSING_WEIGHTS', 'no cls_token in the state dict: this is not a TimeSformer checkpoint (expected keys like model.cls_token, model.blocks.0.attn.qkv.weight)', file);
  }
  const prefix = clsKey.slice(0, clsKey.length - 'cls_token'.length);
  const out = new Map<string, WeightEntry>();
  for (const [k, v] of stateDict) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

function shapeOf(w: Map<string, WeightEntry>, key: string, rank: number, file: string): readonly number[] {
  const e = w.get(key);
  if (!e) throw new LabError('MISSING_WEIGHTS', `missing weight ${key}`, file);
  if (e.shape.length !== rank) throw new LabError('BAD_WEIGHTS', `${key} has shape [${e.shape.join(', ')}], expected ${rank} dimensions`, file);
  return e.shape;
}

/**
 * Infer everything but the head count from the weights; checks that every expected key is there with a consistent shape.
 * `headOptional`: a model without a classifier (HF TimesformerModel) gets numClasses 0.
 */
export function inferConfig(w: Map<string, WeightEntry>, file: string, o: { headOptional?: boolean } = {}): Omit<ModelConfig, 'heads' | 'headsSource' | 'headsTried'> {
  // the depth is the highest block any block weight names: a block with a weight missing is named, not taken for the end of the model
  const blockParam = new RegExp(`^blocks\\.(\\d{1,9})\\.(${BLOCK_PARAMS.map((p) => p.replace(/\./g, '\\.')).join('|')})$`);
  let depth = 0;
  let present = 0;
  for (const k of w.keys()) {
    const m = blockParam.exec(k);
    if (!m || m[1].length > 1 && m[1][0] === '0') continue;
    present++;
    depth = Math.max(depth, Number(m[1]) + 1);
  }
  const missing: string[] = [];
  const headless = o.headOptional === true && !w.has('head.weight') && !w.has('head.bias');
  for (const k of TOP_PARAMS) if (!w.has(k) && !(headless && k.startsWith('head.'))) missing.push(k);
  let count = missing.length;
  if (depth === 0) {
    missing.push('blocks.0.*');
    count++;
  }
  // the first few missing block weights by name (found within the blocks present), the rest counted
  for (let i = 0; i < depth && missing.length < 7; i++) for (const p of BLOCK_PARAMS) if (!w.has(`blocks.${i}.${p}`)) missing.push(`blocks.${i}.${p}`);
  count += depth * BLOCK_PARAMS.length - present;
  if (count) {
    const list = missing.slice(0, 6).join(', ') + (count > 6 ? ` and ${(count - Math.min(6, missing.length)).toLocaleString('en-US')} more` : '');
    throw new LabError('MISSING_WEIGHTS', `the checkpoint lacks ${count.toLocaleString('en-US')} TimeSformer weight(s): ${list}${depth > 0 ? ` (its block weights name blocks 0 to ${depth - 1})` : ''}`, file);
  }
  const C = shapeOf(w, 'cls_token', 3, file)[2];
  const pos = shapeOf(w, 'pos_embed', 3, file);
  const time = shapeOf(w, 'time_embed', 3, file);
  const conv = shapeOf(w, 'patch_embed.proj.weight', 4, file);
  const head = headless ? [0, C] : shapeOf(w, 'head.weight', 2, file);
  const fc1 = shapeOf(w, 'blocks.0.mlp.fc1.weight', 2, file);
  const S = pos[1] - 1;
  const grid = Math.round(Math.sqrt(S));
  const bad = (msg: string): never => {
    throw new LabError('BAD_WEIGHTS', msg, file);
  };
  if (grid * grid !== S) bad(`pos_embed has ${pos[1]} positions: ${S} patches is not a square grid`);
  if (pos[2] !== C || time[2] !== C) bad(`embedding widths disagree: cls_token ${C}, pos_embed ${pos[2]}, time_embed ${time[2]}`);
  if (conv[0] !== C || conv[1] !== 3 || conv[2] !== conv[3]) bad(`patch_embed.proj.weight has shape [${conv.join(', ')}], expected [${C}, 3, P, P]`);
  if (head[1] !== C) bad(`head.weight has shape [${head.join(', ')}], expected [K, ${C}]`);
  const H = fc1[0];
  const expect: Record<string, number[]> = {
    'norm1.weight': [C], 'norm1.bias': [C], 'temporal_norm1.weight': [C], 'temporal_norm1.bias': [C], 'norm2.weight': [C], 'norm2.bias': [C],
    'attn.qkv.weight': [3 * C, C], 'attn.qkv.bias': [3 * C], 'attn.proj.weight': [C, C], 'attn.proj.bias': [C],
    'temporal_attn.qkv.weight': [3 * C, C], 'temporal_attn.qkv.bias': [3 * C], 'temporal_attn.proj.weight': [C, C], 'temporal_attn.proj.bias': [C],
    'temporal_fc.weight': [C, C], 'temporal_fc.bias': [C],
    'mlp.fc1.weight': [H, C], 'mlp.fc1.bias': [H], 'mlp.fc2.weight': [C, H], 'mlp.fc2.bias': [C],
  };
  for (let i = 0; i < depth; i++) {
    for (const [p, shape] of Object.entries(expect)) {
      const got = w.get(`blocks.${i}.${p}`)!.shape;
      if (got.length !== shape.length || got.some((d, j) => d !== shape[j])) {
        bad(`blocks.${i}.${p} has shape [${got.join(', ')}], expected [${shape.join(', ')}]`);
      }
    }
  }
  let params = 0;
  for (const e of w.values()) params += e.shape.reduce((a, b) => a * b, 1);
  return {
    embedDim: C, depth, frames: time[1], imageSize: grid * conv[2], patchSize: conv[2], numPatches: S, gridSize: grid,
    numClasses: head[0], mlpHidden: H, params, layerNormEps: 1e-6,
  };
}

/** Head counts worth trying: divisors of C with a head dim of at least 8, most common head dims first. */
export function headCandidates(embedDim: number): number[] {
  const out: number[] = [];
  for (let h = 1; h <= embedDim; h++) if (embedDim % h === 0 && embedDim / h >= 8) out.push(h);
  const pref = [64, 16, 24, 32, 48, 128, 96, 80, 40, 8];
  const rank = (h: number) => {
    const i = pref.indexOf(embedDim / h);
    return i < 0 ? pref.length : i;
  };
  return out.sort((a, b) => rank(a) - rank(b) || a - b);
}
