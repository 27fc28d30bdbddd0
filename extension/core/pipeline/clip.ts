/**
 * Clip: the model's input as float32 (B, 3, T, H, W) and where it came from (InputInfo) — the test
 * data's video, a synthetic clip, or a .npy array (the model's input, or uint8 frames normalized as
 * the official loader does), a video file or a folder of frames (core/video/). Each kind is a
 * ClipReader; readClip asks them in order.
 */
import * as fs from 'fs';
import * as nodePath from 'path';
import { LabError } from '../errors';
import { readTestData, type TestData } from '../formats/testdata';
import { openRegularFile } from '../formats/file';
import { readNpy } from '../formats/npy';
import { DEFAULT_NORMALIZATION, type Normalization } from '../model/load';
import { FRAME_EXTENSIONS, isVideoSpec, readVideoClip, VIDEO_EXTENSIONS, videoClipOptions } from '../video';
import { Tensor, findNonFinite, unravelIndex, type DType } from '../tensor';
import type { InputInfo, PipelineOptions } from '../report';
import { checkAgreement, type LoadedModel } from './load';
import type { Voice } from './progress';

/** The model's input and its provenance: what every clip reader returns. */
export interface Clip {
  video: Tensor<'float32'>;
  input: InputInfo;
}

/** One kind of clip: whether a `--input` spec is of its kind, and how to read it for a model. */
export interface ClipReader {
  name: string;
  accepts(spec: string): Promise<boolean>;
  read(spec: string, m: LoadedModel, o: PipelineOptions): Promise<Clip>;
}

const SYNTHETIC = /^synthetic(?::(\d+))?$/;

/** `synthetic[:seed]`: syntheticVideo of the model's shape. */
export const syntheticClips: ClipReader = {
  name: 'synthetic',
  accepts: async (spec) => SYNTHETIC.test(spec),
  read: async (spec, m) => {
    const c = m.base;
    const shape = [1, 3, c.frames, c.imageSize, c.imageSize];
    const syn = SYNTHETIC.exec(spec)!;
    const seed = syn[1] === undefined ? 0 : Number(syn[1]);
    return { video: syntheticVideo(shape, seed), input: { kind: 'synthetic', label: `synthetic clip (seed ${seed})`, seed, shape } };
  },
};

/** A .npy array (by its name or its magic): clipFromArray, its header checked against the model before its data is read. */
export const npyClips: ClipReader = {
  name: 'npy',
  accepts: async (spec) => /\.npy$/i.test(spec) || (await startsWith(spec, '\x93NUMPY')),
  read: async (path, m, o) => {
    const norm = clipNormalization(m, o);
    // the header is checked against the model before the data is read
    return clipFromArray(await readNpy(path, (h) => clipLayout(h.dtype, h.shape, m, path)), m, path, norm);
  },
};

/** A video file (.mp4, .avi, .mkv, .webm …) or a folder of frames: decoded and sampled as the model was evaluated (core/video). */
export const videoClips: ClipReader = {
  name: 'video',
  accepts: (spec) => isVideoSpec(spec),
  read: (path, m, o) => readVideoClip(path, videoClipOptions(m, clipNormalization(m, o))),
};

/** A test_data.p (.p, .pkl, .pickle, or a file that starts as a protocol 2+ pickle does): its video. */
export const testDataClips: ClipReader = {
  name: 'test-data',
  accepts: async (spec) => /\.(p|pkl|pickle)$/i.test(spec) || (await startsWith(spec, '\x80')),
  read: async (path, m) => {
    const d = await readTestData(path, m.base);
    return testDataClip(d, path);
  },
};

/** The readers readClip asks, in order: the first that accepts a spec reads it (none: unsupportedClip names the kinds). */
export const CLIP_READERS: readonly ClipReader[] = [syntheticClips, npyClips, videoClips, testDataClips];

/** The deterministic clip used when there is no test data: N(0, 1) values as a normalized video has. */
export function syntheticVideo(shape: readonly number[], seed: number): Tensor<'float32'> {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  // mulberry32 + Box-Muller: the same clip on every machine for a given seed
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(next(), 1e-12);
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return new Tensor('float32', shape, out);
}

