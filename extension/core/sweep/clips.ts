/**
 * The clips of a sweep: a folder's clip files or a list of them (and synthetic:SEED), each read
 * as a single run reads its input (pipeline's readClip: .npy, test_data.p, video files); a
 * per-clip test data file (.p, .pkl) is also its reference.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { LabError } from '../errors';
import { readTestData, type TestData } from '../formats/testdata';
import { readClip, type LoadedModel } from '../pipeline';
import type { InputInfo, PipelineOptions } from '../report';
import type { Tensor } from '../tensor';
import { VIDEO_EXTENSIONS } from '../video';

/** What a folder's files must end with to be a clip: arrays, test data, and every video readClip reads (core/video's list, .m4v included). */
export const CLIP_EXTENSIONS: readonly string[] = ['.npy', '.p', '.pkl', '.pickle', ...VIDEO_EXTENSIONS];
const TEST_DATA = /\.(p|pkl|pickle)$/i;
const SYNTHETIC = /^synthetic(:\d+)?$/;

/** A clip to sweep; `refused`: found, but not to be read (a link out of its folder), with why. */
export interface ClipSpec {
  clip: string;
  refused?: LabError;
}

/**
 * `inputs`: folders (their clip files, sorted by name; not recursive) and files or synthetic:SEED,
 * in the order given, each once. A folder's symbolic link that leads outside the folder is listed
 * as refused; a path that does not exist is a clip that fails with FILE_NOT_FOUND (listed, the
 * sweep goes on). No clip at all is an error.
 */
export function listClips(inputs: readonly string[]): ClipSpec[] {
  const out: ClipSpec[] = [];
  const seen = new Set<string>();
  // a file is known by its absolute path (as clipIdentity keys it): c.mp4, ./c.mp4 and DIR/c.mp4 run once
  const add = (c: ClipSpec) => {
    const id = SYNTHETIC.test(c.clip) ? c.clip : path.resolve(c.clip);
    if (seen.has(id)) return;
    seen.add(id);
    out.push(c);
  };
  for (const input of inputs) {
    if (SYNTHETIC.test(input)) {
      add({ clip: input });
      continue;
    }
    const st = fs.statSync(input, { throwIfNoEntry: false });
    if (!st?.isDirectory()) {
      add({ clip: input });
      continue;
    }
    const root = fs.realpathSync(input);
    const names = fs.readdirSync(input).filter((n) => CLIP_EXTENSIONS.includes(path.extname(n).toLowerCase())).sort();
    for (const n of names) {
      const file = path.join(input, n);
      let refused: LabError | undefined;
      if (fs.lstatSync(file).isSymbolicLink()) {
        let real: string | undefined;
        try {
          real = fs.realpathSync(file);
        } catch {
          real = undefined; // a dangling link: reading it says FILE_NOT_FOUND
        }
        if (real && path.relative(root, real).startsWith('..')) {
          refused = new LabError('LINK_OUTSIDE_MODEL', `a symbolic link that leads outside the clips' folder (${real}): not read`, file);
        }
      }
      add({ clip: file, ...(refused ? { refused } : {}) });
    }
  }
  if (!out.length) throw new LabError('BAD_OPTION', `no clips in ${inputs.join(', ') || '(nothing given)'}: a folder's clips end with ${CLIP_EXTENSIONS.join(', ')}`);
  return out;
}

/** A clip's identity for resuming: synthetic specs by name, files by path, size and modification time. */
export function clipIdentity(clip: string): string {
  if (SYNTHETIC.test(clip)) return clip;
  const st = fs.statSync(clip, { throwIfNoEntry: false });
  return st ? `${path.resolve(clip)}|${st.size}|${st.mtimeMs}` : path.resolve(clip);
}

export function hashOf(...parts: string[]): string {
  return crypto.createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
}

export interface ReadClip {
  video: Tensor<'float32'>;
  input: InputInfo;
  /** Per-clip test data: the reference (its block outputs and probabilities). */
  data?: TestData;
}

/** Read one clip for model `m`; a test data file with block outputs is also the clip's reference. */
export async function readSweepClip(clip: string, m: LoadedModel, o: PipelineOptions): Promise<ReadClip> {
  if (TEST_DATA.test(clip)) {
    const data = await readTestData(clip, m.base);
    const input: InputInfo = { kind: 'test-data', label: `video of ${path.basename(clip)}`, path: clip, shape: [...data.video.shape] };
    return { video: data.video, input, ...(data.blocks.length ? { data } : {}) };
  }
  return readClip(clip, m, o);
}
