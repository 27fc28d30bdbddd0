/**
 * The CLI's arguments checked before any work, whatever their spelling: export-onnx's --out=FILE
 * folder, --data with --input, `run --ep trtexec` with run-only options; and what `--repeat`
 * prints. The review's findings 4, 5, 11 and 12 (/work/wt/findings/cli.md).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RUN_ONLY_OPTIONS } from '../../extension/cli';
import { TRT_RUN_USAGE } from '../../extension/trtexec-cli';
import { cli } from './helpers/cli';

const ROOT = path.join(__dirname, '..', '..', '..');
const FIX = path.join(ROOT, 'test', 'fixtures');
const D1 = path.join(FIX, 'd1_outlier.pyth');
const D1_DATA = path.join(FIX, 'd1_outlier_test_data.p');

describe('CLI arguments: export-onnx', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-cli-args-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const spelling of ['--out=F', '--out F']) {
    it(`${spelling} in a folder that does not exist: BAD_OPTION naming it, before the checkpoint is read`, async () => {
      const f = path.join(tmp, 'no-such-folder', 'e.onnx');
      const out = spelling === '--out=F' ? [`--out=${f}`] : ['--out', f];
      // a checkpoint that does not exist either: the --out check comes first
      const r = await cli(['export-onnx', '--weights', path.join(tmp, 'no-such.pyth'), '--quiet', ...out]);
      assert.equal(r.code, 2);
      assert.equal(r.err, `error [BAD_OPTION]: ${f}: --out: the folder ${path.dirname(f)} does not exist (create it first)\n`);
    });
  }

  it('--data with --input is refused, as run, export-trt and import refuse it', async () => {
    const f = path.join(tmp, 'both.onnx');
    const r = await cli(['export-onnx', '--weights', D1, '--data', D1_DATA, '--input', 'synthetic:3', '--quiet', '--out', f]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.err, /^error \[BAD_OPTION\]: --input is the clip to use without test data; with --data, the test data's video is the clip\n$/);
    assert.ok(!fs.existsSync(f), 'nothing written');
    const one = await cli(['export-onnx', '--weights', D1, '--input', 'synthetic:3', '--quiet', `--out=${f}`]);
    assert.equal(one.code, 0, one.err);
    assert.ok(fs.statSync(f).size > 1e6, 'the graph is written with --out=F');
  });
});

describe('CLI arguments: run --repeat', function () {
  this.timeout(120_000);
  it('the warm median is on stdout\'s time line with how many runs it is of, --quiet or not; the help says N more runs', async () => {
    const r = await cli(['run', '--weights', D1, '--data', D1_DATA, '--repeat', '3', '--quiet']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, '', '--quiet: nothing on stderr');
    assert.match(r.out, /^time: read .*, run \d+\.\d\d s, warm median \d+\.\d ms \(3 more runs\), compare /m);
    const once = await cli(['run', '--weights', D1, '--data', D1_DATA, '--quiet']);
    assert.doesNotMatch(once.out, /warm median/);
    const help = await cli(['run', '--help']);
    assert.match(help.out, /--repeat N +timing: after the run, run the engine N more times; their median/);
  });
});

describe('CLI arguments: run --ep trtexec', function () {
  this.timeout(60_000);
  const VALUE: Record<string, string[]> = { 'no-stats': [], 'no-confirm': [] };

  for (const o of RUN_ONLY_OPTIONS) {
    it(`--${o} is refused by name before trtexec's run, pointing to trt-run --help`, async () => {
      for (const spelling of [[`--${o}`, ...(VALUE[o] ?? ['1'])], ...(VALUE[o] ? [] : [[`--${o}=1`]])]) {
        const r = await cli(['run', '--weights', D1, '--ep', 'trtexec', ...spelling]);
        assert.equal(r.code, 2);
        assert.equal(r.out, '');
        assert.match(r.err, new RegExp(`^error \\[BAD_OPTION\\]: --${o}: not with --ep trtexec \\(.*see timesformer-lab trt-run --help\\)\\n$`), spelling.join(' '));
      }
    });
  }

  it('every option of run --help is either taken by trt-run or refused as run-only', async () => {
    const help = (await cli(['run', '--help'])).out;
    const runOpts = new Set<string>();
    for (const line of help.split('\n').filter((l) => /^ {2}-/.test(l))) {
      const column = line.slice(2).split(/\s{2,}/)[0];
      for (const m of column.matchAll(/--([\w-]+)/g)) runOpts.add(m[1]);
    }
    const trtOpts = new Set([...TRT_RUN_USAGE.matchAll(/--([\w-]+)/g)].map((m) => m[1]));
    assert.ok(runOpts.has('mean') && runOpts.has('save-onnx') && runOpts.size > 20, [...runOpts].join(' '));
    for (const o of runOpts) {
      if (o === 'help' || o === 'ep') continue;
      assert.ok(trtOpts.has(o) !== (RUN_ONLY_OPTIONS as readonly string[]).includes(o), `--${o}: trt-run ${trtOpts.has(o) ? 'takes' : 'does not take'} it; run-only: ${(RUN_ONLY_OPTIONS as readonly string[]).includes(o)}`);
    }
  });

  it('an option neither knows points to trt-run --help', async () => {
    const r = await cli(['run', '--weights', D1, '--ep=trtexec', '--bogus']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^error: Unknown option '--bogus'[^\n]*\nsee: timesformer-lab trt-run --help\n$/);
  });
});
