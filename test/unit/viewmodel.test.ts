/** The graph's view model: Report -> nodes with status and color on a log scale, legend ticks, inspector rows. */
import { strict as assert } from 'assert';
import { summarize, type RunView } from '../../extension/host/protocol';
import { BLOCK_PARTS, buildGraph, errorScale, hasPredicted, heatmap, inspectorModel, tensorRow, textOn, type BlockNode, type StageNode } from '../../webview/viewmodel';
import { markJump } from '../../extension/core/compare/verdict';
import { D1_FIXED_ERRORS, D1_FP16_ERRORS, makeReport, tensor } from './helpers/report';

const view = (id: string, errors: number[], overflowFrom?: number): RunView => {
  const summary = summarize(makeReport(errors, { overflowFrom }));
  if (overflowFrom !== undefined) summary.diagnosis = { ...summary.diagnosis, verdict: 'fail', firstBadBlock: overflowFrom };
  return { id, label: `#${id} a_model.pyth + a_test_data.p · FP16`, short: `#${id} a_model`, reference: 'reference: a_test_data.p', summary };
};
const blocksOf = (nodes: (BlockNode | StageNode)[]) => nodes.filter((n): n is BlockNode => n.kind === 'block');

describe('view model: one absolute error scale, anchored at the tolerance', () => {
  it('spans tolerance × 1e-4 … × 100 whatever the errors shown: a color means the same error in every view', () => {
    const s = errorScale([1e-2]);
    assert.deepEqual(s.ticks.map((t) => t.label), ['1e-6', '1e-5', '1e-4', '1e-3', '0.01', '0.1', '1']);
    assert.deepEqual(s.ticks.map((t) => +t.t.toFixed(6)), [0, 0.166667, 0.333333, 0.5, 0.666667, 0.833333, 1]);
    assert.equal(s.toleranceTick.t, 4 / 6);
    assert.equal(s.toleranceTick.label, 'tolerance 0.01');
    assert.deepEqual(errorScale([0.025]).ticks.map((t) => t.label), ['2.5e-6', '2.5e-5', '2.5e-4', '2.5e-3', '0.025', '0.25', '2.5']);
    // Two views with very different errors: the same error gets the same color.
    const a = buildGraph([view('a', [1e-7, 2e-3, 0.05])], ['a']);
    const b = buildGraph([view('b', [2e-3, 40])], ['b']);
    assert.equal(blocksOf(a.lanes[0].nodes)[1].color, blocksOf(b.lanes[0].nodes)[0].color);
    assert.deepEqual(a.scale.ticks, b.scale.ticks);
  });

  it('is logarithmic and monotone; 0 maps to the bottom, inf and NaN to the top; each run is colored against its own tolerance', () => {
    const s = errorScale([1e-2]);
    assert.ok(Math.abs(s.t(1e-3) - (s.t(1e-4) + s.t(1e-2)) / 2) < 1e-12, 'a decade is a fixed step');
    const ts = [1e-6, 3e-6, 1e-3, 0.01, 0.13, 0.4, 1].map((e) => s.t(e));
    for (let i = 1; i < ts.length; i++) assert.ok(ts[i] > ts[i - 1], `t increases: ${ts}`);
    assert.deepEqual([s.t(0), s.t(1e-12), s.t(1e3), s.t(Infinity), s.t(NaN)], [0, 0, 1, 1, 1]);
    assert.equal(s.color(0.02, 0.02), s.color(0.01), 'at its tolerance, a run has the tolerance color');
    const mixed = errorScale([1e-2, 1e-3]);
    assert.equal(mixed.uniform, false);
    assert.deepEqual(mixed.ticks.map((t) => t.label), ['tol×1e-4', 'tol×1e-3', 'tol×1e-2', 'tol×1e-1', 'tol', 'tol×1e1', 'tol×1e2']);
  });

  it('diverges at the tolerance: blues pass, orange to red fail (colorblind-safe), with readable text', () => {
    const s = errorScale([1e-2]);
    const rgb = (c: string) => (c.match(/\d+/g) ?? []).map(Number);
    const isBlue = (c: string) => { const [r, , b] = rgb(c); return b > r; };
    const isWarm = (c: string) => { const [r, , b] = rgb(c); return r > b + 60; };
    for (const e of [1e-7, 1e-5, 1e-3, 9.9e-3, 1e-2]) assert.ok(isBlue(s.color(e)), `${e} passes: ${s.color(e)}`);
    for (const e of [1.01e-2, 0.05, 0.13, 0.405, 1, Infinity, NaN]) assert.ok(isWarm(s.color(e)), `${e} fails: ${s.color(e)}`);
    // Failing gets darker (redder) as it gets worse; passing darker as it nears the tolerance.
    const lum = (c: string) => { const [r, g, b] = rgb(c); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
    assert.ok(lum(s.color(0.5)) < lum(s.color(0.02)));
    assert.ok(lum(s.color(9e-3)) < lum(s.color(1e-6)));
    for (const e of [1e-7, 9e-3, 0.02, 1]) assert.ok(['#000000', '#ffffff'].includes(textOn(s.color(e))));
    assert.equal(textOn(s.color(Infinity)), '#ffffff');
    assert.equal(textOn(s.color(1e-7)), '#000000');
  });
});

describe('view model: Report -> graph', () => {
  it('d1 FP16: patch embedding, 12 blocks, norm, head; blocks 0-3 pass, 4+ fail, with their LayerNorm overflow marks', () => {
    const g = buildGraph([view('run-1', D1_FP16_ERRORS, 4)], ['run-1']);
    assert.equal(g.lanes.length, 1);
    const lane = g.lanes[0];
    assert.deepEqual(lane.nodes.map((n) => (n.kind === 'block' ? n.index : n.id)), ['patch_embed', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 'norm', 'head']);
    const blocks = blocksOf(lane.nodes);
    assert.deepEqual(blocks.map((b) => b.status), [...Array(4).fill('pass'), ...Array(8).fill('fail')]);
    assert.equal(blocks[4].error, 0.131);
    assert.ok(blocks[4].jump);
    assert.deepEqual(blocks[4].layerNorms.map((l) => [l.short, l.overflowed]), [['T', true], ['S', true], ['M', true]]);
    assert.ok(blocks[3].layerNorms.every((l) => !l.overflowed));
    assert.match(blocks[4].tooltip.join('\n'), /blocks\.4\.temporal_norm1: .*OVERFLOWED, top channel 21/);
    assert.equal(lane.verdict, 'fail');
    const head = lane.nodes[lane.nodes.length - 1] as StageNode;
    assert.equal(head.status, 'fail');
    assert.equal((lane.nodes[13] as StageNode).layerNorm?.overflowed, true);
  });

  it('an overflow predicted from the FP32 run\'s statistics (a TensorRT engine\'s) is a prediction, not a measurement: marked so, and the legend says so', () => {
    const measured = buildGraph([view('run-1', D1_FP16_ERRORS, 4)], ['run-1']);
    assert.equal(hasPredicted(measured), false);
    assert.ok(blocksOf(measured.lanes[0].nodes)[4].layerNorms.every((l) => l.overflowed && !l.predicted));
    // the same statistics from the FP32 probe run (an imported TensorRT run, or trtexec's): it passed
    const v = view('run-2', D1_FIXED_ERRORS, 4);
    for (const b of v.summary.blocks) for (const l of b.layerNorms) Object.assign(l, { source: 'fp32-probe' });
    const trt = buildGraph([v], ['run-2']);
    const [b3, b4] = blocksOf(trt.lanes[0].nodes).slice(3, 5);
    assert.equal(hasPredicted(trt), true, 'the legend key comes with a predicted mark');
    assert.deepEqual(b4.layerNorms.map((l) => [l.short, l.overflowed, l.predicted]), [['T', true, true], ['S', true, true], ['M', true, true]]);
    assert.ok(b3.layerNorms.every((l) => !l.overflowed && !l.predicted), 'in range: nothing predicted');
    assert.deepEqual(b4.parts.filter((p) => p.layerNorm).map((p) => p.predicted), [true, true, true]);
    // and a measured one in another lane stays measured
    const both = buildGraph([view('run-1', D1_FP16_ERRORS, 4), v], ['run-1', 'run-2']);
    assert.ok(blocksOf(both.lanes[0].nodes)[4].layerNorms.every((l) => !l.predicted));
  });

  it('colors follow the error on the one scale; equal errors share a color in every lane', () => {
    const g = buildGraph([view('a', D1_FP16_ERRORS, 4), view('b', [...D1_FP16_ERRORS])], ['a', 'b']);
    const [a, b] = g.lanes.map((l) => blocksOf(l.nodes));
    assert.notEqual(a[0].color, a[4].color);
    assert.ok(g.scale.t(a[4].error) > g.scale.t(a[0].error));
    assert.deepEqual(a.map((x) => x.color), b.map((x) => x.color), 'one scale for every lane');
  });

  it('the first failing block is marked as the break, once per lane', () => {
    const g = buildGraph([view('a', D1_FP16_ERRORS, 4), view('b', D1_FIXED_ERRORS)], ['a', 'b']);
    assert.deepEqual(blocksOf(g.lanes[0].nodes).filter((b) => b.break).map((b) => b.index), [4]);
    assert.equal(g.lanes[0].breakAt, 4);
    assert.deepEqual(blocksOf(g.lanes[1].nodes).filter((b) => b.break), []);
    assert.equal(g.lanes[1].breakAt, null);
    assert.match(blocksOf(g.lanes[0].nodes)[4].tooltip[0], /the first failing block \(the break\)/);
    assert.deepEqual([g.lanes[0].short, g.lanes[0].reference], ['#a a_model', 'reference: a_test_data.p']);
  });

  it('each block expands to its parts in the official order, LayerNorm parts carrying the overflow', () => {
    const b4 = blocksOf(buildGraph([view('r', D1_FP16_ERRORS, 4)], ['r']).lanes[0].nodes)[4];
    assert.deepEqual(b4.parts.map((p) => p.label), BLOCK_PARTS.map((p) => p.label));
    assert.deepEqual(b4.parts.map((p) => p.label).slice(0, 3), ['temporal LayerNorm', 'temporal attention', 'temporal fc']);
    const lns = b4.parts.filter((p) => p.kind === 'layernorm');
    assert.deepEqual(lns.map((p) => [p.layerNorm, p.overflowed]), [['blocks.4.temporal_norm1', true], ['blocks.4.norm1', true], ['blocks.4.norm2', true]]);
    assert.equal(b4.parts.filter((p) => p.kind === 'add').length, 3);
    // Expanded parts carry what was measured: the LayerNorms' max (x−mean)² and the squares past 65504.
    assert.deepEqual(lns.map((p) => p.value), ['(x−μ)² ≤ 9.70e+4 · 128 > 65504', '(x−μ)² ≤ 9.70e+4 · 128 > 65504', '(x−μ)² ≤ 9.70e+4 · 128 > 65504']);
    assert.equal(blocksOf(buildGraph([view('r', D1_FP16_ERRORS, 4)], ['r']).lanes[0].nodes)[0].parts[0].value, '(x−μ)² ≤ 1200');
    // A LayerNorm built otherwise (the minimal fix keeps it in FP32) says how, instead of a count that is no overflow there.
    const fixed = view('m', D1_FIXED_ERRORS, 4);
    fixed.summary.blocks[4].layerNorms = fixed.summary.blocks[4].layerNorms.map((l) => (l.name.endsWith('norm1') ? { ...l, mode: 'fp32' as const, overflowed: false } : l));
    const parts = blocksOf(buildGraph([fixed], ['m']).lanes[0].nodes)[4].parts.filter((p) => p.kind === 'layernorm');
    assert.deepEqual(parts.map((p) => [p.layerNorm, p.mode, p.value]), [
      ['blocks.4.temporal_norm1', 'fp32', '(x−μ)² ≤ 9.70e+4 · fp32'],
      ['blocks.4.norm1', 'fp32', '(x−μ)² ≤ 9.70e+4 · fp32'],
      ['blocks.4.norm2', 'plain', '(x−μ)² ≤ 9.70e+4 · 128 > 65504'],
    ]);
  });

  it('runs side by side in the order shown; unknown ids are skipped; the fix passes everywhere', () => {
    const runs = [view('run-1', D1_FP16_ERRORS, 4), view('run-2', D1_FIXED_ERRORS)];
    const g = buildGraph(runs, ['run-2', 'gone', 'run-1']);
    assert.deepEqual(g.lanes.map((l) => l.runId), ['run-2', 'run-1']);
    assert.ok(blocksOf(g.lanes[0].nodes).every((b) => b.status === 'pass'));
    assert.equal(g.lanes[0].verdict, 'pass');
    assert.deepEqual(buildGraph(runs, []).lanes, []);
  });
});

describe('view model: each lane judged by its own run', () => {
  const run = (id: string, errors: number[], tolerance: number): RunView => {
    const summary = summarize(makeReport(errors, { tolerance }));
    return { id, label: `#${id}`, short: `#${id}`, reference: 'reference: a_test_data.p', summary };
  };
  const rgb = (c: string) => (c.match(/\d+/g) ?? []).map(Number);
  const isBlue = (c: string) => { const [r, , b] = rgb(c); return b > r; };

  it('in a Compare of an FP32 run (tolerance 0.01) and an FP16 run (0.025), every block and head is colored against its own run\'s tolerance, in either order', () => {
    // 0.015 and 0.02 fail FP32's 0.01 but pass FP16's 0.025: the same error is orange in one lane, blue in the other.
    const errors = [2e-3, 0.015, 0.02, 5e-3];
    const fp32 = run('fp32', errors, 0.01);
    const fp16 = run('fp16', errors, 0.025);
    for (const order of [['fp32', 'fp16'], ['fp16', 'fp32']]) {
      const g = buildGraph([fp32, fp16], order);
      assert.equal(g.scale.uniform, false);
      for (const lane of g.lanes) {
        const alone = buildGraph([lane.runId === 'fp32' ? fp32 : fp16], [lane.runId]).lanes[0];
        assert.deepEqual(lane.nodes.map((n) => n.color), alone.nodes.map((n) => n.color), `${lane.runId} (shown ${order.join(', ')}): the colors it has alone`);
        for (const b of blocksOf(lane.nodes)) {
          assert.equal(isBlue(b.color), b.error <= lane.tolerance, `${lane.runId} block ${b.index} (${b.error}, tolerance ${lane.tolerance}): ${b.color}`);
          assert.equal(isBlue(b.color), b.status === 'pass', `${lane.runId} block ${b.index}: the color agrees with its status`);
        }
        const head = lane.nodes[lane.nodes.length - 1] as StageNode;
        assert.equal(head.color, g.scale.color(head.error!, lane.tolerance), `${lane.runId} head`);
      }
      const [a, b] = ['fp32', 'fp16'].map((id) => blocksOf(g.lanes.find((l) => l.runId === id)!.nodes));
      assert.deepEqual([a[1].status, b[1].status], ['fail', 'pass']);
      assert.ok(!isBlue(a[1].color) && isBlue(b[1].color), `0.015: orange for FP32 (${a[1].color}), blue for FP16 (${b[1].color})`);
    }
  });

  it('the jump mark goes where the error rises tenfold over the tolerance, not at the first doubling past it', () => {
    // tolerance 0.01: block 2 (0.02) doubles block 1 and fails — the break, but no tenfold rise;
    // block 3 (0.3) is 15x block 2: the jump. (A factor of 2 would put the jump on block 2.)
    const r = makeReport([4e-3, 9e-3, 0.02, 0.3, 0.35], { tolerance: 0.01 });
    for (const b of r.blocks) b.jump = false;
    assert.equal(markJump(r.blocks, 0.01), 3);
    const summary = summarize(r);
    const lane = buildGraph([{ id: 'j', label: '#j', short: '#j', reference: 'reference: a_test_data.p', summary }], ['j']).lanes[0];
    const bs = blocksOf(lane.nodes);
    assert.deepEqual(bs.filter((b) => b.jump).map((b) => b.index), [3]);
    assert.deepEqual(bs.filter((b) => b.break).map((b) => b.index), [2]);
    assert.match(bs[3].tooltip[0], /\(error jumps here\)/);
    assert.doesNotMatch(bs[2].tooltip[0], /jumps/);
  });
});

describe('view model: inspector', () => {
  it('tensor rows name the massive-activation channel and how far it stands out', () => {
    const ch = [1, 2, 3, 300, 2, 1];
    const row = tensorRow(tensor('blocks.4.out', [1, 9, 6], ch));
    assert.deepEqual(row.topChannel, { channel: 3, maxAbs: 300, timesMedian: 300 / 2 });
    assert.equal(row.shape, '[1, 9, 6]');
    assert.deepEqual(row.histogram, [{ x0: -35, x1: 0, count: 10 }, { x0: 0, x1: 318, count: 20 }]);
    assert.equal(tensorRow(tensor('blocks.4.norm1.mean', [9])).topChannel, undefined);
  });

  it('the per-token error becomes T frames of grid x grid cells, colored on the graph scale', () => {
    const s = errorScale([1e-2]);
    const grid = [[0.1, 0.2, 0.3, 0.4], [1e-3, 2e-3, Infinity, 4e-3]];
    const hm = heatmap(grid, 2, s);
    assert.equal(hm.frames, 2);
    assert.equal(hm.grid, 2);
    assert.deepEqual(hm.cells[0].map((r) => r.map((c) => c.value)), [[0.1, 0.2], [0.3, 0.4]]);
    assert.equal(hm.cells[1][1][0].color, s.color(Infinity));
    assert.equal(hm.max, Infinity);
  });

  it('a block of d1 FP16: its LayerNorms with overflow counts and channel 21; output, reference and exposed tensors', () => {
    const r = makeReport(D1_FP16_ERRORS, { overflowFrom: 4, T: 8, grid: 4 });
    r.blocks[4].exposed = [tensor('blocks.4.norm1.diff', [136, 8], Array.from({ length: 8 }, (_, i) => (i === 2 ? 311 : 5)))];
    const m = inspectorModel(r.blocks[4], r.config, errorScale([1e-2]), '#1 FP16 · cpu');
    assert.equal(m.title, 'Block 4 — #1 FP16 · cpu');
    assert.equal(m.status, 'fail');
    assert.equal(m.error, '0.131');
    assert.deepEqual(m.layerNorms.map((l) => [l.name, l.overflowed, l.overFp16Count, l.topChannels[0].channel]), [
      ['blocks.4.temporal_norm1', true, 128, 21], ['blocks.4.norm1', true, 128, 21], ['blocks.4.norm2', true, 128, 21],
    ]);
    assert.deepEqual(m.tensors.map((t) => t.name), ['blocks.4.out', 'blocks.4.ref', 'blocks.4.norm1.diff']);
    assert.equal(m.tensors[2].topChannel?.channel, 2);
    assert.equal(m.heatmap.frames, 8);
    assert.equal(m.heatmap.cells[0].length, 4);
  });
});
