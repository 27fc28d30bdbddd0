/**
 * The paired graph (model/paired-graph.ts) as onnxruntime reads it: the graph under test and its FP32
 * reference merged into one model whose block comparisons are reduced inside it, read back by
 * compare/in-graph.ts — against the host's compareBlock on the two graphs' own outputs (two sessions),
 * on d1 (FP16 plain: it overflows from block 4) and on hand-made tensors with inf and NaN.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { openD1, runOnCpu } from './helpers/engine';
import { buildTimeSformer, type BuiltGraph, type GraphOptions } from '../../extension/core/model/timesformer';
import { pairGraphs } from '../../extension/core/model/paired-graph';
import { unpackOutputs } from '../../extension/core/model/packed-outputs';
import { ElemType, OnnxGraphBuilder } from '../../extension/core/model/onnx-builder';
import { inGraphComparisons } from '../../extension/core/compare/in-graph';
import { compareBlock, type BlockComparison } from '../../extension/core/compare/metrics';
import type { TensorStats } from '../../extension/core/report';

/** |a − b| within `rel` of |b| (inf and NaN must agree exactly). */
function close(a: number, b: number, rel: number, what: string): void {
  if (!Number.isFinite(b) || !Number.isFinite(a)) {
    assert.ok(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)), `${what}: paired ${a}, host ${b}`);
    return;
  }
  assert.ok(Math.abs(a - b) <= rel * Math.max(Math.abs(b), 1e-30), `${what}: paired ${a}, host ${b} (${(Math.abs(a - b) / Math.abs(b)).toExponential(2)} apart)`);
}

function sameStats(a: TensorStats, b: TensorStats, what: string): void {
  assert.equal(a.name, b.name);
  assert.deepEqual(a.shape, b.shape);
  for (const k of ['min', 'max', 'maxAbs', 'nanCount', 'infCount', 'overFp16'] as const) assert.equal(a[k], b[k], `${what} ${k}`); // exact: no sums
  close(a.mean, b.mean, 1e-4, `${what} mean`);
  close(a.std, b.std, 1e-5, `${what} std`);
  assert.deepEqual(a.channelMaxAbs, b.channelMaxAbs, `${what} channelMaxAbs`);
  // the histogram is not reduced in the graph: one bin over the finite range, holding every finite value
  assert.deepEqual(a.histogram.edges, [b.min, b.max]);
  assert.deepEqual(a.histogram.counts, [b.histogram.counts.reduce((s, x) => s + x, 0)]);
}

function sameComparison(p: BlockComparison, h: BlockComparison, what: string, rel = 1e-5): void {
  close(p.diff.relL2, h.diff.relL2, rel, `${what} relL2`);
  close(p.diff.maxAbs, h.diff.maxAbs, 1e-6, `${what} maxAbs`);
  close(p.diff.cosine, h.diff.cosine, 1e-6, `${what} cosine`);
  assert.equal(p.tokenError.length, h.tokenError.length);
  p.tokenError.forEach((row, t) => row.forEach((e, s) => close(e, h.tokenError[t][s], rel, `${what} token (${t}, ${s})`)));
  sameStats(p.output, h.output, `${what} output`);
  sameStats(p.reference!, h.reference!, `${what} reference`);
}

