/**
 * The corpus's file builders (tiny checkpoints, test data, arrays) and its case types, shared by the
 * first round (corpus.ts) and the second (corpus-hf.ts): kept apart so that neither round imports
 * the other both ways (corpus.ts lists corpus-hf's cases).
 */
import * as zlib from 'zlib';
import { BLOCK_PARAMS, TOP_PARAMS } from '../../extension/core/model/config';
import { contiguousStrides } from '../../extension/core/formats/arrays';
import { float32ToHalfArray } from '../../extension/core/tensor';
import { rng } from './mutate';
import { type Py, type ZipSpec, pickle2, torchTensor, zipArchive } from '../unit/helpers/pyfiles';

export type Stage = 'weights' | 'data' | 'pair' | 'run' | 'clip';

export interface CorpusCase {
  id: string;
  /** The audit's numbered defect this case reproduces (1-10), if any. */
  defect?: number;
  /** The item of issue 20 (hostile files, round 2: 1-11) this case reproduces, if any. */
  item?: number;
  /** weights: loadModel; data: readTestData against good.pyth's model + agreement; pair: both; run: the whole pipeline (CPU, fp32); clip: a --input clip against the model. */
  stage: Stage;
  weights?: string;
  data?: string;
  /** A LabError code, or 'OK'. */
  expect: string;
  what: string;
}

// ---- the tiny model ----

export interface Dims { C: number; depth: number; T: number; image: number; patch: number; K: number; H: number }
export const TINY: Dims = { C: 16, depth: 2, T: 2, image: 32, patch: 16, K: 3, H: 64 };

export function shapes(d: Dims): [string, number[]][] {
  const { C, H, T, K, patch } = d;
  const S = (d.image / patch) ** 2;
  const block: Record<string, number[]> = {
    'norm1.weight': [C], 'norm1.bias': [C], 'attn.qkv.weight': [3 * C, C], 'attn.qkv.bias': [3 * C], 'attn.proj.weight': [C, C], 'attn.proj.bias': [C],
    'temporal_norm1.weight': [C], 'temporal_norm1.bias': [C], 'temporal_attn.qkv.weight': [3 * C, C], 'temporal_attn.qkv.bias': [3 * C],
    'temporal_attn.proj.weight': [C, C], 'temporal_attn.proj.bias': [C], 'temporal_fc.weight': [C, C], 'temporal_fc.bias': [C],
    'norm2.weight': [C], 'norm2.bias': [C], 'mlp.fc1.weight': [H, C], 'mlp.fc1.bias': [H], 'mlp.fc2.weight': [C, H], 'mlp.fc2.bias': [C],
  };
  const top: Record<string, number[]> = {
    cls_token: [1, 1, C], pos_embed: [1, 1 + S, C], time_embed: [1, T, C], 'patch_embed.proj.weight': [C, 3, patch, patch], 'patch_embed.proj.bias': [C],
    'norm.weight': [C], 'norm.bias': [C], 'head.weight': [K, C], 'head.bias': [K],
  };
  const out: [string, number[]][] = TOP_PARAMS.map((k) => [k, top[k]]);
  for (let i = 0; i < d.depth; i++) for (const p of BLOCK_PARAMS) out.push([`blocks.${i}.${p}`, block[p]]);
  return out;
}

/** Deterministic values in [-0.1, 0.1). */
export function values(n: number, seed: number): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (next() - 0.5) * 0.2;
  return out;
}

export const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
export const ordered = (entries: [Py, Py][]): Py => ({ $call: { $global: 'collections.OrderedDict' }, args: [entries] });

export interface CkptOptions {
  dims?: Dims;
  /** Change a tensor's values (by key without the `model.` prefix). */
  values?: (key: string, v: Float32Array) => void;
  /** Replace a tensor's pickle expression (the storage stays as written). */
  tensor?: (key: string, storageKey: string, shape: number[]) => Py | undefined;
  /** More state-dict entries. */
  extraState?: [string, Py][];
  /** More top-level entries (cfg, optimizer_state...). */
  extraTop?: [Py, Py][];
  /** Replace the top-level expression altogether. */
  top?: (state: Py) => Py;
  /** Change the zip entries (deflate, duplicate, declare other sizes...). */
  zip?: (specs: ZipSpec[]) => ZipSpec[];
  /** More storages, by key. */
  storages?: Record<string, Uint8Array>;
  /** Bytes appended to data.pkl after its STOP. */
  pklTail?: Uint8Array;
  /** State-dict keys left out. */
  drop?: string[];
  /** Storage element type (float16: HalfStorage holding the values rounded). */
  dtype?: 'float32' | 'float16';
}

