/**
 * Deterministic TimeSformer checkpoint generator, in the official format: torch.save's zip of
 * `{'epoch': 0, 'model_state': OrderedDict('model.cls_token': ..., 'model.blocks.N....': ...), 'cfg': ...}`
 * (float32, keys and shapes as facebookresearch/TimeSformer's vit.py). Defaults are the released
 * full-size model (8x224x224, C=768, 12 blocks, 400 classes): 121,566,352 parameters, ~486 MB.
 *
 * Values follow the fixtures (shared NOTES): every linear layer inside a block ~ N(0, 1.6/sqrt(C)),
 * their biases 0 except temporal_fc's ~ N(0, 0.02); LayerNorm weights 1 + N(0, 0.1), biases N(0, 0.05);
 * cls/pos/time embeddings N(0, 0.02); patch embedding (conv) uniform(+-1/sqrt(3*P*P)), as torch's
 * default init; final norm 1/0; head N(0, 0.02), bias 0. Optional massive activation:
 * blocks.<b>.mlp.fc2.bias[<channel>] = <value>.
 *
 * Each tensor has its own PRNG stream (mulberry32 seeded from --seed and the tensor's index,
 * Box-Muller for normals), so the same options give the same bytes, and the in-memory
 * generator (generateWeights, used by bench.ts) gives the same values as the file.
 *
 *   node out/scripts/gen-checkpoint.js --out /tmp/timesformer_full.pyth [--manifest m.json]
 *     [--embed 768 --depth 12 --frames 8 --image 224 --patch 16 --classes 400 --mlp-ratio 4 --seed 1]
 *     [--outlier-block 3 --outlier-channel 21 --outlier-value 300]
 *     [--outlier-source content --detector-channel 0 --detector-gain 10]   (the outlier grows with the clip's brightness)
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { writeTorchCheckpoint, type TensorSpec } from '../extension/core/formats/torch-writer';

export interface GenOptions {
  embed: number;
  depth: number;
  frames: number;
  image: number;
  patch: number;
  classes: number;
  mlpRatio: number;
  seed: number;
  /** Block whose mlp.fc2.bias gets the outlier; null: none. */
  outlierBlock: number | null;
  outlierChannel: number;
  outlierValue: number;
  /**
   * What feeds the outlier: 'bias' (blocks.<b>.mlp.fc2.bias[channel] = value: every clip carries
   * it) or 'content': a brightness detector (patch-embedding channel `detectorChannel` sums the
   * patch's pixels, times `detectorGain`), read by one fc1 row of the outlier block (hidden unit
   * `detectorChannel`: weight 1 on that channel, 0 elsewhere) whose fc2 weight into `channel` is
   * `value`: the massive activation grows with the clip's brightness, so that bright clips
   * overflow FP16 and dark ones do not.
   */
  outlierSource?: 'bias' | 'content';
  detectorChannel?: number;
  detectorGain?: number;
}

export const FULL_SIZE: GenOptions = {
  embed: 768, depth: 12, frames: 8, image: 224, patch: 16, classes: 400, mlpRatio: 4, seed: 1,
  outlierBlock: null, outlierChannel: 21, outlierValue: 300,
};
export const FULL_SIZE_PARAMS = 121_566_352;

export type Init =
  | { kind: 'normal'; mean: number; std: number }
  | { kind: 'uniform'; bound: number }
  | { kind: 'const'; value: number };

export interface GenTensor extends TensorSpec {
  init: Init;
  /** Values set after drawing: [flat index, value]. */
  overrides?: [number, number][];
}

