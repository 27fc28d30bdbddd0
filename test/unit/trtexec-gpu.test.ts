/**
 * TensorRT review finding 7: the engine cache is keyed on the GPU too (a plan is specific to the
 * compute capability and model that built it), read from nvidia-smi or from trtexec's own device
 * lines (samples/common/sampleDevice.cpp setCudaDevice), and an entry trtexec cannot load is dropped
 * and built again, once. trtexec is the stand-in (test/fixtures/trt/trtexec-standin.js: the device
 * lines, an "engine" that names the compute capability it was built on and fails to deserialize
 * elsewhere or when damaged); nvidia-smi is a stand-in shell script on PATH.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { LabError } from '../../extension/core/errors';
import { prepare, type Prepared } from '../../extension/core/pipeline';
import { EngineCache } from '../../extension/core/trt/engine-cache';
import { detectGpu, gpuFromNvidiaSmi, parseDeviceLines, parseNvidiaSmi } from '../../extension/core/trt/gpu';
import { probeTrtexec, type TrtexecInfo } from '../../extension/core/trt/trtexec';
import { trtexecRun } from '../../extension/core/trt/trtexec-run';
import { rejects } from './helpers/errors';
import { D, STANDIN, W, withEnv } from './helpers/trtexec';

const H100 = 'NVIDIA H100 80GB HBM3,9.0';
const A100 = 'NVIDIA A100-SXM4-80GB,8.0';

/** An nvidia-smi that prints `out` (exit `code`) for any arguments, alone in a folder. */
function fakeSmi(dir: string, out: string, code = 0): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'nvidia-smi'), `#!/bin/sh\nprintf '%s' '${out.replace(/'/g, `'\\''`)}'\nexit ${code}\n`, { mode: 0o755 });
  return dir;
}

describe('trtexec: the engine cache knows the GPU (review finding 7)', function () {
  this.timeout(180000);
  let tmp: string;
  const nodeDir = path.dirname(process.execPath);

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-trt-gpu-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('reads nvidia-smi\'s csv (names with commas of their own) and trtexec\'s "Selected Device" / "Compute Capability" lines', () => {
    assert.deepEqual(parseNvidiaSmi('NVIDIA H100 80GB HBM3, 9.0\r\nNVIDIA RTX A6000, Ada, 8.9\n\nNo devices were found\n'), [
      { name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' }, { name: 'NVIDIA RTX A6000, Ada', computeCapability: '8.9' },
    ]);
    const lines = [
      '[12/08/2025-10:00:00] [I] === Device Information ===',
      '[12/08/2025-10:00:00] [I]   Device 0: "NVIDIA L4" UUID: GPU-1',
      '[12/08/2025-10:00:00] [I] Selected Device: NVIDIA L4',
      '[12/08/2025-10:00:00] [I] Selected Device ID: 0',
      '[12/08/2025-10:00:00] [I] Selected Device UUID: GPU-1',
      '[12/08/2025-10:00:00] [I] Compute Capability: 8.9',
    ];
    assert.deepEqual(parseDeviceLines(lines), { name: 'NVIDIA L4', computeCapability: '8.9' });
    assert.equal(parseDeviceLines(lines.slice(0, 4)), undefined, 'no compute capability, no GPU');
  });

  it('nvidia-smi names the GPU when it lists one kind; several kinds, an old driver or none leave it to trtexec\'s probe run', async () => {
    const env = (dir: string) => ({ ...process.env, PATH: `${dir}${path.delimiter}${nodeDir}${path.delimiter}/usr/bin${path.delimiter}/bin` });
    assert.deepEqual(await gpuFromNvidiaSmi(env(fakeSmi(path.join(tmp, 'one'), 'NVIDIA H100 80GB HBM3, 9.0\nNVIDIA H100 80GB HBM3, 9.0\n'))), { name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' });
    assert.match(await gpuFromNvidiaSmi(env(fakeSmi(path.join(tmp, 'two'), 'NVIDIA H100 80GB HBM3, 9.0\nNVIDIA A100-SXM4-80GB, 8.0\n'))) as string, /GPUs of 2 kinds .*trtexec's device 0/);
    assert.match(await gpuFromNvidiaSmi(env(fakeSmi(path.join(tmp, 'old'), 'Field "compute_cap" is not a valid field to query.\n', 2))) as string, /exited with 2: Field "compute_cap"/);
    assert.equal(await gpuFromNvidiaSmi(env(path.join(tmp, 'empty'))), 'nvidia-smi is not on PATH');

    // without nvidia-smi: trtexec's own device lines, from a run that loads no engine
    const g = await detectGpu(STANDIN, tmp, { env: { ...env(path.join(tmp, 'empty')), STANDIN_GPU: A100 } });
    assert.deepEqual(g, { name: 'NVIDIA A100-SXM4-80GB', computeCapability: '8.0', source: 'trtexec', why: 'nvidia-smi is not on PATH' });
    const smi = await detectGpu(STANDIN, tmp, { env: { ...env(path.join(tmp, 'one')), STANDIN_GPU: A100 } });
    assert.equal(smi.source, 'nvidia-smi');
    const e = await detectGpu(STANDIN, tmp, { env: { ...env(path.join(tmp, 'empty')), STANDIN_GPU: 'none' } }).then(() => undefined, (x: LabError) => x);
    assert.equal(e?.code, 'PROVIDER_UNAVAILABLE');
    assert.match(e!.message, /trtexec names no GPU .*Cannot find any available devices \(GPUs\)!/s);
  });

  describe('runs with the stand-in on d1', () => {
    let p: Prepared;
    let v10: TrtexecInfo;
    let cacheDir: string;
    let argLog: string;
    const said: string[] = [];
    const calls = () => fs.readFileSync(argLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]).filter((a) => !a.includes('--help') && !a.some((x) => x.includes('gpu-probe-no-engine')));
    const run = (env: Record<string, string>) => withEnv({ STANDIN_LOG: argLog, ...env }, () => trtexecRun(p, { trtexec: v10, cacheDir, precision: 'fp16', layerNorm: 'plain' }));

    before(async () => {
      cacheDir = path.join(tmp, 'cache');
      argLog = path.join(tmp, 'args.jsonl');
      fs.writeFileSync(argLog, '');
      v10 = await withEnv({ STANDIN_TRT_VERSION: '10' }, () => probeTrtexec(STANDIN));
      p = await prepare({ weights: W, data: D });
      const say = p.say.bind(p);
      (p as { say: (l: string) => void }).say = (l: string) => {
        said.push(l);
        say(l);
      };
    });
    after(() => p?.close());

    it('another GPU is another entry: an H100\'s engine is not loaded on an A100, and each GPU hits its own', async () => {
      const h = await run({ STANDIN_GPU: H100 });
      assert.equal(h.cacheHit, false);
      assert.deepEqual(h.gpu, { name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0', source: 'trtexec', why: 'nvidia-smi is not on PATH' });
      assert.ok(said.some((l) => l === 'trtexec: GPU NVIDIA H100 80GB HBM3 (compute capability 9.0), read from trtexec\'s device lines (nvidia-smi is not on PATH)'), said.join('\n'));
      const a = await run({ STANDIN_GPU: A100 });
      assert.equal(a.cacheHit, false, 'the A100 builds its own');
      assert.notEqual(a.key, h.key);
      assert.ok(calls().at(-1)![0].startsWith('--onnx='));
      const again = await run({ STANDIN_GPU: H100 });
      assert.equal(again.cacheHit, true);
      assert.equal(again.key, h.key);
      assert.equal(calls().at(-1)![0], `--loadEngine=${h.engine}`);
      const meta = JSON.parse(fs.readFileSync(path.join(cacheDir, `${h.key}.json`), 'utf8'));
      assert.deepEqual(meta.gpu, { name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' });
      assert.deepEqual(again.report.blocks.map((b) => b.relL2), h.report.blocks.map((b) => b.relL2));
    });

    it('an entry trtexec cannot load (built on another compute capability, or damaged) is dropped and built again once, saying why; the new one is a hit after', async () => {
      const first = await run({ STANDIN_GPU: H100 });
      const plan = path.join(cacheDir, `${first.key}.plan`);
      for (const [damage, why] of [
        [(b: Buffer) => Buffer.concat([Buffer.from('STANDIN-PLAN compute 8.6\n'), b.subarray(b.indexOf(10) + 1)]), /incompatible device, expecting compute 9\.0 got compute 8\.6/],
        [() => Buffer.from('not an engine'), /Serialization assertion .* failed/],
      ] as const) {
        fs.writeFileSync(plan, damage(fs.readFileSync(plan)));
        said.length = 0;
        const n = calls().length;
        const r = await run({ STANDIN_GPU: H100 });
        const two = calls().slice(n);
        assert.equal(two.length, 2, 'one load, one build: no more');
        assert.equal(two[0][0], `--loadEngine=${plan}`);
        assert.ok(two[1][0].startsWith('--onnx=') && two[1].some((x) => x.startsWith('--saveEngine=')));
        assert.equal(r.cacheHit, false);
        assert.equal(r.key, first.key);
        const line = said.find((l) => l.startsWith(`trtexec: the cached engine ${first.key} could not be loaded`));
        assert.ok(line && why.test(line) && line.endsWith(`removed it from the cache ${cacheDir}; building it again`), said.join('\n'));
        assert.ok(!/set up failed/.test(line), line);
        assert.deepEqual(r.report.blocks.map((b) => b.relL2), first.report.blocks.map((b) => b.relL2));
        assert.equal((await run({ STANDIN_GPU: H100 })).cacheHit, true, 'the rebuilt entry loads');
      }
    });

    it('a rebuild that fails too is the build\'s ENGINE_FAILED, with the bad entry gone (no third try)', async () => {
      const first = await run({ STANDIN_GPU: H100 });
      fs.writeFileSync(path.join(cacheDir, `${first.key}.plan`), 'damaged');
      const n = calls().length;
      await rejects(run({ STANDIN_GPU: H100, STANDIN_FAIL: 'build' }), 'ENGINE_FAILED', 'trtexec exited with code 1', 'Engine could not be created from network');
      assert.equal(calls().length, n + 2);
      assert.equal(new EngineCache(cacheDir).lookup(first.key), undefined);
      assert.ok(!fs.existsSync(path.join(cacheDir, `${first.key}.json`)));
    });

    it('nvidia-smi names the key\'s GPU; trtexec running on another compute capability builds but caches nothing under that key', async () => {
      const smi = fakeSmi(path.join(tmp, 'smi-h100'), 'NVIDIA H100 80GB HBM3, 9.0\n');
      const byLog = await run({ STANDIN_GPU: H100 });
      said.length = 0;
      const r = await run({ STANDIN_GPU: A100, PATH: `${smi}${path.delimiter}${process.env.PATH}` });
      assert.equal(r.gpu.source, 'nvidia-smi');
      assert.equal(r.key, byLog.key, 'the same GPU read by nvidia-smi or by trtexec is the same key');
      assert.equal(r.cacheHit, false);
      // the cached H100 engine does not load on the A100: dropped, rebuilt on the A100, and not cached under the H100's key
      assert.ok(said.some((l) => /could not be loaded .*expecting compute 8\.0 got compute 9\.0/.test(l)), said.join('\n'));
      assert.ok(said.some((l) => l === 'trtexec: it ran on NVIDIA A100-SXM4-80GB (compute capability 8.0), nvidia-smi said NVIDIA H100 80GB HBM3 (compute capability 9.0): its engine is not cached'), said.join('\n'));
      assert.equal(r.engine, undefined);
      assert.equal(new EngineCache(cacheDir).lookup(r.key), undefined);
      assert.deepEqual(fs.readdirSync(cacheDir).filter((f) => f.includes('.partial-')), []);
    });
  });
});
