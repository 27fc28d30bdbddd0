/**
 * The corpus, round 2 (issue 20): the surfaces added since the first audit — HuggingFace folders
 * (config.json, preprocessor_config.json, safetensors, sharded indexes), the HF cache's links, and
 * .npy clips — each case a recipe for files written by corpus.ts's generateCorpus, with the answer
 * the lab must give. The large cases are sparse (written with truncate): they take no disk.
 */
import type { Py } from '../unit/helpers/pyfiles';
import { pickle2 } from '../unit/helpers/pyfiles';
import * as fs from 'fs';
import * as path from 'path';
import { officialToHfKey, safetensorsBytes, torchStateDict, type StTensor } from '../unit/helpers/hf';
import { TINY, numel, shapes, testData, tinyCheckpoint, values, type Recipe } from './corpus-files';

const GOOD_W = 'good.pyth';
/** What a link out of a model folder leads to in the corpus: no error may quote it. */
export const SECRET = 'root:x:0:0:root:/root:/bin/bash\nSECRET-7f3a\n';
/** Control sequences a hostile file may carry in any string: clear screen, an OSC-8 link, BEL, a right-to-left override, a command link. */
export const ESCAPES = '\x1b[2J\x1b]8;;https://example.invalid\x07click\x1b]8;;\x07\u202eevil[open](command:workbench.action.terminal.new)';

/** The tiny model's weights under transformers' names (TimesformerForVideoClassification). */
function hfTensors(edit?: (name: string, t: StTensor) => StTensor | null): StTensor[] {
  const out: StTensor[] = [];
  shapes(TINY).forEach(([key, shape], i) => {
    const v = values(numel(shape), 1000 + i);
    const t: StTensor = { name: officialToHfKey(key)!, dtype: 'F32', shape, data: new Uint8Array(v.buffer) };
    const e = edit ? edit(key, t) : t;
    if (e) out.push(e);
  });
  return out;
}

const config = () => ({
  architectures: ['TimesformerForVideoClassification'], model_type: 'timesformer', attention_type: 'divided_space_time', hidden_act: 'gelu',
  hidden_size: TINY.C, num_attention_heads: 2, num_hidden_layers: TINY.depth, num_frames: TINY.T, image_size: TINY.image, patch_size: TINY.patch,
  intermediate_size: TINY.H, num_channels: 3, qkv_bias: true, layer_norm_eps: 1e-6,
});
const json = (v: unknown) => Buffer.from(JSON.stringify(v, null, 1));

/** A safetensors file whose header is the given text (keys may repeat), followed by `data`. */
function rawSafetensors(header: string, data: Uint8Array = new Uint8Array(0)): Buffer {
  let h = header;
  while ((8 + Buffer.byteLength(h)) % 8) h += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(h)));
  return Buffer.concat([len, Buffer.from(h), Buffer.from(data)]);
}

/** A .npy (format 1.0) header for `descr` and `shape`, padded as numpy pads it; then `data`. */
function npy(descr: string, shape: number[], data: Uint8Array = new Uint8Array(0)): Buffer {
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + h.length + 1) % 64) h += ' ';
  h += '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(h.length, 8);
  return Buffer.concat([head, Buffer.from(h, 'latin1'), Buffer.from(data)]);
}
const clipShape = () => [1, 3, TINY.T, TINY.image, TINY.image];
const clipValues = (edit?: (v: Float32Array) => void) => {
  const v = values(numel(clipShape()), 7);
  edit?.(v);
  return new Uint8Array(v.buffer);
};

