/**
 * HuggingFace `transformers` TimeSformer (TimesformerForVideoClassification, TimesformerModel):
 * its config.json interpreted, and its weights renamed to the official model's names, which the
 * graph builder uses.
 *
 * The math is the official model's (checked against transformers' modeling_timesformer.py):
 * - embeddings: Conv2d patches of each frame (pixel_values are (B, T, C, H, W); the lab's clip is
 *   (B, C, T, H, W), the official layout), class token, position embeddings added per frame, the
 *   class token taken out, time embeddings added per patch, tokens in (patch, frame) order;
 * - each layer: temporal LayerNorm → attention over the T tokens of each patch → temporal_dense
 *   (the official temporal_fc) → residual; spatial LayerNorm over [class token; S patches] of each
 *   frame → attention → the class token's T results averaged → residual; LayerNorm → MLP
 *   (exact GELU) → residual; attention scale head_dim^-0.5, qkv as one Linear (bias = qkv_bias);
 * - the final LayerNorm over every token (last_hidden_state), the classifier on the class token.
 * hidden_states[i+1] is block i's output in the same token order, so the test data lines up.
 */
import { LabError } from '../errors';
import { Tensor } from '../tensor';
import type { LazyTensor } from '../formats/torch';
import type { WeightEntry } from './config';

/** HF layer module → official block module. */
export const HF_LAYER_NAMES: readonly [string, string][] = [
  ['temporal_layernorm', 'temporal_norm1'],
  ['temporal_attention.attention.qkv', 'temporal_attn.qkv'],
  ['temporal_attention.output.dense', 'temporal_attn.proj'],
  ['temporal_dense', 'temporal_fc'],
  ['layernorm_before', 'norm1'],
  ['attention.attention.qkv', 'attn.qkv'],
  ['attention.output.dense', 'attn.proj'],
  ['layernorm_after', 'norm2'],
  ['intermediate.dense', 'mlp.fc1'],
  ['output.dense', 'mlp.fc2'],
];

/** HF top-level parameter (under the `timesformer.` prefix) → official name. */
export const HF_TOP_NAMES: readonly [string, string][] = [
  ['embeddings.cls_token', 'cls_token'],
  ['embeddings.position_embeddings', 'pos_embed'],
  ['embeddings.time_embeddings', 'time_embed'],
  ['embeddings.patch_embeddings.projection.weight', 'patch_embed.proj.weight'],
  ['embeddings.patch_embeddings.projection.bias', 'patch_embed.proj.bias'],
  ['layernorm.weight', 'norm.weight'],
  ['layernorm.bias', 'norm.bias'],
];

export interface HfConfig {
  /** config.json's path. */
  path: string;
  architecture?: string;
  heads?: number;
  layerNormEps?: number;
  qkvBias: boolean;
  /** Class names by index, when config.json names them (not transformers' LABEL_0, LABEL_1... defaults). */
  labels?: string[];
  /** Sizes stated by config.json, checked against the weights' shapes. */
  sizes: { hidden_size?: number; num_hidden_layers?: number; num_frames?: number; image_size?: number; patch_size?: number; intermediate_size?: number; num_channels?: number };
}

/** Activations transformers computes as the exact (erf) GELU, which is what the graph builds. */
const EXACT_GELU = ['gelu', 'gelu_python'];

/** Interpret a timesformer config.json; refuses what the lab's graph does not compute. */
export function readHfConfig(json: unknown, path: string): HfConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new LabError('BAD_WEIGHTS', 'config.json is not a JSON object', path);
  const c = json as Record<string, unknown>;
  const unsupported = (msg: string): never => {
    throw new LabError('UNSUPPORTED_MODEL', msg, path);
  };
  if (c.model_type !== undefined && c.model_type !== 'timesformer') {
    unsupported(`model_type '${String(c.model_type)}' is not a TimeSformer (expected 'timesformer': TimesformerForVideoClassification or TimesformerModel)`);
  }
  const attention = c.attention_type ?? 'divided_space_time';
  if (attention !== 'divided_space_time') {
    unsupported(`attention_type '${String(attention)}' is not supported: the lab builds divided space-time attention (attention_type 'divided_space_time', TimeSformer's default)`);
  }
  const act = c.hidden_act ?? 'gelu';
  if (typeof act !== 'string' || !EXACT_GELU.includes(act)) unsupported(`hidden_act '${String(act)}' is not supported: the lab builds the exact GELU (hidden_act 'gelu')`);
  const int = (k: string): number | undefined => {
    const v = c[k];
    if (v === undefined || v === null) return undefined;
    if (!Number.isSafeInteger(v) || (v as number) <= 0) throw new LabError('BAD_WEIGHTS', `config.json: ${k} is ${JSON.stringify(v)}, not a positive integer`, path);
    return v as number;
  };
  const eps = c.layer_norm_eps;
  if (eps !== undefined && (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps))) throw new LabError('BAD_WEIGHTS', `config.json: layer_norm_eps is ${JSON.stringify(eps)}, not a positive number`, path);
  const archs = Array.isArray(c.architectures) ? c.architectures.filter((a): a is string => typeof a === 'string') : [];
  return {
    path,
    architecture: archs[0],
    heads: int('num_attention_heads'),
    layerNormEps: eps as number | undefined,
    qkvBias: c.qkv_bias === undefined ? true : c.qkv_bias === true,
    labels: labelsOf(c.id2label),
    sizes: {
      hidden_size: int('hidden_size'), num_hidden_layers: int('num_hidden_layers'), num_frames: int('num_frames'),
      image_size: int('image_size'), patch_size: int('patch_size'), intermediate_size: int('intermediate_size'), num_channels: int('num_channels'),
    },
  };
}

