/** What a .vsix carries (scripts/package-files.js, used by scripts/package.js). */
import { strict as assert } from 'assert';
import * as path from 'path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const rules = require(path.join(__dirname, '..', '..', '..', 'scripts', 'package-files.js')) as {
  ORT_RUNTIME_FILE: RegExp; SHIPPED_DOC: RegExp; shippedDocText: (t: string) => string;
};

describe('the .vsix contents (scripts/package-files.js)', () => {
  it('onnxruntime-node: the binding and the CPU/WebGPU runtime of each platform, never the CUDA/TensorRT providers its install script may download', () => {
    const ships = ['onnxruntime_binding.node', 'libonnxruntime.so.1', 'libonnxruntime.1.dylib', 'libonnxruntime.1.30.0.dylib', 'onnxruntime.dll', 'DirectML.dll', 'dxil.dll', 'dxcompiler.dll'];
    for (const f of ships) assert.ok(rules.ORT_RUNTIME_FILE.test(f), f);
    const not = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so', 'onnxruntime_providers_cuda.dll', 'libonnxruntime.so.1.30.0.debug', 'README.md'];
    for (const f of not) assert.ok(!rules.ORT_RUNTIME_FILE.test(f), f);
  });
  it('docs: the pages and the schemas they link to; links to the README by the name vsce gives it', () => {
    for (const f of ['docs/cli.md', 'docs/report.schema.json', 'docs/sweep.schema.json']) assert.ok(rules.SHIPPED_DOC.test(f), f);
    assert.ok(!rules.SHIPPED_DOC.test('docs/device-runs/run5-log.txt'));
    assert.equal(rules.shippedDocText('see [the README](../README.md) and [its tour](../README.md#a-one-minute-tour); [x](../README.mdx)'),
      'see [the README](../readme.md) and [its tour](../readme.md#a-one-minute-tour); [x](../README.mdx)');
  });
});
