/**
 * A sweep fixture: a small checkpoint whose massive activation depends on the content
 * (gen-checkpoint's outlierSource 'content': it grows with the clip's brightness) and clips of
 * several brightnesses as uint8 frames (.npy, T×H×W×3), so that the bright ones overflow FP16 in
 * their LayerNorms and the dark ones do not. Made at test time (well under a second), not committed.
 *
 *   node out/scripts/gen-sweep-fixture.js --out DIR [--clips 8] [--image 32 --frames 4 --embed 64 --depth 3]
 * writes DIR/content.pyth and DIR/clips/<name>.npy; prints which clips are meant to overflow.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { FULL_SIZE, writeCheckpoint, type GenOptions } from './gen-checkpoint';

/** The small content-dependent checkpoint (4 heads of 16; the outlier in block 0's MLP, channel 21). */
export function sweepCheckpointOptions(o: Partial<GenOptions> = {}): GenOptions {
  return {
    ...FULL_SIZE, embed: 64, depth: 3, frames: 4, image: 32, classes: 10, seed: 3,
    outlierBlock: 0, outlierChannel: 21, outlierValue: 75, outlierSource: 'content', detectorChannel: 5, detectorGain: 10, ...o,
  };
}

/** A .npy file of uint8 values (numpy's format 1.0 header, padded to 64 bytes). */
export function writeNpyU8(file: string, shape: readonly number[], data: Uint8Array): void {
  const dict = `{'descr': '|u1', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const len = Math.ceil((10 + dict.length + 1) / 64) * 64 - 10;
  const header = Buffer.alloc(10 + len, 0x20);
  header.write('\x93NUMPY', 0, 'latin1');
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(len, 8);
  header.write(dict, 10, 'latin1');
  header[10 + len - 1] = 0x0a;
  fs.writeFileSync(file, Buffer.concat([header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

/**
 * RGB frames (T, H, W, 3) of mean `level` (0–255) with a little deterministic texture: a scene
 * whose brightness is the knob the content-dependent checkpoint's outlier reads.
 */
export function frames(T: number, size: number, level: number, seed: number): Uint8Array {
  const out = new Uint8Array(T * size * size * 3);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = Math.max(0, Math.min(255, Math.round(level + ((s >>> 24) - 128) / 16)));
  }
  return out;
}

/** Brightness levels of the fixture's clips, darkest first (0–255). */
export const LEVELS = [10, 40, 70, 100, 130, 160, 200, 245];

export interface SweepFixture {
  weights: string;
  clipsDir: string;
  clips: string[];
  options: GenOptions;
}

/** Write the checkpoint and `n` clips (cycling LEVELS) under `dir`. */
export function writeSweepFixture(dir: string, n = LEVELS.length, o: Partial<GenOptions> = {}): SweepFixture {
  const options = sweepCheckpointOptions(o);
  fs.mkdirSync(path.join(dir, 'clips'), { recursive: true });
  const weights = path.join(dir, 'content.pyth');
  writeCheckpoint(options, weights);
  const clips: string[] = [];
  for (let i = 0; i < n; i++) {
    const level = LEVELS[i % LEVELS.length];
    const file = path.join(dir, 'clips', `clip${String(i).padStart(4, '0')}_level${String(level).padStart(3, '0')}.npy`);
    writeNpyU8(file, [options.frames, options.image, options.image, 3], frames(options.frames, options.image, level, i + 1));
    clips.push(file);
  }
  return { weights, clipsDir: path.join(dir, 'clips'), clips, options };
}

function main(): void {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, clips: { type: 'string' }, image: { type: 'string' }, frames: { type: 'string' }, embed: { type: 'string' }, depth: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help || !values.out) {
    console.log('usage: node out/scripts/gen-sweep-fixture.js --out DIR [--clips 8] [--image 32 --frames 4 --embed 64 --depth 3]');
    process.exit(values.help ? 0 : 2);
  }
  const int = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const o: Partial<GenOptions> = {};
  for (const k of ['image', 'frames', 'embed', 'depth'] as const) if (values[k] !== undefined) o[k] = int(values[k]);
  const f = writeSweepFixture(values.out, int(values.clips) ?? LEVELS.length, o);
  console.log(`wrote ${f.weights} and ${f.clips.length} clips in ${f.clipsDir}`);
}

if (require.main === module) main();
