/**
 * Which reader takes a `--input` clip, and what a frames folder shorter than the view reports: a
 * video in a format the lab does not read is named as such (not "not a pickle"), test data is
 * known by its extension or its pickle header, a frames folder that ends before the view says
 * clipEnded. The review's findings 6 and 9 (/work/wt/findings/cli.md).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadModel, readClip, type LoadedModel } from '../../extension/core/pipeline';
import { readVideoClip } from '../../extension/core/video';
import { cli } from './helpers/cli';
import { makeClip, official } from './helpers/clips';
import { rejects } from './helpers/errors';

const ROOT = path.join(__dirname, '..', '..', '..');
const FIX = path.join(ROOT, 'test', 'fixtures');
const D1 = path.join(FIX, 'd1_outlier.pyth');
const V = path.join(FIX, 'video');

describe('clip input: which reader takes it', function () {
  this.timeout(120_000);
  let tmp: string;
  let m: LoadedModel;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-clip-input-'));
    m = await loadModel(D1);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('a real .mpg video: BAD_CLIP "unsupported clip type \'.mpg\'" with the kinds the lab reads, not BAD_TEST_DATA', async () => {
    const mpg = makeClip(tmp, 'clip.mpg', { frames: 30, args: ['-c:v', 'mpeg1video'] });
    const e = await rejects(readClip(mpg, m, { weights: D1 }), 'BAD_CLIP', 'clip.mpg', "unsupported clip type '.mpg'", '.npy', '.p .pkl .pickle', '.mp4', '.m4v', 'folder of');
    assert.doesNotMatch(e.message, /pickle \(protocol/);
    const r = await cli(['run', '--weights', D1, '--input', mpg, '--quiet']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^error \[BAD_CLIP\]: .*clip\.mpg: unsupported clip type '\.mpg'/);
  });

  it('a file with no extension: "(no extension)"; a missing one: FILE_NOT_FOUND', async () => {
    const f = path.join(tmp, 'README');
    fs.writeFileSync(f, 'text');
    await rejects(readClip(f, m, { weights: D1 }), 'BAD_CLIP', 'unsupported clip type (no extension)');
    await rejects(readClip(path.join(tmp, 'gone.mpg'), m, { weights: D1 }), 'FILE_NOT_FOUND', 'gone.mpg');
  });

  it('test data still reads by its extension (.p, .pkl) or, without one, by its pickle header; a broken .p is still BAD_TEST_DATA', async () => {
    for (const n of ['td.pkl', 'td_without_extension']) {
      const f = path.join(tmp, n);
      fs.copyFileSync(path.join(FIX, 'd1_outlier_test_data.p'), f);
      const c = await readClip(f, m, { weights: D1 });
      assert.equal(c.input.kind, 'test-data', n);
      assert.deepEqual(c.video.shape, [1, 3, m.base.frames, m.base.imageSize, m.base.imageSize]);
    }
    const broken = path.join(tmp, 'broken.p');
    fs.writeFileSync(broken, 'not a pickle at all');
    await rejects(readClip(broken, m, { weights: D1 }), 'BAD_TEST_DATA', 'broken.p', 'not a pickle');
  });
});

describe('frames folder: clipEnded', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-frames-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('a folder shorter than the view (12 frames for 256): clipEnded, as a video that ends early says it', async () => {
    const r = (await readVideoClip(path.join(V, 'frames_png'), official())).input.video!;
    assert.deepEqual(r.indices, [0, 11, 11, 11, 11, 11, 11, 11]);
    assert.equal(r.clipEnded, true);
    const video = (await readVideoClip(path.join(V, 'h264_64x64_37frames.mp4'), official())).input.video!;
    assert.equal(video.clipEnded, true, 'the same for a short video');
  });

  it('a folder that covers the view (256 frames): not clipEnded, and the view\'s last frame is frame 255', async () => {
    const dir = path.join(tmp, 'long');
    fs.mkdirSync(dir);
    makeClip(dir, '%04d.png', { size: '32x24', frames: 256, args: [] });
    const r = (await readVideoClip(dir, official())).input.video!;
    assert.equal(r.framesRead, 256);
    assert.equal(r.indices[7], 255);
    assert.equal(r.clipEnded, false);
  });
});
