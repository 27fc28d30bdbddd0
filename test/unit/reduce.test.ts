/**
 * model/reduce.ts: one value a clip in two stages (each row's last axis, then the rows), as
 * onnxruntime computes it — against the same reduction done here — and no flat reduction left in
 * the graphs that compute statistics (a single run's, a sweep's paired graph): on the WebGPU EP a
 * flat one walks a whole clip in a handful of workgroups.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { openD1, runOnCpu } from './helpers/engine';
import { buildTimeSformer, type GraphOptions } from '../../extension/core/model/timesformer';
import { pairGraphs } from '../../extension/core/model/paired-graph';
import { ElemType, OnnxGraphBuilder } from '../../extension/core/model/onnx-builder';
import { reducePerClip, type ClipReduce } from '../../extension/core/model/reduce';

const OPS: ClipReduce[] = ['ReduceSum', 'ReduceSumSquare', 'ReduceMax', 'ReduceMin'];

/** What each op gives over these values, in float64 (sums) or exactly (max, min). */
function expected(op: ClipReduce, v: Float32Array): number {
  if (op === 'ReduceMax') return v.reduce((m, x) => Math.max(m, x), -Infinity);
  if (op === 'ReduceMin') return v.reduce((m, x) => Math.min(m, x), Infinity);
  return v.reduce((s, x) => s + (op === 'ReduceSum' ? x : x * x), 0);
}

/** Reduce* nodes that walk a whole clip (or tensor) at once: their input is not another reduction's output (through Reshapes). */
function flatReductions(model: Uint8Array): string[] {
  const g = onnx.ModelProto.decode(model).graph!;
  const producer = new Map<string, onnx.INodeProto>();
  for (const n of g.node!) for (const o of n.output!) producer.set(o, n);
  const fromReduce = (name: string): boolean => {
    const p = producer.get(name);
    if (!p) return false;
    if (p.opType === 'Reshape') return fromReduce(p.input![0]);
    return /^Reduce/.test(p.opType!);
  };
  const ints = (n: onnx.INodeProto) => n.attribute?.find((a) => a.name === 'axes')?.ints?.map(Number);
  const constInts = (name: string | undefined) => {
    const t = g.initializer!.find((x) => x.name === name);
    if (!t) return undefined;
    const raw = t.rawData!;
    return Array.from(new BigInt64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))).map(Number);
  };
  const flat: string[] = [];
  for (const n of g.node!) {
    if (!['ReduceSum', 'ReduceSumSquare', 'ReduceMax', 'ReduceMin'].includes(n.opType!)) continue;
    const axes = n.opType === 'ReduceSum' ? constInts(n.input![1]) : ints(n);
    const input = producer.get(n.input![0]);
    const overAll = !axes || axes.length === 0;
    // a clip's values laid out as one row: Reshape(x, [B, -1]) reduced over axis 1
    const overRow = input?.opType === 'Reshape' && constInts(input.input![1])?.length === 2 && axes?.length === 1 && axes[0] === 1;
    if ((overAll || overRow) && !fromReduce(n.input![0])) flat.push(`${n.name} (${n.opType} over ${overAll ? 'everything' : 'a clip as one row'})`);
  }
  return flat;
}

let tmp: string;
before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-reduce-'))));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('one value a clip in two stages (model/reduce.ts)', function () {
  this.timeout(120_000);

  it('each op over (B·S, L, C) per clip and over everything: the same values as reducing them here (max and min exactly, sums within fp32)', async () => {
    const [B, S, L, C] = [3, 4, 5, 6];
    const x = new Float32Array(B * S * L * C).map((_, i) => Math.fround(Math.sin(i * 12.9898) * 437.5 - 3));
    x[7] = 5e8; // a large value (its square, 2.5e17, still fp32) and ties
    x[8] = x[9] = -123.5;
    const g = new OnnxGraphBuilder();
    const input = g.input('x', ElemType.FLOAT, [B * S, L, C]);
    for (const op of OPS) {
      for (const [name, b, dims] of [[`${op}.clip`, B, [B, 1]], [`${op}.all`, 0, [1]]] as const) {
        g.claim(name);
        g.op('Identity', [reducePerClip(g, op, input, b)], undefined, name);
        g.output(name, ElemType.FLOAT, [...dims]);
      }
    }
    const out = await runOnCpu(g.encode('reduce', 'reduce'), { x }, { x: [B * S, L, C] });
    const per = S * L * C;
    for (const op of OPS) {
      const exact = op === 'ReduceMax' || op === 'ReduceMin';
      const check = (got: number, want: number, what: string) => (exact
        ? assert.equal(got, want, what)
        : assert.ok(Math.abs(got - want) <= 1e-6 * Math.abs(want) + 1e-3, `${what}: ${got} vs ${want}`));
      const clips = out.get(`${op}.clip`)!;
      assert.equal(clips.length, B);
      for (let b = 0; b < B; b++) check(clips[b], Math.fround(expected(op, x.subarray(b * per, (b + 1) * per))), `${op} clip ${b}`);
      check(out.get(`${op}.all`)![0], Math.fround(expected(op, x)), `${op} over everything`);
    }
  });

  it('no flat reduction in a single run\'s statistics (one value over the clip) nor in a sweep\'s paired graph (a value a clip); the values are unchanged (paired-graph.test.ts)', async () => {
    const { m, config } = await openD1('in memory', tmp);
    const base: Omit<GraphOptions, 'precision' | 'realization'> = { config, batch: 1, layerNorm: 'plain', probes: true, prescaleShift: 3 };
    const single = buildTimeSformer(m.weights, { ...base, precision: 'fp16', realization: 'emulated' });
    assert.deepEqual(flatReductions(single.model), []);
    const batch: Omit<GraphOptions, 'precision' | 'realization'> = { ...base, batch: 2, probesPerClip: true };
    const test = buildTimeSformer(m.weights, { ...batch, precision: 'fp16', realization: 'native' });
    const ref = buildTimeSformer(m.weights, { ...batch, precision: 'fp32', realization: 'fp32' });
    const paired = pairGraphs(test, ref);
    const model = paired.test.model;
    assert.ok(onnx.ModelProto.decode(model).graph!.node!.filter((n) => n.opType === 'ReduceMax').length > 100, 'the statistics are there');
    assert.deepEqual(flatReductions(model), []);
  });
});