/** Every tensor of the checkpoint, in the official state-dict order. */
export function checkpointSpec(o: GenOptions): GenTensor[] {
  const C = o.embed;
  const H = Math.round(C * o.mlpRatio);
  if (o.image % o.patch !== 0) throw new Error(`--image ${o.image} is not a multiple of --patch ${o.patch}`);
  const S = (o.image / o.patch) ** 2;
  const lin = 1.6 / Math.sqrt(C);
  const t: GenTensor[] = [];
  const add = (key: string, shape: number[], init: Init) => t.push({ key: `model.${key}`, dtype: 'float32', shape, init });
  const normal = (std: number, mean = 0): Init => ({ kind: 'normal', mean, std });
  const zero: Init = { kind: 'const', value: 0 };
  const lnW = normal(0.1, 1);
  const lnB = normal(0.05);
  add('cls_token', [1, 1, C], normal(0.02));
  add('pos_embed', [1, S + 1, C], normal(0.02));
  add('time_embed', [1, o.frames, C], normal(0.02));
  const convBound = 1 / Math.sqrt(3 * o.patch * o.patch);
  add('patch_embed.proj.weight', [C, 3, o.patch, o.patch], { kind: 'uniform', bound: convBound });
  add('patch_embed.proj.bias', [C], { kind: 'uniform', bound: convBound });
  for (let i = 0; i < o.depth; i++) {
    const b = `blocks.${i}`;
    add(`${b}.norm1.weight`, [C], lnW);
    add(`${b}.norm1.bias`, [C], lnB);
    add(`${b}.attn.qkv.weight`, [3 * C, C], normal(lin));
    add(`${b}.attn.qkv.bias`, [3 * C], zero);
    add(`${b}.attn.proj.weight`, [C, C], normal(lin));
    add(`${b}.attn.proj.bias`, [C], zero);
    add(`${b}.temporal_norm1.weight`, [C], lnW);
    add(`${b}.temporal_norm1.bias`, [C], lnB);
    add(`${b}.temporal_attn.qkv.weight`, [3 * C, C], normal(lin));
    add(`${b}.temporal_attn.qkv.bias`, [3 * C], zero);
    add(`${b}.temporal_attn.proj.weight`, [C, C], normal(lin));
    add(`${b}.temporal_attn.proj.bias`, [C], zero);
    add(`${b}.temporal_fc.weight`, [C, C], normal(lin));
    add(`${b}.temporal_fc.bias`, [C], normal(0.02));
    add(`${b}.norm2.weight`, [C], lnW);
    add(`${b}.norm2.bias`, [C], lnB);
    add(`${b}.mlp.fc1.weight`, [H, C], normal(lin));
    add(`${b}.mlp.fc1.bias`, [H], zero);
    add(`${b}.mlp.fc2.weight`, [C, H], normal(lin));
    add(`${b}.mlp.fc2.bias`, [C], zero);
  }
  add('norm.weight', [C], { kind: 'const', value: 1 });
  add('norm.bias', [C], zero);
  add('head.weight', [o.classes, C], normal(0.02));
  add('head.bias', [o.classes], zero);
  if (o.outlierBlock !== null) {
    if (o.outlierBlock < 0 || o.outlierBlock >= o.depth) throw new Error(`--outlier-block ${o.outlierBlock} is outside 0..${o.depth - 1}`);
    if (o.outlierChannel < 0 || o.outlierChannel >= C) throw new Error(`--outlier-channel ${o.outlierChannel} is outside 0..${C - 1}`);
    const find = (key: string) => t.find((x) => x.key === `model.${key}`)!;
    if ((o.outlierSource ?? 'bias') === 'bias') find(`blocks.${o.outlierBlock}.mlp.fc2.bias`).overrides = [[o.outlierChannel, o.outlierValue]];
    else contentOutlier(o, find, C, H);
  }
  return t;
}

/** outlierSource 'content': the detector channel, the fc1 row that reads it and the fc2 weight that feeds the outlier (see GenOptions). */
function contentOutlier(o: GenOptions, find: (key: string) => GenTensor, C: number, H: number): void {
  const d = o.detectorChannel ?? 0;
  const gain = o.detectorGain ?? 10;
  if (d < 0 || d >= C || d >= H) throw new Error(`--detector-channel ${d} is outside 0..${Math.min(C, H) - 1}`);
  if (d === o.outlierChannel) throw new Error('--detector-channel must differ from --outlier-channel');
  const k = 3 * o.patch * o.patch;
  // patch embedding: channel d is gain × the mean of the patch's (normalized) pixels, no bias
  find('patch_embed.proj.weight').overrides = Array.from({ length: k }, (_, i): [number, number] => [d * k + i, gain / k]);
  find('patch_embed.proj.bias').overrides = [[d, 0]];
  const b = `blocks.${o.outlierBlock}.mlp`;
  // fc1 row d reads channel d only (of norm2's output): its GELU passes bright patches, not dark
  find(`${b}.fc1.weight`).overrides = Array.from({ length: C }, (_, c): [number, number] => [d * C + c, c === d ? 1 : 0]);
  find(`${b}.fc1.bias`).overrides = [[d, 0]];
  // fc2 weight (channel, hidden d): the outlier, in proportion to the detector; no bias
  find(`${b}.fc2.weight`).overrides = [[o.outlierChannel * H + d, o.outlierValue]];
}

