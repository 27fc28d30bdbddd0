/**
 * Which frames a clip's test view takes, and how the model's checkpoint says to preprocess them:
 * the official TimeSformer test loader (timesformer/datasets/kinetics.py + decoder.py, test mode)
 * from the checkpoint's cfg, or a HuggingFace folder's preprocessor_config.json
 * (VideoMAEImageProcessor). Pure functions, no I/O beyond what the model loader read.
 */
import { LabError } from '../errors';

/** The official loader's temporal and spatial test view, from the checkpoint's cfg (DATA.*, TEST.*). */
export interface OfficialPreprocess {
  kind: 'official';
  /** DATA.NUM_FRAMES: frames per clip. */
  numFrames: number;
  /** DATA.SAMPLING_RATE: the clip spans numFrames × samplingRate frames at targetFps. */
  samplingRate: number;
  /** DATA.TARGET_FPS. */
  targetFps: number;
  /** The short side's size after resizing: TEST_CROP_SIZE with several spatial crops, else TRAIN_JITTER_SCALES[0]. */
  shortSide: number;
  /** The centre crop's side (the model's image size). */
  crop: number;
  /** TEST.NUM_ENSEMBLE_VIEWS: the first view is taken (the only one in the released Kinetics configs). */
  views: number;
  /** Where these numbers came from. */
  source: string;
}

/** VideoMAEImageProcessor's settings (the HF TimeSformer's image processor). */
export interface HfPreprocess {
  kind: 'huggingface';
  numFrames: number;
  samplingRate: number;
  targetFps: number;
  /** size: {shortest_edge} or {height, width}; undefined when do_resize is false. */
  resize?: { shortestEdge: number } | { height: number; width: number };
  /** PIL filter: 2 bilinear (the default), 3 bicubic. */
  resample: 2 | 3;
  /** crop_size; undefined when do_center_crop is false. */
  crop?: { height: number; width: number };
  /** rescale_factor when do_rescale (1/255 by default), else 1. */
  rescale: number;
  source: string;
}

export type VideoPreprocess = OfficialPreprocess | HfPreprocess;

export const TARGET_FPS = 30;

/**
 * SAMPLING_RATE of the released TimeSformer configs by frame count (8×32, 16×16 HR, 96×4 L), for a
 * checkpoint whose cfg does not say (HF folders never do; the HF checkpoints are conversions of these).
 */
export function releasedSamplingRate(frames: number): number {
  return ({ 8: 32, 16: 16, 96: 4 } as Record<number, number>)[frames] ?? 8;
}

const get = (o: unknown, k: string): unknown => (typeof o === 'object' && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>)[k] : undefined);
const posInt = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined);

/** The official test view from a parsed cfg tree (yacs), else TimeSformer's defaults (config/defaults.py) and the model's own size. */
export function officialPreprocess(tree: unknown, model: { frames: number; imageSize: number }): OfficialPreprocess {
  const data = get(tree, 'DATA');
  const test = get(tree, 'TEST');
  const found = data !== undefined;
  const numFrames = posInt(get(data, 'NUM_FRAMES')) ?? model.frames;
  const samplingRate = posInt(get(data, 'SAMPLING_RATE')) ?? releasedSamplingRate(model.frames);
  const targetFps = posInt(get(data, 'TARGET_FPS')) ?? TARGET_FPS;
  const crops = posInt(get(test, 'NUM_SPATIAL_CROPS')) ?? 3;
  const jitter = get(data, 'TRAIN_JITTER_SCALES');
  const jitter0 = Array.isArray(jitter) ? posInt(jitter[0]) : undefined;
  const testCrop = posInt(get(data, 'TEST_CROP_SIZE'));
  let shortSide = (crops > 1 ? testCrop : jitter0) ?? model.imageSize;
  // the crop is the model's input size; a short side below it could not be cropped
  if (shortSide < model.imageSize) shortSide = model.imageSize;
  return {
    kind: 'official', numFrames, samplingRate, targetFps, shortSide, crop: model.imageSize, views: posInt(get(test, 'NUM_ENSEMBLE_VIEWS')) ?? 1,
    source: found
      ? "DATA/TEST in the checkpoint's cfg (a missing key: the released config's value)"
      : `${tree === undefined ? 'no cfg in the checkpoint' : "no DATA in the checkpoint's cfg"}: the released ${model.frames}-frame config's SAMPLING_RATE ${samplingRate}, short side ${shortSide}, centre crop`,
  };
}

