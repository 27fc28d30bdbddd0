/** The CLI prints the seed's table and a verdict, writes the Report, and exits 0 / 1 / 2. */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../extension/cli';
import { parseReportJson, type Report } from '../../extension/core/report';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const W = path.join(FIX, 'd1_outlier.pyth');
const D = path.join(FIX, 'd1_outlier_test_data.p');

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    return { code: await main(args), out, err };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}

describe('cli', function () {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-cli-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('prints a table per LayerNorm mode with a verdict, and --json holds the statistics', async () => {
    const json = path.join(tmp, 'r.json');
    const r = await cli(['run', '--weights', W, '--data', D, '--precision', 'fp16', '--layernorm', 'plain,fused', '--quiet', '--json', json]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /FP16 emulated .* LayerNorm plain — 4 heads \(detected\)/);
    assert.match(r.out, /^4 +1\.31e-1 .*temporal_norm1 \(ch 21, 128 > 65504\).*<-- jump$/m);
    assert.match(r.out, /^verdict: FAIL — Block 4 temporal LayerNorm/m);
    assert.match(r.out, /^trtexec: trtexec --onnx=timesformer\.onnx --fp16 /m);
    assert.match(r.out, /LayerNorm fused[\s\S]*^verdict: PASS — All 12 blocks within 0\.01/m);
    const cost = /^time: read \d+\.\d\d s, .*graph \d+\.\d\d s, session \d+\.\d\d s, run \d+\.\d\d s, compare \d+\.\d\d s; total \d+\.\d\d s; peak RSS \d+ MiB \(\d+\.\d\d× the checkpoint's 4 MiB of weights\); \d+ MiB of outputs left the engine$/gm;
    assert.equal(r.out.match(cost)?.length, 2, 'a cost line after each table');
    const reports = parseReportJson<Report[]>(fs.readFileSync(json, 'utf8'));
    assert.equal(reports.length, 2);
    const ln = reports[0].blocks[4].layerNorms[0];
    assert.equal(ln.name, 'blocks.4.temporal_norm1');
    assert.ok(ln.overFp16Count > 0 && ln.infCount > 0 && ln.topChannels[0].channel === 21);
  });
  it('exits 1 when a block exceeds --max-block-error, 0 when none does', async () => {
    const bad = await cli(['run', '--weights', W, '--data', D, '--heads', '4', '--precision', 'fp16', '--max-block-error', '0.01', '--quiet']);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /max error 4\.05e-1 exceeds --max-block-error 0\.01/);
    const ok = await cli(['run', '--weights', W, '--data', D, '--heads', '4', '--precision', 'fp32', '--max-block-error', '1e-5', '--quiet']);
    assert.equal(ok.code, 0, ok.out);
  });
  it('exits 2 with the file and the cause on bad input, and with usage on bad options', async () => {
    const missing = path.join(tmp, 'missing.pyth');
    const r = await cli(['run', '--weights', missing, '--data', D]);
    assert.equal(r.code, 2);
    assert.match(r.err, new RegExp(`error \\[FILE_NOT_FOUND\\]: .*${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    const p = await cli(['run', '--weights', W, '--data', D, '--precision', 'fp8']);
    assert.equal(p.code, 2);
    assert.match(p.err, /--precision must be one of fp32, fp16, bf16; got 'fp8'/);
    const u = await cli(['run', '--nope']);
    assert.equal(u.code, 2);
    assert.match(u.err, /usage:/);
  });
});
