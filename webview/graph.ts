/**
 * The graph panel: each shown run is a lane, patch embedding -> blocks -> norm -> head; blocks are
 * colored by their error (log scale, viridis), marked pass/fail against the tolerance, with their
 * LayerNorms' overflow marks; a block expands to its parts; clicking it (or Enter) opens the
 * inspector. Renders only what the host sends (buildGraph does the arithmetic; it is unit-tested).
 * Test hooks: [data-block][data-status][data-error], [data-layernorm][data-overflow].
 */
import { provideVSCodeDesignSystem, vsCodeButton, vsCodeCheckbox } from '@vscode/webview-ui-toolkit';
import { select, type Selection } from 'd3-selection';
import { zoom, zoomIdentity } from 'd3-zoom';
import { fromWire, parseHostToGraph, type GraphToHost, type RunView } from '../extension/host/protocol';
import { renderInspector, renderInspectorMessage } from './inspector';
import { buildGraph, fmtNum, interpolateError, type BlockNode, type GraphModel, type GraphNode, type LayerNormMark, type Lane } from './viewmodel';
import { getState, h, post, setState } from './vscode';

provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeCheckbox());

const send = (m: GraphToHost) => post(m);
const SVG = 'http://www.w3.org/2000/svg';

// Layout (px, before zoom).
const NW = 96;
const NH = 50;
const GAP = 22;
const MARKS = 18;
const PART_H = 20;
const PART_GAP = 4;
const PARTS_H = 4 + 10 * (PART_H + PART_GAP);
const PART_W = NW + GAP - 6;
const LANE_GAP = 8;
const GROUP_GAP = 22;
const GUTTER = 64;
const MARGIN = 16;

interface UiState {
  expanded: number[];
  inspect?: { runId: string; block: number };
}
let ui = getState<UiState>({ expanded: [] });
let runs: RunView[] = [];
let shown: string[] = [];
let model: GraphModel | undefined;
let lastRequest = 0;
let pending: { requestId: number; runId: string; block: number } | undefined;
let syncingSelector = false;

// -------------------------------------------------------------------------------------------
// Page

const selector = h('div', { id: 'run-selector', role: 'group', 'aria-label': 'Runs shown side by side' });
const tool = (id: string, label: string, title: string, onClick: () => void) => {
  const b = h('vscode-button', { id, appearance: 'secondary', title }, label);
  b.addEventListener('click', onClick);
  return b;
};
const legend = h('div', { id: 'legend', 'aria-label': 'Legend' });
const verdicts = h('div', { id: 'verdicts' });
const canvas = h('div', { id: 'canvas' });
const inspector = h('aside', { id: 'inspector', hidden: true, 'aria-label': 'Block inspector', tabindex: -1 });
const tooltip = h('div', { id: 'tooltip', role: 'tooltip', hidden: true });
const empty = h('div', { id: 'empty', class: 'empty' }, 'No runs yet: run "TimeSformer: Build & Run Engine".');

document.getElementById('root')!.append(
  h('header', { class: 'toolbar' },
    h('div', { class: 'runs' }, h('span', { class: 'caption' }, 'Runs'), selector),
    h('div', { class: 'tools' },
      tool('zoom-in', '+', 'Zoom in', () => zoomBy(1.25)),
      tool('zoom-out', '−', 'Zoom out', () => zoomBy(0.8)),
      tool('fit', 'Fit', 'Fit the graph to the panel', () => fit()),
      tool('expand-all', 'Expand all', 'Show every block\'s parts', () => setExpanded(model?.lanes[0]?.nodes.filter(isBlock).map((b) => b.index) ?? [])),
      tool('collapse-all', 'Collapse', 'Hide the blocks\' parts', () => setExpanded([]))),
    legend),
  verdicts,
  h('div', { class: 'main' }, canvas, inspector),
  empty,
  tooltip,
);

const svg = select(canvas).append('svg').attr('id', 'graph').attr('role', 'application').attr('aria-label', 'Model graph: Tab to a block, Enter to inspect, E to expand, arrows to move');
const defs = svg.append('defs');
defs.append('marker').attr('id', 'arrow').attr('viewBox', '0 0 10 10').attr('refX', 9).attr('refY', 5)
  .attr('markerWidth', 7).attr('markerHeight', 7).attr('orient', 'auto-start-reverse')
  .append('path').attr('d', 'M0,0L10,5L0,10z').attr('class', 'arrowhead');
