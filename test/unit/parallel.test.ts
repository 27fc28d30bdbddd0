/**
 * Issue 11, round 2: the passes a run makes in JavaScript, fused and spread over worker threads,
 * give exactly what the separate single-threaded passes gave — the weights' bytes on disk, the
 * errors on broken weights, every number of the comparison — and WebGPU outputs come back on the
 * CPU unless asked otherwise.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { WeightStore, transpose2d } from '../../extension/core/model/weight-store';
import { convertChecked, prepareWeight, transposeChecked, anyNonFinite, type SixteenKind } from '../../extension/core/model/weight-kernels';
import { findNonFinite, float32ToBfloat16Array, float32ToHalfArray, roundToHalfInPlace } from '../../extension/core/tensor';
import { compareBlock, diff, tensorStats, tokenErrors } from '../../extension/core/compare/metrics';
import { compareBlocks, comparePool } from '../../extension/core/compare/blocks';
import { defaultThreads, startPool } from '../../extension/core/parallel';
import { openModel } from '../../extension/core/pipeline';
import { outputsOnGpu } from '../../extension/core/engine/session';
import { LabError } from '../../extension/core/errors';
import { writeTorchCheckpoint } from '../tools/torch-writer';
import { checkpointSpec, fillTensor, FULL_SIZE } from '../../scripts/fixtures/gen-checkpoint';

/** Every kind of float32 a weight can hold: ordinary values, fp16 ties and boundaries, subnormals, ±0, ±inf, NaN with payloads. */
function awkward(n: number, seed = 1): Float32Array {
  const a = new Float32Array(n);
  const bits = new Uint32Array(a.buffer);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = ((s >>> 8) / 2 ** 24 - 0.5) * 0.2;
    if (i % 97 === 0) bits[i] = s; // any bit pattern at all: every exponent, NaN payloads
  }
  const special = [65504, 65519.99, 65520, -65520, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14, 2 ** -14 - 2 ** -25, -0, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** 127];
  special.forEach((v, k) => (a[(k * 7919) % n] = v));
  return a;
}

