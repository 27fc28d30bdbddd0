/**
 * Test-only writers for HuggingFace-format models: a safetensors writer, and a HF folder made
 * from an official fixture's weights renamed to transformers' keys (the table below is written
 * out from transformers' modeling_timesformer.py, independently of the product's mapping), with a
 * config.json, as `save_pretrained` writes them. The real transformers-made fixtures
 * (test/fixtures/hf_*) come from scripts/fixtures/make_hf_fixtures.py on the GPU machine.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readCheckpoint } from '../../../extension/core/formats/torch';
import { pickle2, torchTensor, torchZip, npArray, type Py } from './pyfiles';

export type StDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'U8' | 'BOOL' | 'F8_E4M3';

export interface StTensor {
  name: string;
  dtype: StDtype;
  shape: number[];
  data: Uint8Array;
}

/** A safetensors file: u64 header length, JSON header (padded with spaces to 8 bytes), data. */
export function safetensorsBytes(tensors: StTensor[], metadata?: Record<string, string>, o: { header?: (h: Record<string, unknown>) => unknown } = {}): Buffer {
  const h: Record<string, unknown> = {};
  if (metadata) h.__metadata__ = metadata;
  let at = 0;
  for (const t of tensors) {
    h[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.data.length] };
    at += t.data.length;
  }
  let json = JSON.stringify(o.header ? o.header(h) : h);
  while ((8 + Buffer.byteLength(json)) % 8) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json, 'utf8'), ...tensors.map((t) => Buffer.from(t.data))]);
}

/** Official block module → transformers' layer module (modeling_timesformer.py's TimesformerLayer). */
const LAYER: Record<string, string> = {
  temporal_norm1: 'temporal_layernorm',
  'temporal_attn.qkv': 'temporal_attention.attention.qkv',
  'temporal_attn.proj': 'temporal_attention.output.dense',
  temporal_fc: 'temporal_dense',
  norm1: 'layernorm_before',
  'attn.qkv': 'attention.attention.qkv',
  'attn.proj': 'attention.output.dense',
  norm2: 'layernorm_after',
  'mlp.fc1': 'intermediate.dense',
  'mlp.fc2': 'output.dense',
};
const TOP: Record<string, string> = {
  cls_token: 'embeddings.cls_token',
  pos_embed: 'embeddings.position_embeddings',
  time_embed: 'embeddings.time_embeddings',
  'patch_embed.proj.weight': 'embeddings.patch_embeddings.projection.weight',
  'patch_embed.proj.bias': 'embeddings.patch_embeddings.projection.bias',
  'norm.weight': 'layernorm.weight',
  'norm.bias': 'layernorm.bias',
};

/** `model.blocks.3.mlp.fc2.bias` → `timesformer.encoder.layer.3.output.dense.bias` (head: `classifier.*`). */
export function officialToHfKey(key: string, withHead = true): string | null {
  const k = key.replace(/^(module\.)?model\./, '');
  const prefix = withHead ? 'timesformer.' : '';
  if (k.startsWith('head.')) return withHead ? `classifier.${k.slice(5)}` : null;
  if (TOP[k]) return prefix + TOP[k];
  const m = /^blocks\.(\d+)\.(.+)\.(weight|bias)$/.exec(k);
  if (!m || !LAYER[m[2]]) throw new Error(`no HF name for ${key}`);
  return `${prefix}encoder.layer.${m[1]}.${LAYER[m[2]]}.${m[3]}`;
}

export interface HfFolderOptions {
  format: 'safetensors' | 'safetensors-sharded' | 'bin' | 'bin-sharded';
  /** TimesformerModel (no classifier, keys without `timesformer.`) when false. */
  head?: boolean;
  heads: number;
  labels?: string[];
  config?: Record<string, unknown>;
  preprocessor?: Record<string, unknown>;
  shards?: number;
}

