/**
 * Every ONNX file the CLI writes passes the ONNX project's own checker — the check that tools run
 * before they build an engine (trtexec's parser, Polygraphy, onnxruntime's Python tools). It is run
 * by the real reader: Debian's python3-onnx (1.12, IR 8, opset 17), installed by
 * scripts/install-system-deps.sh. `full_check` adds strict shape inference over the whole graph,
 * which needs every graph input and output typed with its shape.
 *
 * In CI the checker must be there; elsewhere the test is skipped (with its reason) when
 * /usr/bin/python3 lacks the onnx module.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../extension/cli';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const W = path.join(FIX, 'd1_outlier.pyth');
const D = path.join(FIX, 'd1_outlier_test_data.p');
const PY = '/usr/bin/python3';

const CHECK = `
import json, sys, onnx
out = []
for f in sys.argv[1:]:
    m = onnx.load(f)
    try:
        onnx.checker.check_model(m, full_check=True)
        err = None
    except Exception as e:
        err = str(e)[:400]
    untyped = [v.name for v in list(m.graph.input) + list(m.graph.output)
               if not v.type.tensor_type.HasField('shape') or v.type.tensor_type.elem_type == 0]
    out.append({'file': f, 'error': err, 'untyped': untyped,
                'outputs': [v.name for v in m.graph.output], 'opset': m.opset_import[0].version})
print(json.dumps(out))
`;

function haveChecker(): boolean {
  return spawnSync(PY, ['-c', 'import onnx'], { encoding: 'utf8' }).status === 0;
}

async function quietMain(args: string[]): Promise<number> {
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  let err = '';
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    if (code === 2) throw new Error(`timesformer-lab ${args.join(' ')} exited 2: ${err}`);
    return code;
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}

describe('onnx.checker accepts every ONNX file the CLI writes', function () {
  let tmp: string;
  before(function () {
    if (!haveChecker()) {
      if (process.env.CI) throw new Error(`${PY} has no onnx module: scripts/install-system-deps.sh installs python3-onnx`);
      this.skip();
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-onnxcheck-'));
  });
  after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

  it('export-onnx (fused and decomposed, the minimal fix) and run --save-onnx (FP32, FP16 plain and fixed) all pass check_model(full_check=True) with typed inputs and outputs', async () => {
    const files: string[] = [];
    for (const form of ['fused', 'decomposed']) {
      const out = path.join(tmp, `trt-${form}.onnx`);
      await quietMain(['export-onnx', '--weights', W, '--data', D, '--form', form, '--out', out]);
      files.push(out);
    }
    const fixed = path.join(tmp, 'trt-minimal.onnx');
    await quietMain(['export-onnx', '--weights', W, '--data', D, '--layernorm', 'minimal', '--out', fixed]);
    files.push(fixed);
    const asRun = path.join(tmp, 'run.onnx');
    await quietMain(['run', '--weights', W, '--data', D, '--precision', 'fp16', '--layernorm', 'plain,fp32', '--quiet', '--no-confirm', '--save-onnx', asRun]);
    const fp32 = path.join(tmp, 'run32.onnx');
    await quietMain(['run', '--weights', W, '--data', D, '--precision', 'fp32', '--quiet', '--save-onnx', fp32]);
    for (const f of fs.readdirSync(tmp)) if (/^run.*\.onnx$/.test(f)) files.push(path.join(tmp, f));
    assert.ok(files.length >= 6, `expected the as-run files of two FP16 modes and FP32, got ${fs.readdirSync(tmp).join(', ')}`);

    const r = spawnSync(PY, ['-c', CHECK, ...files], { encoding: 'utf8', maxBuffer: 1 << 24 });
    assert.equal(r.status, 0, r.stderr);
    const results = JSON.parse(r.stdout) as { file: string; error: string | null; untyped: string[]; outputs: string[]; opset: number }[];
    assert.equal(results.length, files.length);
    for (const x of results) {
      const name = path.basename(x.file);
      assert.equal(x.error, null, `${name}: onnx.checker refused it: ${x.error}`);
      assert.deepEqual(x.untyped, [], `${name}: graph inputs/outputs without a shape: ${x.untyped.join(', ')}`);
      assert.ok(x.outputs.length >= 1, `${name}: no graph output`);
    }
    // The TensorRT exports are the deployed graph: one output, the probabilities.
    for (const x of results.filter((y) => path.basename(y.file).startsWith('trt-'))) {
      assert.deepEqual(x.outputs, ['probs'], `${path.basename(x.file)} outputs ${x.outputs.join(', ')}`);
    }
  });
});
