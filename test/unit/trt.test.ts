/**
 * Issue 19, TensorRT in the loop. The bundle (export-trt) is what trtexec and Polygraphy read: its
 * ONNX files load in onnxruntime and match our FP32 graph per block; inputs.bin / inputs.json parse
 * back to the clip; the scripts are valid bash and hand a trtexec (a STAND-IN here: test/fixtures/
 * trt/trtexec-standin.js, no TensorRT on this machine) the right arguments. The import reads the
 * outputs in trtexec's and Polygraphy's formats (as their sources write them) into Reports through
 * the pipeline, says whether marking outputs changed the engine, and refuses bad files by name.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { parseNpyHeader } from '../../extension/core/formats/npy';
import { diff } from '../../extension/core/compare/metrics';
import { prepare, type Prepared } from '../../extension/core/pipeline';
import { parseReportJson, type Report } from '../../extension/core/report';
import { readManifest } from '../../extension/core/trt/bundle';
import { observerEffects, readImports, type ImportedRun } from '../../extension/core/trt/import';
import { parseJsonFile, readTrtexecOutputs } from '../../extension/core/trt/outputs';
import { cli } from './helpers/cli';

const ROOT = path.join(__dirname, '..', '..', '..');
const FIX = path.join(ROOT, 'test', 'fixtures');
const W = path.join(FIX, 'd1_outlier.pyth');
const D = path.join(FIX, 'd1_outlier_test_data.p');
const STANDIN_TRTEXEC = path.join(FIX, 'trt', 'trtexec-standin.js');
const STANDIN_POLY = path.join(FIX, 'trt', 'polygraphy-standin.js');


function f32(file: string): Float32Array {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

function npyToF32(b: Buffer): { shape: number[]; data: Float32Array } {
  const hl = b.readUInt16LE(8);
  const h = parseNpyHeader(b.subarray(10, 10 + hl).toString('latin1'));
  assert.equal(h.descr, '<f4');
  const d = b.subarray(10 + hl);
  return { shape: h.shape, data: new Float32Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.length)) };
}

describe('trt: the TensorRT bundle and its outputs imported (issue 19)', function () {
  let tmp: string;
  let dir: string;
  let bin: string;
  let p: Prepared;
  let ours: Map<string, Float32Array>;
  const env = (extra: Record<string, string> = {}) => ({ ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}`, ...extra });

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-trt-'));
    dir = path.join(tmp, 'bundle');
    bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(STANDIN_TRTEXEC, path.join(bin, 'trtexec'));
    const r = await cli(['export-trt', '--weights', W, '--data', D, '--out', dir, '--quiet']);
    assert.equal(r.code, 0, r.err);
    p = await prepare({ weights: W, data: D });
    ours = (await p.fp32Probe()).out; // our FP32 graph on the CPU EP, every block and probs
  });
  after(() => {
    p?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the bundle\'s model.onnx (probs only) and model_marked.onnx (every block) run in onnxruntime and match our FP32 graph within 1e-5 per block', async () => {
    const m = readManifest(dir)!;
    const x = new ort.Tensor('float32', f32(path.join(dir, 'inputs.bin')), m.input.shape);
    const deployed = await ort.InferenceSession.create(path.join(dir, 'model.onnx'));
    assert.deepEqual(deployed.outputNames, ['probs']);
    const d = await deployed.run({ [m.input.name]: x });
    const marked = await ort.InferenceSession.create(path.join(dir, 'model_marked.onnx'));
    assert.deepEqual([...marked.outputNames].sort(), ['probs', ...Array.from({ length: 12 }, (_, i) => `blocks.${i}.out`)].sort());
    const mo = await marked.run({ [m.input.name]: x });
    const errs: string[] = [];
    for (const name of ['probs', ...Array.from({ length: 12 }, (_, i) => `blocks.${i}.out`)]) {
      const e = diff(mo[name].data as Float32Array, ours.get(name)!).relL2;
      errs.push(`${name} ${e.toExponential(2)}`);
      assert.ok(e <= 1e-5, `${name}: rel L2 ${e} vs our FP32 graph`);
    }
    const ed = diff(d.probs.data as Float32Array, ours.get('probs')!).relL2;
    assert.ok(ed <= 1e-5, `deployed probs: ${ed}`);
    console.log(`      bundle vs our FP32 graph (rel L2): deployed probs ${ed.toExponential(2)}; marked ${errs.join(', ')}`);
  });

  it('inputs.bin is the clip as raw float32 (trtexec --loadInputs), inputs.json the same as Polygraphy\'s list of feed dicts; reference/ holds the test data\'s outputs', () => {
    const m = readManifest(dir)!;
    assert.deepEqual(f32(path.join(dir, 'inputs.bin')), p.video.data);
    const feeds = JSON.parse(fs.readFileSync(path.join(dir, 'inputs.json'), 'utf8')) as Record<string, { array: string; polygraphy_class: string }>[];
    assert.equal(feeds.length, 1);
    assert.equal(feeds[0][m.input.name].polygraphy_class, 'ndarray');
    const a = npyToF32(Buffer.from(feeds[0][m.input.name].array, 'base64'));
    assert.deepEqual(a.shape, [...p.video.shape]);
    assert.deepEqual(a.data, p.video.data);
    assert.deepEqual(f32(path.join(dir, 'reference', m.reference['blocks.4.out'])), p.data!.blocks[4].data);
    assert.deepEqual(f32(path.join(dir, 'reference', m.reference.probs)), p.data!.probs.data);
  });

  it('the fix names layers that model.onnx has (torch.onnx.export names of the decomposed LayerNorms the statistics say overflow)', async () => {
    const m = readManifest(dir)!;
    const { onnx } = await import('onnx-proto');
    const names = new Set(onnx.ModelProto.decode(fs.readFileSync(path.join(dir, 'model.onnx'))).graph!.node!.map((n) => n.name));
    assert.equal(m.fix.source, 'statistics');
    assert.equal(m.fix.layerNorms[0], 'blocks.4.temporal_norm1', 'd1 overflows from block 4 on');
    assert.ok(m.fix.layers.includes('/model/blocks.4/temporal_norm1/Pow'));
    for (const l of m.fix.layers) assert.ok(names.has(l), `${l} is not a node of model.onnx`);
  });

  it('run_trtexec.sh and run_polygraphy.sh are valid bash; under TensorRT 10 the stand-in trtexec gets four runs with --fp16, the fix and the clip', () => {
    for (const s of ['run_trtexec.sh', 'run_polygraphy.sh']) assert.equal(spawnSync('bash', ['-n', path.join(dir, s)]).status, 0, s);
    const log = path.join(tmp, 'trt10.log');
    const r = spawnSync('bash', [path.join(dir, 'run_trtexec.sh')], { cwd: tmp, env: env({ STANDIN_LOG: log, STANDIN_TRT_VERSION: '10' }), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const calls = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]).filter((a) => !a.includes('--help'));
    const m = readManifest(dir)!;
    assert.deepEqual(calls.map((a) => a.find((x) => x.startsWith('--exportOutput='))), ['trt_fp16', 'trt_fp16_marked', 'trt_fp16_fix', 'trt_fp16_fix_marked'].map((n) => `--exportOutput=${n}.json`));
    for (const a of calls) {
      assert.ok(a.includes('--fp16'));
      assert.ok(a.includes(`--loadInputs='${m.input.name}':inputs.bin`));
      assert.ok(!a.some((x) => x.startsWith('--loadRefOutputs')), 'TensorRT 10 has no --loadRefOutputs');
    }
    assert.deepEqual(calls.map((a) => a[0]), ['--onnx=model.onnx', '--onnx=model_marked.onnx', '--onnx=model.onnx', '--onnx=model_marked.onnx']);
    const fix = calls[2].find((x) => x.startsWith('--layerPrecisions='))!;
    assert.deepEqual(fix.slice('--layerPrecisions='.length).split(','), m.fix.layers.map((l) => `${l}:fp32`));
    assert.ok(calls[2].includes('--precisionConstraints=obey') && !calls[0].some((x) => x.startsWith('--layerPrecisions')));
    for (const n of ['trt_fp16', 'trt_fp16_fix_marked']) assert.ok(fs.statSync(path.join(dir, `${n}.json`)).size > 0);
  });

  it('under TensorRT 11 (no --fp16) the stand-in gets FP32 runs checked against reference/ with --loadRefOutputs; no trtexec: exit 127 with the reason', () => {
    const log = path.join(tmp, 'trt11.log');
    const out = path.join(tmp, 'b11');
    fs.cpSync(dir, out, { recursive: true });
    const r = spawnSync('bash', [path.join(out, 'run_trtexec.sh')], { env: env({ STANDIN_LOG: log, STANDIN_TRT_VERSION: '11' }), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /no --fp16 \(TensorRT 11/);
    const calls = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]).filter((a) => !a.includes('--help'));
    assert.equal(calls.length, 2);
    const ref = calls[1].find((x) => x.startsWith('--loadRefOutputs='))!.slice('--loadRefOutputs='.length).split(',');
    assert.equal(ref.length, 13);
    for (const spec of ref) assert.ok(fs.existsSync(path.join(out, spec.split(':')[1])), spec);
    assert.ok(calls[1].includes('--accuracyAlgorithm=cos') && calls[1].some((x) => /^--accuracyThreshold=\d/.test(x)));
    const none = spawnSync('bash', [path.join(out, 'run_trtexec.sh')], { env: { ...process.env, TRTEXEC: path.join(tmp, 'no-such-trtexec') }, encoding: 'utf8' });
    assert.equal(none.status, 127);
    assert.match(none.stderr, /trtexec not found/);
  });

  it('run_polygraphy.sh: --onnxrt runs the two models in FP32; --trt passes --fp16 and each fix layer to --layer-precisions', () => {
    const log = path.join(tmp, 'poly.log');
    const POLYGRAPHY = `node ${STANDIN_POLY}`;
    const r = spawnSync('bash', [path.join(dir, 'run_polygraphy.sh')], { env: env({ POLYGRAPHY, POLYGRAPHY_BACKEND: '--onnxrt', STANDIN_LOG: log }), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const t = spawnSync('bash', [path.join(dir, 'run_polygraphy.sh')], { env: env({ POLYGRAPHY, STANDIN_LOG: log }), encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    const calls = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]);
    assert.deepEqual(calls[0], ['run', 'model.onnx', '--onnxrt', '--load-inputs', 'inputs.json', '--save-outputs', 'polygraphy_onnxrt_fp32.json']);
    assert.deepEqual(calls[1].slice(0, 3), ['run', 'model_marked.onnx', '--onnxrt']);
    const m = readManifest(dir)!;
    const fix = calls[4];
    assert.deepEqual(fix.slice(0, 6), ['run', 'model.onnx', '--trt', '--fp16', '--precision-constraints', 'obey']);
    assert.deepEqual(fix.slice(7, 7 + m.fix.layers.length), m.fix.layers.map((l) => `${l}:float32`));
    const bad = spawnSync('bash', [path.join(dir, 'run_polygraphy.sh')], { env: env({ POLYGRAPHY, POLYGRAPHY_BACKEND: '--tf' }), encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /must be --trt or --onnxrt/);
  });

  it('import: the stand-in trtexec\'s outputs become runs named after their file, compared per block with the test data; deployed vs marked probs give the observer effect', async () => {
    if (!fs.existsSync(path.join(dir, 'trt_fp16_fix_marked.json'))) {
      assert.equal(spawnSync('bash', [path.join(dir, 'run_trtexec.sh')], { env: env(), encoding: 'utf8' }).status, 0);
    }
    const json = path.join(tmp, 'imported.json');
    const files = ['trt_fp16.json', 'trt_fp16_marked.json', 'trt_fp16_fix_marked.json'].map((f) => path.join(dir, f));
    const r = await cli(['import', '--weights', W, '--quiet', '--json', json, ...files]);
    assert.equal(r.code, 0, r.err + r.out);
    assert.match(r.out, /^TensorRT \(trtexec\) FP16, marked · imported from trt_fp16_marked\.json$/m);
    assert.match(r.out, /^TensorRT \(trtexec\) FP16 · imported from trt_fp16\.json: probs rel L2 \d\.\d\de-\d .*PASS/m);
    assert.match(r.out, /^observer effect: trt_fp16\.json vs trt_fp16_marked\.json: probs differ by rel L2 0\.00e\+0 .*did not change the engine/m);
    const reports = parseReportJson<Report[]>(fs.readFileSync(json, 'utf8'));
    assert.deepEqual(reports.map((x) => x.run.label), ['TensorRT (trtexec) FP16, marked · imported from trt_fp16_marked.json', 'TensorRT (trtexec) FP16 with the fix, marked · imported from trt_fp16_fix_marked.json']);
    assert.equal(reports[0].inputs.reference.kind, 'test-data', 'the bundle\'s test data is the reference');
    assert.equal(reports[0].config.heads, 4, 'the heads from bundle.json');
    assert.deepEqual(Object.keys(reports[1].run.layerNormOverrides).length, readManifest(dir)!.fix.layerNorms.length, 'the fix\'s LayerNorms from bundle.json');
    // trtexec prints 6 significant digits: the blocks are still the FP32 graph's within 1e-5
    for (const b of reports[0].blocks) {
      const e = diff(f32Block(dir, 'trt_fp16_marked.json', b.index), ours.get(`blocks.${b.index}.out`)!).relL2;
      assert.ok(e <= 1e-5, `block ${b.index}: trtexec's printed values vs our FP32 ${e}`);
      assert.ok(b.relL2 < 1e-5 && b.passed);
    }
  });

  it('a Polygraphy --save-outputs file (RunResults, two iterations) becomes one run per iteration, the runner named', async () => {
    const out = path.join(tmp, 'pg');
    fs.mkdirSync(out);
    const f = path.join(out, 'polygraphy_onnxrt_fp32_marked.json');
    const r = spawnSync('node', [STANDIN_POLY, 'run', path.join(dir, 'model_marked.onnx'), '--onnxrt', '--load-inputs', path.join(dir, 'inputs.json'), '--save-outputs', f], { env: env({ STANDIN_ITERATIONS: '2' }), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const runs = readImports(p, [f]);
    assert.deepEqual(runs.map((x) => x.identity), [0, 1].map((k) => `Polygraphy ONNX Runtime FP32, marked (onnxrt-runner-N0-12/07/26-05:30:00, iteration ${k}) · imported from polygraphy_onnxrt_fp32_marked.json`));
    for (const [n, a] of runs[0].outputs) assert.ok(diff(a, ours.get(n)!).relL2 <= 1e-5, n);
    const c = await cli(['import', '--weights', W, '--data', D, '--quiet', f]);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /verdict: PASS — All 12 blocks within 0\.01/);
  });

  it('real Polygraphy (its ONNX Runtime backend, run on the GPU machine by scripts/device/trt-polygraphy-device.sh): its saved outputs of d1 import and match our FP32 graph within 1e-5 per block', async function () {
    const f = path.join(FIX, 'trt', 'polygraphy_onnxrt_fp32_marked.json');
    if (!fs.existsSync(f)) this.skip(); // made on the GPU machine (no Polygraphy dependencies here); see docs/tensorrt.md
    const runs = readImports(p, [f]);
    assert.ok(runs.length >= 1 && runs[0].marked && runs[0].runner?.startsWith('onnxrt-runner'));
    const errs = [...runs[0].outputs].map(([n, a]) => [n, diff(a, ours.get(n)!).relL2] as const);
    for (const [n, e] of errs) assert.ok(e <= 1e-5, `${n}: ${e}`);
    console.log(`      real Polygraphy (onnxrt) vs our FP32 graph: ${errs.map(([n, e]) => `${n} ${e.toExponential(2)}`).join(', ')}`);
    const c = await cli(['import', '--weights', W, '--data', D, '--quiet', f]);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /^Polygraphy ONNX Runtime FP32, marked \(onnxrt-runner-.*verdict: PASS/ms);
  });

  it('a file written by Polygraphy\'s own serializer (RunResults.save of polygraphy/comparator/struct.py, the committed polygraphy_saved_d1.json) imports and matches our FP32 graph within 1e-5 per block', async () => {
    // Recipe (docs/tensorrt.md): the polygraphy stand-in's outputs of d1's model_marked.onnx, loaded
    // with RunResults.load and written again with RunResults.save by Polygraphy's source (NVIDIA/TensorRT a892d22).
    const f = path.join(FIX, 'trt', 'polygraphy_saved_d1.json');
    const runs = readImports(p, [f]);
    assert.equal(runs.length, 1);
    for (const [n, a] of runs[0].outputs) assert.ok(diff(a, ours.get(n)!).relL2 <= 1e-5, n);
    const c = await cli(['import', '--weights', W, '--data', D, '--quiet', f]);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /verdict: PASS — All 12 blocks within 0\.01/);
  });

  it('the observer effect: a deployed engine whose probs move from the marked one\'s by more than a tenth of the tolerance is called changed, with the numbers', () => {
    const refProbs = ours.get('probs')!;
    const run = (file: string, marked: boolean, probs: Float32Array): ImportedRun => ({
      file, identity: file, tool: 'trtexec', backend: 'trt', precision: 'fp16', fix: false, marked, outputs: new Map([['probs', probs]]), final: 'probs', nonFinite: [],
    });
    const moved = refProbs.map((v, i) => v * (1 + (i % 2 ? 0.05 : -0.05)));
    const [o] = observerEffects([run('trt_fp16.json', false, moved), run('trt_fp16_marked.json', true, refProbs.slice())], refProbs);
    assert.ok(o.changed);
    assert.ok(Math.abs(o.relL2 - 0.05) < 0.01 && o.markedVsRef === 0);
    assert.match(o.sentence, /^trt_fp16\.json vs trt_fp16_marked\.json: probs differ by rel L2 5\.\d\de-2 .*marking the block outputs changed the engine/);
    const [same] = observerEffects([run('trt_fp16.json', false, refProbs.map((v) => v * (1 + 1e-4))), run('trt_fp16_marked.json', true, refProbs.slice())], refProbs);
    assert.ok(!same.changed, 'rounding-level differences (another kernel choice) are not a changed engine');
  });

  it('the committed trtexec fixture (format of sampleReporting.cpp exportJSONOutput) parses with its quirks: dimension strings, nan/-nan/inf/-inf, 6-digit floats, several outputs', () => {
    const r = readTrtexecOutputs(path.join(FIX, 'trt', 'trtexec_quirks.json'), 1 << 20);
    assert.deepEqual(r.outputs.map((o) => [o.name, o.dims]), [['blocks.0.out', [1, 2, 3]], ['probs', [1, 4]], ['score', []]]);
    assert.deepEqual([...r.outputs[0].data].map((x) => (Object.is(x, -0) ? '-0' : String(x))), ['NaN', 'NaN', 'Infinity', '-Infinity', String(Math.fround(1e-5)), '-0']);
    assert.deepEqual([...r.outputs[1].data], [0.123457, 3.14159e-5, 1234570, -2.5].map(Math.fround));
    assert.deepEqual([...r.outputs[2].data], [Math.fround(0.5)]);
  });

  it('the committed d1 trtexec probs (trt_fp16_d1.json, the stand-in\'s FP32 probs as trtexec prints them) import as a deployed run; non-finite values are reported, not refused', async () => {
    const f = path.join(FIX, 'trt', 'trt_fp16_d1.json');
    const r = await cli(['import', '--weights', W, '--data', D, '--quiet', f]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^TensorRT \(trtexec\) FP16 · imported from trt_fp16_d1\.json: probs rel L2 [\d.]+e-[67] .*top-1 171 = reference 171: PASS/m);
    const bad = path.join(tmp, 'trt_fp16_nan.json');
    const s = spawnSync('node', [STANDIN_TRTEXEC, `--onnx=${path.join(dir, 'model.onnx')}`, `--loadInputs=video:${path.join(dir, 'inputs.bin')}`, `--exportOutput=${bad}`], { env: env({ STANDIN_POISON: 'probs:4' }), encoding: 'utf8' });
    assert.equal(s.status, 0, s.stderr);
    const n = await cli(['import', '--weights', W, '--data', D, '--quiet', bad]);
    assert.equal(n.code, 1, 'NaN probs fail the comparison');
    assert.match(n.out, /trt_fp16_nan\.json: non-finite values in probs: 2 NaN, 2 inf/);
    assert.match(n.out, /probs rel L2 (NaN|Infinity) .*top-1 \d+ ≠ reference 171: FAIL/);
  });

  it('the streaming reader: long number lists, strings with commas, non-finite words; a stray word or comma is an error at its place', () => {
    const f = path.join(tmp, 'lists.json');
    fs.writeFileSync(f, '{"a": [1, -nan, inf , 3e-05, -0, 2.5], "b": ["x, y", 2], "c": []}');
    const j = parseJsonFile(f, 1 << 20, 'x') as Record<string, unknown>;
    assert.deepEqual([...(j.a as Float32Array)].map(String), ['1', 'NaN', 'Infinity', String(Math.fround(3e-5)), '0', '2.5']);
    assert.deepEqual(j.b, ['x, y', 2]);
    assert.deepEqual(j.c, []);
    for (const [text, why] of [['[1, constructor, 2]', /'constructor' is not a value/], ['[1, , 2]', /unexpected ','/], ['[1, 2', /ends early \(truncated/], ['[1] 2', /more after the end/]] as const) {
      fs.writeFileSync(f, text);
      assert.throws(() => parseJsonFile(f, 1 << 20, 'x'), (e: Error) => /lists\.json: /.test(e.message) && why.test(e.message), text);
    }
  });

  it('export-trt and import refuse bad options before reading anything, naming the flag', async () => {
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, 'x');
    for (const [args, why] of [
      [['export-trt', '--out', dir], /export-trt needs --weights/],
      [['export-trt', '--weights', W], /export-trt needs --out DIR/],
      [['export-trt', '--weights', W, '--out', file], /--out .*a-file is a file; export-trt writes a folder/],
      [['import', '--weights', W], /import needs one or more output files/],
      [['import', '--weights', W, '--precision', 'fp8', file], /--precision must be one of fp32, fp16, bf16; got 'fp8'/],
      [['import', '--weights', W, path.join(tmp, 'missing.json')], /error \[FILE_NOT_FOUND\]: .*missing\.json: file not found/],
    ] as const) {
      const r = await cli([...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, why);
    }
  });

  describe('bad imports: a clear error naming the file', () => {
    const errOf = async (files: string[], extra: string[] = []) => {
      const r = await cli(['import', '--weights', W, '--data', D, '--quiet', ...extra, ...files]);
      assert.equal(r.code, 2, r.out);
      assert.doesNotMatch(r.err, /^\s+at /m);
      return r.err;
    };
    const variant = (name: string, edit: (s: string) => string) => {
      const f = path.join(tmp, name);
      if (!fs.existsSync(path.join(dir, 'trt_fp16_marked.json'))) assert.equal(spawnSync('bash', [path.join(dir, 'run_trtexec.sh')], { env: env(), encoding: 'utf8' }).status, 0);
      fs.writeFileSync(f, edit(fs.readFileSync(path.join(dir, 'trt_fp16_marked.json'), 'utf8')));
      return f;
    };
    it('wrong output names', async () => {
      const f = variant('renamed.json', (s) => s.replace('"name" : "probs"', '"name" : "logits"'));
      assert.match(await errOf([f]), /error \[MISMATCH\]: .*renamed\.json: output\(s\) 'logits' are not outputs of this model/);
    });
    it('shapes of another model', async () => {
      const f = variant('other.json', (s) => s.replace('"dimensions" : "1x400"', '"dimensions" : "1x1000"'));
      assert.match(await errOf([f]), /other\.json: output 'probs' has dimensions 1x1000, this model's is 1x400/);
    });
    it('a truncated JSON', async () => {
      const f = variant('cut.json', (s) => s.slice(0, s.length >> 1));
      assert.match(await errOf([f]), /error \[BAD_OUTPUTS\]: .*cut\.json: the JSON ends early \(truncated/);
    });
    it('a 2 GB JSON is refused by its size, unread', async () => {
      const f = path.join(tmp, 'huge.json');
      const fd = fs.openSync(f, 'w');
      fs.writeSync(fd, '[');
      fs.ftruncateSync(fd, 2 * 2 ** 30);
      fs.closeSync(fd);
      const t = Date.now();
      assert.match(await errOf([f]), /error \[LIMIT_EXCEEDED\]: .*huge\.json: 2048\.0 MiB is more than trtexec --exportOutput JSON of this model can take \(at most [\d.]+ MiB\): not read/);
      assert.ok(Date.now() - t < 20000);
    });
    it('a Polygraphy file of another model, and a Polygraphy inputs file', async () => {
      const f = path.join(tmp, 'pg_other.json');
      const arr = (shape: number[]) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const h = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`.padEnd(117) + '\n';
        const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length, 0]);
        return { values: { array: Buffer.concat([pre, Buffer.from(h, 'latin1'), Buffer.alloc(n * 4)]).toString('base64'), polygraphy_class: 'ndarray' }, polygraphy_class: 'LazyArray' };
      };
      fs.writeFileSync(f, JSON.stringify({ lst: [['onnxrt-runner-N0', [{ outputs: { logits: arr([1, 1000]) }, runtime: 1, runner_name: 'onnxrt-runner-N0', polygraphy_class: 'IterationResult' }]]], polygraphy_class: 'RunResults' }));
      assert.match(await errOf([f]), /pg_other\.json: runner onnxrt-runner-N0: output\(s\) 'logits' are not outputs of this model/);
      assert.match(await errOf([path.join(dir, 'inputs.json')]), /inputs\.json: this is a Polygraphy inputs file/);
    });
  });
});

/** One block of a trtexec output file, as the importer reads it. */
function f32Block(dir: string, file: string, i: number): Float32Array {
  return readTrtexecOutputs(path.join(dir, file), 64 << 20).outputs.find((o) => o.name === `blocks.${i}.out`)!.data;
}
