/**
 * A video file cut short (a copy or a download that stopped) is BAD_CLIP naming the file and what
 * the decoder said, not a shorter clip that passes with the frames before the cut; whole clips that
 * end before the view (short, variable frame rate, the committed ones) still decode; a sweep lists
 * the cut clip and goes on. The review's finding 2 (/work/wt/findings/cli.md). Clips are made here
 * (helpers/clips.ts) from ffmpeg's test source.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { sweep } from '../../extension/core/sweep';
import { readVideoClip } from '../../extension/core/video';
import { cli } from './helpers/cli';
import { cutShort, makeClip, official } from './helpers/clips';
import { rejects } from './helpers/errors';

const ROOT = path.join(__dirname, '..', '..', '..');
const V = path.join(ROOT, 'test', 'fixtures', 'video');
const D1 = path.join(ROOT, 'test', 'fixtures', 'd1_outlier.pyth');

describe('video input: a file cut short', function () {
  this.timeout(120_000);
  let tmp: string;
  const whole: Record<string, string> = {};
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'video-cut-'));
    whole.mkv = makeClip(tmp, 'whole.mkv', { frames: 300, args: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'] });
    whole.webm = makeClip(tmp, 'whole.webm', { frames: 300, args: ['-c:v', 'libvpx-vp9', '-b:v', '100k', '-deadline', 'realtime'] });
    whole.mp4 = makeClip(tmp, 'whole.mp4', { frames: 300, args: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart'] });
    whole.avi = makeClip(tmp, 'whole.avi', { frames: 300, args: ['-c:v', 'mpeg4'] });
    whole.short = makeClip(tmp, 'short_12.mkv', { frames: 12, args: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'] });
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const kind of ['mkv', 'webm', 'mp4', 'avi']) {
    it(`a 300-frame .${kind} cut to a third: BAD_CLIP naming the file and the decoder's message; the whole file reads`, async () => {
      const ok = await readVideoClip(whole[kind], official());
      assert.equal(ok.input.video!.clipEnded, false, 'the whole file covers the view (256 frames at 30 fps)');
      const cut = cutShort(whole[kind], tmp, `cut.${kind}`, 1 / 3);
      const e = await rejects(readVideoClip(cut, official()), 'BAD_CLIP', `cut.${kind}`, 'cut short or damaged', 'the decoder stopped after');
      assert.match(e.message, /\(".+"\)$/, `the decoder's own words: ${e.message}`);
      assert.doesNotMatch(e.message, /@ 0x/, 'no decoder context address');
    });
  }

  it('whole clips that end before the view still read: 12 frames, variable frame rate, every committed clip and frames folder', async () => {
    const short = await readVideoClip(whole.short, official());
    assert.equal(short.input.video!.framesRead, 12);
    assert.equal(short.input.video!.clipEnded, true);
    for (const n of fs.readdirSync(V).filter((x) => x !== 'bad')) {
      const r = await readVideoClip(path.join(V, n), official());
      assert.ok(r.input.video!.framesRead > 0, n);
    }
    assert.equal((await readVideoClip(path.join(V, 'h264_vfr_96x72.mp4'), official())).input.video!.framesRead, 120);
  });

  it('run --input: exit 2, error [BAD_CLIP] naming the file (it was a PASS on the frames before the cut)', async () => {
    const cut = cutShort(whole.mkv, tmp, 'trunc.mkv', 1 / 3);
    const r = await cli(['run', '--weights', D1, '--input', cut, '--quiet']);
    assert.equal(r.code, 2, r.out);
    assert.match(r.err, /^error \[BAD_CLIP\]: .*trunc\.mkv: the file is cut short or damaged/);
  });

  it('a sweep lists the cut clip with its error and goes on past it', async () => {
    const dir = path.join(tmp, 'set');
    fs.mkdirSync(dir);
    cutShort(whole.mkv, dir, 'a_cut.mkv', 1 / 3);
    fs.copyFileSync(whole.short, path.join(dir, 'b_short.mkv'));
    const r = await sweep(D1, [dir], { precision: 'fp16', heads: 4, confirm: false, out: path.join(tmp, 'set-out') });
    const by = Object.fromEntries(r.clips.map((c) => [path.basename(c.clip), c]));
    assert.equal(by['a_cut.mkv'].status, 'error');
    assert.equal(by['a_cut.mkv'].error!.code, 'BAD_CLIP');
    assert.match(by['a_cut.mkv'].error!.message, /a_cut\.mkv: the file is cut short/);
    assert.equal(by['b_short.mkv'].status, 'done');
    assert.equal(r.summary.bad, 1);
  });
});