let tmp: string;
before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-paired-'))));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('paired graph: the engine and its FP32 reference compared inside one graph', function () {
  this.timeout(120_000);

  for (const kind of ['in memory', 'weight store'] as const) {
    it(`d1 FP16 plain (emulated, ${kind}): every block's comparison, the probabilities and both graphs' LayerNorm statistics are the two sessions' own`, async () => {
      const { m, store, config, feeds, dims } = await openD1(kind, tmp);
      try {
        const base: Omit<GraphOptions, 'precision' | 'realization'> = { config, batch: 1, layerNorm: 'plain', probes: true, prescaleShift: 3 };
        const test = buildTimeSformer(m.weights, { ...base, precision: 'fp16', realization: 'emulated' });
        const ref = buildTimeSformer(m.weights, { ...base, precision: 'fp32', realization: 'fp32' });
        const p = pairGraphs(test, ref, store);
        const raw = await runOnCpu(p.test.source, feeds, dims);
        // one output leaves the paired graph: every reduction, packed a clip a row
        assert.deepEqual([...raw.keys()], [p.test.packed!.name]);
        const outP = unpackOutputs(raw, p.test.packed);
        const [outT, outR] = [await runOnCpu(test.source, feeds, dims), await runOnCpu(ref.source, feeds, dims)];

        // kilobytes: no block output leaves the paired graph
        for (const n of [...test.blockNames, ...p.ref.blockNames]) assert.ok(!outP.has(n), `${n} is an output`);
        const bytes = [...raw.values()].reduce((s, a) => s + a.byteLength, 0);
        const hostBytes = [...outT.values(), ...outR.values()].reduce((s, a) => s + a.byteLength, 0);
        assert.equal(bytes, p.outputBytes);
        assert.ok(bytes * 20 < hostBytes, `paired ${bytes} B, two sessions ${hostBytes} B`);

        const paired = inGraphComparisons(p.test.inGraph!, outP);
        const [, N, C] = p.test.inGraph!.shape;
        const S = config.numPatches;
        const T = config.frames;
        assert.equal(paired.length, config.depth);
        let failing = 0;
        paired.forEach((pc, i) => {
          const h = compareBlock(outT.get(test.blockNames[i])!, outR.get(ref.blockNames[i])!, S, T, C, [1, N, C], `blocks.${i}.out`, `blocks.${i}.ref`);
          sameComparison(pc, h, `block ${i}`);
          if (h.diff.relL2 > 0.05) failing++;
        });
        assert.ok(failing >= 6, `d1 FP16 plain fails from block 4 on (${failing} blocks over 0.05)`);
        // the final outputs and every LayerNorm's statistics: the same ops on the same inputs, equal to the bit
        assert.deepEqual(outP.get(test.probsName!), outT.get(test.probsName!));
        assert.deepEqual(outP.get(p.ref.probsName!), outR.get(ref.probsName!));
        for (const [l, lr] of test.layerNorms.map((l, i) => [l, p.ref.layerNorms[i]] as const)) {
          assert.deepEqual(outP.get(l.stats!), outT.get(l.stats!), l.stats);
          assert.ok(lr.stats!.startsWith('ref/'));
          assert.deepEqual(outP.get(lr.stats!), outR.get(ref.layerNorms.find((x) => x.name === lr.name)!.stats!), lr.stats);
          assert.deepEqual(outP.get(lr.channels!), outR.get(ref.layerNorms.find((x) => x.name === lr.name)!.channels!), lr.channels);
        }
        // an initializer of the reference that is the test graph's very bytes (a constant, a weight in the
        // same form) is shared; every one kept under ref/ differs from the test graph's of that name
        const g = onnx.ModelProto.decode(p.test.model).graph!;
        const byName = new Map(g.initializer!.map((t) => [t.name!, t]));
        assert.equal(byName.size, g.initializer!.length, 'initializer names are unique');
        const key = (t: onnx.ITensorProto) => JSON.stringify([t.dataType, t.dims, t.externalData, Array.from(t.rawData ?? [])]);
        const kept = [...byName.keys()].filter((n) => n.startsWith('ref/'));
        for (const n of kept) {
          const twin = byName.get(n.slice(4));
          if (twin) assert.notEqual(key(twin), key(byName.get(n)!), `${n} is the test graph's ${n.slice(4)}: not shared`);
        }
        const refCount = onnx.ModelProto.decode(ref.model).graph!.initializer!.length;
        assert.ok(kept.length < refCount && kept.length > 0, `${refCount - kept.length} of the reference's ${refCount} initializers shared`);
        assert.ok(byName.has('ref/blocks.0.attn.qkv.weight'), 'the reference keeps its fp32 linear weights');
        if (store) assert.equal(typeof p.test.source, 'string', 'saved beside the store\'s weights');
      } finally {
        store?.close();
      }
    });
  }

  it('inf and NaN in the block under test: the same errors, counts and per-token errors as the host\'s', async () => {
    // two tiny "models": the test adds a delta holding inf, -inf, NaN and a value past 65504 to the input
    const [B, N, C, T, S] = [1, 7, 4, 2, 3];
    const delta = new Float32Array(B * N * C).map((_, i) => ((i * 37) % 11) * 1e-3);
    delta[C + 1] = Infinity; // token 1 (s 0, t 0)
    delta[3 * C + 2] = NaN; // token 3 (s 1, t 0)
    delta[5 * C] = -Infinity;
    delta[6 * C + 3] = 7e4;
    delta[2] = NaN; // the first class token: left out of the diff, counted in the statistics
    const model = (name: string, withDelta: boolean): BuiltGraph => {
      const g = new OnnxGraphBuilder();
      const x = g.input('video', ElemType.FLOAT, [B, N, C]);
      g.claim('blocks.0.out');
      g.op(withDelta ? 'Add' : 'Identity', withDelta ? [x, g.floatInit('delta', [B, N, C], delta)] : [x], undefined, 'blocks.0.out');
      g.output('blocks.0.out', ElemType.FLOAT, [B, N, C]);
      g.claim('probs');
      g.op('ReduceMean', [x], { axes: [1], keepdims: 0 }, 'probs');
      g.output('probs', ElemType.FLOAT, [B, C]);
      const bytes = g.encode(name, name);
      return { model: bytes, source: bytes, writeOnnx: () => undefined, inputName: 'video', probsName: 'probs', blockNames: ['blocks.0.out'], layerNorms: [], nodeCount: 2, initializerBytes: 0, extraOutputs: [] };
    };
    const video = new Float32Array(B * N * C).map((_, i) => Math.sin(i) * 3 + (i % C === 0 ? 2e4 : 0));
    const p = pairGraphs(model('test', true), model('ref', false));
    const out = unpackOutputs(await runOnCpu(p.test.source, { video }, { video: [B, N, C] }), p.test.packed, 0, B);
    const [pc] = inGraphComparisons({ ...p.test.inGraph!, S, T }, out);
    const a = video.map((v, i) => v + delta[i]);
    const h = compareBlock(a, video, S, T, C, [B, N, C], 'blocks.0.out', 'blocks.0.ref');
    assert.equal(h.diff.relL2, Infinity);
    sameComparison(pc, h, 'block 0');
    assert.equal(pc.output.nanCount, 2);
    assert.equal(pc.output.infCount, 2);
    assert.equal(pc.output.overFp16, 1);
    assert.equal(pc.tokenError[0][0], Infinity);
    assert.equal(pc.tokenError[0][1], Infinity);
  });

  it('refuses graphs that cannot be paired', () => {
    const m = (o: Partial<BuiltGraph>): BuiltGraph => ({ model: new Uint8Array(), source: new Uint8Array(), writeOnnx: () => undefined, inputName: 'video', probsName: 'probs', blockNames: ['blocks.0.out'], layerNorms: [], nodeCount: 0, initializerBytes: 0, extraOutputs: [], ...o });
    assert.throws(() => pairGraphs(m({ inputName: 'blocks.3.out' }), m({})), /inputs/);
    assert.throws(() => pairGraphs(m({ blockNames: [] }), m({ blockNames: [] })), /block outputs/);
    assert.throws(() => pairGraphs(m({}), m({ probsName: null })), /final output/);
  });
});