export function roundTwo(): Recipe[] {
  const r: Recipe[] = [];
  const CONFIG = config();
  const CLIP = clipShape();
  const st = safetensorsBytes(hfTensors(), { format: 'pt' });
  /** An HF folder `name/` with config.json and model.safetensors (overridable), as a weights case. */
  const folder = (id: string, item: number, expect: string, what: string, files: Record<string, Recipe['files'][string] | null>, weights = id): void => {
    const named: Recipe['files'] = {};
    for (const [k, v] of Object.entries({ 'config.json': json(CONFIG), 'model.safetensors': st, ...files })) if (v !== null) named[`${id}/${k}`] = v;
    r.push({ id, item, stage: 'weights', expect, what, files: named, weights });
  };
  const lone = (id: string, item: number, expect: string, what: string, file: Recipe['files'][string]): void => {
    r.push({ id, item, stage: 'weights', expect, what, files: { [`${id}.safetensors`]: file }, weights: `${id}.safetensors` });
  };
  const clip = (id: string, item: number, expect: string, what: string, file: Recipe['files'][string]): void => {
    r.push({ id, item, stage: 'clip', expect, what, files: { [`${id}.npy`]: file }, weights: GOOD_W, data: `${id}.npy` });
  };

  // 1. links out of the model's folder
  r.push({ id: 'r2_secret', stage: 'data', expect: 'BAD_TEST_DATA', what: 'the file the links below lead to (a stand-in for /etc/passwd), read as test data: refused without quoting it', files: { 'r2_secret.txt': Buffer.from(SECRET) }, weights: GOOD_W, data: 'r2_secret.txt' });
  folder('r2_1_link_config', 1, 'LINK_OUTSIDE_MODEL', 'config.json is a link to a file outside the folder (was: followed, its bytes quoted in a JSON error)', { 'config.json': { symlink: '../r2_secret.txt' } });
  folder('r2_1_link_safetensors', 1, 'LINK_OUTSIDE_MODEL', 'model.safetensors is a link outside the folder (was: "root:x:0" read as the header length)', { 'model.safetensors': { symlink: '../r2_secret.txt' } });
  folder('r2_1_link_preprocessor', 1, 'LINK_OUTSIDE_MODEL', 'preprocessor_config.json is a link outside the folder', { 'preprocessor_config.json': { symlink: '../r2_secret.txt' } });
  folder('r2_1_link_index', 1, 'LINK_OUTSIDE_MODEL', 'model.safetensors.index.json is a link outside the folder', { 'model.safetensors': null, 'model.safetensors.index.json': { symlink: '../r2_secret.txt' } });
  {
    const index = json({ metadata: {}, weight_map: Object.fromEntries(hfTensors().map((t) => [t.name, 'model-00001-of-00001.safetensors'])) });
    r.push({ id: 'r2_outside_model', stage: 'weights', expect: 'OK', what: 'a good sharded folder, the target of the shard link below', files: { 'r2_outside_model/config.json': json(CONFIG), 'r2_outside_model/model-00001-of-00001.safetensors': st, 'r2_outside_model/model.safetensors.index.json': index }, weights: 'r2_outside_model' });
    folder('r2_1_link_shard', 1, 'LINK_OUTSIDE_MODEL', 'a shard named by the index is a link into another folder (was: followed)', {
      'model.safetensors': null, 'model.safetensors.index.json': index, 'model-00001-of-00001.safetensors': { symlink: '../r2_outside_model/model-00001-of-00001.safetensors' },
    });
  }
  folder('r2_1_link_inside', 1, 'OK', 'model.safetensors is a link to a file inside the folder: followed', { 'model.safetensors': { symlink: 'weights/real.safetensors' }, 'weights/real.safetensors': st });
  {
    const base = 'r2_cache/models--org--tiny';
    r.push({
      id: 'r2_1_hf_cache', item: 1, stage: 'weights', expect: 'OK', what: 'a HuggingFace cache snapshot: snapshots/<rev>/file links to ../../blobs/<hash>, inside the models--... root',
      files: { [`${base}/blobs/c0nf1g`]: json(CONFIG), [`${base}/blobs/w31ght5`]: st, [`${base}/snapshots/rev1/config.json`]: { symlink: '../../blobs/c0nf1g' }, [`${base}/snapshots/rev1/model.safetensors`]: { symlink: '../../blobs/w31ght5' } },
      weights: `${base}/snapshots/rev1`,
    });
    const other = 'r2_cache/models--org--other';
    r.push({
      id: 'r2_1_hf_cache_other_model', item: 1, stage: 'weights', expect: 'LINK_OUTSIDE_MODEL', what: 'a cache snapshot whose weights link into another model\'s blobs (outside its own models--... root)',
      files: { [`${other}/blobs/c0nf1g`]: json(CONFIG), [`${other}/snapshots/rev1/config.json`]: { symlink: '../../blobs/c0nf1g' }, [`${other}/snapshots/rev1/model.safetensors`]: { symlink: '../../../models--org--tiny/blobs/w31ght5' } },
      weights: `${other}/snapshots/rev1`,
    });
  }

  // 2. single reads over 2 GiB (Node aborts natively on them): budgets first, reads in chunks
  {
    const K = 3 * 2 ** 30 / (4 * TINY.C);
    const tensors = hfTensors((key, t) => (key === 'head.weight' ? null : t));
    const at = tensors.reduce((s, t) => s + t.data.length, 0);
    const bytes = safetensorsBytes(tensors, { format: 'pt' }, { header: (h) => ({ ...h, 'classifier.weight': { dtype: 'F32', shape: [K, TINY.C], data_offsets: [at, at + 3 * 2 ** 30] } }) });
    lone('r2_2_safetensors_3gib_tensor', 2, 'LIMIT_EXCEEDED', 'a sparse safetensors file whose classifier.weight is declared (and sized) at 3 GiB: 50M classes (was: native abort, exit 134)', { sparse: bytes, size: bytes.length + 3 * 2 ** 30 });
  }
  {
    const B = 3 * 2 ** 30 / (numel(CLIP) * 4);
    const head = npy('<f4', [B, ...CLIP.slice(1)]);
    clip('r2_2_npy_sparse_3gib', 2, 'LIMIT_EXCEEDED', `a sparse 3 GiB float32 clip of ${B} clips of the right size (was: native abort, exit 134)`, { sparse: head, size: head.length + 3 * 2 ** 30 });
  }

  // 3. index files: linear, and a cap on distinct shards
  for (const [stem, ext] of [['model.safetensors', 'safetensors'], ['pytorch_model.bin', 'bin']]) {
    const n = 30_000;
    const wm = Object.fromEntries(Array.from({ length: n }, (_, i) => [`timesformer.k${i}`, `shard-${String(i).padStart(5, '0')}.${ext}`]));
    folder(`r2_3_index_${ext}_30k_shards`, 3, 'LIMIT_EXCEEDED', `${stem}.index.json naming ${n.toLocaleString('en-US')} distinct shards (was: quadratic, minutes)`, { 'model.safetensors': null, [`${stem}.index.json`]: json({ weight_map: wm }) });
  }
  {
    const wm: Record<string, string> = Object.fromEntries(hfTensors().map((t) => [t.name, 'model-00001-of-00001.safetensors']));
    for (let i = 0; i < 50_000; i++) wm[`timesformer.unused.${i}`] = 'model-00001-of-00001.safetensors';
    folder('r2_3_index_50k_keys', 3, 'BAD_WEIGHTS', 'an index of 50,000 keys in one shard that holds only the model\'s: linear, and named', { 'model.safetensors': null, 'model.safetensors.index.json': json({ weight_map: wm }), 'model-00001-of-00001.safetensors': st });
  }

  // 4. a .npy's header is checked against the model before its data is read
  {
    const head = npy('<f4', [2 ** 29]);
    clip('r2_4_npy_sparse_2gib_not_a_clip', 4, 'BAD_CLIP', 'a sparse 2 GiB float32 vector (was: 4 GB and 9 s before BAD_CLIP)', { sparse: head, size: head.length + 2 ** 31 });
    const T = Math.floor(2 ** 30 / (TINY.image * TINY.image * 3));
    const frames = npy('|u1', [T, TINY.image, TINY.image, 3]);
    clip('r2_4_npy_uint8_frames_1gib', 4, 'MISMATCH', `a sparse 1 GiB uint8 clip of ${T.toLocaleString('en-US')} frames (was: read whole before "the model takes 2 frames")`, { sparse: frames, size: frames.length + T * TINY.image * TINY.image * 3 });
  }

  // 5. safetensors headers of many entries
  {
    const many = (n: number) => safetensorsBytes(hfTensors(), { format: 'pt' }, {
      header: (h) => {
        const out: Record<string, unknown> = { ...h };
        for (let i = 0; i < n; i++) out[`e${i}`] = { dtype: 'F32', shape: [0], data_offsets: [0, 0] };
        return out;
      },
    });
    lone('r2_5_safetensors_90k_empty_entries', 5, 'OK', 'the tiny model plus 90,000 empty entries: checked, not kept', many(90_000));
    lone('r2_5_safetensors_150k_empty_entries', 5, 'LIMIT_EXCEEDED', 'the tiny model plus 150,000 empty entries: past the entry cap (was: kept, 1.5 GB at 1.7 million)', many(150_000));
  }

  // 6. non-finite clips; image_std 0
  clip('r2_6_npy_good_clip', 6, 'OK', 'a float32 clip of the model\'s size', npy('<f4', CLIP, clipValues()));
  clip('r2_6_npy_nan', 6, 'NON_FINITE', 'a float32 clip with one NaN (was: blamed on FP16 in an FP32 run)', npy('<f4', CLIP, clipValues((v) => { v[100] = NaN; })));
  clip('r2_6_npy_inf', 6, 'NON_FINITE', 'a float32 clip with +infinity', npy('<f4', CLIP, clipValues((v) => { v[0] = Infinity; })));
  clip('r2_6_npy_all_nan', 6, 'NON_FINITE', 'a float32 clip of NaN only', npy('<f4', CLIP, clipValues((v) => v.fill(NaN))));
  folder('r2_6_image_std_zero', 6, 'BAD_WEIGHTS', 'preprocessor_config.json with image_std [0, 0, 0] (was: accepted, though --std 0,0,0 is refused)', { 'preprocessor_config.json': json({ image_mean: [0.45, 0.45, 0.45], image_std: [0, 0, 0] }) });

  // 7. test data whose block list is empty
  r.push({
    id: 'r2_7_empty_block_list', item: 7, stage: 'run', expect: 'HEADS_UNDETECTED', what: 'test data with no block outputs, no --heads (was: 1 head assumed, a verdict over zero blocks)',
    files: { 'r2_7_no_blocks_test_data.p': testData({ blocks: () => [] }) }, weights: GOOD_W, data: 'r2_7_no_blocks_test_data.p',
  });

  r.push({
    id: 'r2_7_empty_block_list_heads_known', item: 7, stage: 'run', expect: 'BAD_TEST_DATA', what: 'the same test data with a HF folder whose config.json gives the heads (was: a PASS/FAIL verdict over zero blocks)',
    files: { 'r2_7_hf/config.json': json(CONFIG), 'r2_7_hf/model.safetensors': st }, weights: 'r2_7_hf', data: 'r2_7_no_blocks_test_data.p',
  });

  // 8. leniency
  {
    const ts = hfTensors();
    const h: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let at = 0;
    for (const t of ts) {
      h[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.data.length] };
      at += t.data.length;
    }
    const text = JSON.stringify(h);
    const first = ts[0];
    const dup = `${JSON.stringify(first.name)}:${JSON.stringify({ dtype: 'F32', shape: first.shape, data_offsets: [0, first.data.length] })}`;
    lone('r2_8_safetensors_duplicate_name', 8, 'BAD_WEIGHTS', `${first.name} twice in the header (was: the last copy won; the safetensors library refuses it)`, rawSafetensors(`${text.slice(0, -1)},${dup}}`, Buffer.concat(ts.map((t) => t.data))));
  }
  r.push({
    id: 'r2_8_missing_block_key', item: 8, stage: 'pair', expect: 'MISSING_WEIGHTS', what: 'blocks.1.norm1.weight left out (was: "the checkpoint has 1 blocks")',
    files: { 'r2_8_missing_block_key.pyth': tinyCheckpoint({ drop: ['blocks.1.norm1.weight'] }) }, weights: 'r2_8_missing_block_key.pyth', data: 'good_test_data.p',
  });
  r.push({
    id: 'r2_8_two_data_pkl', item: 8, stage: 'weights', expect: 'BAD_ZIP', what: 'a zip with a second data.pkl in another record folder (was: MISSING_WEIGHTS "(keys: )")',
    files: { 'r2_8_two_data_pkl.pyth': tinyCheckpoint({ zip: (specs) => [{ name: 'a/data.pkl', data: pickle2({ $dict: [] } as Py) }, ...specs] }) }, weights: 'r2_8_two_data_pkl.pyth',
  });
  {
    const B = Math.ceil(5 * 2 ** 30 / (numel(CLIP) * 4));
    const head = npy('<f4', [B, ...CLIP.slice(1)]);
    clip('r2_8_npy_sparse_5gib', 8, 'LIMIT_EXCEEDED', 'a sparse 5 GiB float32 clip (was: FILE_UNREADABLE ERR_OUT_OF_RANGE)', { sparse: head, size: head.length + B * numel(CLIP) * 4 });
  }

  // 9. control sequences in every string a file names (the CLI prints them escaped: robust.test.ts runs it on these)
  folder('r2_9_model_type_escapes', 9, 'UNSUPPORTED_MODEL', 'model_type holds a clear-screen, an OSC-8 link, BEL, a right-to-left override and a command link', { 'config.json': json({ ...CONFIG, model_type: ESCAPES }) });
  folder('r2_9_attention_type_escapes', 9, 'UNSUPPORTED_MODEL', 'attention_type holds the same', { 'config.json': json({ ...CONFIG, attention_type: ESCAPES }) });
  lone('r2_9_tensor_name_escapes', 9, 'UNSUPPORTED_MODEL', 'an extra tensor under timesformer. whose name holds them', safetensorsBytes([...hfTensors(), { name: `timesformer.${ESCAPES}`, dtype: 'F32', shape: [1], data: new Uint8Array(4) }]));
  lone('r2_9_dtype_escapes', 9, 'BAD_WEIGHTS', 'a tensor whose dtype holds them', safetensorsBytes(hfTensors(), undefined, { header: (h) => ({ ...h, x: { dtype: ESCAPES, shape: [0], data_offsets: [0, 0] } }) }));
  clip('r2_9_npy_descr_escapes', 9, 'UNSUPPORTED_DTYPE', 'a .npy whose descr holds them', npy(`<f4${ESCAPES.replace(/'/g, '')}`, CLIP, clipValues()));
  folder('r2_9_shard_name_escapes', 9, 'FILE_NOT_FOUND', 'an index whose shard name holds them', { 'model.safetensors': null, 'model.safetensors.index.json': json({ weight_map: { 'timesformer.embeddings.cls_token': `${ESCAPES.replace(/\//g, '')}.safetensors` } }) });
  return r;
}