/**
 * The clip: `synthetic[:seed]`, a test-data file (its video), or a `.npy` array — the model's
 * input (B, 3, T, H, W) as floats, or frames (T, H, W, 3) / (B, T, H, W, 3) as uint8, normalized
 * as the official data loader does.
 */
export async function readClip(spec: string | undefined, m: LoadedModel, o: PipelineOptions, readers: readonly ClipReader[] = CLIP_READERS): Promise<Clip> {
  const s = spec ?? 'synthetic';
  for (const r of readers) if (await r.accepts(s)) return r.read(s, m, o);
  throw await unsupportedClip(s);
}

/** What no reader takes: a file that is not there, or one of a kind the lab does not read (a .mpg is not a pickle that failed). */
async function unsupportedClip(spec: string): Promise<LabError> {
  try {
    await fs.promises.stat(spec);
  } catch (e) {
    return new LabError('FILE_NOT_FOUND', `file not found (${(e as NodeJS.ErrnoException).code})`, spec);
  }
  const ext = nodePath.extname(spec).toLowerCase();
  return new LabError('BAD_CLIP', `unsupported clip type ${ext ? `'${ext}'` : '(no extension)'}; a clip is synthetic[:SEED], a .npy array, test data (.p .pkl .pickle), ` +
    `a video (${VIDEO_EXTENSIONS.join(' ')}) or a folder of ${FRAME_EXTENSIONS.join('/')} frames (another format: convert it first, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4)`, spec);
}

function testDataClip(d: TestData, path: string): Clip {
  return { video: d.video, input: { kind: 'test-data', label: `video of ${basename(path)}`, path, shape: [...d.video.shape] } };
}

/**
 * The run's clip: with test data, its video (the test data checked against the model first);
 * without, `o.input` read by readClip and checked against the model.
 */
export async function prepareClip(o: PipelineOptions, m: LoadedModel, v: Pick<Voice, 'stage'>): Promise<{ data?: TestData; clip: Clip }> {
  if (o.data) {
    v.stage('reading test data', o.data);
    const data = await readTestData(o.data, m.base);
    checkAgreement(m, data);
    return { data, clip: testDataClip(data, o.data) };
  }
  // no test data: nothing to read but a clip file (a synthetic clip is made in no time)
  if (o.input && !/^synthetic(:\d+)?$/.test(o.input)) v.stage('reading the clip', o.input);
  const clip = await readClip(o.input, m, o);
  checkClip(m, clip.video, clip.input.path);
  return { clip };
}

async function startsWith(path: string, magic: string): Promise<boolean> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = (await openRegularFile(path)).handle; // never a FIFO or a device
    const b = Buffer.alloc(magic.length);
    const { bytesRead } = await fh.read(b, 0, b.length, 0);
    return bytesRead === b.length && b.toString('latin1') === magic;
  } catch {
    return false; // the reader that follows names the problem
  } finally {
    await fh?.close();
  }
}

/** --mean/--std, else the checkpoint's own configuration, else the official loader's defaults. */
export function clipNormalization(m: Pick<LoadedModel, 'normalization'>, o: Pick<PipelineOptions, 'mean' | 'std'>): Normalization {
  const given = (v: number[] | undefined, what: string) => {
    if (v === undefined) return undefined;
    const t = v.length === 1 ? [v[0], v[0], v[0]] : v;
    if (t.length !== 3 || !t.every(Number.isFinite) || (what === 'std' && !t.every((x) => x > 0))) {
      throw new LabError('BAD_OPTION', `--${what} expects 1 or 3 ${what === 'std' ? 'positive ' : ''}numbers (R,G,B), got ${v.join(',')}`);
    }
    return t;
  };
  const mean = given(o.mean, 'mean');
  const std = given(o.std, 'std');
  const base = m.normalization ?? DEFAULT_NORMALIZATION;
  if (!mean && !std) return base;
  return { mean: mean ?? base.mean, std: std ?? base.std, source: `--mean/--std${mean && std ? '' : ` (the rest from ${base.source})`}` };
}

