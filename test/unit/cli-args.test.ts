/**
 * The CLI's arguments checked before any work, whatever their spelling: export-onnx's --out=FILE
 * folder, --data with --input, `run --ep trtexec` with run-only options; and what `--repeat`
 * prints. The review's findings 4, 5, 11 and 12 (/work/wt/findings/cli.md).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
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