export function paramCount(spec: readonly GenTensor[]): number {
  let n = 0;
  for (const t of spec) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}

/** murmur3's 32-bit finalizer. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Fill `out` with tensor `index`'s values (deterministic in seed and index only). */
export function fillTensor(t: GenTensor, index: number, seed: number, out: Float32Array): Float32Array {
  const n = out.length;
  const init = t.init;
  let a = fmix32(fmix32(seed >>> 0) ^ Math.imul(index + 1, 0x9e3779b9)) | 0;
  // mulberry32, inlined: returns a uniform in [0, 1)
  const next = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  if (init.kind === 'const') out.fill(init.value);
  else if (init.kind === 'uniform') {
    const b = init.bound;
    for (let i = 0; i < n; i++) out[i] = (2 * next() - 1) * b;
  } else {
    const { mean, std } = init;
    const TWO_PI = 2 * Math.PI;
    for (let i = 0; i < n; i += 2) {
      const u1 = 1 - next(); // (0, 1]
      const u2 = next();
      const r = Math.sqrt(-2 * Math.log(u1)) * std;
      const th = TWO_PI * u2;
      out[i] = mean + r * Math.cos(th);
      if (i + 1 < n) out[i + 1] = mean + r * Math.sin(th);
    }
  }
  for (const [i, v] of t.overrides ?? []) out[i] = v;
  return out;
}

/** All weights in memory, keyed as in the checkpoint (`model.cls_token`, ...): the file's exact values. */
export function generateWeights(o: GenOptions): Map<string, { shape: number[]; data: Float32Array }> {
  const m = new Map<string, { shape: number[]; data: Float32Array }>();
  checkpointSpec(o).forEach((t, i) => {
    const data = fillTensor(t, i, o.seed, new Float32Array(t.shape.reduce((a, b) => a * b, 1)));
    m.set(t.key, { shape: [...t.shape], data });
  });
  return m;
}

export interface ManifestEntry {
  key: string;
  shape: number[];
  first: number[];
  sum: number;
  sumSq: number;
}

/** Stream the checkpoint to `out`; returns the manifest (shapes, first values, sums) and the size. */
export function writeCheckpoint(o: GenOptions, out: string): { bytes: number; params: number; manifest: ManifestEntry[] } {
  const spec = checkpointSpec(o);
  const manifest: ManifestEntry[] = [];
  const maxNumel = Math.max(...spec.map((t) => t.shape.reduce((a, b) => a * b, 1)));
  const scratch = new Float32Array(maxNumel);
  // torch uses the file's stem as the record prefix; keep it to characters any reader accepts
  const stem = path.basename(out).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_.-]/g, '_') || 'archive';
  // 40 digits derived from the options, standing in for torch's random serialization id
  let h = fmix32(o.seed ^ 0x5bd1e995);
  let sid = '';
  while (sid.length < 40) {
    h = fmix32(h + 0x9e3779b9);
    sid += String(h % 10);
  }
  const { bytes } = writeTorchCheckpoint({
    path: out,
    stem,
    tensors: spec,
    before: [['epoch', 0]],
    after: [['cfg', 'TIMESFORMER:\n  ATTENTION_TYPE: divided_space_time\n']],
    serializationId: sid,
    fill: (i, t, write) => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const v = fillTensor(spec[i], i, o.seed, scratch.subarray(0, n));
      let sum = 0;
      let sumSq = 0;
      for (let k = 0; k < n; k++) {
        sum += v[k];
        sumSq += v[k] * v[k];
      }
      manifest.push({ key: t.key, shape: [...t.shape], first: Array.from(v.subarray(0, 8)), sum, sumSq });
      write(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    },
  });
  return { bytes, params: paramCount(spec), manifest };
}

