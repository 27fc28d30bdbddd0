/**
 * The CLI prints the seed's table and a verdict, writes the Report, and exits as CLIs in this field
 * do: 0 when every mode passes, 1 when one fails (a FAIL verdict or --max-block-error), 2 on bad
 * input — with the option or file named and never a stack trace; bad options and unwritable
 * outputs are refused before anything runs.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FP32_OP_NAMES, validateOptions } from '../../extension/core/options';
import { parseReportJson, type Report } from '../../extension/core/report';
import { cli } from './helpers/cli';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const W = path.join(FIX, 'd1_outlier.pyth');
const D = path.join(FIX, 'd1_outlier_test_data.p');
const W3 = path.join(FIX, 'd3_half_weights.pyth');
const D3 = path.join(FIX, 'd3_half_weights_test_data.p');
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');


/** No stack trace: no "    at fn (file:line)" lines, no "Error:" class prefixes. */
function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at .+[:(]/m, text);
  assert.doesNotMatch(text, /\b(TypeError|RangeError|Error): /, text);
}

describe('cli', function () {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-cli-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('prints a table per LayerNorm mode with a verdict; --json holds an array of Reports; plain fails, so the run exits 1', async () => {
    const json = path.join(tmp, 'r.json');
    const r = await cli(['run', '--weights', W, '--data', D, '--precision', 'fp16', '--layernorm', 'plain,fused', '--quiet', '--json', json]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.out, /FP16 emulated .* LayerNorm plain — 4 heads \(detected\)/);
    assert.match(r.out, /^4 +1\.31e-1 .*temporal_norm1 \(ch 21, 128 > 65504\).*<-- jump$/m);
    assert.match(r.out, /^verdict: FAIL — Block 4 fails \(rel err 0\.13 > 0\.025\)\. Block 4 temporal LayerNorm/m);
    assert.match(r.out, /^trtexec: trtexec --onnx=timesformer\.onnx --fp16 /m);
    assert.match(r.out, /LayerNorm fused[\s\S]*^verdict: PASS — All 12 blocks within 0\.025/m);
    assert.match(r.out, /^overall: FAIL — fails: plain; passes: fused$/m);
    const cost = /^time: read \d+\.\d\d s, .*graph \d+\.\d\d s, session \d+\.\d\d s, run \d+\.\d\d s, compare \d+\.\d\d s; total \d+\.\d\d s; peak RSS \d+ MiB(?: \+ weight store \d+ MiB in RAM \(a tmpfs\) = \d+ MiB at most)?; \d+ MiB of outputs left the engine(; then the minimal fix's confirmation run \d+\.\d\d s \(peak RSS \d+ MiB\))?$/gm;
    const costs = [...r.out.matchAll(cost)];
    assert.equal(costs.length, 2, 'a cost line after each table');
    assert.ok(costs[0][1], 'plain fails: its line gives the minimal fix\'s confirmation run');
    assert.equal(costs[1][1], undefined, 'fused passes: no confirmation run');
    const reports = parseReportJson<Report[]>(fs.readFileSync(json, 'utf8'));
    assert.ok(Array.isArray(reports));
    assert.deepEqual(reports.map((x) => [x.run.layerNorm, x.diagnosis.verdict]), [['plain', 'fail'], ['fused', 'pass']]);
    const ln = reports[0].blocks[4].layerNorms[0];
    assert.equal(ln.name, 'blocks.4.temporal_norm1');
    assert.ok(ln.overFp16Count > 0 && ln.infCount > 0 && ln.topChannels[0].channel === 21);
  });

  it('a FAIL verdict exits 1 without any flag; a PASS exits 0 and --json writes one object', async () => {
    const fail = await cli(['run', '--weights', W, '--data', D, '--heads', '4', '--precision', 'fp16', '--quiet']);
    assert.equal(fail.code, 1);
    assert.match(fail.out, /^verdict: FAIL/m);
    const json = path.join(tmp, 'one.json');
    const ok = await cli(['run', '--weights', W, '--data', D, '--heads', '4', '--precision', 'fp16', '--layernorm', 'fp32', '--quiet', '--json', json]);
    assert.equal(ok.code, 0, ok.out);
    assert.doesNotMatch(ok.out, /overall:/, 'one mode: its verdict is the overall one');
    const report = parseReportJson<Report>(fs.readFileSync(json, 'utf8'));
    assert.ok(!Array.isArray(report));
    assert.equal(report.diagnosis.verdict, 'pass');
  });

  it('exits 1 when a block exceeds --max-block-error even if the verdict passes', async () => {
    const bad = await cli(['run', '--weights', W, '--data', D, '--heads', '4', '--precision', 'fp16', '--layernorm', 'fp32', '--max-block-error', '1e-3', '--quiet']);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /^verdict: PASS/m);
    assert.match(bad.out, /max error \d\.\d\de-3 exceeds --max-block-error 0\.001/);
    const ok = await cli(['run', '--weights', W, '--data', D, '--heads', '4', '--precision', 'fp32', '--max-block-error', '1e-5', '--quiet']);
    assert.equal(ok.code, 0, ok.out);
  });

  it('--accumulate and --layernorm minimal: the label says where FP16 accumulates, the minimal fix runs and passes', async () => {
    const json = path.join(tmp, 'm.json');
    const r = await cli(['run', '--weights', W, '--data', D, '--heads', '4', '--precision', 'fp16', '--accumulate', 'fp16', '--layernorm', 'minimal', '--quiet', '--json', json]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^FP16 emulated \(CPU EP: .*fp16 accumulation modelled only as the reductions' 16-bit overflow.*\) — LayerNorm minimal fix \(fp32: 25 LayerNorms, blocks\.4\.temporal_norm1, blocks\.4\.norm1 … norm; the others plain\) — 4 heads$/m);
    assert.match(r.out, /^verdict: PASS — All 12 blocks within 0\.025/m);
    const rep = parseReportJson<Report>(fs.readFileSync(json, 'utf8'));
    assert.equal(rep.run.accumulate, 'fp16');
    assert.equal(Object.keys(rep.run.layerNormOverrides).length, 25);
  });

  it('--fix-layernorms names LayerNorms to keep in FP32; an unknown name exits 2 and says which names exist', async () => {
    const ok = await cli(['run', '--weights', W, '--data', D, '--heads', '4', '--precision', 'fp16', '--fix-layernorms', 'blocks.4.temporal_norm1', '--quiet']);
    assert.equal(ok.code, 1, 'the other two LayerNorms of block 4 still overflow: a FAIL');
    assert.match(ok.out, /^4 +\S+ .*norm1 \(ch 21, 136 > 65504\)/m);
    assert.doesNotMatch(ok.out, /^4 .*temporal_norm1 \(/m);
    const bad = await cli(['run', '--weights', W, '--data', D, '--heads', '4', '--precision', 'fp16', '--fix-layernorms', 'blocks.40.norm1', '--quiet']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /error \[BAD_OPTION\]: no LayerNorm named 'blocks\.40\.norm1' in this model \(names: blocks\.0\.temporal_norm1, .* blocks\.11\.norm2, norm\)/);
  });

  it('export-onnx writes the FP32 graph for TensorRT and prints the trtexec line; a missing output folder is refused first', async () => {
    const out = path.join(tmp, 'trt.onnx');
    const r = await cli(['export-onnx', '--weights', W, '--data', D, '--layernorm', 'minimal', '--out', out, '--quiet']);
    assert.equal(r.code, 0, r.err);
    assert.ok(fs.statSync(out).size > 3e6);
    assert.match(r.out, /^wrote .*trt\.onnx \(.* MiB, \d+ nodes, LayerNorm plain, 25 in FP32: blocks\.4\.temporal_norm1, .*; outputs probs\)$/m);
    assert.match(r.out, /^trtexec: trtexec --onnx=trt\.onnx --fp16 --precisionConstraints=obey --layerPrecisions=\/model\/blocks\.4\/temporal_norm1\/LayerNormalization:fp32,.*\/model\/norm\/LayerNormalization:fp32 --saveEngine=trt_fp16\.plan$/m);
    const noOut = await cli(['export-onnx', '--weights', W]);
    assert.equal(noOut.code, 2);
    assert.match(noOut.err, /export-onnx needs --out FILE\.onnx/);
    const missing = path.join(tmp, 'nowhere', 'trt.onnx');
    const early = await cli(['export-onnx', '--weights', W, '--data', D, '--out', missing, '--quiet']);
    assert.equal(early.code, 2);
    assert.match(early.err, /--out: the folder .*nowhere does not exist/);
    assert.ok(early.ms < 1000, `refused after ${early.ms} ms`);
  });

  it('--json or --save-onnx into a missing folder fails before the run, naming the path, with exit 2', async () => {
    for (const flag of ['--json', '--save-onnx']) {
      const target = path.join(tmp, 'no-such-folder', flag === '--json' ? 'r.json' : 'm.onnx');
      const r = await cli(['run', '--weights', W, '--data', D, '--precision', 'fp16', flag, target, '--quiet']);
      assert.equal(r.code, 2, r.out);
      assert.equal(r.out, '', 'nothing ran');
      assert.match(r.err, new RegExp(`^error \\[BAD_OPTION\\]: ${esc(target)}: ${flag}: the folder ${esc(path.dirname(target))} does not exist`));
      assert.ok(r.ms < 1000, `refused after ${r.ms} ms`);
      assertNoStack(r.err);
    }
    const dir = await cli(['run', '--weights', W, '--data', D, '--json', tmp, '--quiet']);
    assert.equal(dir.code, 2);
    assert.match(dir.err, /--json: this is a folder; give a file name/);
  });

  it('refuses bad option values before reading anything, naming the flag and what is allowed', async () => {
    const cases: [string[], RegExp][] = [
      [['--tolerance', '-1'], /--tolerance must be a finite number greater than 0; got -1/],
      [['--tolerance', '0'], /--tolerance must be a finite number greater than 0; got 0/],
      [['--tolerance', 'abc'], /--tolerance expects a number; got 'abc'/],
      [['--tolerance', 'Infinity'], /--tolerance expects a number; got 'Infinity'/],
      [['--prescale-shift', '100000'], /--prescale-shift must be a whole number from 0 to 10 .*; got 100000/],
      [['--prescale-shift', '-1'], /--prescale-shift must be a whole number from 0 to 10/],
      [['--fp32-ops', 'Conv,Matmul,Foo'], /--fp32-ops: unknown op types 'Matmul', 'Foo' \(known: Conv, MatMul,/],
      [['--heads', '0'], /--heads must be a whole number from 1 to 1024; got 0/],
      [['--heads', '2.5'], /--heads expects a whole number; got '2\.5'/],
      [['--max-block-error', '-3'], /--max-block-error must be a finite number greater than 0; got -3/],
      [['--precision', 'fp8'], /--precision must be one of fp32, fp16, bf16; got 'fp8'/],
      [['--layernorm', 'plain,fp64'], /--layernorm must be one of plain, expose, fp32, fused, prescaled, minimal, all \(or several, comma-separated\); got 'fp64'/],
      [['--ep', 'tpu'], /--ep must be one of auto, tensorrt, cuda, webgpu, cpu; got 'tpu'/],
      [['--accumulate', 'int8'], /--accumulate must be one of fp32, fp16; got 'int8'/],
      [['--repeat', '0'], /--repeat must be a whole number from 1 to 10000; got 0/],
    ];
    const missing = path.join(tmp, 'never-read.pyth'); // would give FILE_NOT_FOUND if anything were read
    for (const [args, re] of cases) {
      const r = await cli(['run', '--weights', missing, '--data', D, ...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, re, args.join(' '));
      assert.match(r.err, /^error \[BAD_OPTION\]/);
      assertNoStack(r.err);
    }
  });

  it('exits 2 with the file and the cause on bad input', async () => {
    const missing = path.join(tmp, 'missing.pyth');
    const r = await cli(['run', '--weights', missing, '--data', D]);
    assert.equal(r.code, 2);
    assert.match(r.err, new RegExp(`error \\[FILE_NOT_FOUND\\]: ${esc(missing)}: file not found`));
    const swapped = await cli(['run', '--weights', D3, '--data', W3, '--quiet']);
    assert.equal(swapped.code, 2);
    assert.match(swapped.err, new RegExp(`error \\[NOT_A_CHECKPOINT\\]: ${esc(D3)}: not a PyTorch checkpoint`));
    assertNoStack(r.err + swapped.err);
  });

  it('run --help prints the options and the exit codes; usage errors say what is wrong', async () => {
    for (const h of ['--help', '-h']) {
      const r = await cli(['run', h]);
      assert.equal(r.code, 0);
      assert.match(r.out, /^usage: timesformer-lab run --weights CHECKPOINT\|HF_FOLDER \[--data TEST_DATA \| --input CLIP\] \[options\]/);
      assert.match(r.out, /--tolerance X +a block passes when its rel L2 error is at most X \(default FP32 0\.01, FP16 0\.025, BF16 0\.05\)/);
      assert.match(r.out, /exit code: 0 every mode passes; 1 a mode fails/);
    }
    const u = await cli(['run', '--nope']);
    assert.equal(u.code, 2);
    assert.match(u.err, /^error: Unknown option '--nope'.*\nsee: timesformer-lab run --help/);
    const m = await cli(['run', '--data', D]);
    assert.equal(m.code, 2);
    assert.match(m.err, /^error: run needs --weights\nsee: timesformer-lab run --help/);
    const both = await cli(['run', '--weights', W, '--data', D, '--input', 'synthetic:1']);
    assert.equal(both.code, 2);
    assert.match(both.err, /^error: --input is the clip to use without test data; with --data, the test data's video is the clip/);
  });

  it('an unknown command says so; no command prints the usage and exits 2; --help exits 0', async () => {
    const r = await cli(['frobnicate', '--weights', W]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^error: unknown command 'frobnicate' \(the commands are run, sweep, export-onnx, export-trt, import, trt-run and providers\)\nusage:/);
    const none = await cli([]);
    assert.equal(none.code, 2);
    assert.match(none.err, /^error: no command given\nusage:/);
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /timesformer-lab providers +which execution providers load here/);
  });

  it('providers: one line per provider, available or unavailable with a reason, never "falling back"', async () => {
    const r = await cli(['providers']);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(/\s+/)[0]), ['tensorrt', 'cuda', 'webgpu', 'cpu']);
    for (const l of lines) {
      assert.match(l, /^\w+ +(available|unavailable: \S.*)$/);
      assert.doesNotMatch(l, /falling back/);
    }
    assert.match(lines[3], /^cpu +available$/);
  });
});

describe('options: one validation for the CLI, the extension and the pipeline', () => {
  it('accepts the defaults and every documented value', () => {
    assert.doesNotThrow(() => validateOptions({ tolerance: 1e-2, heads: 12, prescaleShift: 0, deviceId: 0, fp32Ops: [...FP32_OP_NAMES], precision: 'bf16', layerNorm: 'prescaled', ep: 'auto', attention: 'fused' }));
    assert.doesNotThrow(() => validateOptions({ prescaleShift: 10 }));
  });
  it('names each option as the caller calls it', () => {
    assert.throws(() => validateOptions({ tolerance: NaN }, { tolerance: 'timesformerLab.tolerance' }), /^LabError: timesformerLab\.tolerance must be a finite number greater than 0; got NaN$/);
    assert.throws(() => validateOptions({ heads: -2 }), /heads must be a whole number from 1 to 1024; got -2/);
    assert.throws(() => validateOptions({ deviceId: 1.5 }), /device id must be a whole number ≥ 0; got 1\.5/);
    assert.throws(() => validateOptions({ fp32Ops: ['Gelu', 'gelu'] }), /fp32 ops: unknown op type 'gelu'/);
  });
});
