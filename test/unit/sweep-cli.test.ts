/**
 * `timesformer-lab sweep` as a user runs it (extension/sweep-cli.ts over core/sweep): Ctrl-C ends
 * with the summary and sweep.json (cancelled), option errors come once before any clip, the clip
 * list (extensions, the same file spelled two ways), and a torn clips.jsonl line on resume.
 * The review's findings 1, 3, 7, 8 and 10 (/work/wt/findings/cli.md).
 */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLIP_EXTENSIONS, CLIPS_FILE, listClips, RESULT_FILE, sweep } from '../../extension/core/sweep';
import { VIDEO_EXTENSIONS } from '../../extension/core/video';
import { cli } from './helpers/cli';
import { makeClip } from './helpers/clips';
import { withEnv } from './helpers/env';

const ROOT = path.join(__dirname, '..', '..', '..');
const FIX = path.join(ROOT, 'test', 'fixtures');
const D1 = path.join(FIX, 'd1_outlier.pyth');

describe('sweep CLI: Ctrl-C', function () {
  this.timeout(180_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-sweep-cli-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('SIGINT during the sweep: exit 2 after the clip in progress, the summary on stdout, sweep.json with cancelled: true, the weights folder removed', async () => {
    const out = path.join(tmp, 'int');
    const scratch = path.join(tmp, 'scratch');
    fs.mkdirSync(scratch);
    const clips = Array.from({ length: 40 }, (_, i) => `synthetic:${i + 1}`);
    const child = spawn(process.execPath, [path.join(ROOT, 'out/extension/cli.js'), 'sweep', '--weights', D1, '--heads', '4', '--no-confirm', '--out', out, '--clips', ...clips], {
      env: { ...process.env, TIMESFORMER_LAB_WEIGHTS_DIR: scratch, ORT_DISABLE_TELEMETRY: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    // a clip is done: the weight store (with its own SIGINT hook) is open and the sweep is under way
    await new Promise<void>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (/\[1\/40\] /.test(stderr)) resolve();
      });
      void ended.then(() => reject(new Error(`the sweep ended before the signal: ${stderr.slice(-800)}`)));
    });
    child.kill('SIGINT');
    const how = await ended;
    assert.deepEqual(how, { code: 2, signal: null }, `exit 2, not the signal's end (${stderr.slice(-600)})`);
    assert.match(stderr, /cancelling after the clip in progress/);
    assert.match(stdout, /^sweep: INCOMPLETE — .*; cancelled\n/);
    const r = JSON.parse(fs.readFileSync(path.join(out, RESULT_FILE), 'utf8'));
    assert.equal(r.cancelled, true);
    assert.ok(r.summary.done >= 1 && r.summary.done < 40, `some clips done, not all: ${r.summary.done}`);
    assert.equal(fs.readFileSync(path.join(out, CLIPS_FILE), 'utf8').trim().split('\n').length, r.summary.done);
    assert.deepEqual(fs.readdirSync(scratch), [], 'the weight store is removed');
  });
});


