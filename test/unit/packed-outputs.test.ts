/**
 * Outputs packed into one (model/packed-outputs.ts), as onnxruntime reads the packed model: every
 * output unpacked is the unpacked graph's own, bit for bit; a pipeline run that packs (forced on the
 * CPU EP: TIMESFORMER_LAB_PACK_OUTPUTS=1, as WebGPU runs do by default) gives the Report of one that
 * does not; and a view into the packed buffer goes to a worker thread as its own values only.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { D1, openD1, runOnCpu } from './helpers/engine';
import { buildTimeSformer } from '../../extension/core/model/timesformer';
import { packGraph, PACKED_OUTPUT, unpackOutputs } from '../../extension/core/model/packed-outputs';
import { runPipeline } from '../../extension/core/pipeline';
import { packsOutputs } from '../../extension/core/pipeline/engine-run';
import { tensorStats } from '../../extension/core/compare/metrics';
import { startPool, toShared } from '../../extension/core/parallel';
import { compareBlocks } from '../../extension/core/compare/blocks';
import type { Report } from '../../extension/core/report';


/** A Report without what differs between two runs of the same work (times, memory, the log). */
function numbers(r: Report): unknown {
  return { blocks: r.blocks, probs: r.probs, finalNorm: r.finalNorm, diagnosis: r.diagnosis, extra: r.run.extraOutputs };
}

let tmp: string;
before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-packed-'))));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('outputs packed into one', function () {
  this.timeout(120_000);

  for (const kind of ['in memory', 'weight store'] as const) {
    for (const layerNorm of ['plain', 'expose'] as const) {
      it(`d1 FP16 ${layerNorm} (${kind}): one output leaves the engine, and unpacked it is every output of the graph as built, bit for bit`, async () => {
        const { m, store, config, feeds, dims } = await openD1(kind, tmp);
        try {
          const g = buildTimeSformer(m.weights, { config, batch: 1, precision: 'fp16', realization: 'emulated', layerNorm, probes: true, prescaleShift: 3 });
          const p = packGraph(g, store);
          const raw = await runOnCpu(p.source, feeds, dims);
          assert.deepEqual([...raw.keys()], [PACKED_OUTPUT]);
          const apart = await runOnCpu(g.source, feeds, dims);
          const unpacked = unpackOutputs(raw, p.packed);
          assert.deepEqual([...unpacked.keys()].sort(), [...apart.keys()].sort());
          for (const [name, a] of apart) assert.deepEqual(unpacked.get(name), a, name);
          assert.ok(apart.size > 20, `${apart.size} outputs`);
          assert.equal(raw.get(PACKED_OUTPUT)!.length, [...apart.values()].reduce((n, a) => n + a.length, 0));
          // the graph as the user saves it keeps its outputs apart
          assert.equal(p.model, g.model);
          assert.equal(onnx.ModelProto.decode(p.model).graph!.output!.length, apart.size);
          if (store) assert.ok(typeof p.source === 'string' && p.source.startsWith(store.dir), 'saved beside the store\'s weights');
          // outputs given apart (a run elsewhere) are read as they are
          assert.equal(unpackOutputs(apart, p.packed).get(g.blockNames[0]), apart.get(g.blockNames[0]));
          assert.throws(() => unpackOutputs(new Map([[PACKED_OUTPUT, new Float32Array(3)]]), p.packed), /3 values, not 1 row/);
        } finally {
          store?.close();
        }
      });
    }
  }

  it('a pipeline run that packs its outputs gives the Report of one that does not (d1 FP16 plain with its confirmation, and expose)', async () => {
    const was = process.env.TIMESFORMER_LAB_PACK_OUTPUTS;
    const segments = process.env.TIMESFORMER_LAB_SEGMENT_BLOCKS;
    // the whole graph in one session, as a GPU EP runs it (a segmented CPU graph is never packed)
    process.env.TIMESFORMER_LAB_SEGMENT_BLOCKS = '0';
    try {
      for (const layerNorm of ['plain', 'expose'] as const) {
        const reports: Report[] = [];
        for (const v of ['0', '1']) {
          process.env.TIMESFORMER_LAB_PACK_OUTPUTS = v;
          reports.push((await runPipeline({ ...D1, ep: 'cpu', heads: 4, precision: 'fp16', layerNorm })).report);
        }
        assert.deepEqual(numbers(reports[1]), numbers(reports[0]), layerNorm);
        assert.ok(reports[1].log.some((l) => /outputs packed into one/.test(l)) && !reports[0].log.some((l) => /packed/.test(l)), 'the second run packed, the first did not');
        assert.equal(reports[1].run.outputBytes, reports[0].run.outputBytes);
        if (layerNorm === 'plain') assert.ok(reports[1].diagnosis.minimalFix?.confirmed, 'the minimal fix was confirmed by a packed run too');
      }
    } finally {
      for (const [k, v] of [['TIMESFORMER_LAB_PACK_OUTPUTS', was], ['TIMESFORMER_LAB_SEGMENT_BLOCKS', segments]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    assert.equal(packsOutputs('webgpu', {}), true);
    assert.equal(packsOutputs('cpu', {}), false);
    assert.equal(packsOutputs('tensorrt', {}), false);
    assert.equal(packsOutputs('cpu', { TIMESFORMER_LAB_PACK_OUTPUTS: '1' }), true);
    assert.equal(packsOutputs('webgpu', { TIMESFORMER_LAB_PACK_OUTPUTS: '0' }), false);
  });

  it('a view into a larger buffer reaches a worker thread as its own values, handed over, not the whole buffer', async () => {
    const all = new Float32Array(3 * 4096).map((_, i) => Math.sin(i) * 100);
    const view = all.subarray(4096, 2 * 4096);
    const pool = startPool(1);
    assert.ok(pool, 'threads start here');
    try {
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(await pool!.run({ type: 'stats', name: 'x', a: view, shape: [4096], channels: false }), tensorStats('x', view, [4096], false));
      assert.equal(all.buffer.byteLength, 3 * 4096 * 4, 'the packed buffer stays with this thread');
      assert.equal(view[0], all[4096]);
      // the reference's blocks live in shared memory: sent as they are, and compared as the same values
      const shared = toShared(view);
      assert.ok(shared.buffer instanceof SharedArrayBuffer);
      assert.equal(toShared(shared), shared, 'shared already: the same array');
      assert.deepEqual(await pool!.run({ type: 'stats', name: 'x', a: shared, shape: [4096], channels: false }), tensorStats('x', view, [4096], false));
      const other = all.subarray(2 * 4096).map((v) => v + 1e-3);
      assert.deepEqual(await compareBlocks([{ out: other, ref: shared, outName: 'o', refName: 'r' }], { S: 7, T: 1, C: 512, shape: [1, 8, 512] }, pool),
        await compareBlocks([{ out: other, ref: view.slice(), outName: 'o', refName: 'r' }], { S: 7, T: 1, C: 512, shape: [1, 8, 512] }));
    } finally {
      await pool!.close();
    }
  });
});