/** VideoMAEImageProcessor's settings from preprocessor_config.json's object (undefined: the processor's defaults). */
export function hfPreprocess(j: unknown, model: { frames: number; imageSize: number }, file: string): HfPreprocess {
  const bad = (msg: string): never => {
    throw new LabError('BAD_WEIGHTS', msg, file);
  };
  const size = get(j, 'size');
  let resize: HfPreprocess['resize'];
  if (get(j, 'do_resize') !== false) {
    const se = typeof size === 'number' ? posInt(size) ?? bad(`size ${size} must be a whole number of pixels ≥ 1`) : posInt(get(size, 'shortest_edge'));
    const h = posInt(get(size, 'height'));
    const w = posInt(get(size, 'width'));
    if (se !== undefined) resize = { shortestEdge: se };
    else if (h !== undefined && w !== undefined) resize = { height: h, width: w };
    else if (size === undefined) resize = { shortestEdge: 224 };
    else bad(`size must be {"shortest_edge": N} or {"height": H, "width": W}, got ${JSON.stringify(size).slice(0, 80)}`);
  }
  const resample = get(j, 'resample') ?? 2;
  if (resample !== 2 && resample !== 3) bad(`resample ${JSON.stringify(resample)}: the lab implements PIL's bilinear (2) and bicubic (3) filters`);
  let crop: HfPreprocess['crop'];
  if (get(j, 'do_center_crop') !== false) {
    const c = get(j, 'crop_size') ?? { height: 224, width: 224 };
    const h = typeof c === 'number' ? posInt(c) : posInt(get(c, 'height'));
    const w = typeof c === 'number' ? posInt(c) : posInt(get(c, 'width'));
    if (!h || !w) bad(`crop_size must be {"height": H, "width": W}, got ${JSON.stringify(c).slice(0, 80)}`);
    crop = { height: h!, width: w! };
  }
  const factor = get(j, 'rescale_factor') ?? 1 / 255;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor <= 0) bad('rescale_factor must be a positive number');
  return {
    kind: 'huggingface', numFrames: model.frames, samplingRate: releasedSamplingRate(model.frames), targetFps: TARGET_FPS,
    resize, resample: resample as 2 | 3, crop, rescale: get(j, 'do_rescale') === false ? 1 : (factor as number),
    source: `${file.replace(/\\/g, '/').split('/').pop()} (frames: the official test view, SAMPLING_RATE ${releasedSamplingRate(model.frames)} of the released ${model.frames}-frame config)`,
  };
}

/** The preprocessing a model without cfg or preprocessor_config.json gets: the official test view at its own size. */
export function defaultPreprocess(model: { frames: number; imageSize: number }): OfficialPreprocess {
  return officialPreprocess(undefined, model);
}

export interface TestView {
  /** The frame index taken for each of the clip's frames (indices past the clip's end are clamped to its last frame). */
  indices: number[];
  /** DATA.SAMPLING_RATE × NUM_FRAMES / TARGET_FPS × fps: the frames the view spans. */
  clipSize: number;
}

/**
 * The official test view's frames (decoder.py: get_start_end_idx with clip_idx 0, then
 * temporal_sampling): linspace(0, clipSize − 1, numFrames) truncated to integers, clamped to the
 * last frame. The first view starts at frame 0 whatever the clip's length, so the indices do not
 * depend on it except for the clamp (`frameCount`, when known).
 */
export function testView(p: Pick<VideoPreprocess, 'numFrames' | 'samplingRate' | 'targetFps'>, fps: number, frameCount = Infinity): TestView {
  const clipSize = (p.samplingRate * p.numFrames / p.targetFps) * fps;
  const start = 0;
  const end = start + clipSize - 1;
  const n = p.numFrames;
  const indices: number[] = [];
  for (let i = 0; i < n; i++) {
    // torch.linspace in float32: start + i * step (the second half counted from the end, as torch does)
    const step = n > 1 ? (end - start) / (n - 1) : 0;
    const v = Math.fround(i < n / 2 ? start + step * i : end - step * (n - 1 - i));
    indices.push(Math.min(Math.max(Math.trunc(v), 0), frameCount - 1));
  }
  return { indices, clipSize };
}
