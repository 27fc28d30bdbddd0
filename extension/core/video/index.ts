/**
 * A video file (.mp4, .avi, .mkv, .webm, …) or a folder of .jpg/.png frames → the model's input
 * clip (1, 3, T, H, W) float32, sampled and preprocessed as the checkpoint was evaluated
 * (sampling.ts, transform.ts), with the provenance the Report keeps (which frames, at what rate,
 * decoded by what, transformed how). The one entry point the pipeline calls: readVideoClip.
 *
 * Budgets, each a LabError naming the file: a frame larger than MAX_FRAME_PIXELS, a header
 * duration over MAX_DURATION_S or a view spanning more than MAX_VIEW_FRAMES (LIMIT_EXCEEDED,
 * before anything is decoded); no video stream, no frame, a file the decoder cannot read
 * (BAD_CLIP); a frame in the folder that is a link leading outside it (LINK_OUTSIDE_MODEL).
 * Memory: one decoded frame at a time plus the output clip; time: DECODE_TIMEOUT_MS per process.
 */
import { promises as fsp } from 'fs';
import * as nodePath from 'path';
import { LabError } from '../errors';
import type { Normalization, VideoConfig } from '../model/load';
import type { InputInfo, VideoProvenance } from '../report';
import { Tensor } from '../tensor';
import { decodeFrames, findDecoder, probe, type Decoder, type Probe } from './ffmpeg';
import { hfPreprocess, officialPreprocess, testView, type VideoPreprocess } from './sampling';
import { imageHeaderSize } from './image-header';
import { JPEG_PLANAR, jpegPlanesToRgb, planarLayout, type JpegPlanar } from './jpeg-color';
import { outputSize, resizedSize, transformFrame } from './transform';

export { findDecoder } from './ffmpeg';
export * from './sampling';

export const VIDEO_EXTENSIONS = ['.mp4', '.m4v', '.mov', '.avi', '.mkv', '.webm'] as const;
export const FRAME_EXTENSIONS = ['.jpg', '.jpeg', '.png'] as const;
/** 8192 × 8192: a 4K or 8K frame passes, a 16k × 16k one (805 MB as RGB) is refused before it is decoded. */
export const MAX_FRAME_PIXELS = 8192 * 8192;
/** One hour: the test view spans seconds; a longer header is refused rather than trusted. */
export const MAX_DURATION_S = 3600;
/** The frames one view may span (96 × 4 at 30 fps is 384; a 1000 fps header with SAMPLING_RATE 32 would be 8,533). */
export const MAX_VIEW_FRAMES = 10_000;
/** Frames a folder may hold (listing it is the only cost). */
export const MAX_FOLDER_FRAMES = 100_000;

/** Whether a clip spec names a video file or a frames folder (by its extension, or a directory). */
export async function isVideoSpec(spec: string): Promise<boolean> {
  const ext = nodePath.extname(spec).toLowerCase();
  if ((VIDEO_EXTENSIONS as readonly string[]).includes(ext)) return true;
  if (ext === '.npy' || ext === '.p' || ext === '.pkl' || ext === '.pickle') return false;
  try {
    return (await fsp.stat(spec)).isDirectory();
  } catch {
    return false;
  }
}

export interface VideoClipOptions {
  preprocess: VideoPreprocess;
  norm: Normalization;
  /** The model's input size (frames, side): the clip must come out at it. */
  model: { frames: number; imageSize: number };
  signal?: AbortSignal;
  decoder?: Decoder;
}

interface Source {
  probe: Probe;
  fps: number;
  fpsSource: VideoProvenance['fpsSource'];
  /** Known only for a folder. */
  frameCount?: number;
  files?: string[];
  /** Decodes frames 0..last (a folder: only those in `wanted`), calling keep(i, rgb) for each; returns how many the clip has (a file: how many were read). */
  decode(last: number, wanted: ReadonlySet<number>, keep: (i: number, rgb: Uint8Array) => void): Promise<number>;
}

