/**
 * Small video clips made by the test in its own temporary folder: the lab's decoder (the bundled
 * @ffmpeg-installer build, else ffmpeg on PATH) is also an encoder with libx264, libvpx-vp9, mpeg4
 * and mjpeg, so a test needs nothing beyond what the video tests already need.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_NORMALIZATION } from '../../../extension/core/model/load';
import { findDecoder, officialPreprocess, type VideoClipOptions } from '../../../extension/core/video';

/** Writes `dir/name` (a pattern such as %04d.png: a frames folder) from ffmpeg's testsrc2 (`size` WxH at `rate` fps, `frames` frames) with the output options `args`; returns its path. */
export function makeClip(dir: string, name: string, o: { size?: string; rate?: number; frames: number; args: string[] }): string {
  const out = path.join(dir, name);
  const r = spawnSync(findDecoder().path, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-f', 'lavfi', '-i', `testsrc2=size=${o.size ?? '96x72'}:rate=${o.rate ?? 30},format=yuv420p`,
    '-frames:v', String(o.frames), ...o.args, '-y', out], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0 || (!name.includes('%') && !fs.existsSync(out))) throw new Error(`ffmpeg could not make ${name}: ${r.stderr || r.error?.message}`);
  return out;
}

/** The first `fraction` of `file`'s bytes as `dir/name` (a copy or a download that stopped). */
export function cutShort(file: string, dir: string, name: string, fraction: number): string {
  const b = fs.readFileSync(file);
  const out = path.join(dir, name);
  fs.writeFileSync(out, b.subarray(0, Math.floor(b.length * fraction)));
  return out;
}

/** The official test view of a model of `frames` frames of `size`², with the default normalization. */
export function official(frames = 8, size = 64): VideoClipOptions {
  return { preprocess: officialPreprocess(undefined, { frames, imageSize: size }), norm: DEFAULT_NORMALIZATION, model: { frames, imageSize: size } };
}
