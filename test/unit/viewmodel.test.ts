/** The graph's view model: Report -> nodes with status and color on a log scale, legend ticks, inspector rows. */
import { strict as assert } from 'assert';
import { summarize, type RunView } from '../../extension/host/protocol';
import { BLOCK_PARTS, buildGraph, errorScale, heatmap, inspectorModel, tensorRow, textOn, type BlockNode, type StageNode } from '../../webview/viewmodel';
import { D1_FIXED_ERRORS, D1_FP16_ERRORS, makeReport, tensor } from './helpers/report';

const view = (id: string, errors: number[], overflowFrom?: number): RunView => ({ id, label: `#${id} run`, summary: summarize(makeReport(errors, { overflowFrom })) });
const blocksOf = (nodes: (BlockNode | StageNode)[]) => nodes.filter((n): n is BlockNode => n.kind === 'block');

describe('view model: error scale (log, viridis) and legend', () => {
  it('spans whole decades around the errors, with two decades below the tolerance and one above', () => {
    const s = errorScale(D1_FP16_ERRORS, 1e-2);
    assert.deepEqual(s.domain, [1e-4, 1]);
    assert.deepEqual(s.ticks.map((t) => t.label), ['1e-4', '1e-3', '1e-2', '1e-1', '1e0']);
    assert.deepEqual(s.ticks.map((t) => +t.t.toFixed(6)), [0, 0.25, 0.5, 0.75, 1]);
    assert.equal(s.toleranceTick.t, 0.5);
    assert.equal(s.toleranceTick.label, 'tolerance 0.01');
    // Very small and very large errors widen the domain.
    assert.deepEqual(errorScale([3e-7, 40], 1e-2).domain, [1e-7, 100]);
  });

  it('is logarithmic and monotone; 0 maps to the bottom, inf and NaN to the top', () => {
    const s = errorScale([1e-3, 0.4], 1e-2);
    assert.ok(Math.abs(s.t(1e-3) - (s.t(1e-4) + s.t(1e-2)) / 2) < 1e-12, 'a decade is a fixed step');
    const ts = [1e-4, 3e-4, 1e-3, 0.01, 0.13, 0.4, 1].map(s.t);
    for (let i = 1; i < ts.length; i++) assert.ok(ts[i] > ts[i - 1], `t increases: ${ts}`);
    assert.equal(s.t(0), 0);
    assert.equal(s.t(1e-12), 0, 'clamped');
    assert.equal(s.t(Infinity), 1);
    assert.equal(s.t(NaN), 1);
  });

  it('colors are viridis (colorblind-safe): dark violet for the smallest error, yellow for the largest', () => {
    const s = errorScale([1e-3], 1e-2);
    assert.equal(s.color(s.domain[0]), '#440154');
    assert.equal(s.color(s.domain[1]), '#fde725');
    assert.equal(textOn(s.color(s.domain[0])), '#ffffff');
    assert.equal(textOn(s.color(s.domain[1])), '#000000');
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

  it('colors follow the error: a failing block is brighter than a passing one, equal errors share a color', () => {
    const g = buildGraph([view('a', D1_FP16_ERRORS, 4), view('b', [...D1_FP16_ERRORS])], ['a', 'b']);
    const [a, b] = g.lanes.map((l) => blocksOf(l.nodes));
    assert.notEqual(a[0].color, a[4].color);
    assert.ok(g.scale.t(a[4].error) > g.scale.t(a[0].error));
    assert.deepEqual(a.map((x) => x.color), b.map((x) => x.color), 'one scale for every lane');
  });

  it('each block expands to its parts in the official order, LayerNorm parts carrying the overflow', () => {
    const b4 = blocksOf(buildGraph([view('r', D1_FP16_ERRORS, 4)], ['r']).lanes[0].nodes)[4];
    assert.deepEqual(b4.parts.map((p) => p.label), BLOCK_PARTS.map((p) => p.label));
    assert.deepEqual(b4.parts.map((p) => p.label).slice(0, 3), ['temporal LayerNorm', 'temporal attention', 'temporal fc']);
    const lns = b4.parts.filter((p) => p.kind === 'layernorm');
    assert.deepEqual(lns.map((p) => [p.layerNorm, p.overflowed]), [['blocks.4.temporal_norm1', true], ['blocks.4.norm1', true], ['blocks.4.norm2', true]]);
    assert.equal(b4.parts.filter((p) => p.kind === 'add').length, 3);
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
    const s = errorScale([1e-3, 0.5], 1e-2);
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
    const m = inspectorModel(r.blocks[4], r.config, errorScale(D1_FP16_ERRORS, 1e-2), '#1 FP16 · cpu');
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