function limits(path: string, p: Probe): void {
  if (p.width * p.height > MAX_FRAME_PIXELS) {
    throw new LabError('LIMIT_EXCEEDED', `frames of ${p.width}×${p.height} pixels: the lab decodes frames of at most ${MAX_FRAME_PIXELS.toLocaleString('en-US')} pixels (8192×8192); scale the video down first`, path);
  }
  if (p.width < 1 || p.height < 1) throw new LabError('BAD_CLIP', `frames of ${p.width}×${p.height} pixels`, path);
  if (p.durationS !== undefined && p.durationS > MAX_DURATION_S) {
    throw new LabError('LIMIT_EXCEEDED', `the header says the video lasts ${(p.durationS / 3600).toFixed(1)} hours; the lab reads clips of at most ${MAX_DURATION_S / 3600} hour (cut the part to test first, e.g. ffmpeg -ss START -t 10 -i IN -c copy OUT)`, path);
  }
}

async function fileSource(path: string, dec: Decoder, signal?: AbortSignal): Promise<Source> {
  const st = await fsp.stat(path).catch((e) => {
    throw new LabError('FILE_NOT_FOUND', `file not found (${(e as NodeJS.ErrnoException).code})`, path);
  });
  if (!st.isFile()) throw new LabError('NOT_A_FILE', 'not a regular file; a clip is a video file or a folder of .jpg/.png frames', path);
  if (st.size === 0) throw new LabError('BAD_CLIP', 'the file is empty', path);
  const p = await probe(dec, path, signal);
  if (/_pipe$|^image2$/.test(p.container)) throw new LabError('BAD_CLIP', `an image (${p.codec}), not a video: a clip of one image is a folder holding it`, path);
  limits(path, p);
  if (!p.fps || !Number.isFinite(p.fps) || p.fps <= 0) throw new LabError('BAD_CLIP', `the video stream (${p.codec}) has no frame rate`, path);
  return {
    probe: p, fps: p.fps, fpsSource: 'stream',
    decode: (last, _wanted, keep) => decodeFrames(dec, path, p, last + 1, (i, rgb) => {
      keep(i, rgb);
      return i < last;
    }, signal),
  };
}

/** Natural order: frame_2 before frame_10. */
const natural = new Intl.Collator('en', { numeric: true }).compare;

async function folderSource(dir: string, dec: Decoder, targetFps: number, signal?: AbortSignal): Promise<Source> {
  const real = await fsp.realpath(dir);
  const names = (await fsp.readdir(dir)).filter((n) => (FRAME_EXTENSIONS as readonly string[]).includes(nodePath.extname(n).toLowerCase())).sort(natural);
  if (names.length === 0) throw new LabError('BAD_CLIP', `the folder holds no frames (${FRAME_EXTENSIONS.join(', ')} files)`, dir);
  if (names.length > MAX_FOLDER_FRAMES) throw new LabError('LIMIT_EXCEEDED', `the folder holds ${names.length.toLocaleString('en-US')} frames; the lab reads folders of at most ${MAX_FOLDER_FRAMES.toLocaleString('en-US')}`, dir);
  const files = names.map((n) => nodePath.join(dir, n));
  const checked = async (file: string) => {
    const target = await fsp.realpath(file).catch(() => {
      throw new LabError('FILE_NOT_FOUND', 'a frame that cannot be read (a broken link?)', file);
    });
    const rel = nodePath.relative(real, target);
    if (rel.startsWith('..') || nodePath.isAbsolute(rel)) {
      throw new LabError('LINK_OUTSIDE_MODEL', `a symbolic link that leads outside the frames folder ${dir}; only frames inside it are read`, file);
    }
    if (!(await fsp.stat(target)).isFile()) throw new LabError('NOT_A_FILE', 'a frame that is not a regular file', file);
    const declared = await imageHeaderSize(file);
    if (!declared) throw new LabError('BAD_CLIP', `not a PNG or JPEG image (its header is neither)`, file);
    limits(file, { ...declared, container: 'image', codec: 'image', pixelFormat: '' });
    return file;
  };
  const first = await probe(dec, await checked(files[0]), signal);
  limits(files[0], first);
  return {
    probe: first, fps: targetFps, fpsSource: 'assumed (a frames folder has no rate: DATA.TARGET_FPS)', frameCount: files.length, files,
    async decode(last, wanted, keep) {
      const n = Math.min(last + 1, files.length);
      for (let i = 0; i < n; i++) {
        if (!wanted.has(i)) continue;
        const file = await checked(files[i]);
        const p = i === 0 ? first : await probe(dec, file, signal);
        limits(file, p);
        if (p.width !== first.width || p.height !== first.height) {
          throw new LabError('BAD_CLIP', `a ${p.width}×${p.height} frame in a folder of ${first.width}×${first.height} frames (${names[0]})`, file);
        }
        const jpeg = p.codec === 'mjpeg' && (JPEG_PLANAR as readonly string[]).includes(p.pixelFormat) ? (p.pixelFormat as JpegPlanar) : undefined;
        const rgbOut = jpeg ? new Uint8Array(p.width * p.height * 3) : undefined;
        // a JPEG frame: its planes (the IJG integer IDCT), then libjpeg's upsampling and colour conversion, as Pillow and OpenCV read it
        const raw = jpeg ? { pixFmt: jpeg, frameBytes: planarLayout(jpeg, p.width, p.height).bytes, inputArgs: ['-idct', 'int'] } : undefined;
        const got = await decodeFrames(dec, file, p, 1, (_, px) => {
          if (jpeg) jpegPlanesToRgb(px, jpeg, p.width, p.height, rgbOut!);
          keep(i, rgbOut ?? px);
          return false;
        }, signal, raw);
        if (got !== 1) throw new LabError('BAD_CLIP', 'the image holds no frame', file);
      }
      return files.length;
    },
  };
}

