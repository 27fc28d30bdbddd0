/**
 * TensorRT review finding 6: run_polygraphy.sh on TensorRT 11, whose BuilderFlag has no FP16
 * (include/NvInfer.h a892d22; Polygraphy's --fp16 is `config.set_flag(getattr(trt.BuilderFlag,
 * "FP16"))`, backend/trt/config.py a892d22:537-551), runs --trt in FP32 without the fix, saying so.
 * The script asks the Python that runs polygraphy; here that Python is the real python3 with a
 * `tensorrt` module of our own on its path whose BuilderFlag has the members NvInfer.h lists
 * (TensorRT 11 at a892d22, 10.16 at 52399f55), and polygraphy is the stand-in
 * (test/fixtures/trt/polygraphy-standin.js), started by a `polygraphy` on PATH whose #! line names
 * that Python, as pip writes it. The FP32 outputs are then imported.
 * Finding 10: a --save-outputs file of Polygraphy 0.29.2 (written by its own serializer:
 * test/fixtures/trt/polygraphy_0.29.2_make.py) is refused with the way to convert it.
 */
import { strict as assert } from 'assert';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabError } from '../../extension/core/errors';
import { openZip } from '../../extension/core/formats/zip';
import { readPolygraphyOutputs } from '../../extension/core/trt/outputs';
import { cli } from './helpers/cli';

const ROOT = path.join(__dirname, '..', '..', '..');
const FIX = path.join(ROOT, 'test', 'fixtures');
const W = path.join(FIX, 'd1_outlier.pyth');
const D = path.join(FIX, 'd1_outlier_test_data.p');
const STANDIN_POLY = path.join(FIX, 'trt', 'polygraphy-standin.js');

/** trt.BuilderFlag's members (NvInfer.h enum class BuilderFlag, without the k). */
const FLAGS_11 = 'DEBUG GPU_FALLBACK REFIT DISABLE_TIMING_CACHE TF32 SPARSE_WEIGHTS SAFETY_SCOPE DIRECT_IO VERSION_COMPATIBLE EXCLUDE_LEAN_RUNTIME ERROR_ON_TIMING_CACHE_MISS DISABLE_COMPILATION_CACHE STRIP_PLAN REFIT_IDENTICAL WEIGHT_STREAMING REFIT_INDIVIDUAL STRICT_NANS MONITOR_MEMORY EDITABLE_TIMING_CACHE DISTRIBUTIVE_INDEPENDENCE';
const FLAGS_10 = 'FP16 INT8 DEBUG GPU_FALLBACK REFIT DISABLE_TIMING_CACHE TF32 SPARSE_WEIGHTS SAFETY_SCOPE OBEY_PRECISION_CONSTRAINTS PREFER_PRECISION_CONSTRAINTS DIRECT_IO REJECT_EMPTY_ALGORITHMS VERSION_COMPATIBLE EXCLUDE_LEAN_RUNTIME FP8 ERROR_ON_TIMING_CACHE_MISS BF16 DISABLE_COMPILATION_CACHE STRIP_PLAN WEIGHTLESS REFIT_IDENTICAL WEIGHT_STREAMING INT4 REFIT_INDIVIDUAL STRICT_NANS MONITOR_MEMORY FP4 EDITABLE_TIMING_CACHE DISTRIBUTIVE_INDEPENDENCE';