const sameBits = (x: ArrayBufferView, y: ArrayBufferView) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
const u8 = (a: Float32Array | Uint16Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('weights: one fused pass per weight gives the separate passes\' bytes', () => {
  const expected = (v: Float32Array, kind: SixteenKind): Uint8Array =>
    kind === 'f16' ? u8(float32ToHalfArray(v)) : kind === 'bf16' ? u8(float32ToBfloat16Array(v)) : u8(roundToHalfInPlace(v, kind === 'f32.f16' ? 'fp16' : 'bf16', new Float32Array(v.length)));

  it('transposes, converts to every 16-bit kind and checks, bit for bit, on any shape', () => {
    for (const [rows, cols] of [[1, 1], [3, 5], [8, 8], [9, 300], [17, 513], [64, 48]]) {
      const a = awkward(rows * cols, rows * 31 + cols);
      const finite = Float32Array.from(a, (v) => (Number.isFinite(v) ? v : 0.5));
      for (const src of [a, finite]) {
        const t = new Float32Array(src.length);
        assert.equal(transposeChecked(src, rows, cols, t), findNonFinite(src) !== null, `${rows}x${cols}: the check`);
        assert.ok(sameBits(t, transpose2d(src, rows, cols)), `${rows}x${cols}: transposed bits`);
        for (const kind of ['f16', 'bf16', 'f32.f16', 'f32.bf16'] as const) {
          for (const transposed of [false, true]) {
            const layout = transposed ? transpose2d(src, rows, cols) : src;
            const { forms, nonFinite } = prepareWeight(src, rows, transposed, [kind], {});
            assert.ok(sameBits(forms[0], layout), `${rows}x${cols} ${kind}: float32 form`);
            assert.ok(sameBits(forms[1], expected(layout, kind)), `${rows}x${cols} ${kind}${transposed ? ' transposed' : ''}: 16-bit form`);
            assert.equal(nonFinite, findNonFinite(src) !== null);
          }
        }
      }
    }
  });

  it('says whether a value is NaN or infinite, and nothing else', () => {
    assert.equal(anyNonFinite(Float32Array.from([0, -0, 3.4e38, -3.4e38, 1e-45])), false);
    for (const bad of [NaN, Infinity, -Infinity]) {
      const a = new Float32Array(1000);
      a[999] = bad;
      assert.equal(anyNonFinite(a), true);
      assert.equal(convertChecked(a, 'f32.f16', new Float32Array(1000)), true);
      assert.equal(transposeChecked(a, 40, 25, new Float32Array(1000)), true);
    }
  });
});

describe('weight store on worker threads', function () {
  this.timeout(60000);
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-par-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A small checkpoint in the official layout; `poison` sets values after they are drawn. */
  function checkpoint(file: string, poison: Record<string, [number, number][]> = {}): void {
    const o = { ...FULL_SIZE, embed: 48, depth: 2, frames: 2, image: 32, patch: 16, classes: 5 };
    const spec = checkpointSpec(o);
    writeTorchCheckpoint({
      path: file, stem: 'p', tensors: spec, before: [['epoch', 0]],
      fill: (i, t, write) => {
        const v = fillTensor(spec[i], i, 7, new Float32Array(t.shape.reduce((a, b) => a * b, 1)));
        for (const [k, x] of poison[t.key.replace(/^model\./, '')] ?? []) v[k] = x;
        write(new Uint8Array(v.buffer));
      },
    });
  }

  const files = (s: WeightStore) => fs.readdirSync(s.dir).filter((f) => f.endsWith('.bin')).sort().map((f) => [f, fs.readFileSync(path.join(s.dir, f))] as const);

  it('writes the same files as this thread does, for every kind a run asks for', async () => {
    const ckpt = path.join(dir, 'c.pyth');
    checkpoint(ckpt);
    for (const kinds of [[], ['f16'], ['f32.f16'], ['bf16', 'f32.bf16']] as const) {
      const here = WeightStore.create({ parent: dir });
      const there = WeightStore.create({ parent: dir });
      try {
        const a = await openModel(ckpt, here, kinds, 0);
        const b = await openModel(ckpt, there, kinds, 3);
        assert.equal(b.weightBytes, a.weightBytes);
        assert.equal(b.dtype, a.dtype);
        const fa = files(here);
        const fb = files(there);
        assert.deepEqual(fb.map(([f]) => f), fa.map(([f]) => f));
        fa.forEach(([f, bytes], i) => assert.ok(bytes.equals(fb[i][1]), `${kinds.join('+') || 'f32'}: ${f} differs`));
        assert.deepEqual(there.read('blocks.1.mlp.fc1.weight', true), here.read('blocks.1.mlp.fc1.weight', true));
      } finally {
        here.close();
        there.close();
      }
    }
  });

  it('names the first broken weight of the file and counts them all, as this thread does', async () => {
    const ckpt = path.join(dir, 'nan.pyth');
    // a transposed weight and a bias, poisoned in the opposite order of the file
    checkpoint(ckpt, { 'blocks.1.mlp.fc2.bias': [[5, NaN]], 'blocks.0.attn.qkv.weight': [[7, Infinity], [100, -Infinity]] });
    const message = async (threads: number) => {
      const s = WeightStore.create({ parent: dir });
      try {
        await openModel(ckpt, s, ['f32.f16'], threads);
        return 'no error';
      } catch (e) {
        assert.ok(e instanceof LabError && e.code === 'NON_FINITE', String(e));
        return e.message;
      } finally {
        s.close();
      }
    };
    const inline = await message(0);
    assert.match(inline, /blocks\.0\.attn\.qkv\.weight\[0, 7\] is Infinity \(3 non-finite value\(s\) in 2 tensor\(s\)\)/);
    assert.equal(await message(2), inline);
  });

  it('a store whose threads are stopped works on this thread, and a weight handed over is not needed again', async () => {
    const s = WeightStore.create({ parent: dir });
    try {
      s.startWorkers(2);
      const w = awkward(24 * 40).map((v) => (Number.isFinite(v) ? v : 1));
      const copy = w.slice();
      assert.equal(await s.put('a.weight', [24, 40], w, true, ['f16'], false), null);
      assert.ok(sameBits(w, copy), 'not handed over: the caller\'s array is left as it was');
      await s.stopWorkers();
      assert.equal(await s.put('b.weight', [24, 40], copy.slice(), true, ['f16']), null);
      const bits = (k: string) => {
        const r = s.ref(k, { transposed: true, kind: 'f16' });
        const b = new Uint8Array(r.length);
        s.readRef(r, 0, b);
        return Buffer.from(b);
      };
      assert.ok(bits('a.weight').equals(bits('b.weight')));
    } finally {
      s.close();
    }
  });
});

describe('comparison: one pass per block, on worker threads where there are cores', function () {
  this.timeout(60000);
  // S = 6 patches, T = 4 frames, C = 16 channels: 25 tokens
  const S = 6;
  const T = 4;
  const C = 16;
  const shape = [1, 1 + S * T, C];
  function block(seed: number, poison = false): { out: Float32Array; ref: Float32Array } {
    const ref = awkward(shape[1] * C, seed).map((v) => (Number.isFinite(v) ? v : 1));
    const out = ref.map((v, i) => v + Math.sin(i + seed) * 1e-3);
    out[3 * C + 2] = 70000; // past fp16's range
    if (poison) {
      out[5 * C + 1] = NaN;
      out[9 * C + 7] = -Infinity;
      out[4] = Infinity; // in the class token: counted, not compared
    }
    return { out, ref };
  }

  it('gives diff, tokenErrors and tensorStats of the output and the reference exactly, inf and NaN included', () => {
    for (const poison of [false, true]) {
      const { out, ref } = block(3, poison);
      const c = compareBlock(out, ref, S, T, C, shape, 'o', 'r');
      assert.deepEqual(c.diff, diff(out, ref, C));
      assert.deepEqual(c.tokenError, tokenErrors(out, ref, S, T, C));
      assert.deepEqual(c.output, tensorStats('o', out, shape));
      assert.deepEqual(c.reference, tensorStats('r', ref, shape));
      assert.equal(compareBlock(out, ref, S, T, C, shape, 'o').reference, undefined, 'no reference statistics unless asked');
    }
    const p = compareBlock(...Object.values(block(4, true)) as [Float32Array, Float32Array], S, T, C, shape, 'o');
    assert.equal(p.diff.relL2, Infinity);
    assert.equal(p.output.nanCount, 1);
    assert.equal(p.output.infCount, 2);
    assert.equal(p.tokenError[0][1], Infinity, 'token 5 = (patch 1, frame 0) holds the NaN');
  });

  it('worker threads give the blocks this thread gives, in order', async () => {
    const jobs = [1, 2, 3, 4, 5, 6, 7].map((k) => ({ ...block(k, k === 4), outName: `blocks.${k}.out`, refName: k % 2 ? `blocks.${k}.ref` : undefined }));
    const alone = await compareBlocks(jobs, { S, T, C, shape });
    const pool = startPool(2);
    assert.ok(pool, 'threads start here');
    try {
      // let the threads come up, so that they do take blocks
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(await compareBlocks(jobs, { S, T, C, shape }, pool), alone);
    } finally {
      await pool!.close();
    }
    // expose mode's intermediates: their statistics on the threads, exactly as here
    const pool2 = startPool(2)!;
    try {
      for (const poison of [false, true]) {
        const { out } = block(6, poison);
        for (const channels of [true, false]) {
          const sh = channels ? [out.length / C, C] : [out.length];
          assert.deepEqual(await pool2.run({ type: 'stats', name: 'x.diff', a: out, shape: sh, channels }), tensorStats('x.diff', out, sh, channels));
        }
      }
    } finally {
      await pool2.close();
    }
    assert.equal(comparePool(1000, 4), undefined, 'small comparisons stay on this thread');
    assert.equal(comparePool(2 ** 24, 1), undefined, 'so do those of a 2-core machine');
  });

  it('the shipped bundle carries its worker script: dist/lab-worker.js, next to dist/cli.js and dist/worker.js, answers a job as this thread does', async () => {
    // parallel.ts starts lab-worker.js from its own folder: in the .vsix and `node dist/cli.js` that is dist/
    const file = path.join(__dirname, '..', '..', '..', 'dist', 'lab-worker.js');
    assert.ok(fs.existsSync(file), `${file}: npm run build bundles it`);
    const { Worker } = await import('worker_threads');
    const w = new Worker(file);
    try {
      const { out, ref } = block(5, true);
      const job = { type: 'compare', out, ref, S, T, C, shape, outName: 'o', refName: 'r' };
      const answer = await new Promise<{ id: number; result?: unknown; error?: string }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
        w.postMessage({ id: 1, job });
      });
      assert.equal(answer.error, undefined);
      assert.deepEqual(answer.result, compareBlock(out, ref, S, T, C, shape, 'o', 'r'));
    } finally {
      await w.terminate();
    }
  });

  it('the shipped bundle carries the GPU helper process: dist/gpu-helper.js answers over IPC and leaves when its parent disconnects', async () => {
    const file = path.join(__dirname, '..', '..', '..', 'dist', 'gpu-helper.js');
    assert.ok(fs.existsSync(file), `${file}: npm run build bundles it`);
    const { fork } = await import('child_process');
    const child = fork(file, [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
    const answer = await new Promise<{ id: number; ok: boolean; result?: { available: boolean }; maxRssBytes: number }>((resolve, reject) => {
      child.once('message', resolve as (m: unknown) => void);
      child.once('error', reject);
      child.send({ type: 'warm', id: 7, ep: 'cpu' });
    });
    assert.equal(answer.id, 7);
    assert.equal(answer.ok, true);
    assert.deepEqual(answer.result, { available: true });
    assert.ok(answer.maxRssBytes > 0);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.disconnect();
    assert.equal(await exited, 0);
  });

  it('the GPU helper process runs a model from a file and gives each output an array of its own (a view into one buffer would carry all of them to every worker job)', async () => {
    const { GpuHelper } = await import('../../extension/core/helper');
    const { OnnxGraphBuilder, ElemType } = await import('../../extension/core/model/onnx-builder');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-helper-'));
    const helper = GpuHelper.start();
    assert.ok(helper, 'out/extension/core/gpu-helper.js is there');
    try {
      const g = new OnnxGraphBuilder();
      const x = g.input('video', ElemType.FLOAT, [2, 3]);
      g.op('Identity', [x], undefined, 'a');
      g.op('Neg', [x], undefined, 'b');
      g.output('a', ElemType.FLOAT, [2, 3]);
      g.output('b', ElemType.FLOAT, [2, 3]);
      const model = path.join(dir, 'm.onnx');
      fs.writeFileSync(model, g.encode('t', ''));
      const video = Float32Array.from([1, 2, 3, 4, 5, 6]);
      fs.writeFileSync(path.join(dir, 'video.f32'), new Uint8Array(video.buffer));
      assert.deepEqual(await helper!.warm('cpu'), { available: true });
      const r = await helper!.run({
        model, ep: 'cpu', precision: 'fp32', layerNorm: 'plain', layerNormModes: ['plain'], inputName: 'video', videoFile: path.join(dir, 'video.f32'), dims: [2, 3], outFile: path.join(dir, 'out.f32'),
      });
      assert.deepEqual([...r.outputs.get('a')!], [...video]);
      assert.deepEqual([...r.outputs.get('b')!], [...video].map((v) => -v));
      for (const a of r.outputs.values()) assert.equal(a.buffer.byteLength, a.byteLength, 'an array of its own');
      assert.equal(r.outputBytes, 48);
      assert.ok(!fs.existsSync(path.join(dir, 'out.f32')), 'the outputs file is removed');
      assert.ok(r.helperPeakRssBytes > 0 && helper!.peakRssBytes >= r.helperPeakRssBytes);
    } finally {
      helper?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a session kept in the GPU helper process runs as an Engine: run after run, its input and outputs through files that do not stay; released, it runs no more', async () => {
    const { GpuHelper } = await import('../../extension/core/helper');
    const { OnnxGraphBuilder, ElemType } = await import('../../extension/core/model/onnx-builder');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-helper-kept-'));
    const helper = GpuHelper.start()!;
    try {
      const g = new OnnxGraphBuilder();
      const x = g.input('video', ElemType.FLOAT, [2, 3]);
      g.op('Neg', [x], undefined, 'b');
      g.output('b', ElemType.FLOAT, [2, 3]);
      const model = path.join(dir, 'm.onnx');
      fs.writeFileSync(model, g.encode('t', ''));
      const e = await helper.openEngine({ model, ep: 'cpu', precision: 'fp32', layerNorm: 'plain', layerNormModes: ['plain'] }, dir);
      assert.equal(e.ep, 'cpu');
      assert.ok(e.sessionMs > 0);
      for (const k of [1, 2, 3]) {
        const v = Float32Array.from([1, 2, 3, 4, 5, 6].map((a) => a * k));
        const out = await e.run({ video: v }, { video: [2, 3] });
        assert.deepEqual([...out.get('b')!], [...v].map((a) => -a));
        assert.equal(e.outputBytes, 24);
      }
      // two runs asked at once: answered in order, each its own
      const [r1, r2] = await Promise.all([1, 10].map((k) => e.run({ video: Float32Array.from([k, k, k, k, k, k]) }, { video: [2, 3] })));
      assert.deepEqual([r1.get('b')![0], r2.get('b')![0]], [-1, -10]);
      assert.deepEqual(fs.readdirSync(dir), ['m.onnx'], 'no input or output file stays');
      await e.release();
      await assert.rejects(e.run({ video: new Float32Array(6) }, { video: [2, 3] }), /no session 1 is open/);
      await assert.rejects(helper.openEngine({ model: path.join(dir, 'missing.onnx'), ep: 'cpu', precision: 'fp32', layerNorm: 'plain', layerNormModes: ['plain'] }, dir), /missing\.onnx|could not be built/);
    } finally {
      helper.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('threads: one per core but one, at most 8, or $TIMESFORMER_LAB_THREADS', () => {
    assert.equal(defaultThreads({}, 1), 0);
    assert.equal(defaultThreads({}, 2), 1);
    assert.equal(defaultThreads({}, 16), 8);
    assert.equal(defaultThreads({ TIMESFORMER_LAB_THREADS: '0' }, 16), 0);
    assert.equal(defaultThreads({ TIMESFORMER_LAB_THREADS: '3' }, 2), 3);
    assert.equal(defaultThreads({ TIMESFORMER_LAB_THREADS: 'lots' }, 4), 3, 'not a number: the default');
  });
});

describe('WebGPU outputs', () => {
  it('come back as CPU tensors unless TIMESFORMER_LAB_GPU_OUTPUTS=gpu asks for GPU buffers (they crashed onnxruntime-node 1.30)', () => {
    assert.equal(outputsOnGpu('webgpu', {}), false);
    assert.equal(outputsOnGpu('webgpu', { TIMESFORMER_LAB_GPU_OUTPUTS: 'cpu' }), false);
    assert.equal(outputsOnGpu('webgpu', { TIMESFORMER_LAB_GPU_OUTPUTS: 'gpu' }), true);
    assert.equal(outputsOnGpu('cpu', { TIMESFORMER_LAB_GPU_OUTPUTS: 'gpu' }), false);
  });
});

describe('bench-e2e: runs with and without test data, the confirmation run apart', () => {
  it('reads @data, @no-confirm, @gpu-outputs, @one-process and @threads=N, and refuses anything else', async () => {
    const { parseRuns, runLabel } = await import('../../scripts/bench/bench-e2e');
    const [a, b, c] = parseRuns('webgpu:fp16:plain@data@threads=0,cpu:fp16:fp32+fused@no-confirm@gpu-outputs,webgpu:fp16:all@one-process');
    assert.deepEqual(a, { ep: 'webgpu', precision: 'fp16', layerNorm: 'plain', data: true, noConfirm: false, gpuOutputs: false, oneProcess: false, threads: 0 });
    assert.equal(runLabel(c), 'webgpu fp16 all one-process');
    assert.equal(runLabel(a), 'webgpu fp16 plain data threads=0');
    assert.equal(b.layerNorm, 'fp32,fused');
    assert.equal(runLabel(b), 'cpu fp16 fp32,fused no-confirm gpu-outputs');
    assert.throws(() => parseRuns('webgpu:fp16:plain@cpu-outputs'), /not ep:precision:layernorm\[@data\]/);
  });

  it('reports the minimal fix\'s confirmation run apart from the mode it confirms', async () => {
    const { summarize } = await import('../../scripts/bench/bench-e2e');
    const { makeReport } = await import('./helpers/report');
    const r = makeReport([1e-3, 0.2]);
    r.inputs.weightBytes = 100 * 2 ** 20;
    r.run.timings = { readMs: 300, headsMs: 0, referenceMs: 1200, buildGraphMs: 30, sessionMs: 1000, runMs: 300, compareMs: 400, totalMs: 3300, peakRssBytes: 190 * 2 ** 20, confirmMs: 1500, confirmPeakRssBytes: 210 * 2 ** 20 };
    const row = summarize({ spec: { ep: 'webgpu', precision: 'fp16', layerNorm: 'plain', data: true, noConfirm: false, gpuOutputs: false, oneProcess: false }, label: 'webgpu fp16 plain data', repeat: 0, code: 1, wallMs: 5000, reports: [r] }, { fp16_ms: 10 });
    assert.equal(row.confirm_s, 1.5);
    assert.equal(row.wall_without_confirm_s, 3.5);
    assert.equal(row.rss_over_weights, 1.9);
    assert.equal(row.confirm_peak_rss_mb, 210);
    assert.equal(row.e2e_over_session_inference, 3500 / 1300);
    assert.equal(row.inference_over_torch, 30);
  });
});