const viewport = svg.append('g').attr('class', 'viewport');
const zoomer = zoom<SVGSVGElement, unknown>().scaleExtent([0.2, 4]).on('zoom', (e: { transform: { toString(): string } }) => {
  viewport.attr('transform', e.transform.toString());
});
svg.call(zoomer).on('dblclick.zoom', null);

function zoomBy(k: number): void {
  zoomer.scaleBy(svg, k);
}

/** Scales (never above 1) and centers the drawing in the panel. */
function fit(): void {
  const box = (viewport.node() as SVGGElement).getBBox();
  const { width, height } = canvas.getBoundingClientRect();
  if (!box.width || !width) return;
  const k = Math.min(1, (width - 2 * MARGIN) / box.width, (height - 2 * MARGIN) / box.height);
  const x = Math.max(MARGIN, (width - box.width * k) / 2) - box.x * k;
  zoomer.transform(svg, zoomIdentity.translate(x, MARGIN - box.y * k).scale(k));
}

// -------------------------------------------------------------------------------------------
// Drawing

const isBlock = (n: GraphNode): n is BlockNode => n.kind === 'block';

function save(): void {
  setState(ui);
}

function setExpanded(blocks: number[]): void {
  ui = { ...ui, expanded: [...new Set(blocks)].sort((a, b) => a - b) };
  save();
  draw();
}

function toggle(block: number): void {
  setExpanded(ui.expanded.includes(block) ? ui.expanded.filter((b) => b !== block) : [...ui.expanded, block]);
}

type G = Selection<SVGGElement, unknown, null, undefined>;

function showTooltip(lines: string[], x: number, y: number): void {
  tooltip.replaceChildren(...lines.map((l, i) => h('div', { class: i ? '' : 'title' }, l)));
  tooltip.hidden = false;
  const r = tooltip.getBoundingClientRect();
  tooltip.style.left = `${Math.min(x + 14, window.innerWidth - r.width - 4)}px`;
  tooltip.style.top = `${Math.min(y + 14, window.innerHeight - r.height - 4)}px`;
}

function hideTooltip(): void {
  tooltip.hidden = true;
}

function hover(g: G, lines: string[]): void {
  g.on('mouseenter mousemove', (e: MouseEvent) => showTooltip(lines, e.clientX, e.clientY))
    .on('mouseleave', hideTooltip)
    .on('focus', () => {
      // Keyboard focus only: a click focuses too, and the mouse already has its tooltip.
      if (!(g.node() as SVGGElement).matches(':focus-visible')) return;
      const r = (g.node() as SVGGElement).getBoundingClientRect();
      showTooltip(lines, r.left, r.bottom);
    })
    .on('blur', hideTooltip);
}

function lnMarks(g: G, marks: LayerNormMark[]): void {
  marks.forEach((m, i) => {
    const mg = g.append('g').attr('class', `ln-marker${m.overflowed ? ' overflow' : ''}`)
      .attr('data-layernorm', m.name).attr('data-overflow', String(m.overflowed))
      .attr('transform', `translate(${4 + i * 30},${NH + 3})`);
    mg.append('title').text(`${m.name}${m.overflowed ? `: overflowed (${m.overFp16Count} values > 65504)` : m.overFp16Count ? `: ${m.overFp16Count} values > 65504 (kept in range by this mode)` : ': in range'}`);
    if (m.overflowed) mg.append('path').attr('d', 'M6,0L12,11L0,11z').attr('class', 'ln-icon');
    else mg.append('circle').attr('cx', 6).attr('cy', 6).attr('r', 4).attr('class', 'ln-icon');
    mg.append('text').attr('x', 15).attr('y', 10).attr('class', 'ln-label').text(m.short);
  });
}

function nodeBox(g: G, fill: string | undefined, textColor: string | undefined, line1: string, line2: string | undefined, cls: string): void {
  const rect = g.append('rect').attr('width', NW).attr('height', NH).attr('rx', 5).attr('class', `box ${cls}`);
  if (fill) rect.attr('fill', fill);
  const t1 = g.append('text').attr('x', 8).attr('y', 20).attr('class', 'line1').text(line1);
  const t2 = line2 === undefined ? undefined : g.append('text').attr('x', 8).attr('y', 39).attr('class', 'line2').text(line2);
  if (textColor) for (const t of [t1, t2]) t?.attr('fill', textColor);
}