/** A video file or frames folder as the model's input, with its provenance. */
export async function readVideoClip(path: string, o: VideoClipOptions): Promise<{ video: Tensor<'float32'>; input: InputInfo }> {
  const dec = o.decoder ?? findDecoder();
  const p = o.preprocess;
  const isDir = await fsp.stat(path).then((s) => s.isDirectory(), () => false);
  const src = isDir ? await folderSource(path, dec, p.targetFps, o.signal) : await fileSource(path, dec, o.signal);
  const { width: W, height: H } = src.probe;
  // the resize is done on one frame at a time, in memory: a preprocessing that asks for a frame past
  // the decoding budget (a shortest_edge of 200000 in preprocessor_config.json) is refused first
  const [rh, rw] = resizedSize(p, H, W);
  if (!(rh * rw <= MAX_FRAME_PIXELS)) {
    throw new LabError('LIMIT_EXCEEDED', `the preprocessing (${p.source}) resizes its ${W}×${H} frames to ${rw}×${rh} pixels: the lab resizes to at most ${MAX_FRAME_PIXELS.toLocaleString('en-US')} pixels (8192×8192)`, path);
  }
  const size = outputSize(p, H, W);
  if ('problem' in size) throw new LabError('BAD_CLIP', size.problem, path);
  if (p.numFrames !== o.model.frames || size.size[0] !== o.model.imageSize || size.size[1] !== o.model.imageSize) {
    throw new LabError('MISMATCH', `the preprocessing (${p.source}) makes clips of ${p.numFrames} frames of ${size.size[1]}×${size.size[0]}; the model takes ${o.model.frames} of ${o.model.imageSize}×${o.model.imageSize}`, path);
  }
  const view = testView(p, src.fps, src.frameCount);
  const last = Math.max(...view.indices);
  if (last + 1 > MAX_VIEW_FRAMES) {
    throw new LabError('LIMIT_EXCEEDED', `the test view spans ${Math.ceil(view.clipSize).toLocaleString('en-US')} frames at ${src.fps} fps; the lab decodes at most ${MAX_VIEW_FRAMES.toLocaleString('en-US')}`, path);
  }
  const T = p.numFrames;
  const [S0, S1] = size.size;
  const out = new Float32Array(3 * T * S0 * S1);
  const slots = new Map<number, number[]>();
  view.indices.forEach((idx, t) => slots.set(idx, [...(slots.get(idx) ?? []), t]));
  let lastSeen = -1;
  const lastFrame = new Uint8Array(W * H * 3);
  const count = await src.decode(last, new Set(view.indices), (i, rgb) => {
    for (const t of slots.get(i) ?? []) transformFrame(p, o.norm, rgb, H, W, out, t, T);
    if (!isDir) lastFrame.set(rgb);
    lastSeen = i;
  });
  if (count === 0 || lastSeen < 0) throw new LabError('BAD_CLIP', 'the video stream holds no frame', path);
  // the clip ended before the view did: the official loader clamps to the last frame decoded
  const indices = view.indices.map((i) => Math.min(i, count - 1));
  if (!isDir) for (let t = 0; t < T; t++) if (view.indices[t] > count - 1) transformFrame(p, o.norm, lastFrame, H, W, out, t, T);
  const shape = [1, 3, T, S0, S1];
  const fmt = (v: number[]) => v.map((n) => +n.toFixed(4)).join(', ');
  const provenance: VideoProvenance = {
    decoder: isDir && src.probe.codec === 'mjpeg' ? `${dec.label}; JPEG colour as libjpeg (fancy upsampling)` : dec.label,
    container: src.probe.container,
    codec: src.probe.codec,
    width: W, height: H,
    fps: src.fps, fpsSource: src.fpsSource,
    ...(src.probe.durationS !== undefined && !isDir ? { durationS: src.probe.durationS } : {}),
    framesRead: count,
    // against the view before a folder's clamp (testView clamps to a folder's known length): a folder shorter than the view ended too
    clipEnded: testView(p, src.fps).indices.some((i) => i > count - 1),
    indices,
    ...(src.files ? { files: indices.map((i) => nodePath.basename(src.files![i])) } : {}),
    sampling: `frames linspace(0, ${+view.clipSize.toFixed(3)} − 1, ${T}) (SAMPLING_RATE ${p.samplingRate} × NUM_FRAMES ${T} / TARGET_FPS ${p.targetFps} × ${src.fps} fps), the first of ${p.kind === 'official' ? p.views : 1} view(s)`,
    transform: transformText(p, o.norm, H, W),
    preprocessSource: p.source,
  };
  const label = `${isDir ? 'frames folder' : 'video'} ${nodePath.basename(path)} (${T} frames ${indices.join(',')} of ${W}×${H} at ${src.fps} fps; mean ${fmt(o.norm.mean)}, std ${fmt(o.norm.std)})`;
  return { video: new Tensor('float32', shape, out), input: { kind: 'video', label, path, shape, normalization: o.norm, video: provenance } };
}