/**
 * The tiny model as a HuggingFace folder in `dir` (the fuzzer's seeds): config.json and
 * preprocessor_config.json, and the weights as model.safetensors, or as two safetensors shards or
 * two pytorch_model.bin shards with their index. Returns the files written.
 */
export function writeTinyHfFolder(dir: string, weights: 'safetensors' | 'safetensors-sharded' | 'bin-sharded'): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const files: Record<string, Buffer> = {
    'config.json': json(config()),
    'preprocessor_config.json': json({ do_normalize: true, image_mean: [0.45, 0.45, 0.45], image_std: [0.225, 0.225, 0.225] }),
  };
  const ts = hfTensors();
  if (weights === 'safetensors') files['model.safetensors'] = safetensorsBytes(ts, { format: 'pt' });
  else {
    const ext = weights === 'bin-sharded' ? 'bin' : 'safetensors';
    const stem = ext === 'bin' ? 'pytorch_model' : 'model';
    const halves = [ts.slice(0, ts.length >> 1), ts.slice(ts.length >> 1)];
    const names = halves.map((_, i) => `${stem}-0000${i + 1}-of-00002.${ext}`);
    halves.forEach((h, i) => (files[names[i]] = ext === 'bin' ? torchStateDict(h, names[i].replace(/\.bin$/, '')) : safetensorsBytes(h, { format: 'pt' })));
    files[`${stem}.${ext}.index.json`] = json({ metadata: { total_size: ts.reduce((n, t) => n + t.data.length, 0) }, weight_map: Object.fromEntries(halves.flatMap((h, i) => h.map((t) => [t.name, names[i]]))) });
  }
  for (const [name, bytes] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), bytes);
  return Object.keys(files).map((n) => path.join(dir, n));
}

/** A float32 clip of the tiny model's input size as a .npy (the fuzzer's seed for .npy headers). */
export function tinyClipNpy(): Buffer {
  return npy('<f4', clipShape(), clipValues());
}