function drawBlock(g: G, lane: Lane, b: BlockNode, expanded: boolean): void {
  g.attr('class', `node block ${b.status}${b.jump ? ' jump' : ''}${ui.inspect?.runId === lane.runId && ui.inspect.block === b.index ? ' selected' : ''}`)
    .attr('data-run', lane.runId).attr('data-block', b.index).attr('data-status', b.status).attr('data-error', String(b.error))
    .attr('data-key', `${lane.runId}:${b.index}`)
    .attr('tabindex', 0).attr('role', 'button')
    .attr('aria-label', `Block ${b.index}: ${b.status}, error ${fmtNum(b.error)}${b.layerNorms.some((l) => l.overflowed) ? ', LayerNorm overflowed' : ''}. Enter to inspect, E to expand.`);
  nodeBox(g, b.color, b.textColor, `${b.status === 'pass' ? '✓' : '✗'} block ${b.index}`, fmtNum(b.error), b.status);
  lnMarks(g, b.layerNorms);
  const ex = g.append('g').attr('class', 'expander').attr('transform', `translate(${NW - 18},4)`)
    .attr('tabindex', 0).attr('role', 'button').attr('aria-expanded', String(expanded))
    .attr('aria-label', `${expanded ? 'Collapse' : 'Expand'} block ${b.index}`).attr('data-key', `${lane.runId}:${b.index}:x`);
  ex.append('rect').attr('width', 14).attr('height', 14).attr('rx', 3);
  ex.append('text').attr('x', 7).attr('y', 11).attr('text-anchor', 'middle').text(expanded ? '−' : '+');
  ex.on('click', (e: MouseEvent) => {
    e.stopPropagation();
    toggle(b.index);
  }).on('keydown', (e: KeyboardEvent) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      e.stopPropagation();
      toggle(b.index);
    }
  });
  g.on('click', () => {
    hideTooltip();
    inspect(lane.runId, b.index);
  });
  hover(g, b.tooltip);
  if (!expanded) return;
  b.parts.forEach((p, j) => {
    const pg = g.append('g').attr('class', `part ${p.kind}${p.overflowed ? ' overflow' : ''}`).attr('data-part', p.id.split(':').pop()!)
      .attr('transform', `translate(0,${NH + MARKS + j * (PART_H + PART_GAP)})`);
    if (p.layerNorm) pg.attr('data-layernorm', p.layerNorm).attr('data-overflow', String(!!p.overflowed));
    pg.append('rect').attr('width', PART_W).attr('height', PART_H).attr('rx', 3);
    pg.append('text').attr('x', 6).attr('y', 14).text(`${p.overflowed ? '⚠ ' : ''}${p.label}`);
    if (p.layerNorm) pg.append('title').text(`${p.layerNorm}${p.overflowed ? ` overflowed: ${p.overFp16Count} values of (x−mean)² > 65504` : ''}`);
  });
}

function drawStage(g: G, lane: Lane, n: Exclude<GraphNode, BlockNode>): void {
  g.attr('class', `node stage${n.status ? ` ${n.status}` : ''}`).attr('data-run', lane.runId).attr('data-stage', n.id).attr('tabindex', 0)
    .attr('data-key', `${lane.runId}:${n.id}`).attr('aria-label', n.tooltip.join('. '));
  if (n.status) g.attr('data-status', n.status).attr('data-error', String(n.error));
  nodeBox(g, n.color, n.textColor, n.status ? `${n.status === 'pass' ? '✓' : '✗'} ${n.label}` : n.label, n.error === undefined ? n.sub : fmtNum(n.error), n.color ? n.status ?? '' : 'neutral');
  if (n.layerNorm) lnMarks(g, [n.layerNorm]);
  hover(g, n.tooltip);
}

