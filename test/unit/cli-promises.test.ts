/**
 * The CLI's exit decisions, pinned where mutation testing (issue 23, module `cli`, cli.ts's exit-code
 * lines) found them unchecked: --max-block-error is "at most", its parse error names it, progress
 * goes to stderr unless --quiet, and a multi-mode run's `overall:` line names each mode by the
 * choice the user typed.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseReportJson, type Report } from '../../extension/core/report';
import { cli } from './helpers/cli';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const D1 = { w: path.join(FIX, 'd1_outlier.pyth'), d: path.join(FIX, 'd1_outlier_test_data.p') };
const D3 = { w: path.join(FIX, 'd3_half_weights.pyth'), d: path.join(FIX, 'd3_half_weights_test_data.p') };


describe('cli: exit codes and what a run prints', function () {
  this.timeout(120_000);
  let tmp = '';
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-promises-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const base = ['run', '--weights', D3.w, '--data', D3.d, '--heads', '2'];

  it('--max-block-error X passes a run whose worst error is exactly X, and fails it just under', async () => {
    const json = path.join(tmp, 'fp32.json');
    const first = await cli([...base, '--quiet', '--json', json]);
    assert.equal(first.code, 0, first.out + first.err);
    const r = parseReportJson(fs.readFileSync(json, 'utf8')) as Report;
    const worst = Math.max(...r.blocks.map((b) => b.relL2), r.probs.relL2);
    assert.ok(worst > 0 && Number.isFinite(worst));
    const at = await cli([...base, '--quiet', '--max-block-error', String(worst)]);
    assert.equal(at.code, 0, `the limit is "at most": ${at.out}`);
    const under = await cli([...base, '--quiet', '--max-block-error', String(worst * 0.999)]);
    assert.equal(under.code, 1, under.out);
    assert.match(under.out, /^max error .* exceeds --max-block-error /m);
  });

  it('--max-block-error that is not a number exits 2, naming the flag and the value', async () => {
    const r = await cli([...base, '--max-block-error', 'tiny']);
    assert.equal(r.code, 2, r.out + r.err);
    assert.match(r.err, /--max-block-error expects a number; got 'tiny'/);
  });

  it('progress goes to stderr, each line indented by two spaces; --quiet keeps stderr empty', async () => {
    const loud = await cli(base);
    assert.equal(loud.code, 0, loud.err);
    const lines = loud.err.split('\n').filter(Boolean);
    assert.ok(lines.length > 0, 'some progress was printed');
    assert.ok(lines.every((l) => l.startsWith('  ')), loud.err);
    const quiet = await cli([...base, '--quiet']);
    assert.equal(quiet.code, 0);
    assert.equal(quiet.err, '');
  });

  it('the overall line of a multi-mode run names what fails and what passes, by the choices typed', async () => {
    const fp16 = ['run', '--weights', D1.w, '--data', D1.d, '--heads', '4', '--precision', 'fp16', '--no-confirm', '--quiet'];
    const mixed = await cli([...fp16, '--layernorm', 'plain,fp32']);
    assert.equal(mixed.code, 1);
    assert.match(mixed.out, /^overall: FAIL — fails: plain; passes: fp32$/m);
    const all = await cli([...base, '--quiet', '--layernorm', 'plain,fp32']);
    assert.equal(all.code, 0, all.out);
    assert.match(all.out, /^overall: PASS — passes: plain, fp32$/m);
    const none = await cli([...fp16, '--layernorm', 'plain,minimal', '--max-block-error', '1e-12']);
    assert.equal(none.code, 1);
    assert.match(none.out, /^overall: FAIL — fails: plain, minimal$/m);
  });
});