/** The tiny model as torch.save writes it: `{'epoch': 3, 'model_state': OrderedDict(model.* ...)}`, one storage per tensor. */
export function tinyCheckpoint(o: CkptOptions = {}): Buffer {
  return checkpoint(o);
}
export function checkpoint(o: CkptOptions = {}): Buffer {
  const dims = o.dims ?? TINY;
  const storages: Record<string, Uint8Array> = {};
  const state: [string, Py][] = [];
  shapes(dims).forEach(([key, shape], i) => {
    if (o.drop?.includes(key)) return;
    const v = values(numel(shape), 1000 + i);
    o.values?.(key, v);
    const sk = String(i);
    const half = o.dtype === 'float16';
    storages[sk] = new Uint8Array(half ? float32ToHalfArray(v).buffer : v.buffer);
    const expr = o.tensor?.(key, sk, shape) ?? torchTensor(half ? 'HalfStorage' : 'FloatStorage', sk, numel(shape), 0, shape, contiguousStrides(shape));
    state.push([`model.${key}`, expr]);
  });
  state.push(...(o.extraState ?? []));
  Object.assign(storages, o.storages ?? {});
  const stateExpr = ordered(state);
  const top: Py = o.top ? o.top(stateExpr) : { $dict: [['epoch', 3], ['model_state', stateExpr], ...(o.extraTop ?? [])] };
  const pkl = Buffer.concat([pickle2(top), Buffer.from(o.pklTail ?? [])]);
  let specs: ZipSpec[] = [
    { name: 'tiny/data.pkl', data: pkl },
    { name: 'tiny/byteorder', data: Buffer.from('little') },
    ...Object.entries(storages).map(([k, b]): ZipSpec => ({ name: `tiny/data/${k}`, data: b })),
    { name: 'tiny/version', data: Buffer.from('3\n') },
  ];
  if (o.zip) specs = o.zip(specs);
  return zipArchive(specs);
}

/** The legacy format: magic, protocol 1001, sys_info, the object, the storage keys, then each storage (int64 count + bytes). */
export function legacyCheckpoint(o: { protocol?: number; littleEndian?: boolean; mainPickle?: Buffer; keys?: string[]; truncateAt?: number; countDelta?: number } = {}): Buffer {
  const magic = Buffer.from('80028a0a6cfc9c46f9206aa850192e', 'hex'); // LONG1 0x1950a86a20f9469cfc6c
  const storages: [string, Float32Array][] = [];
  const state: [string, Py][] = shapes(TINY).map(([key, shape], i) => {
    storages.push([String(i), values(numel(shape), 1000 + i)]);
    return [`model.${key}`, {
      $call: { $global: 'torch._utils._rebuild_tensor_v2' },
      args: [{ $pid: ['storage', { $global: 'torch.FloatStorage' }, String(i), 'cpu', numel(shape), null] }, 0, shape, contiguousStrides(shape), false, ordered([])],
    }];
  });
  const parts: Buffer[] = [
    magic,
    pickle2(o.protocol ?? 1001),
    pickle2({ $dict: [['protocol_version', 1001], ['little_endian', o.littleEndian ?? true], ['type_sizes', { $dict: [['short', 2], ['int', 4], ['long', 4]] }]] }),
    o.mainPickle ?? pickle2({ $dict: [['epoch', 3], ['model_state', ordered(state)]] }),
    pickle2(o.keys ?? storages.map(([k]) => k)),
  ];
  for (const [, v] of storages) {
    const count = Buffer.alloc(8);
    count.writeBigInt64LE(BigInt(v.length + (o.countDelta ?? 0)));
    parts.push(count, Buffer.from(v.buffer));
  }
  const all = Buffer.concat(parts);
  return o.truncateAt === undefined ? all : all.subarray(0, o.truncateAt);
}

// ---- test data ----

