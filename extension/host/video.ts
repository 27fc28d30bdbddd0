/**
 * Video files and frames folders as the clip of a run, for the host: which paths are videos (the
 * sidebar's input list and the explorer menu offer them beside test data), and how a chosen one
 * reaches the pipeline (`input`, not `data`: a video carries no reference, so the run compares
 * with the model's own FP32). The decoding itself is extension/core/video.
 */
import * as path from 'path';
import { VIDEO_EXTENSIONS } from '../core/video';

/** `{mp4,m4v,mov,avi,mkv,webm}`: the glob alternatives of the video extensions. */
export const VIDEO_GLOB_EXTS = VIDEO_EXTENSIONS.map((e) => e.slice(1)).join(',');

/** Whether a chosen input is a video file (by its extension; a frames folder is browsed for as a folder). */
export function isVideoPath(p: string): boolean {
  return (VIDEO_EXTENSIONS as readonly string[]).includes(path.extname(p).toLowerCase());
}

/** The run option for a chosen input: a video is the clip (`input`), anything else is test data (`data`). */
export function clipOption(p: string | null): { data?: string; input?: string } {
  if (p === null) return {};
  return isVideoPath(p) ? { input: p } : { data: p };
}

export const VIDEO_AGREEMENT_DETAIL = 'a video: its frames are sampled and preprocessed as the checkpoint was evaluated, and compared with the FP32 graph of this model on the CPU';