describe('sweep CLI: an option only the model can judge is one error before any clip', function () {
  this.timeout(180_000);
  let tmp: string;
  let clips: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-sweep-opt-'));
    clips = path.join(tmp, 'clips');
    fs.mkdirSync(clips);
    for (const n of ['a', 'b', 'c']) makeClip(clips, `${n}.mp4`, { frames: 12, args: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'] });
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ['a LayerNorm the model does not have', ['--fix-layernorms', 'blocks.4.norm'], {}, /^error \[BAD_OPTION\]: --fix-layernorms: no LayerNorm named 'blocks\.4\.norm' in this model \(names: .* blocks\.11\.norm2, norm\)\n$/],
    ['a LayerNorm past the last block', ['--fix-layernorms', 'norm,blocks.12.norm1'], {}, /^error \[BAD_OPTION\]: .*'blocks\.12\.norm1'/],
    ['--mean with two numbers', ['--mean', '1,2'], {}, /^error \[BAD_OPTION\]: --mean expects 1 or 3 numbers \(R,G,B\), got 1,2\n$/],
    ['--std of zero', ['--std', '0'], {}, /^error \[BAD_OPTION\]: --std expects 1 or 3 positive numbers/],
    ['no decoder for the set\'s videos', [], { TIMESFORMER_LAB_FFMPEG: '/nonexistent/ffmpeg' }, /^error \[PROVIDER_UNAVAILABLE\]: \/nonexistent\/ffmpeg: TIMESFORMER_LAB_FFMPEG names no file/],
  ];
  for (const [what, args, env, expected] of cases) {
    it(`${what}: exit 2, one error line, no clip run`, async () => {
      const out = path.join(tmp, `out-${what.replace(/\W+/g, '-')}`);
      const r = await withEnv(env, () => cli(['sweep', '--weights', D1, '--heads', '4', '--clips', clips, '--out', out, ...args]));
      assert.equal(r.code, 2, r.out);
      assert.equal(r.out, '', 'no summary');
      const lines = r.err.split('\n').filter((l) => l && !l.startsWith('  ['));
      assert.equal(lines.length, 1, r.err);
      assert.match(lines[0] + '\n', expected);
      assert.ok(!fs.existsSync(path.join(out, CLIPS_FILE)) || fs.readFileSync(path.join(out, CLIPS_FILE), 'utf8') === '', 'no clip result written');
    });
  }

  it('the same options that the model has run the clips', async () => {
    const r = await cli(['sweep', '--weights', D1, '--heads', '4', '--clips', clips, '--out', path.join(tmp, 'ok'), '--quiet', '--no-confirm', '--fix-layernorms', 'blocks.4.norm1,norm', '--mean', '0.5', '--std', '0.2,0.2,0.2']);
    assert.notEqual(r.code, 2, r.err);
    assert.match(r.out, /, 0 could not be read/);
  });
});

describe('sweep: the clip list', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-sweep-list-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('a folder\'s .m4v clips are swept as run --input reads them (every video extension core/video reads)', async () => {
    for (const e of VIDEO_EXTENSIONS) assert.ok(CLIP_EXTENSIONS.includes(e), e);
    const dir = path.join(tmp, 'm4v');
    fs.mkdirSync(dir);
    makeClip(dir, 'x.m4v', { frames: 12, args: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-f', 'mp4'] });
    fs.copyFileSync(path.join(dir, 'x.m4v'), path.join(dir, 'y.MP4'));
    fs.writeFileSync(path.join(dir, 'z.txt'), 'notes');
    assert.deepEqual(listClips([dir]).map((c) => path.basename(c.clip)), ['x.m4v', 'y.MP4']);
    const r = await sweep(D1, [dir], { precision: 'fp16', heads: 4, confirm: false });
    assert.deepEqual(r.clips.map((c) => [path.basename(c.clip), c.status]).sort(), [['x.m4v', 'done'], ['y.MP4', 'done']]);
  });

  it('the same file spelled two ways (relative, with .., and from its folder) is one clip, run once', async () => {
    const dir = path.join(tmp, 'same');
    fs.mkdirSync(dir);
    makeClip(dir, 'c.mp4', { frames: 12, args: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'] });
    const abs = path.join(dir, 'c.mp4');
    const spellings = [abs, path.relative(process.cwd(), abs), path.join(dir, '..', 'same', 'c.mp4'), dir, 'synthetic:1', 'synthetic:1'];
    assert.deepEqual(listClips(spellings).map((c) => c.clip), [abs, 'synthetic:1'], 'the first spelling kept');
    const seen: string[] = [];
    const r = await sweep(D1, spellings, { precision: 'fp16', heads: 4, confirm: false }, { onClip: (c) => seen.push(c.clip) });
    assert.equal(r.summary.clips, 2);
    assert.deepEqual(seen.sort(), [abs, 'synthetic:1']);
  });
});

describe('sweep: a torn last line of clips.jsonl', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-sweep-torn-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('is dropped when the folder is opened: the clip runs once more, its new line is whole, and the next rerun skips every clip', async () => {
    const out = path.join(tmp, 'out');
    const clips = ['synthetic:1', 'synthetic:2', 'synthetic:3'];
    const o = { precision: 'fp16' as const, heads: 4, confirm: false, out };
    await sweep(D1, clips, o);
    const file = path.join(out, CLIPS_FILE);
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, 3);
    // killed while writing the third line: two lines and 300 bytes of the third
    fs.writeFileSync(file, lines.slice(0, 2).join('\n') + '\n' + lines[2].slice(0, 300));
    const ran: string[] = [];
    const second = await sweep(D1, clips, o, { onClip: (c, p) => !p.skipped && ran.push(c.clip) });
    assert.deepEqual(ran, ['synthetic:3']);
    assert.equal(second.summary.skipped, 2);
    const after = fs.readFileSync(file, 'utf8');
    assert.ok(after.endsWith('\n'));
    for (const l of after.split('\n').filter(Boolean)) JSON.parse(l); // every line whole
    assert.equal(after.split('\n').filter(Boolean).length, 3);
    const third = await sweep(D1, clips, o);
    assert.equal(third.summary.skipped, 3, 'nothing runs again');
  });

  it('a last line whole but for its newline is kept, and the next line starts on a line of its own', async () => {
    const out = path.join(tmp, 'out2');
    const o = { precision: 'fp16' as const, heads: 4, confirm: false, out };
    await sweep(D1, ['synthetic:1'], o);
    const file = path.join(out, CLIPS_FILE);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/\n$/, ''));
    const r = await sweep(D1, ['synthetic:1', 'synthetic:2'], o);
    assert.equal(r.summary.skipped, 1);
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, 2);
    for (const l of lines) JSON.parse(l);
  });
});