function draw(): void {
  const focused = (document.activeElement as Element | null)?.getAttribute?.('data-key');
  viewport.selectAll('*').remove();
  hideTooltip();
  model = buildGraph(runs, shown);
  empty.hidden = model.lanes.length > 0;
  drawLegend(model);
  verdicts.replaceChildren(...model.lanes.map((l) =>
    h('div', { class: `verdict ${l.verdict}`, 'data-run': l.runId, 'data-verdict': l.verdict },
      h('b', {}, `${l.verdict === 'pass' ? '✓ PASS' : '✗ FAIL'} ${l.label}`), ` — ${l.sentence}`)));
  // Lanes flow left to right and wrap into rows that fit the panel at scale 1. The runs' rows
  // are interleaved (row r of every lane, then row r + 1), so a block sits above the same block
  // of the other runs; a row's parts space is there only when one of its blocks is expanded.
  const perRow = Math.max(4, Math.floor((canvas.clientWidth - GUTTER - 2 * MARGIN + GAP) / (NW + GAP)) || 8);
  const count = Math.max(0, ...model.lanes.map((l) => l.nodes.length));
  const rows = Math.ceil(count / perRow);
  const laneRowH = (r: number) => NH + MARKS + LANE_GAP
    + (model!.lanes[0].nodes.slice(r * perRow, (r + 1) * perRow).some((n) => isBlock(n) && ui.expanded.includes(n.index)) ? PARTS_H : 0);
  const groupY: number[] = [];
  for (let r = 0, y = 0; r < rows; r++) {
    groupY.push(y);
    y += model.lanes.length * laneRowH(r) + GROUP_GAP;
  }
  const arrow = (g: G, x1: number, x2: number, y: number) =>
    g.append('path').attr('class', 'edge').attr('d', `M${x1},${y}H${x2}`).attr('marker-end', 'url(#arrow)');
  model.lanes.forEach((lane, li) => {
    const lg = viewport.append('g').attr('class', `lane ${lane.verdict}`).attr('data-run', lane.runId);
    const at = (i: number) => {
      const r = Math.floor(i / perRow);
      return { r, x: GUTTER + (i % perRow) * (NW + GAP), y: groupY[r] + li * laneRowH(r) };
    };
    // Row tags tell the runs apart; one run needs none.
    for (let r = 0; r < rows && model!.lanes.length > 1; r++) {
      const tag = lg.append('text').attr('class', 'lane-label').attr('x', 0).attr('y', groupY[r] + li * laneRowH(r) + NH / 2 + 4)
        .text(`${lane.verdict === 'pass' ? '✓' : '✗'} ${lane.label.split(' ')[0]}`);
      tag.append('title').text(`${lane.label}: ${lane.sentence}`);
    }
    lane.nodes.forEach((n, i) => {
      const p = at(i);
      const cy = p.y + NH / 2;
      if (i > 0) {
        const q = at(i - 1);
        if (q.r === p.r) arrow(lg, q.x + NW, p.x - 2, cy);
        else {
          // Row break: an arrow out of the row's end and one into the next row's start.
          arrow(lg, q.x + NW, q.x + NW + GAP - 4, q.y + NH / 2);
          arrow(lg, p.x - 12, p.x - 2, cy);
        }
      }
      const g = lg.append('g').attr('transform', `translate(${p.x},${p.y})`);
      if (isBlock(n)) drawBlock(g, lane, n, ui.expanded.includes(n.index));
      else drawStage(g, lane, n);
    });
  });
  viewport.selectAll<SVGGElement, unknown>('g.node').on('keydown', function (e: KeyboardEvent) {
    onNodeKey(this, e);
  });
  if (focused) (viewport.node() as SVGGElement).querySelector<SVGGElement>(`[data-key="${CSS.escape(focused)}"]`)?.focus();
}

function onNodeKey(el: SVGGElement, e: KeyboardEvent): void {
  const block = el.getAttribute('data-block');
  const runId = el.getAttribute('data-run')!;
  if ((e.key === 'Enter' || e.key === ' ') && block !== null) {
    e.preventDefault();
    inspect(runId, Number(block));
  } else if ((e.key === 'e' || e.key === 'E' || e.key === '+' || e.key === '-') && block !== null) {
    e.preventDefault();
    toggle(Number(block));
  } else if (e.key === 'ArrowRight' || e.key === 'ArrowLeft' || e.key === 'ArrowUp' || e.key === 'ArrowDown') {
    e.preventDefault();
    const all = [...(viewport.node() as SVGGElement).querySelectorAll<SVGGElement>('g.node')];
    const lanes = [...new Set(all.map((n) => n.getAttribute('data-run')))];
    const inLane = (r: string | null) => all.filter((n) => n.getAttribute('data-run') === r);
    const row = inLane(runId);
    const i = row.indexOf(el);
    let next: SVGGElement | undefined;
    if (e.key === 'ArrowRight') next = row[i + 1];
    else if (e.key === 'ArrowLeft') next = row[i - 1];
    else next = inLane(lanes[lanes.indexOf(runId) + (e.key === 'ArrowDown' ? 1 : -1)] ?? null)[i];
    next?.focus();
  }
}