describe('trt review: run_polygraphy.sh on TensorRT 11 (finding 6)', function () {
  this.timeout(300000);
  let tmp: string;
  let dir: string;
  let python3: string;

  /** A `tensorrt` package for python3 (a folder to put on PYTHONPATH). */
  function fakeTensorrt(name: string, version: string, flags: string): string {
    const d = path.join(tmp, name, 'tensorrt');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, '__init__.py'), `__version__ = "${version}"\nclass BuilderFlag:\n${flags.split(' ').map((f, i) => `    ${f} = ${i}\n`).join('')}`);
    return path.dirname(d);
  }
  /** A "venv": its python (python3 with `site` on its path) and a polygraphy whose #! line names it, running the stand-in. */
  function venv(name: string, site: string): string {
    const bin = path.join(tmp, name, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'python'), `#!/bin/sh\nPYTHONPATH=${site} exec ${python3} "$@"\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(bin, 'polygraphy'), `#!${path.join(bin, 'python')}\nimport os, sys\nos.execvp(${JSON.stringify(process.execPath)}, [${JSON.stringify(process.execPath)}, ${JSON.stringify(STANDIN_POLY)}] + sys.argv[1:])\n`, { mode: 0o755 });
    return bin;
  }
  const runScript = (env: Record<string, string>) => {
    const log = path.join(tmp, `calls-${Math.random().toString(36).slice(2)}.jsonl`);
    const s = spawnSync('bash', [path.join(dir, 'run_polygraphy.sh')], { env: { ...process.env, STANDIN_LOG: log, ...env }, encoding: 'utf8' });
    const calls = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]) : [];
    return { ...s, calls };
  };

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-trt-poly-'));
    dir = path.join(tmp, 'bundle');
    python3 = execFileSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).trim();
    const r = await cli(['export-trt', '--weights', W, '--data', D, '--out', dir, '--quiet']);
    assert.equal(r.code, 0, r.err);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('TensorRT 11 (no BuilderFlag.FP16), asked through polygraphy\'s own #! Python: --trt in FP32, no fix flags, saying so; the outputs import', async () => {
    const bin = venv('venv11', fakeTensorrt('trt11', '11.1.0', FLAGS_11));
    // python3 on PATH has no tensorrt: only polygraphy's own Python can answer
    assert.notEqual(spawnSync(python3, ['-c', 'import tensorrt']).status, 0);
    const s = runScript({ PATH: `${bin}${path.delimiter}${process.env.PATH}`, POLYGRAPHY: '' });
    assert.equal(s.status, 0, s.stderr);
    assert.match(s.stderr, /TensorRT 11\.1\.0 has no BuilderFlag\.FP16 \(TensorRT 11 builds strongly typed networks: the ONNX types decide\); running --trt in FP32, without the fix/);
    assert.deepEqual(s.calls, [
      ['run', 'model.onnx', '--trt', '--load-inputs', 'inputs.json', '--save-outputs', 'polygraphy_trt_fp32.json'],
      ['run', 'model_marked.onnx', '--trt', '--load-inputs', 'inputs.json', '--save-outputs', 'polygraphy_trt_fp32_marked.json'],
    ]);
    const imp = await cli(['import', '--weights', W, '--quiet', path.join(dir, 'polygraphy_trt_fp32.json'), path.join(dir, 'polygraphy_trt_fp32_marked.json')]);
    assert.equal(imp.code, 0, imp.err + imp.out);
    assert.match(imp.out, /Polygraphy TensorRT FP32/);
    assert.match(imp.out, /PASS/);
  });

  it('TensorRT 10 (BuilderFlag.FP16), the Python named by POLYGRAPHY_PYTHON: FP16 plain and with the fix, as before', () => {
    const site = fakeTensorrt('trt10', '10.16.0', FLAGS_10);
    const py = path.join(venv('venv10', site), 'python');
    const s = runScript({ POLYGRAPHY: `node ${STANDIN_POLY}`, POLYGRAPHY_PYTHON: py });
    assert.equal(s.status, 0, s.stderr);
    assert.doesNotMatch(s.stderr, /BuilderFlag/);
    assert.deepEqual(s.calls.map((c) => c.at(-1)), ['polygraphy_trt_fp16.json', 'polygraphy_trt_fp16_marked.json', 'polygraphy_trt_fp16_fix.json', 'polygraphy_trt_fp16_fix_marked.json']);
    assert.ok(s.calls.every((c) => c[3] === '--fp16'));
    // the interpreter named first in POLYGRAPHY is asked too
    const viaPoly = runScript({ POLYGRAPHY: `${path.join(venv('venv11b', fakeTensorrt('trt11b', '11.1.0', FLAGS_11)), 'python')} ${path.join(tmp, 'venv11b', 'bin', 'polygraphy')}` });
    assert.equal(viaPoly.status, 0, viaPoly.stderr);
    assert.deepEqual(viaPoly.calls.map((c) => c.at(-1)), ['polygraphy_trt_fp32.json', 'polygraphy_trt_fp32_marked.json']);
  });

  it('no Python with tensorrt to ask: FP16 as for TensorRT 10, saying it could not tell and why', () => {
    const s = runScript({ POLYGRAPHY: `node ${STANDIN_POLY}` });
    assert.equal(s.status, 0, s.stderr);
    assert.match(s.stderr, /could not ask python3's tensorrt whether it has BuilderFlag\.FP16 \(ModuleNotFoundError: No module named 'tensorrt'\); running FP16 as for TensorRT <= 10 \(set POLYGRAPHY_PYTHON/);
    assert.equal(s.calls.length, 4);
    assert.ok(s.calls.every((c) => c[3] === '--fp16'));
  });
});