/** Official fixture → HF folder; returns the config.json written. */
export async function makeHfFolder(pyth: string, dir: string, o: HfFolderOptions): Promise<Record<string, unknown>> {
  const ckpt = await readCheckpoint(pyth);
  const withHead = o.head !== false;
  const tensors: StTensor[] = [];
  let dims: { C: number; depth: number; T: number; P: number; S: number; hidden: number; classes: number } = { C: 0, depth: 0, T: 0, P: 0, S: 0, hidden: 0, classes: 0 };
  try {
    for (const [key, lazy] of ckpt.stateDict) {
      const name = officialToHfKey(key, withHead);
      if (!name) continue;
      const t = (await lazy.load()).asFloat32();
      tensors.push({ name, dtype: 'F32', shape: [...t.shape], data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) });
    }
    const shape = (k: string) => ckpt.stateDict.get(k)!.shape;
    let depth = 0;
    while (ckpt.stateDict.has(`model.blocks.${depth}.norm1.weight`)) depth++;
    dims = {
      C: shape('model.cls_token')[2], depth, T: shape('model.time_embed')[1], P: shape('model.patch_embed.proj.weight')[2],
      S: shape('model.pos_embed')[1] - 1, hidden: shape('model.blocks.0.mlp.fc1.weight')[0], classes: shape('model.head.weight')[0],
    };
  } finally {
    await ckpt.close();
  }
  fs.mkdirSync(dir, { recursive: true });
  const config: Record<string, unknown> = {
    architectures: [withHead ? 'TimesformerForVideoClassification' : 'TimesformerModel'],
    attention_type: 'divided_space_time', hidden_act: 'gelu', hidden_size: dims.C, image_size: Math.round(Math.sqrt(dims.S)) * dims.P,
    intermediate_size: dims.hidden, layer_norm_eps: 1e-6, model_type: 'timesformer', num_attention_heads: o.heads, num_channels: 3,
    num_frames: dims.T, num_hidden_layers: dims.depth, patch_size: dims.P, qkv_bias: true, torch_dtype: 'float32',
    ...(withHead && o.labels ? { id2label: Object.fromEntries(o.labels.map((l, i) => [String(i), l])), label2id: Object.fromEntries(o.labels.map((l, i) => [l, i])) } : {}),
    ...o.config,
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  if (o.preprocessor) fs.writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify(o.preprocessor, null, 2));
  const n = o.shards ?? 3;
  const groups: StTensor[][] = o.format.endsWith('sharded') ? Array.from({ length: n }, (_, i) => tensors.filter((_, j) => Math.floor((j * n) / tensors.length) === i)) : [tensors];
  const ext = o.format.startsWith('bin') ? 'bin' : 'safetensors';
  const stem = ext === 'bin' ? 'pytorch_model' : 'model';
  const names = groups.length === 1 ? [`${stem}.${ext}`] : groups.map((_, i) => `${stem}-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.${ext}`);
  groups.forEach((g, i) => fs.writeFileSync(path.join(dir, names[i]), ext === 'bin' ? torchStateDict(g, names[i].replace(/\.bin$/, '')) : safetensorsBytes(g, { format: 'pt' })));
  if (groups.length > 1) {
    const weightMap = Object.fromEntries(groups.flatMap((g, i) => g.map((t) => [t.name, names[i]])));
    fs.writeFileSync(path.join(dir, `${stem}.${ext}.index.json`), JSON.stringify({ metadata: { total_size: tensors.reduce((s, t) => s + t.data.length, 0) }, weight_map: weightMap }, null, 2));
  }
  return config;
}

/** `torch.save(state_dict)`: a zip whose data.pkl is an OrderedDict of tensors at the top level. */
export function torchStateDict(tensors: StTensor[], stem: string): Buffer {
  const strides = (s: number[]) => s.map((_, i) => s.slice(i + 1).reduce((a, b) => a * b, 1));
  const top: Py = {
    $call: { $global: 'collections.OrderedDict' },
    args: [tensors.map((t, i): Py => [t.name, torchTensor('FloatStorage', String(i), t.data.length / 4, 0, t.shape, strides(t.shape))])],
  };
  return torchZip(stem, top, Object.fromEntries(tensors.map((t, i) => [String(i), t.data])));
}

/** A test_data.p (protocol 2, numpy arrays as protocol 5 writes them): (video, [final, [blocks]]). */
export function testDataPickle(video: { shape: number[]; data: Float32Array }, final: { shape: number[]; data: Float32Array }, blocks: { shape: number[]; data: Float32Array }[]): Buffer {
  const arr = (a: { shape: number[]; data: Float32Array }) => npArray('f4', a.shape, new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength));
  return pickle2([arr(video), { $list: [arr(final), { $list: blocks.map(arr) }] }]);
}
