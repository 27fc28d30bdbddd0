/**
 * A clip is read as the local file it is and nothing else (core/video/ffmpeg.ts inputArgs): a
 * playlist that names other files is refused unread, and a file name that reads as a URL to
 * ffmpeg (tcp:…, http:…) is opened as a file, never as a connection. The readers review's
 * findings 1 and 2.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { findDecoder, readVideoClip } from '../../extension/core/video';
import { sweep } from '../../extension/core/sweep';
import { official } from './helpers/clips';
import { rejects } from './helpers/errors';
import { cli } from './helpers/cli';
import { execFileSync } from 'child_process';

const ROOT = path.join(__dirname, '..', '..', '..');
const V = path.join(ROOT, 'test', 'fixtures', 'video');
const D1 = path.join(ROOT, 'test', 'fixtures', 'd1_outlier.pyth');

describe('video input: only the given file is read', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'video-hostile-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('an HLS playlist named clip.mp4 that names another local video: BAD_CLIP, its format named, the other file not read', async () => {
    const other = path.join(tmp, 'private.mp4');
    fs.copyFileSync(path.join(V, 'h264_96x72_30fps.mp4'), other);
    const playlist = path.join(tmp, 'clip.mp4');
    fs.writeFileSync(playlist, `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${other}\n#EXT-X-ENDLIST\n`);
    const before = fs.statSync(other).atimeMs;
    await rejects(readVideoClip(playlist, official()), 'BAD_CLIP', 'clip.mp4', 'its format is hls, not one the lab reads');
    assert.equal(fs.statSync(other).atimeMs, before, 'the file the playlist names was not opened');
  });

  it('a clip named like a URL (tcp:127.0.0.1:PORT.mp4), as a sweep of "." passes it: decoded as the file, no connection made', async function () {
    if (process.platform === 'win32') this.skip();
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const dir = path.join(tmp, 'urls');
    fs.mkdirSync(dir);
    const name = `tcp:127.0.0.1:${port}.mp4`;
    fs.copyFileSync(path.join(V, 'h264_96x72_30fps.mp4'), path.join(dir, name));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const clip = await readVideoClip(name, official());
      assert.deepEqual(clip.video.shape, [1, 3, 8, 64, 64]);
      const r = await sweep(D1, ['.'], { precision: 'fp16', heads: 4, confirm: false });
      assert.deepEqual(r.clips.map((c) => [c.clip, c.status]), [[name, 'done']]);
    } finally {
      process.chdir(cwd);
      server.close();
    }
    assert.equal(connections, 0, 'ffmpeg opened no connection');
  });

  it('a preprocessor_config.json asking for a resize past the frame budget: LIMIT_EXCEEDED before any frame is resized; a size that is not a whole positive number: BAD_WEIGHTS', async () => {
    const hf = path.join(tmp, 'hf_big');
    fs.cpSync(path.join(ROOT, 'test', 'fixtures', 'hf_outlier'), hf, { recursive: true });
    const cfg = (o: Record<string, unknown>) => fs.writeFileSync(path.join(hf, 'preprocessor_config.json'), JSON.stringify({ image_processor_type: 'VideoMAEImageProcessor', do_normalize: true, image_mean: [0.45, 0.45, 0.45], image_std: [0.225, 0.225, 0.225], ...o }));
    const clip = path.join(V, 'h264_64x64_37frames.mp4');
    cfg({ size: { shortest_edge: 200000 }, crop_size: { height: 32, width: 32 } });
    const big = await cli(['run', '--weights', hf, '--input', clip, '--quiet']);
    assert.equal(big.code, 2);
    assert.match(big.err, /error \[LIMIT_EXCEEDED\]: .*h264_64x64_37frames\.mp4: the preprocessing .* resizes its 64×64 frames to 200000×200000 pixels: the lab resizes to at most 67,108,864 pixels/);
    cfg({ size: -5, crop_size: { height: 32, width: 32 } });
    const neg = await cli(['run', '--weights', hf, '--input', clip, '--quiet']);
    assert.equal(neg.code, 2);
    assert.match(neg.err, /error \[BAD_WEIGHTS\]: .*preprocessor_config\.json: size -5 must be a whole number of pixels ≥ 1/);
  });

  it('JPEG frames whose SOF sits behind 85 kB of EXIF and ICC segments: their size is read, the folder decodes', async () => {
    const dir = path.join(tmp, 'exif');
    fs.mkdirSync(dir);
    const seg = (marker: number, n: number) => Buffer.concat([Buffer.from([0xff, marker, (n + 2) >> 8, (n + 2) & 0xff]), Buffer.alloc(n)]);
    for (let i = 0; i < 8; i++) {
      const plain = path.join(tmp, `plain${i}.jpg`);
      execFileSync(findDecoder().path, ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc=size=48x48:rate=5`, '-frames:v', '1', plain]);
      const b = fs.readFileSync(plain);
      fs.writeFileSync(path.join(dir, `f${i}.jpg`), Buffer.concat([b.subarray(0, 2), seg(0xe1, 65000), seg(0xe2, 20000), b.subarray(2)]));
    }
    const clip = await readVideoClip(dir, official(8, 32));
    assert.deepEqual(clip.video.shape, [1, 3, 8, 32, 32]);
  });
});