function labelsOf(v: unknown): string[] | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const out: string[] = [];
  for (const [k, name] of Object.entries(v as Record<string, unknown>)) {
    const i = Number(k);
    if (!Number.isSafeInteger(i) || i < 0 || i > 1_000_000 || typeof name !== 'string') continue;
    out[i] = name;
  }
  // transformers' defaults (LABEL_0, LABEL_1) name nothing
  if (!out.length || out.every((n, i) => n === undefined || n === `LABEL_${i}`)) return undefined;
  return Array.from(out, (n) => n ?? '');
}

/**
 * The prefix of a HF TimeSformer state dict (`timesformer.` for ForVideoClassification, '' for a
 * saved TimesformerModel), or null when the keys are not HF's.
 */
export function hfPrefix(keys: Iterable<string>): string | null {
  for (const k of keys) if (k === 'embeddings.cls_token' || k.endsWith('.embeddings.cls_token')) return k.slice(0, k.length - 'embeddings.cls_token'.length);
  return null;
}

/** A weight that is all zeros (qkv_bias: false: the official graph's qkv Linear always has a bias). */
function zeros(shape: number[]): WeightEntry {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, load: async () => new Tensor('float32', shape, new Float32Array(n)) };
}

/**
 * Rename HF weights to the official names (`cls_token`, `blocks.0.temporal_attn.qkv.weight`,
 * `head.weight`). Weights under the model's prefix that the graph would not apply are an error
 * (applying fewer weights than the model has would silently compute another model).
 */
export function mapHfWeights(stateDict: ReadonlyMap<string, LazyTensor>, file: string, o: { qkvBias: boolean }): { entries: Map<string, WeightEntry>; head: boolean } {
  const prefix = hfPrefix(stateDict.keys());
  if (prefix === null) throw new LabError('MISSING_WEIGHTS', 'no embeddings.cls_token: not a HuggingFace TimeSformer state dict', file);
  // ForVideoClassification keeps the classifier beside `timesformer.`
  const headPrefix = prefix.endsWith('timesformer.') ? prefix.slice(0, prefix.length - 'timesformer.'.length) : prefix;
  const entries = new Map<string, WeightEntry>();
  const used = new Set<string>();
  const take = (hf: string, ours: string) => {
    const t = stateDict.get(hf);
    if (!t) return;
    entries.set(ours, t);
    used.add(hf);
  };
  for (const [hf, ours] of HF_TOP_NAMES) take(prefix + hf, ours);
  take(`${headPrefix}classifier.weight`, 'head.weight');
  take(`${headPrefix}classifier.bias`, 'head.bias');
  const layer = new RegExp(`^${escapeRe(prefix)}encoder\\.layer\\.(\\d+)\\.(.+)\\.(weight|bias)$`);
  for (const k of stateDict.keys()) {
    const m = layer.exec(k);
    if (!m) continue;
    const ours = HF_LAYER_NAMES.find(([hf]) => hf === m[2])?.[1];
    if (ours) take(k, `blocks.${Number(m[1])}.${ours}.${m[3]}`);
  }
  const unknown = [...stateDict.keys()].filter((k) => !used.has(k) && (k.startsWith(prefix) || k.startsWith(`${headPrefix}classifier.`)));
  if (unknown.length) {
    throw new LabError('UNSUPPORTED_MODEL', `the checkpoint has ${unknown.length} weight(s) the TimeSformer graph would not apply: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', ...' : ''}`, file);
  }
  const head = entries.has('head.weight');
  if (head !== entries.has('head.bias')) throw new LabError('MISSING_WEIGHTS', `the classifier has a ${head ? 'weight but no bias' : 'bias but no weight'}`, file);
  if (!o.qkvBias) {
    for (const k of entries.keys()) {
      const m = /^(blocks\.\d+\.(?:temporal_)?attn)\.qkv\.weight$/.exec(k);
      if (m && !entries.has(`${m[1]}.qkv.bias`)) entries.set(`${m[1]}.qkv.bias`, zeros([entries.get(k)!.shape[0]]));
    }
  }
  return { entries, head };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The sizes config.json states must be the weights' (a config from another model is a mistake worth naming). */
export function checkHfSizes(cfg: HfConfig, got: { embedDim: number; depth: number; frames: number; imageSize: number; patchSize: number; mlpHidden: number }): void {
  const s = cfg.sizes;
  const pairs: [string, number | undefined, number][] = [
    ['hidden_size', s.hidden_size, got.embedDim], ['num_hidden_layers', s.num_hidden_layers, got.depth], ['num_frames', s.num_frames, got.frames],
    ['image_size', s.image_size, got.imageSize], ['patch_size', s.patch_size, got.patchSize], ['intermediate_size', s.intermediate_size, got.mlpHidden],
  ];
  const bad = pairs.filter(([, want, have]) => want !== undefined && want !== have).map(([k, want, have]) => `${k} ${want}, the weights have ${have}`);
  if (s.num_channels !== undefined && s.num_channels !== 3) bad.push(`num_channels ${s.num_channels}, the lab reads RGB clips (3)`);
  if (bad.length) throw new LabError('MISMATCH', `config.json and the weights disagree: ${bad.join('; ')}`, cfg.path);
  if (cfg.heads !== undefined && got.embedDim % cfg.heads !== 0) {
    throw new LabError('BAD_WEIGHTS', `num_attention_heads ${cfg.heads} does not divide hidden_size ${got.embedDim}`, cfg.path);
  }
}
