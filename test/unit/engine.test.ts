/**
 * Provider choice and fallback, exercised for real: onnxruntime-node ships without the CUDA and
 * TensorRT provider libraries, and CI has no GPU, so each GPU provider is tried up to its load and
 * must fall back with a reason a user can act on.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createEngine, probeProviders } from '../../extension/core/engine/session';
import { OnnxGraphBuilder, ElemType } from '../../extension/core/model/onnx-builder';
import type { Realization } from '../../extension/core/report';
import { runPipeline } from '../../extension/core/pipeline';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');

function tinyModel(): Uint8Array {
  const g = new OnnxGraphBuilder();
  const x = g.input('x', ElemType.FLOAT, [2]);
  g.op('Mul', [x, g.scalar(2, ElemType.FLOAT)], undefined, 'y');
  g.output('y', ElemType.FLOAT, [2]);
  return g.encode('tiny', '');
}

const gpuLibsPresent = () => fs.existsSync(path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', 'linux', 'x64', 'libonnxruntime_providers_tensorrt.so'));

describe('engine: provider choice and fallback', function () {
  it('tensorrt falls back through cuda (and webgpu when there is no adapter) to a working provider, with reasons', async function () {
    if (gpuLibsPresent()) this.skip();
    const built: Realization[] = [];
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-cache-'));
    const e = await createEngine({
      ep: 'tensorrt', precision: 'fp16', layerNorm: 'fp32', trtCacheDir: cache, cacheKey: 'abc123',
      buildModel: (r) => {
        built.push(r);
        return tinyModel();
      },
    });
    try {
      assert.ok(e.ep === 'cpu' || e.ep === 'webgpu', e.ep);
      assert.equal(e.fallbacks[0].ep, 'tensorrt');
      assert.match(e.fallbacks[0].reason, /^TensorRT provider library not found/);
      assert.equal(e.fallbacks[1].ep, 'cuda');
      assert.match(e.fallbacks[1].reason, /^CUDA provider library not found/);
      // TensorRT got the fp32 graph with its fp16 flag, the next providers their own graph
      assert.equal(built[0], 'tensorrt');
      assert.equal(built[1], 'native');
      if (e.ep === 'cpu') assert.ok(built.includes('emulated'));
      // the TensorRT options were set up to the load: flags, and a cache folder per (weights, options)
      assert.equal(process.env.ORT_TENSORRT_FP16_ENABLE, '1');
      assert.equal(process.env.ORT_TENSORRT_LAYER_NORM_FP32_FALLBACK, '1');
      assert.equal(process.env.ORT_TENSORRT_CACHE_PATH, path.join(cache, 'abc123'));
      assert.ok(fs.existsSync(path.join(cache, 'abc123')));
      const out = await e.run({ x: Float32Array.from([1.5, -2]) }, { x: [2] });
      assert.deepEqual([...out.get('y')!], [3, -4]);
    } finally {
      await e.release();
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });
  it('an explicit provider that cannot load falls back to the next with the reason (test seam for a GPU machine)', async () => {
    const e = await createEngine({ ep: 'webgpu', precision: 'fp16', layerNorm: 'plain', buildModel: () => tinyModel(), forceUnavailable: { webgpu: 'no WebGPU adapter (forced)' } });
    assert.equal(e.ep, 'cpu');
    assert.equal(e.realization, 'emulated');
    assert.deepEqual(e.fallbacks, [{ ep: 'webgpu', reason: 'no WebGPU adapter (forced)' }]);
    await e.release();
  });
  it('lists which providers load here; the CPU always does', async () => {
    const ps = await probeProviders();
    assert.deepEqual(ps.map((p) => p.ep), ['tensorrt', 'cuda', 'webgpu', 'cpu']);
    assert.ok(ps.find((p) => p.ep === 'cpu')!.available);
    for (const p of ps) if (!p.available) assert.ok(p.reason && p.reason.length > 10);
  });
  it('the Report of an auto run says which provider ran, how FP16 was realized, and why others were skipped', async function () {
    if (gpuLibsPresent()) this.skip();
    const { report } = await runPipeline({ weights: path.join(FIX, 'd3_half_weights.pyth'), data: path.join(FIX, 'd3_half_weights_test_data.p'), ep: 'auto', precision: 'fp16' });
    assert.equal(report.run.requestedEp, 'auto');
    assert.deepEqual(report.run.fallbacks.slice(0, 2).map((f) => f.ep), ['tensorrt', 'cuda']);
    if (report.run.ep === 'cpu') {
      assert.equal(report.run.realization, 'emulated');
      assert.match(report.run.label, /FP16 emulated \(CPU EP/);
    } else {
      assert.equal(report.run.ep, 'webgpu');
      assert.equal(report.run.realization, 'native');
    }
    assert.ok(report.blocks.every((b) => b.relL2 <= 5e-3));
  });
});