/** A numpy array as protocol 3+ pickles it: `_reconstruct` + BUILD with the raw bytes as BINBYTES. */
export function ndarray(kind: string, shape: number[], raw: Uint8Array, byteorder = '<'): Py {
  const dtype: Py = { $build: { $call: { $global: 'numpy.dtype' }, args: [kind, false, true] }, state: [3, byteorder, null, null, null, -1, -1, 0] };
  return {
    $build: { $call: { $global: 'numpy.core.multiarray._reconstruct' }, args: [{ $global: 'numpy.ndarray' }, [0], { $binbytes: Buffer.from('b') }] },
    state: [1, shape, dtype, false, { $binbytes: raw }],
  };
}
export const f32 = (shape: number[], seed: number, edit?: (v: Float32Array) => void): Py => {
  const v = values(numel(shape), seed);
  edit?.(v);
  return ndarray('f4', shape, new Uint8Array(v.buffer));
};

export interface DataOptions {
  dims?: Dims;
  batch?: number;
  blocks?: (B: number, tokens: number, C: number) => Py[];
  video?: Py;
  probs?: Py;
  root?: (video: Py, probs: Py, blocks: Py) => Py;
  tail?: Uint8Array;
}
export function testData(o: DataOptions = {}): Buffer {
  const d = o.dims ?? TINY;
  const B = o.batch ?? 1;
  const tokens = 1 + (d.image / d.patch) ** 2 * d.T;
  const video = o.video ?? f32([B, 3, d.T, d.image, d.image], 1);
  const probs = o.probs ?? f32([B, d.K], 2);
  const blocks: Py = { $list: o.blocks ? o.blocks(B, tokens, d.C) : Array.from({ length: d.depth }, (_, i) => f32([B, tokens, d.C], 10 + i)) };
  const root = o.root ? o.root(video, probs, blocks) : [video, { $list: [probs, blocks] }];
  return Buffer.concat([pickle2(root), Buffer.from(o.tail ?? [])]);
}

// ---- raw pickle pieces ----

export const raw = (hex: string): Py => ({ $raw: Buffer.from(hex.replace(/\s+/g, ''), 'hex') });
/** A tuple nested `n` deep: 1, (1,), ((1,),), ... built with TUPLE1, as no Python pickler would. */
export const deepTuple = (n: number): Py => ({ $raw: Buffer.concat([Buffer.from([0x4b, 1]), Buffer.alloc(n, 0x85)]) });
/** L = [1]; forty times L = [L, L]: 2^40 leaves when expanded, 41 lists when shared. */
export function billionLaughs(levels = 40): Py {
  const lvl = (i: number): Py => (i === 0 ? { $put: 0, value: { $list: [1] } } : { $put: i, value: { $list: [lvl(i - 1), { $get: i - 1 }] } });
  return lvl(levels);
}

/** A raw deflate stream of `mib` MiB of zeros, ~1 KB per MiB: one flushed block repeated, then an empty final block. */
export function zeroBomb(mib: number, prefix?: Uint8Array): { compressed: Buffer; size: number; crc: number } {
  const zeros = Buffer.alloc(1 << 20);
  const block = zlib.deflateRawSync(zeros, { finishFlush: zlib.constants.Z_FULL_FLUSH, level: 9 });
  const parts: Buffer[] = [];
  let crc = 0;
  if (prefix) {
    parts.push(zlib.deflateRawSync(prefix, { finishFlush: zlib.constants.Z_FULL_FLUSH }));
    crc = zlib.crc32(prefix, crc);
  }
  for (let i = 0; i < mib; i++) {
    parts.push(block);
    crc = zlib.crc32(zeros, crc);
  }
  parts.push(zlib.deflateRawSync(Buffer.alloc(0)));
  return { compressed: Buffer.concat(parts), size: (prefix?.length ?? 0) + mib * (1 << 20), crc: crc >>> 0 };
}

// ---- the cases ----

export interface Recipe {
  id: string;
  defect?: number;
  item?: number;
  stage: Stage;
  expect: string;
  what: string;
  /** Files to write: name -> bytes (or a special file). */
  files: Record<string, Buffer | { fifo: true } | { symlink: string } | { dir: true } | { sparse: Buffer; size: number }>;
  weights?: string;
  data?: string;
}