/**
 * A .npy clip as the model's input. uint8 frames are normalized exactly as the official loader
 * does in float32: x / 255, minus the mean, divided by the std (each step rounded to float32, as
 * PyTorch computes it), then (T, H, W, C) → (C, T, H, W). Sizes are never changed: a clip of
 * another size is refused.
 */
/** The most a clip may be as the model's float32 input: 1 GiB (a full-size clip is 4.8 MB; batch 200 of them fits). */
export const MAX_CLIP_BYTES = 2 ** 30;

/**
 * Whether an array of this dtype and shape is a clip of this model (clipFromArray's rules), and
 * within MAX_CLIP_BYTES: known from a .npy's header, before its data is read.
 */
export function clipLayout(dtype: DType, shape: readonly number[], m: Pick<LoadedModel, 'base' | 'weightsPath'>, path: string): void {
  const c = m.base;
  const dims = `(${shape.join(', ')})`;
  const bad = (msg: string): never => {
    throw new LabError('BAD_CLIP', msg, path);
  };
  const sizeProblems = (T: number, H: number, W: number) => {
    const p: string[] = [];
    if (T !== c.frames) p.push(`${T} frames, the model takes ${c.frames}`);
    if (H !== c.imageSize || W !== c.imageSize) p.push(`${H}×${W} pixels, the model takes ${c.imageSize}×${c.imageSize} (resize the short side and crop the centre first, as the official test loader does)`);
    if (p.length) throw new LabError('MISMATCH', `the clip ${dims} and checkpoint ${m.weightsPath} disagree: ${p.join('; ')}`, path);
  };
  const r = shape.length;
  let B: number;
  if (dtype === 'uint8') {
    if ((r !== 4 && r !== 5) || shape[r - 1] !== 3) bad(`uint8 frames must be (T, H, W, 3) or (B, T, H, W, 3) RGB, got ${dims}`);
    B = r === 4 ? 1 : shape[0];
    sizeProblems(shape[r - 4], shape[r - 3], shape[r - 2]);
  } else if (dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16') {
    if (!((r === 4 && shape[0] === 3) || (r === 5 && shape[1] === 3))) {
      bad(`a ${dtype} clip must be the model's input (B, 3, T, H, W), already normalized, got ${dims}` + (shape[r - 1] === 3 ? '; frames (T, H, W, 3) must be uint8 to be normalized here' : ''));
    }
    B = r === 4 ? 1 : shape[0];
    sizeProblems(shape[r - 3], shape[r - 2], shape[r - 1]);
  } else {
    return bad(`a clip must be float (B, 3, T, H, W) or uint8 frames (T, H, W, 3); this array is ${dtype} ${dims}`);
  }
  const bytes = B * 3 * c.frames * c.imageSize ** 2 * 4;
  if (bytes > MAX_CLIP_BYTES) {
    throw new LabError('LIMIT_EXCEEDED', `the clip ${dims} is ${B.toLocaleString('en-US')} clips, ${(bytes / 2 ** 30).toFixed(1)} GiB as the model's float32 input; the lab takes at most ${MAX_CLIP_BYTES / 2 ** 30} GiB (${Math.floor(MAX_CLIP_BYTES / (bytes / B))} clips of this model) at once`, path);
  }
}