function drawLegend(m: GraphModel): void {
  const W = 240;
  const s = m.scale;
  const root = document.createElementNS(SVG, 'svg');
  const lg = select(root).attr('width', W + 40).attr('height', 46).attr('class', 'legend-svg');
  const grad = lg.append('defs').append('linearGradient').attr('id', 'legend-gradient');
  for (let i = 0; i <= 10; i++) grad.append('stop').attr('offset', `${i * 10}%`).attr('stop-color', interpolateError(i / 10));
  const g = lg.append('g').attr('transform', 'translate(12,16)');
  g.append('rect').attr('width', W).attr('height', 10).attr('fill', 'url(#legend-gradient)').attr('class', 'legend-bar');
  for (const t of s.ticks) {
    g.append('line').attr('x1', t.t * W).attr('x2', t.t * W).attr('y1', 10).attr('y2', 14).attr('class', 'tick');
    g.append('text').attr('x', t.t * W).attr('y', 25).attr('text-anchor', 'middle').attr('class', 'tick-label').attr('data-tick', t.value).text(t.label);
  }
  const tx = s.toleranceTick.t * W;
  g.append('line').attr('x1', tx).attr('x2', tx).attr('y1', -4).attr('y2', 12).attr('class', 'tolerance');
  g.append('text').attr('x', tx).attr('y', -6).attr('text-anchor', 'middle').attr('class', 'tolerance-label').text(`tolerance ${fmtNum(s.tolerance)}`);
  legend.replaceChildren(
    h('span', { class: 'caption' }, 'rel L2 error (log)'),
    root,
    h('span', { class: 'key' }, '✗ dashed = fails'),
    h('span', { class: 'key overflow' }, '▲ LayerNorm overflowed (T temporal, S spatial, M MLP)'),
  );
}

function drawSelector(): void {
  syncingSelector = true;
  selector.replaceChildren(...runs.map((r) => {
    const cb = h('vscode-checkbox', { 'data-run-id': r.id, checked: shown.includes(r.id) }, `${r.summary.diagnosis.verdict === 'pass' ? '✓' : '✗'} ${r.label}`) as HTMLElement & { checked: boolean };
    cb.addEventListener('change', () => {
      if (syncingSelector) return;
      const on = new Set(shown);
      if (cb.checked) on.add(r.id);
      else on.delete(r.id);
      shown = runs.map((x) => x.id).filter((id) => on.has(id));
      send({ type: 'show', runIds: shown });
      draw();
      fit();
    });
    return cb;
  }));
  syncingSelector = false;
}

// -------------------------------------------------------------------------------------------
// Inspector

function inspect(runId: string, block: number): void {
  ui = { ...ui, inspect: { runId, block } };
  save();
  viewport.selectAll('g.node.block').classed('selected', function () {
    return (this as SVGGElement).getAttribute('data-key') === `${runId}:${block}`;
  });
  pending = { requestId: ++lastRequest, runId, block };
  renderInspectorMessage(inspector, `Loading block ${block}…`);
  send({ type: 'inspect', ...pending });
}

function closeInspector(): void {
  ui = { ...ui, inspect: undefined };
  save();
  inspector.hidden = true;
  viewport.selectAll('g.node.block').classed('selected', false);
}

inspector.addEventListener('click', (e) => {
  if ((e.target as Element).closest('#inspector-close')) closeInspector();
});
inspector.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') closeInspector();
});

window.addEventListener('message', (e: MessageEvent) => {
  const m = parseHostToGraph(fromWire(e.data));
  if (!m) return;
  switch (m.type) {
    case 'runs': {
      runs = m.runs;
      shown = m.shown.length ? m.shown : runs.slice(-1).map((r) => r.id);
      drawSelector();
      draw();
      fit();
      const keep = ui.inspect && shown.includes(ui.inspect.runId) ? ui.inspect : undefined;
      if (keep) inspect(keep.runId, keep.block);
      else closeInspector();
      return;
    }
    case 'blockDetail': {
      if (m.requestId !== pending?.requestId || !model) return;
      const run = runs.find((r) => r.id === m.runId);
      if (run) renderInspector(inspector, m.block, run, model.scale);
      return;
    }
    case 'blockDetailError':
      if (m.requestId === pending?.requestId) renderInspectorMessage(inspector, m.message);
      return;
  }
});
// Re-layout when the panel or the inspector changes the canvas width (rows depend on it).
let laidOutWidth = 0;
new ResizeObserver(() => {
  const w = canvas.clientWidth;
  if (!w || w === laidOutWidth) return;
  laidOutWidth = w;
  requestAnimationFrame(() => {
    draw();
    fit();
  });
}).observe(canvas);
send({ type: 'ready' });