function transformText(p: VideoPreprocess, norm: Normalization, h: number, w: number): string {
  const f = (v: number[]) => v.map((n) => +n.toFixed(4)).join(', ');
  if (p.kind === 'official') {
    return `official test transform: /255, −mean [${f(norm.mean)}], /std [${f(norm.std)}] (${norm.source}); short side ${Math.min(h, w)} → ${p.shortSide} (torch bilinear, align_corners=False); centre crop ${p.crop}×${p.crop}`;
  }
  const resize = !p.resize ? 'no resize' : 'shortestEdge' in p.resize ? `shortest edge → ${p.resize.shortestEdge}` : `resize → ${p.resize.width}×${p.resize.height}`;
  return `VideoMAEImageProcessor: ${resize} (PIL ${p.resample === 2 ? 'bilinear' : 'bicubic'}); ${p.crop ? `centre crop ${p.crop.width}×${p.crop.height}` : 'no crop'}; ×${+p.rescale.toPrecision(6)}; −mean [${f(norm.mean)}], /std [${f(norm.std)}] (${norm.source})`;
}

/** The preprocessing the model's own configuration asks for (official cfg, HF preprocessor_config.json, else the official test view at the model's size). */
export function preprocessFor(m: { base: { frames: number; imageSize: number }; videoConfig?: VideoConfig }): VideoPreprocess {
  const c = m.videoConfig;
  if (c?.kind === 'huggingface') return c.json !== undefined ? hfPreprocess(c.json, m.base, c.file ?? 'preprocessor_config.json') : hfPreprocess({}, m.base, 'VideoMAEImageProcessor defaults');
  return officialPreprocess(c?.tree, m.base);
}

/** readVideoClip's options for a loaded model: the one call the pipeline makes for a clip spec that is a video. */
export function videoClipOptions(m: { base: { frames: number; imageSize: number }; videoConfig?: VideoConfig }, norm: Normalization, signal?: AbortSignal): VideoClipOptions {
  return { preprocess: preprocessFor(m), norm, model: { frames: m.base.frames, imageSize: m.base.imageSize }, signal };
}
