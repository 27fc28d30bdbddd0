/**
 * Writes the clip the lab makes of a video file or frames folder for a checkpoint, as .npy
 * (1, 3, T, H, W float32, np.load reads it) plus its provenance (InputInfo) as JSON: what
 * scripts/device/device-video.sh compares with the reference implementations, and what `--input X.npy`
 * then runs unchanged.
 *
 *   node out/scripts/device/video-clip.js --weights CHECKPOINT|HF_FOLDER --input CLIP --out CLIP.npy [--json CLIP.json]
 */
import * as fs from 'fs';
import { parseArgs } from 'util';
import { loadModel, clipNormalization } from '../../extension/core/pipeline';
import { npyBytes } from '../../extension/core/trt/bundle';
import { readVideoClip, videoClipOptions } from '../../extension/core/video';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { weights: { type: 'string' }, input: { type: 'string' }, out: { type: 'string' }, json: { type: 'string' } } });
  if (!values.weights || !values.input || !values.out) {
    console.error('usage: node out/scripts/device/video-clip.js --weights CHECKPOINT --input CLIP --out CLIP.npy [--json CLIP.json]');
    process.exit(2);
  }
  const m = await loadModel(values.weights);
  const o = videoClipOptions(m, clipNormalization(m, {}));
  const r = await readVideoClip(values.input, o);
  fs.writeFileSync(values.out, npyBytes(r.video.shape, r.video.data));
  const info = { input: r.input, preprocess: o.preprocess, hf_config: m.videoConfig?.kind === 'huggingface' ? m.videoConfig.file : undefined };
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(info, null, 2));
  console.log(JSON.stringify({ out: values.out, shape: r.video.shape, indices: r.input.video?.indices, decoder: r.input.video?.decoder }));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