/** Parse the generator's options (shared with bench.ts, which can generate in memory). */
export function genOptionsFrom(values: Record<string, string | boolean | undefined>): GenOptions {
  const num = (name: string, def: number): number => {
    const v = values[name];
    if (v === undefined || typeof v === 'boolean') return def;
    const x = Number(v);
    if (!Number.isFinite(x)) throw new Error(`--${name} ${v} is not a number`);
    return x;
  };
  const int = (name: string, def: number): number => {
    const x = num(name, def);
    if (!Number.isInteger(x) || x < 0) throw new Error(`--${name} must be a non-negative integer`);
    return x;
  };
  const ob = values['outlier-block'];
  return {
    embed: int('embed', FULL_SIZE.embed),
    depth: int('depth', FULL_SIZE.depth),
    frames: int('frames', FULL_SIZE.frames),
    image: int('image', FULL_SIZE.image),
    patch: int('patch', FULL_SIZE.patch),
    classes: int('classes', FULL_SIZE.classes),
    mlpRatio: num('mlp-ratio', FULL_SIZE.mlpRatio),
    seed: int('seed', FULL_SIZE.seed),
    outlierBlock: ob === undefined || ob === 'none' ? null : int('outlier-block', 0),
    outlierChannel: int('outlier-channel', FULL_SIZE.outlierChannel),
    outlierValue: num('outlier-value', FULL_SIZE.outlierValue),
    outlierSource: outlierSource(values['outlier-source']),
    detectorChannel: int('detector-channel', 0),
    detectorGain: num('detector-gain', 10),
  };
}

function outlierSource(v: string | boolean | undefined): 'bias' | 'content' {
  if (v === undefined || v === 'bias' || v === 'content') return v ?? 'bias';
  throw new Error(`--outlier-source must be bias or content; got '${v}'`);
}

export const GEN_ARG_SPEC = {
  embed: { type: 'string' }, depth: { type: 'string' }, frames: { type: 'string' }, image: { type: 'string' },
  patch: { type: 'string' }, classes: { type: 'string' }, 'mlp-ratio': { type: 'string' }, seed: { type: 'string' },
  'outlier-block': { type: 'string' }, 'outlier-channel': { type: 'string' }, 'outlier-value': { type: 'string' },
  'outlier-source': { type: 'string' }, 'detector-channel': { type: 'string' }, 'detector-gain': { type: 'string' },
} as const;

function main(): void {
  const { values } = parseArgs({
    options: { ...GEN_ARG_SPEC, out: { type: 'string' }, manifest: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help || !values.out) {
    console.log('usage: node out/scripts/gen-checkpoint.js --out PATH [--manifest PATH.json] [--embed 768 --depth 12 --frames 8 --image 224 ' +
      '--patch 16 --classes 400 --mlp-ratio 4 --seed 1] [--outlier-block B --outlier-channel 21 --outlier-value 300 [--outlier-source bias|content --detector-channel 0 --detector-gain 10]]');
    process.exit(values.help ? 0 : 2);
  }
  const o = genOptionsFrom(values);
  const t0 = performance.now();
  const { bytes, params, manifest } = writeCheckpoint(o, values.out);
  const ms = performance.now() - t0;
  const full = o.embed === 768 && o.depth === 12 && o.frames === 8 && o.image === 224 && o.patch === 16 && o.classes === 400 && o.mlpRatio === 4;
  console.log(`wrote ${values.out}: ${manifest.length} tensors, ${params.toLocaleString('en-US')} parameters, ` +
    `${(bytes / 1e6).toFixed(1)} MB in ${(ms / 1000).toFixed(2)} s` + (o.outlierBlock === null ? '' : o.outlierSource === 'content'
      ? `; content-dependent outlier: blocks.${o.outlierBlock}.mlp.fc2.weight[${o.outlierChannel}, ${o.detectorChannel}] = ${o.outlierValue} reading the brightness of channel ${o.detectorChannel}`
      : `; outlier blocks.${o.outlierBlock}.mlp.fc2.bias[${o.outlierChannel}] = ${o.outlierValue}`));
  if (full && params !== FULL_SIZE_PARAMS) throw new Error(`full-size parameter count ${params} != ${FULL_SIZE_PARAMS}`);
  if (values.manifest) {
    fs.writeFileSync(values.manifest, JSON.stringify({ options: o, params, bytes, tensors: manifest }, null, 1));
  }
}

if (require.main === module) {
  try {
    main();
  } catch (e) {
    console.error(`gen-checkpoint: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
