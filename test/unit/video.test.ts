/**
 * Video input (extension/core/video): the test view's frames, the provenance, the budgets' errors,
 * and the preprocessed clip compared numerically with scripts/device/video_reference.py run here (the
 * same ffmpeg decoder's frames; the official transform's arithmetic in numpy; for HF folders,
 * Pillow's own resize). The reference implementations themselves (PyAV, torch, transformers) run
 * on the GPU machine: scripts/device/device-video.sh.
 *
 * Needs a decoder (the @ffmpeg-installer package in node_modules, else ffmpeg on PATH) and python3
 * with numpy and Pillow (scripts/install-system-deps.sh).
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadModel, readClip } from '../../extension/core/pipeline';
import { DEFAULT_NORMALIZATION } from '../../extension/core/model/load';
import {
  findDecoder, hfPreprocess, officialPreprocess, readVideoClip, testView, videoClipOptions, MAX_FRAME_PIXELS, type VideoClipOptions,
} from '../../extension/core/video';
import { headerSize } from '../../extension/core/video/image-header';
import { parseProbe } from '../../extension/core/video/ffmpeg';
import { pilResize } from '../../extension/core/video/transform';
import { official } from './helpers/clips';
import { rejects } from './helpers/errors';

const ROOT = path.join(__dirname, '..', '..', '..');
const FIX = path.join(ROOT, 'test', 'fixtures');
const V = path.join(FIX, 'video');
const D1 = path.join(FIX, 'd1_outlier.pyth');
const PYTHON = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import numpy, PIL'], { encoding: 'utf8' }).status === 0);
const D1_VIEW = { numFrames: 8, samplingRate: 32, targetFps: 30 };

/** scripts/device/video_reference.py's clip for these settings (decoded by the same ffmpeg binary). */
function reference(clip: string, args: string[]): { data: Float32Array; shape: number[]; info: { indices: number[] } } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'video-ref-'));
  const out = path.join(dir, 'ref.npy');
  const r = spawnSync(PYTHON!, [path.join(ROOT, 'scripts', 'device', 'video_reference.py'), '--clip', clip, '--out', out, '--decode', 'ffmpeg', '--ffmpeg', findDecoder().path,
    '--transform', 'numpy', '--hf-impl', 'pil', '--mean', '0.45,0.45,0.45', '--std', '0.225,0.225,0.225', ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`video_reference.py failed: ${r.stderr}`);
  const info = JSON.parse(r.stdout.trim().split('\n').pop()!);
  const bytes = fs.readFileSync(out);
  const headerLen = bytes.readUInt16LE(8);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 10 + headerLen, bytes.byteOffset + bytes.length));
  fs.rmSync(dir, { recursive: true, force: true });
  return { data, shape: info.shape, info };
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('video input: the official test view', () => {
  it('takes linspace(0, SAMPLING_RATE × NUM_FRAMES / TARGET_FPS × fps − 1, T) truncated, clamped to the last frame', () => {
    assert.deepEqual(testView(D1_VIEW, 30).indices, [0, 36, 72, 109, 145, 182, 218, 255]);
    assert.equal(testView(D1_VIEW, 30).clipSize, 256);
    assert.deepEqual(testView(D1_VIEW, 25).indices, [0, 30, 60, 91, 121, 151, 182, 212]);
    assert.deepEqual(testView(D1_VIEW, 30, 100).indices, [0, 36, 72, 99, 99, 99, 99, 99]);
    assert.deepEqual(testView({ numFrames: 16, samplingRate: 16, targetFps: 30 }, 30).indices, [0, 17, 34, 51, 68, 85, 102, 119, 136, 153, 170, 187, 204, 221, 238, 255]);
    assert.deepEqual(testView({ numFrames: 3, samplingRate: 1, targetFps: 30 }, 60).indices, [0, 2, 5]);
  });

  it('reads DATA/TEST from the checkpoint cfg: several spatial crops → TEST_CROP_SIZE, one → TRAIN_JITTER_SCALES[0]', () => {
    const cfg = { DATA: { NUM_FRAMES: 8, SAMPLING_RATE: 32, TARGET_FPS: 30, TRAIN_JITTER_SCALES: [256, 320], TEST_CROP_SIZE: 224 }, TEST: { NUM_SPATIAL_CROPS: 3, NUM_ENSEMBLE_VIEWS: 1 } };
    const p = officialPreprocess(cfg, { frames: 8, imageSize: 224 });
    assert.deepEqual([p.numFrames, p.samplingRate, p.targetFps, p.shortSide, p.crop, p.views], [8, 32, 30, 224, 224, 1]);
    assert.match(p.source, /cfg/);
    const one = officialPreprocess({ ...cfg, TEST: { NUM_SPATIAL_CROPS: 1 } }, { frames: 8, imageSize: 224 });
    assert.equal(one.shortSide, 256);
    // no cfg: the released config of that frame count (16 frames: 16×16 HR)
    const hr = officialPreprocess(undefined, { frames: 16, imageSize: 448 });
    assert.deepEqual([hr.samplingRate, hr.shortSide, hr.crop], [16, 448, 448]);
    assert.match(hr.source, /no cfg/);
  });

  it("reads VideoMAEImageProcessor's settings and refuses what it does not implement", async () => {
    const p = hfPreprocess({ size: { shortest_edge: 40 }, crop_size: { height: 32, width: 32 }, resample: 3, rescale_factor: 0.5 }, { frames: 2, imageSize: 32 }, '/m/preprocessor_config.json');
    assert.deepEqual([p.resize, p.crop, p.resample, p.rescale], [{ shortestEdge: 40 }, { height: 32, width: 32 }, 3, 0.5]);
    const off = hfPreprocess({ do_resize: false, do_center_crop: false, do_rescale: false }, { frames: 2, imageSize: 32 }, 'p.json');
    assert.deepEqual([off.resize, off.crop, off.rescale], [undefined, undefined, 1]);
    await rejects(() => hfPreprocess({ resample: 0 }, { frames: 2, imageSize: 32 }, 'p.json'), 'BAD_WEIGHTS', 'p.json', 'resample 0');
    await rejects(() => hfPreprocess({ size: { longest_edge: 3 } }, { frames: 2, imageSize: 32 }, 'p.json'), 'BAD_WEIGHTS', 'shortest_edge');
  });

  it('reads the size a PNG or JPEG header declares', () => {
    const png = fs.readFileSync(path.join(V, 'bad', 'huge_frames', '0001.png'));
    assert.deepEqual(headerSize(png), { width: 16384, height: 16384 });
    assert.deepEqual(headerSize(fs.readFileSync(path.join(V, 'frames', 'frame_1.jpg'))), { width: 80, height: 60 });
    assert.equal(headerSize(Buffer.from('not an image at all')), undefined);
  });

  it("parses ffmpeg's stream line without taking the codec tag (0x31637661) for a size", () => {
    const p = parseProbe("Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':\n  Duration: 00:00:09.00, start: 0.000000, bitrate: 34 kb/s\n  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 1920x1080 [SAR 1:1 DAR 16:9], 29.97 fps, 29.97 tbr, 30k tbn (default)\n", 'x.mp4');
    assert.deepEqual(p, { container: 'mov,mp4,m4a,3gp,3g2,mj2', codec: 'h264', pixelFormat: 'yuv420p', width: 1920, height: 1080, fps: 29.97, durationS: 9 });
  });

  it('PIL resize: the same bytes as Pillow for a known 4→2 bilinear reduction and an identity', () => {
    // one row of 4 pixels [0, 100, 200, 255] → 2: Pillow 9.4 gives [71, 209] (support 2; the edge taps are cut and renormalized)
    const row = new Uint8Array([0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);
    const out = pilResize(row, 1, 4, 1, 2, 2);
    assert.deepEqual([...out.filter((_, i) => i % 3 === 0)], [71, 209]);
    assert.deepEqual([...pilResize(row, 1, 4, 1, 4, 2)], [...row]);
  });
});

describe('video input: committed clips', function () {
  this.timeout(120_000);
  const clips: [string, number[], Partial<{ codec: string; container: RegExp; fps: number; clipEnded: boolean; framesRead: number; width: number; height: number }>][] = [
    ['h264_96x72_30fps.mp4', [0, 36, 72, 109, 145, 182, 218, 255], { codec: 'h264', container: /mp4/, fps: 30, clipEnded: false, framesRead: 256, width: 96, height: 72 }],
    ['vp9_80x60_25fps.webm', [0, 30, 60, 91, 121, 151, 182, 212], { codec: 'vp9', container: /webm/, fps: 25, clipEnded: false, framesRead: 213 }],
    ['mpeg4_72x96_24fps.avi', [0, 29, 58, 87, 100, 100, 100, 100], { codec: 'mpeg4', container: /avi/, fps: 24, clipEnded: true, framesRead: 101, width: 72, height: 96 }],
    ['mjpeg_67x45_41frames.mkv', [0, 36, 40, 40, 40, 40, 40, 40], { codec: 'mjpeg', container: /matroska/, fps: 30, clipEnded: true, framesRead: 41, width: 67, height: 45 }],
    ['h264_64x64_37frames.mp4', [0, 36, 36, 36, 36, 36, 36, 36], { codec: 'h264', clipEnded: true, framesRead: 37 }],
    // 60 frames at 30 fps then 60 at 10 fps: the average rate (120 / 7.8 s) as PyAV's average_rate, frames by decode order
    ['h264_vfr_96x72.mp4', [0, 18, 37, 55, 74, 93, 111, 119], { fps: 15.38, clipEnded: true, framesRead: 120 }],
  ];
  for (const [name, indices, want] of clips) {
    it(`${name}: frames ${indices.join(',')}, provenance, and the reference's numbers`, async () => {
      const file = path.join(V, name);
      const t0 = Date.now();
      const r = await readVideoClip(file, official());
      assert.ok(Date.now() - t0 < 20_000);
      assert.deepEqual(r.video.shape, [1, 3, 8, 64, 64]);
      assert.equal(r.input.kind, 'video');
      const v = r.input.video!;
      assert.deepEqual(v.indices, indices);
      for (const [k, x] of Object.entries(want)) {
        if (x instanceof RegExp) assert.match(String(v[k as keyof typeof v]), x, k);
        else assert.equal(v[k as keyof typeof v], x, k);
      }
      assert.match(v.decoder, /^ffmpeg \S+ \((@ffmpeg-installer\/|PATH|TIMESFORMER_LAB_FFMPEG)/);
      assert.match(v.transform, /short side|centre crop/);
      assert.match(r.input.label, new RegExp(`${indices.join(',')}`));
      if (!PYTHON) return console.log('      no python3 with numpy and Pillow: numeric check skipped');
      const ref = reference(file, ['--num-frames', '8', '--sampling-rate', '32', '--short-side', '64', '--crop', '64']);
      assert.deepEqual(ref.info.indices, indices);
      assert.deepEqual(ref.shape, r.video.shape);
      assert.ok(maxAbs(r.video.data, ref.data) <= 1e-5, `max |ours − reference| ${maxAbs(r.video.data, ref.data)}`);
    });
  }

  it("a JPEG frames folder: natural order (frame_2 before frame_10), the file names in the provenance, Pillow's pixels within 2 levels", async function () {
    const dir = path.join(V, 'frames');
    const r = await readVideoClip(dir, official());
    assert.deepEqual(r.input.video!.indices, [0, 19, 19, 19, 19, 19, 19, 19]);
    assert.deepEqual(r.input.video!.files!.slice(0, 2), ['frame_1.jpg', 'frame_20.jpg']);
    assert.equal(r.input.video!.fps, 30);
    assert.match(r.input.video!.fpsSource, /assumed/);
    assert.match(r.input.video!.decoder, /JPEG colour as libjpeg/);
    if (!PYTHON) this.skip();
    // Pillow decodes with libjpeg: its upsampling and colour tables are reproduced, the IDCT differs by ±2 levels at most
    // (swscale's conversion, before: up to 86 levels on this test pattern's colour edges)
    const ref = reference(dir, ['--num-frames', '8', '--sampling-rate', '32', '--short-side', '64', '--crop', '64']);
    const levels = maxAbs(r.video.data, ref.data) * 0.225 * 255;
    assert.ok(levels <= 2 + 1e-3, `max |ours − Pillow| ${levels.toFixed(3)} levels`);
  });

  it("a PNG frames folder (portrait, upscaled) equals Pillow's pixels through the official transform", async function () {
    const dir = path.join(V, 'frames_png');
    const r = await readVideoClip(dir, official());
    assert.deepEqual(r.input.video!.indices, [0, 11, 11, 11, 11, 11, 11, 11]);
    assert.deepEqual([r.input.video!.width, r.input.video!.height], [48, 80]);
    if (!PYTHON) this.skip();
    const ref = reference(dir, ['--num-frames', '8', '--sampling-rate', '32', '--short-side', '64', '--crop', '64']);
    assert.ok(maxAbs(r.video.data, ref.data) <= 1e-5, `max |ours − reference| ${maxAbs(r.video.data, ref.data)}`);
  });

  for (const [resample, label] of [[2, 'bilinear'], [3, 'bicubic']] as const) {
    it(`an HF preprocessor_config (shortest_edge 40, crop 32, ${label}) equals Pillow's resize + VideoMAEImageProcessor's arithmetic`, async function () {
      const cfg = { image_processor_type: 'VideoMAEImageProcessor', do_resize: true, size: { shortest_edge: 40 }, resample, do_center_crop: true, crop_size: { height: 32, width: 32 }, do_rescale: true, rescale_factor: 1 / 255, do_normalize: true, image_mean: [0.45, 0.45, 0.45], image_std: [0.225, 0.225, 0.225] };
      const o: VideoClipOptions = { preprocess: hfPreprocess(cfg, { frames: 2, imageSize: 32 }, 'preprocessor_config.json'), norm: DEFAULT_NORMALIZATION, model: { frames: 2, imageSize: 32 } };
      const file = path.join(V, 'mpeg4_72x96_24fps.avi');
      const r = await readVideoClip(file, o);
      assert.deepEqual(r.video.shape, [1, 3, 2, 32, 32]);
      assert.deepEqual(r.input.video!.indices, [0, 11]); // 2 frames: SAMPLING_RATE 8 (the defaults), 16 frames at 30 fps = 12.8 at 24
      assert.match(r.input.video!.transform, new RegExp(`VideoMAEImageProcessor: shortest edge → 40 \\(PIL ${label}\\)`));
      if (!PYTHON) this.skip();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'video-hf-'));
      fs.writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify(cfg));
      const ref = reference(file, ['--num-frames', '2', '--sampling-rate', String(o.preprocess.samplingRate), '--hf-config', path.join(dir, 'preprocessor_config.json')]);
      fs.rmSync(dir, { recursive: true, force: true });
      assert.ok(maxAbs(r.video.data, ref.data) <= 1e-6, `max |ours − Pillow| ${maxAbs(r.video.data, ref.data)}`);
    });
  }

  it("the pipeline's readClip takes a video for an official checkpoint (d1: no DATA in its cfg)", async () => {
    const m = await loadModel(D1);
    const r = await readClip(path.join(V, 'vp9_80x60_25fps.webm'), m, {} as never);
    assert.equal(r.input.kind, 'video');
    assert.deepEqual(r.video.shape, [1, 3, 8, 64, 64]);
    assert.match(r.input.video!.preprocessSource, /no DATA in the checkpoint's cfg/);
    const o = videoClipOptions(m, DEFAULT_NORMALIZATION);
    assert.equal(o.preprocess.samplingRate, 32);
  });

  it("an HF folder's preprocessor_config.json decides the transform (hf_outlier: no resize, no crop)", async () => {
    const m = await loadModel(path.join(FIX, 'hf_outlier'));
    // 32×32 frames are what this config takes as they are; a 64×64 clip cannot be cropped to 32 without a crop
    await rejects(readClip(path.join(V, 'h264_64x64_37frames.mp4'), m, {} as never), 'MISMATCH', 'h264_64x64_37frames.mp4', '64×64', 'the model takes 4 of 32×32');
  });
});