export function clipFromArray(t: Tensor, m: Pick<LoadedModel, 'base' | 'weightsPath'>, path: string, norm: Normalization): Clip {
  const c = m.base;
  const dims = `(${t.shape.join(', ')})`;
  const bad = (msg: string): never => {
    throw new LabError('BAD_CLIP', msg, path);
  };
  clipLayout(t.dtype, t.shape, m, path);
  const sizeProblems = (T: number, H: number, W: number) => {
    const p: string[] = [];
    if (T !== c.frames) p.push(`${T} frames, the model takes ${c.frames}`);
    if (H !== c.imageSize || W !== c.imageSize) p.push(`${H}×${W} pixels, the model takes ${c.imageSize}×${c.imageSize} (resize the short side and crop the centre first, as the official test loader does)`);
    if (p.length) throw new LabError('MISMATCH', `the clip ${dims} and checkpoint ${m.weightsPath} disagree: ${p.join('; ')}`, path);
  };
  if (t.dtype === 'uint8') {
    const r = t.shape.length;
    if ((r !== 4 && r !== 5) || t.shape[r - 1] !== 3) bad(`uint8 frames must be (T, H, W, 3) or (B, T, H, W, 3) RGB, got ${dims}`);
    const [B, T, H, W] = r === 4 ? [1, ...t.shape.slice(0, 3)] : t.shape.slice(0, 4);
    sizeProblems(T, H, W);
    const x = t.data as Uint8Array;
    const out = new Float32Array(B * 3 * T * H * W);
    const f = Math.fround;
    const mean = norm.mean.map(f);
    const std = norm.std.map(f);
    const hw = H * W;
    for (let b = 0; b < B; b++) {
      for (let ti = 0; ti < T; ti++) {
        for (let p = 0; p < hw; p++) {
          const src = ((b * T + ti) * hw + p) * 3;
          for (let ch = 0; ch < 3; ch++) out[((b * 3 + ch) * T + ti) * hw + p] = f(f(f(x[src + ch] / 255) - mean[ch]) / std[ch]);
        }
      }
    }
    const shape = [B, 3, T, H, W];
    const fmt = (v: number[]) => v.map((n) => +n.toFixed(4)).join(', ');
    return {
      video: new Tensor('float32', shape, out),
      input: { kind: 'frames', label: `frames of ${basename(path)} (/255, mean ${fmt(norm.mean)}, std ${fmt(norm.std)}: ${norm.source})`, path, shape, normalization: norm },
    };
  }
  if (t.dtype === 'float32' || t.dtype === 'float64' || t.dtype === 'float16' || t.dtype === 'bfloat16') {
    const r = t.shape.length;
    if (r === 4 && t.shape[0] === 3) return clipFromArray(new Tensor(t.dtype, [1, ...t.shape], t.data), m, path, norm);
    if (r !== 5 || t.shape[1] !== 3) {
      bad(`a ${t.dtype} clip must be the model's input (B, 3, T, H, W), already normalized, got ${dims}` + (t.shape[r - 1] === 3 ? '; frames (T, H, W, 3) must be uint8 to be normalized here' : ''));
    }
    sizeProblems(t.shape[2], t.shape[3], t.shape[4]);
    const video = t.asFloat32() as Tensor<'float32'>;
    // NaN or infinity in the input is the clip's, not the precision's (the run would blame FP16)
    const nf = findNonFinite(video.data);
    if (nf) throw new LabError('NON_FINITE', `the clip holds ${nf.value} at (${unravelIndex(nf.index, video.shape).join(', ')})${nf.count > 1 ? ` (${nf.count.toLocaleString('en-US')} non-finite values in all)` : ''}: the input is broken, not the precision`, path);
    return { video, input: { kind: 'npy', label: `${basename(path)} (the model's input, ${t.dtype})`, path, shape: [...t.shape] } };
  }
  return bad(`a clip must be float (B, 3, T, H, W) or uint8 frames (T, H, W, 3); this array is ${t.dtype} ${dims}`);
}

export function basename(p: string): string {
  return p.replace(/\\/g, '/').split('/').pop() ?? p;
}

export function checkClip(m: LoadedModel, video: Tensor<'float32'>, file: string | undefined): void {
  const c = m.base;
  const [B, ch, T, H, W] = video.shape;
  const problems: string[] = [];
  if (video.shape.length !== 5) problems.push(`the clip has shape [${video.shape.join(', ')}], expected (B, 3, T, H, W)`);
  else {
    if (B < 1) problems.push('the clip has batch size 0');
    if (ch !== 3) problems.push(`the clip has ${ch} channels, expected 3`);
    if (T !== c.frames) problems.push(`the clip has ${T} frames, the checkpoint's time_embed has ${c.frames}`);
    if (H !== c.imageSize || W !== c.imageSize) problems.push(`the clip is ${H}×${W}, the checkpoint expects ${c.imageSize}×${c.imageSize}`);
  }
  if (problems.length) throw new LabError('MISMATCH', `checkpoint ${m.weightsPath} and the clip disagree: ${problems.join('; ')}`, file);
}