describe('trt review: Polygraphy files of before 0.31 (finding 10)', () => {
  const LEGACY = path.join(FIX, 'trt', 'polygraphy_0.29.2_legacy.json');
  const RESAVED = path.join(FIX, 'trt', 'polygraphy_0.29.2_resaved.json');
  const PROBS = path.join(FIX, 'trt', 'polygraphy_0.29.2_probs.npy');

  it('the fixture is Polygraphy 0.29.2\'s own format: its array is np.savez\'s zip (arr_0.npy) in a latin-1 string, the array of probs.npy', async () => {
    const j = JSON.parse(fs.readFileSync(LEGACY, 'utf8'));
    assert.equal(j.__polygraphy_encoded_RunResults, 'polygraphy_serialized_json_type');
    const nd = j.lst[0][1][0].outputs.probs.values;
    assert.equal(nd.__polygraphy_encoded_ndarray, 'polygraphy_serialized_json_type');
    const zipFile = path.join(os.tmpdir(), `tsl-npz-${process.pid}.npz`);
    fs.writeFileSync(zipFile, Buffer.from(nd.array, 'latin1'));
    const z = await openZip(zipFile);
    try {
      assert.deepEqual([...z.entries.keys()], ['arr_0.npy']);
      assert.deepEqual(Buffer.from(await z.read('arr_0.npy')), fs.readFileSync(PROBS));
    } finally {
      await z.close();
      fs.rmSync(zipFile, { force: true });
    }
  });

  it('is refused by name (BAD_OUTPUTS), saying which Polygraphy reads and converts it; the file that conversion writes is read, bit for bit', () => {
    assert.throws(() => readPolygraphyOutputs(LEGACY, 1 << 30), (e: unknown) => e instanceof LabError && e.code === 'BAD_OUTPUTS'
      && e.message === `${LEGACY}: output 'probs' is in the format of Polygraphy before 0.31 (arrays as np.savez bytes in a latin-1 string, "polygraphy_serialized_json_type" markers), which is not read here: `
        + 'save it again with Polygraphy 0.31 or newer, which reads it and writes base64 np.save arrays: '
        + `python3 -c "from polygraphy.comparator import RunResults; RunResults.load('OLD.json').save('NEW.json')"`);
    const [run] = readPolygraphyOutputs(RESAVED, 1 << 30);
    assert.equal(run.runner, 'trt-runner-N0-07/15/21-10:02:11');
    assert.deepEqual(run.outputs.map((o) => [o.name, o.dims]), [['probs', [1, 400]]]);
    const npy = fs.readFileSync(PROBS);
    const want = npy.subarray(10 + npy.readUInt16LE(8));
    assert.deepEqual(Buffer.from(run.outputs[0].data.buffer, run.outputs[0].data.byteOffset, run.outputs[0].data.byteLength), want);
  });
});