describe('video input: bad clips get clear errors within budgets', function () {
  this.timeout(60_000);
  const cases: [string, string, string[]][] = [
    ['bad/text.mp4', 'BAD_CLIP', ['text.mp4', 'not a video the decoder can read']],
    ['bad/truncated.mp4', 'BAD_CLIP', ['truncated.mp4', 'cut short']],
    ['bad/zero_frames.mp4', 'BAD_CLIP', ['zero_frames.mp4', 'no video stream']],
    ['bad/zero_frames.webm', 'BAD_CLIP', ['zero_frames.webm']],
    ['bad/image.webm', 'BAD_CLIP', ['image.webm', 'an image (png), not a video']],
    ['bad/ten_hours.mp4', 'LIMIT_EXCEEDED', ['ten_hours.mp4', '10.0 hours', 'at most 1 hour']],
    ['bad/huge_frames', 'LIMIT_EXCEEDED', ['0001.png', '16384×16384', '8192×8192']],
  ];
  for (const [name, code, words] of cases) {
    it(`${name}: ${code}`, async () => {
      const t0 = Date.now();
      const rss0 = process.memoryUsage().rss;
      await rejects(readVideoClip(path.join(V, name), official()), code as never, ...words);
      assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
      assert.ok(process.memoryUsage().rss - rss0 < 64 * 2 ** 20, 'memory grew by more than 64 MiB');
    });
  }

  it('a 16k × 16k video stream is refused before a frame is decoded (its header, from a stand-in decoder)', async function () {
    if (process.platform === 'win32') this.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'video-fake-'));
    const fake = path.join(dir, 'ffmpeg');
    fs.writeFileSync(fake, `#!/bin/sh\ncat >&2 <<'E'\nInput #0, matroska,webm, from 'x.mkv':\n  Duration: 00:00:01.00, start: 0.000000, bitrate: 1 kb/s\n  Stream #0:0: Video: vp9 (Profile 0), yuv420p(tv, progressive), 16384x16384, SAR 1:1 DAR 1:1, 30 fps, 30 tbr, 1k tbn (default)\nE\nexit 1\n`);
    fs.chmodSync(fake, 0o755);
    const clip = path.join(dir, 'x.mkv');
    fs.writeFileSync(clip, 'x');
    try {
      await rejects(readVideoClip(clip, { ...official(), decoder: { path: fake, label: 'fake' } }), 'LIMIT_EXCEEDED', 'x.mkv', '16384×16384', `${MAX_FRAME_PIXELS.toLocaleString('en-US')} pixels`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a frame that is a link leading outside its folder: LINK_OUTSIDE_MODEL; an empty folder: BAD_CLIP', async function () {
    if (process.platform === 'win32') this.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'video-link-'));
    const frames = path.join(dir, 'frames');
    fs.mkdirSync(frames);
    try {
      await rejects(readVideoClip(frames, official()), 'BAD_CLIP', 'frames', 'holds no frames');
      fs.copyFileSync(path.join(V, 'frames_png', '000.png'), path.join(frames, '000.png'));
      fs.copyFileSync(path.join(V, 'frames_png', '001.png'), path.join(dir, 'outside.png'));
      fs.symlinkSync(path.join(dir, 'outside.png'), path.join(frames, '001.png'));
      await rejects(readVideoClip(frames, { ...official(), preprocess: { ...official().preprocess, samplingRate: 1 } }), 'LINK_OUTSIDE_MODEL', '001.png', 'outside the frames folder');
      // a link that stays inside is read
      fs.rmSync(path.join(frames, '001.png'));
      fs.symlinkSync('000.png', path.join(frames, '001.png'));
      const r = await readVideoClip(frames, official());
      assert.deepEqual(r.input.video!.files, ['000.png', '001.png', '001.png', '001.png', '001.png', '001.png', '001.png', '001.png']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no decoder: PROVIDER_UNAVAILABLE names the variable that points at one', async () => {
    await rejects(async () => findDecoder({ TIMESFORMER_LAB_FFMPEG: '/nonexistent/ffmpeg' }), 'PROVIDER_UNAVAILABLE', 'TIMESFORMER_LAB_FFMPEG');
  });

  it("a clip of another size than the model's after the transform: MISMATCH, not a silent resize", async () => {
    await rejects(readVideoClip(path.join(V, 'vp9_80x60_25fps.webm'), { ...official(), model: { frames: 8, imageSize: 224 } }), 'MISMATCH', 'vp9_80x60_25fps.webm', 'the model takes 8 of 224×224');
  });
});

