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
import { CLIPS_FILE, RESULT_FILE } from '../../extension/core/sweep';
import { cli } from './helpers/cli';

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

