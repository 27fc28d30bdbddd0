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
    assert.match(r.out, /^verdict: FAIL — Block 4 fails \(rel err 0\.13 > 0\.025\)\. Block 4 temporal LayerNorm/m);
    assert.match(r.out, /^trtexec: trtexec --onnx=timesformer\.onnx --fp16 /m);
    assert.match(r.out, /LayerNorm fused[\s\S]*^verdict: PASS — All 12 blocks within 0\.025/m);
    const cost = /^time: read \d+\.\d\d s, .*graph \d+\.\d\d s, session \d+\.\d\d s, run \d+\.\d\d s, compare \d+\.\d\d s; total \d+\.\d\d s; peak RSS \d+ MiB \(\d+\.\d\d× the checkpoint's 4 MiB of weights\); \d+ MiB of outputs left the engine(; then the minimal fix's confirmation run \d+\.\d\d s \(peak RSS \d+ MiB\))?$/gm;
    const costs = [...r.out.matchAll(cost)];
    assert.equal(costs.length, 2, 'a cost line after each table');
    assert.ok(costs[0][1], 'plain fails: its line gives the minimal fix\'s confirmation run');
    assert.equal(costs[1][1], undefined, 'fused passes: no confirmation run');
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
  it('--accumulate and --layernorm minimal: the label says where FP16 accumulates, the minimal fix runs and passes', async () => {
    const json = path.join(tmp, 'm.json');
    const r = await cli(['run', '--weights', W, '--data', D, '--heads', '4', '--precision', 'fp16', '--accumulate', 'fp16', '--layernorm', 'minimal', '--quiet', '--json', json]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^FP16 emulated \(CPU EP: .*fp16 accumulation modelled only as the reductions' 16-bit overflow.*\) — LayerNorm plain \(fp32: 25 LayerNorms, blocks\.4\.temporal_norm1, blocks\.4\.norm1 … norm\) — 4 heads$/m);
    assert.match(r.out, /^verdict: PASS — All 12 blocks within 0\.025/m);
    const rep = parseReportJson<Report>(fs.readFileSync(json, 'utf8'));
    assert.equal(rep.run.accumulate, 'fp16');
    assert.equal(Object.keys(rep.run.layerNormOverrides).length, 25);
  });
  it('--fix-layernorms names LayerNorms to keep in FP32; an unknown name exits 2 and says which names exist', async () => {
    const ok = await cli(['run', '--weights', W, '--data', D, '--heads', '4', '--precision', 'fp16', '--fix-layernorms', 'blocks.4.temporal_norm1', '--quiet']);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /^4 +\S+ .*norm1 \(ch 21, 136 > 65504\)/m, 'the other two LayerNorms of block 4 still overflow');
    assert.doesNotMatch(ok.out, /^4 .*temporal_norm1 \(/m);
    const bad = await cli(['run', '--weights', W, '--data', D, '--heads', '4', '--precision', 'fp16', '--fix-layernorms', 'blocks.40.norm1', '--quiet']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /error \[BAD_OPTION\]: no LayerNorm named 'blocks\.40\.norm1' in this model \(names: blocks\.0\.temporal_norm1, .* blocks\.11\.norm2, norm\)/);
  });
  it('export-onnx writes the FP32 graph for TensorRT and prints the trtexec line for its LayerNorms', async () => {
    const out = path.join(tmp, 'trt.onnx');
    const r = await cli(['export-onnx', '--weights', W, '--data', D, '--layernorm', 'minimal', '--out', out, '--quiet']);
    assert.equal(r.code, 0, r.err);
    assert.ok(fs.statSync(out).size > 3e6);
    assert.match(r.out, /^wrote .*trt\.onnx \(.* MiB, \d+ nodes, LayerNorm plain, 25 in FP32: blocks\.4\.temporal_norm1, .*; outputs probs\)$/m);
    assert.match(r.out, /^trtexec: trtexec --onnx=trt\.onnx --fp16 --precisionConstraints=obey --layerPrecisions=\/model\/blocks\.4\/temporal_norm1\/LayerNormalization:fp32,.*\/model\/norm\/LayerNormalization:fp32 --saveEngine=trt_fp16\.plan$/m);
    const noOut = await cli(['export-onnx', '--weights', W]);
    assert.equal(noOut.code, 2);
    assert.match(noOut.err, /export-onnx needs --out FILE\.onnx/);
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