describe('sweep: the covering fix passed in (--fix-layernorms)', function () {
  this.timeout(240_000);
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-sweep-cover-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('its own runs confirm it (no second pass, no more sessions); the clips say the LayerNorms are kept, the headroom that it is a plain LayerNorm\'s', async () => {
    const clips = ['synthetic:1', 'synthetic:2'];
    const first = await cli(['sweep', '--weights', D1, '--heads', '4', '--precision', 'fp16', '--out', path.join(tmp, 'a'), '--quiet', '--clips', ...clips]);
    assert.equal(first.code, 1, first.err);
    const a = JSON.parse(fs.readFileSync(path.join(tmp, 'a', RESULT_FILE), 'utf8'));
    assert.equal(a.fix.layerNorms.length, 25);
    assert.equal(a.fix.confirmed.verdict, 'pass');
    const cover = a.fix.layerNorms.join(',');
    const again = await cli(['sweep', '--weights', D1, '--heads', '4', '--precision', 'fp16', '--fix-layernorms', cover, '--out', path.join(tmp, 'b'), '--quiet', '--clips', ...clips]);
    assert.equal(again.code, 0, again.err);
    const b = JSON.parse(fs.readFileSync(path.join(tmp, 'b', RESULT_FILE), 'utf8'));
    assert.deepEqual(b.fix.layerNorms, a.fix.layerNorms, 'the same set: what a plain export needs');
    assert.equal(b.fix.confirmed.verdict, 'pass');
    assert.deepEqual(b.fix.confirmed.clips.map((c: { clip: string; verdict: string }) => [c.clip, c.verdict]), b.clips.map((c: { clip: string }) => [c.clip, 'pass']));
    assert.match(b.fix.note, /its own runs are the confirmation/);
    assert.ok(b.timings.sessionsBuilt < a.timings.sessionsBuilt, `no confirmation engine: ${b.timings.sessionsBuilt} sessions against ${a.timings.sessionsBuilt}`);
    assert.match(again.out, /\(25 LayerNorm\(s\) would overflow, all kept in FP32 here\)/);
    assert.match(again.out, /confirmed on the set: PASS \(2\/2 clips pass\); the sweep ran with these LayerNorms in FP32/);
    assert.match(again.out, /< 1 overflows a plain FP16 LayerNorm\), tightest LayerNorms:\n {2}blocks\.\S+ +0\.\d+×.*\(kept in FP32 here\)/);
    const md = fs.readFileSync(path.join(tmp, 'b', 'sweep.md'), 'utf8');
    assert.match(md, /25 LayerNorm\(s\) are kept in FP32 in this sweep \(--fix-layernorms\)/);
    assert.match(md, /Confirmed: the set run with them in FP32 passes on all 2 clips/);
  });
});
