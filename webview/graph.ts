/**
 * The graph panel: one lane per shown run, patch embedding -> blocks -> norm -> head, the nodes of
 * every lane aligned by index in columns. Blocks are colored on the one error scale (log, anchored
 * at each run's tolerance: blues pass, orange to red fail), failing ones hatched and marked ✗, the
 * first failing block flagged as the break; LayerNorm overflow marks under each block; a block
 * expands to its parts with their values; clicking it (or Enter) opens the inspector and moves the
 * keyboard into it; Escape anywhere closes it and returns to the block. Fit shows the whole graph
 * (an overview when it is large; graph-zoom.ts); tooltips (tooltip.ts) are anchored to their node
 * and follow zoom and pan.
 * Renders only what the host sends (buildGraph does the arithmetic; it is unit-tested); the legend
 * is legend.ts's.
 * Test hooks: g.lane[data-run], [data-block][data-status][data-error][data-break],
 * [data-layernorm][data-overflow], g.part[data-part] text.value, #verdicts .verdict[data-run][data-confirming].
 */
import { select, type Selection } from 'd3-selection';
import { fromWire, parseHostToGraph, type GraphToHost, type RunView } from '../extension/host/protocol';
import { installDrop } from './graph-drop';
import { graphZoom } from './graph-zoom';
import { renderInspector, renderInspectorMessage } from './inspector';
import { renderLegend } from './legend';
import { createTooltip } from './tooltip';
import { buildGraph, fmtNum, type BlockNode, type GraphModel, type GraphNode, type LayerNormMark, type Lane } from './viewmodel';
import { getState, h, post, setState } from './vscode';

const send = (m: GraphToHost) => post(m);
installDrop(send);

// Layout (px, before zoom).
const NW = 104;
const EW = 204;
const NH = 50;
const GAP = 24;
const MARKS = 18;
const PART_H = 30;
const PART_GAP = 4;
const PARTS_H = 6 + 10 * (PART_H + PART_GAP);
const TITLE_H = 24;
/** Between lanes: with TITLE_H, the room the next lane's title keeps at Fit's scale (graph-zoom placeTitles). */
const LANE_GAP = 40;
/** The break flag stands this far above its block. */
const FLAG_H = 9;

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

// -------------------------------------------------------------------------------------------
// Page

const chips = h('div', { id: 'run-chips', role: 'list', 'aria-label': 'Runs shown side by side' });
const tool = (id: string, label: string, title: string, onClick: () => void) => {
  const b = h('button', { id, type: 'button', class: 'tool', title }, label);
  b.addEventListener('click', onClick);
  return b;
};
const legend = h('div', { id: 'legend', 'aria-label': 'Legend' });
const verdicts = h('div', { id: 'verdicts', role: 'status' });
const canvas = h('div', { id: 'canvas' });
const inspector = h('aside', { id: 'inspector', hidden: true, 'aria-label': 'Block inspector', tabindex: -1 });
const tooltip = h('div', { id: 'tooltip', role: 'tooltip', hidden: true });
const empty = h('div', { id: 'empty', class: 'empty' }, 'No runs yet: run "TimeSformer: Build & Run Engine".');

document.getElementById('root')!.append(
  h('header', { class: 'toolbar' },
    h('div', { class: 'runs' }, h('span', { class: 'caption' }, 'Runs'), chips,
      tool('pick-runs', 'Choose runs…', 'Pick the runs to compare side by side', () => send({ type: 'pick' }))),
    h('div', { class: 'tools' },
      tool('zoom-in', '+', 'Zoom in', () => zoomBy(1.25)),
      tool('zoom-out', '−', 'Zoom out', () => zoomBy(0.8)),
      tool('fit', 'Fit', 'Fit the whole graph to the panel', () => fit()),
      tool('expand-all', 'Expand all', 'Show every block\'s parts', () => setExpanded(model?.lanes[0]?.nodes.filter(isBlock).map((b) => b.index) ?? [], true)),
      tool('collapse-all', 'Collapse', 'Hide the blocks\' parts', () => setExpanded([], true)))),
  legend,
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
// Failing blocks are hatched: the pass/fail difference never rests on color alone.
defs.append('pattern').attr('id', 'fail-hatch').attr('width', 8).attr('height', 8).attr('patternUnits', 'userSpaceOnUse').attr('patternTransform', 'rotate(45)')
  .append('rect').attr('width', 3).attr('height', 8).attr('class', 'hatch');
const viewport = svg.append('g').attr('class', 'viewport');
const tip = createTooltip(tooltip, canvas);
const view = graphZoom(svg, viewport, canvas, () => tip.place(), () => {
  // the inspector opened or closed: its block stays in view
  const el = ui.inspect && !inspector.hidden ? blockEl(ui.inspect.runId, ui.inspect.block) : null;
  if (el) view.reveal(el);
});
const fit = () => view.fit();
const zoomBy = (k: number) => view.zoomBy(k);

// -------------------------------------------------------------------------------------------
// Drawing

const isBlock = (n: GraphNode): n is BlockNode => n.kind === 'block';

function save(): void {
  setState(ui);
}

/** Expand all and Collapse fit the new graph; one block's expander keeps the view unless it went empty. */
function setExpanded(blocks: number[], refit = false): void {
  ui = { ...ui, expanded: [...new Set(blocks)].sort((a, b) => a - b) };
  save();
  draw();
  if (refit) fit();
  else view.keepInView();
}

function toggle(block: number): void {
  setExpanded(ui.expanded.includes(block) ? ui.expanded.filter((b) => b !== block) : [...ui.expanded, block]);
}

type G = Selection<SVGGElement, unknown, null, undefined>;

/** The tooltip hangs below the node's box (not its marks or parts), keyed for tests by the node's data-key. */
function hover(g: G, lines: string[]): void {
  const el = g.node() as SVGGElement;
  const anchor = () => el.querySelector('rect.box') ?? el;
  g.on('mouseenter', () => tip.show(anchor(), lines))
    .on('mouseleave', tip.hide)
    .on('focus', () => tip.show(anchor(), lines))
    .on('blur', tip.hide);
}

function lnMarks(g: G, marks: LayerNormMark[]): void {
  marks.forEach((m, i) => {
    const mg = g.append('g').attr('class', `ln-marker${m.overflowed ? ' overflow' : ''}${m.predicted ? ' predicted' : ''}`)
      .attr('data-layernorm', m.name).attr('data-overflow', String(m.overflowed)).attr('data-predicted', String(m.predicted))
      .attr('transform', `translate(${4 + i * 30},${NH + 3})`);
    mg.append('title').text(`${m.name}${m.predicted ? `: would overflow at this engine's FP16 limits (${m.overFp16Count} values > 65504 in the FP32 run; the engine's own values are not seen)`
      : m.overflowed ? `: overflowed (${m.overFp16Count} values > 65504)` : m.overFp16Count ? `: ${m.overFp16Count} values > 65504 (kept in range by this mode)` : ': in range'}`);
    if (m.overflowed) mg.append('path').attr('d', 'M6,0L12,11L0,11z').attr('class', 'ln-icon');
    else mg.append('circle').attr('cx', 6).attr('cy', 6).attr('r', 4).attr('class', 'ln-icon');
    mg.append('text').attr('x', 15).attr('y', 10).attr('class', 'ln-label').text(m.short);
  });
}

function nodeBox(g: G, w: number, fill: string | undefined, textColor: string | undefined, line1: string, line2: string | undefined, cls: string): void {
  const rect = g.append('rect').attr('width', w).attr('height', NH).attr('rx', 5).attr('class', `box ${cls}`);
  if (fill) rect.attr('fill', fill);
  if (cls === 'fail') g.append('rect').attr('width', w).attr('height', NH).attr('rx', 5).attr('class', 'hatch-overlay').attr('fill', 'url(#fail-hatch)');
  const t1 = g.append('text').attr('x', 8).attr('y', 20).attr('class', 'line1').text(line1);
  const t2 = line2 === undefined ? undefined : g.append('text').attr('x', 8).attr('y', 39).attr('class', 'line2').text(line2);
  if (textColor) for (const t of [t1, t2]) t?.attr('fill', textColor);
}

function drawBlock(g: G, lane: Lane, b: BlockNode, w: number, expanded: boolean): void {
  g.attr('class', `node block ${b.status}${b.break ? ' break' : ''}${ui.inspect?.runId === lane.runId && ui.inspect.block === b.index ? ' selected' : ''}`)
    .attr('data-run', lane.runId).attr('data-block', b.index).attr('data-status', b.status).attr('data-error', String(b.error))
    .attr('data-break', String(b.break)).attr('data-color', b.color)
    .attr('data-key', `${lane.runId}:${b.index}`)
    .attr('tabindex', 0).attr('role', 'button')
    .attr('aria-label', `Block ${b.index}: ${b.status}${b.break ? ', the break' : ''}, error ${fmtNum(b.error)}${b.layerNorms.some((l) => l.overflowed) ? ', LayerNorm overflowed' : ''}. Enter to inspect, E to expand.`);
  nodeBox(g, w, b.color, b.textColor, `${b.status === 'pass' ? '✓' : '✗'} block ${b.index}`, fmtNum(b.error), b.status);
  if (b.break) {
    const f = g.append('g').attr('class', 'break-flag').attr('transform', `translate(${w / 2 - 26},-9)`);
    f.append('rect').attr('width', 52).attr('height', 16).attr('rx', 8);
    f.append('text').attr('x', 26).attr('y', 12).attr('text-anchor', 'middle').text('⚡ break');
  }
  lnMarks(g, b.layerNorms);
  const ex = g.append('g').attr('class', 'expander').attr('transform', `translate(${w - 18},4)`)
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
    tip.hide();
    inspect(lane.runId, b.index, true);
  });
  hover(g, b.tooltip);
  if (!expanded) return;
  b.parts.forEach((p, j) => {
    const pg = g.append('g').attr('class', `part ${p.kind}${p.overflowed ? ' overflow' : ''}`).attr('data-part', p.id.split(':').pop()!)
      .attr('transform', `translate(0,${NH + MARKS + j * (PART_H + PART_GAP)})`);
    if (p.layerNorm) pg.attr('data-layernorm', p.layerNorm).attr('data-overflow', String(!!p.overflowed));
    pg.append('rect').attr('width', w).attr('height', PART_H).attr('rx', 3);
    pg.append('text').attr('x', 6).attr('y', p.value ? 12 : 19).attr('class', 'label').text(`${p.overflowed ? '⚠ ' : ''}${p.label}`);
    if (p.value) pg.append('text').attr('x', 6).attr('y', 25).attr('class', 'value').text(p.value);
    pg.append('title').text(p.layerNorm
      ? `${p.layerNorm}: ${p.value ?? ''}${p.overFp16Count ? `; ${p.overFp16Count} values > 65504` : ''}${p.predicted ? ' — would overflow FP16 (predicted from the FP32 run; the engine\'s own values are not seen)' : p.overflowed ? ' — overflowed FP16' : p.mode && p.mode !== 'plain' ? ` — built '${p.mode}', not exposed to the FP16 square` : ''}`
      : `${p.label}: measured only as part of the block's output`);
  });
}

function drawStage(g: G, lane: Lane, n: Exclude<GraphNode, BlockNode>): void {
  g.attr('class', `node stage${n.status ? ` ${n.status}` : ''}`).attr('data-run', lane.runId).attr('data-stage', n.id).attr('tabindex', 0)
    .attr('data-key', `${lane.runId}:${n.id}`).attr('aria-label', n.tooltip.join('. '));
  if (n.status) g.attr('data-status', n.status).attr('data-error', String(n.error));
  nodeBox(g, NW, n.color, n.textColor, n.status ? `${n.status === 'pass' ? '✓' : '✗'} ${n.label}` : n.label, n.error === undefined ? n.sub : fmtNum(n.error), n.color ? n.status ?? '' : 'neutral');
  if (n.layerNorm) lnMarks(g, [n.layerNorm]);
  hover(g, n.tooltip);
}

function draw(): void {
  const focused = (document.activeElement as Element | null)?.getAttribute?.('data-key');
  viewport.selectAll('*').remove();
  tip.hide();
  model = buildGraph(runs, shown);
  empty.hidden = model.lanes.length > 0;
  renderLegend(legend, model);
  drawChips(model);
  const said = model.lanes.map((l) =>
    h('div', { class: `verdict ${l.verdict}`, 'data-run': l.runId, 'data-verdict': l.verdict, ...(l.confirming ? { 'data-confirming': 'true' } : {}) },
      h('b', {}, l.verdict === 'pass' ? '✓ PASS' : '✗ FAIL'), ` ${l.label} — ${l.reference}. `, h('span', { class: 'sentence' }, l.sentence),
      ...(l.confirming ? [h('span', { class: 'confirming' }, ' Confirming the minimal fix by one run…')] : [])));
  // a live region: replaced (and read out) only when what it says changed, not on every expand or zoom
  const text = said.map((d) => `${d.dataset.run}:${d.textContent}`).join('\n');
  if (verdicts.dataset.said !== text) {
    verdicts.replaceChildren(...said);
    verdicts.dataset.said = text;
  }
  // Columns: node i of every lane sits in column i; an expanded block widens its column.
  const count = Math.max(0, ...model.lanes.map((l) => l.nodes.length));
  const widths = Array.from({ length: count }, (_, i) => {
    const n = model!.lanes.map((l) => l.nodes[i]).find((x) => x && isBlock(x)) as BlockNode | undefined;
    return n && ui.expanded.includes(n.index) ? EW : NW;
  });
  const xs: number[] = [];
  widths.reduce((x, w, i) => ((xs[i] = x), x + w + GAP), 0);
  const anyExpanded = widths.some((w) => w === EW);
  const laneH = TITLE_H + NH + MARKS + (anyExpanded ? PARTS_H : 0) + LANE_GAP;
  const arrow = (g: G, x1: number, x2: number, y: number) =>
    g.append('path').attr('class', 'edge').attr('d', `M${x1},${y}H${x2}`).attr('marker-end', 'url(#arrow)');
  model.lanes.forEach((lane, li) => {
    const y = li * laneH;
    const lg = viewport.append('g').attr('class', `lane ${lane.verdict}`).attr('data-run', lane.runId);
    // placed by graph-zoom (sticky at the panel's left edge, 12 px above the lane's nodes)
    const title = lg.append('text').attr('class', 'lane-title').attr('data-lane-top', y + TITLE_H).attr('data-room', li ? TITLE_H + LANE_GAP : null);
    title.append('tspan').attr('class', 'lane-verdict').text(`${lane.verdict === 'pass' ? '✓ PASS' : '✗ FAIL'}  `);
    title.append('tspan').text(lane.short);
    title.append('tspan').attr('class', 'lane-ref').text(`   ${lane.reference}`);
    title.append('title').text(`${lane.label}\n${lane.reference}\n${lane.sentence}`);
    lane.nodes.forEach((n, i) => {
      const x = xs[i];
      const ny = y + TITLE_H;
      if (i > 0) arrow(lg, xs[i - 1] + widths[i - 1], x - 2, ny + NH / 2);
      const g = lg.append('g').attr('transform', `translate(${x},${ny})`);
      if (isBlock(n)) drawBlock(g, lane, n, widths[i], ui.expanded.includes(n.index));
      else drawStage(g, lane, n);
    });
  });
  const lanes = model.lanes.length;
  view.setContent({
    x0: 0, x1: count ? xs[count - 1] + widths[count - 1] : 0,
    y0: TITLE_H - FLAG_H, y1: (lanes - 1) * laneH + laneH - LANE_GAP,
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
    inspect(runId, Number(block), true);
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

/** The shown runs as chips; × takes a run out of the comparison. */
function drawChips(m: GraphModel): void {
  chips.replaceChildren(...m.lanes.map((l) => {
    const close = m.lanes.length > 1 ? h('button', { type: 'button', class: 'chip-close', 'aria-label': `Stop showing ${l.short}`, title: 'Stop showing this run' }, '×') : undefined;
    close?.addEventListener('click', () => {
      shown = shown.filter((id) => id !== l.runId);
      send({ type: 'show', runIds: shown });
      draw();
      fit();
    });
    return h('span', { class: `chip ${l.verdict}`, role: 'listitem', 'data-run': l.runId, title: l.label }, `${l.verdict === 'pass' ? '✓' : '✗'} ${l.short}`, close);
  }));
}

// -------------------------------------------------------------------------------------------
// Inspector

const blockEl = (runId: string, block: number) => (viewport.node() as SVGGElement).querySelector<SVGGElement>(`g.node.block[data-key="${CSS.escape(`${runId}:${block}`)}"]`);

/** Opens the inspector on a block; `focus` (the user's click or Enter) moves the keyboard into it. */
function inspect(runId: string, block: number, focus = false): void {
  ui = { ...ui, inspect: { runId, block } };
  save();
  viewport.selectAll('g.node.block').classed('selected', function () {
    return (this as SVGGElement).getAttribute('data-key') === `${runId}:${block}`;
  });
  pending = { requestId: ++lastRequest, runId, block };
  renderInspectorMessage(inspector, `Loading block ${block}…`);
  inspector.setAttribute('aria-label', `Block ${block} inspector (Escape closes it)`);
  if (focus) inspector.focus();
  send({ type: 'inspect', ...pending });
}

/** Closes the inspector; `refocus` (Escape, ×): the keyboard, when it was in the inspector, goes back to the block it showed. */
function closeInspector(refocus = false): void {
  const was = ui.inspect;
  refocus &&= inspector.contains(document.activeElement) || document.activeElement === document.body;
  ui = { ...ui, inspect: undefined };
  save();
  inspector.hidden = true;
  viewport.selectAll('g.node.block').classed('selected', false);
  if (refocus && was) blockEl(was.runId, was.block)?.focus();
}

inspector.addEventListener('click', (e) => {
  if ((e.target as Element).closest('#inspector-close')) closeInspector(true);
});
// Escape anywhere in the panel (the block, the inspector) closes an open inspector
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape' || inspector.hidden) return;
  e.preventDefault();
  closeInspector(true);
});

window.addEventListener('message', (e: MessageEvent) => {
  const m = parseHostToGraph(fromWire(e.data));
  if (!m) return;
  switch (m.type) {
    case 'runs': {
      runs = m.runs;
      shown = m.shown.length ? m.shown : runs.slice(-1).map((r) => r.id);
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
send({ type: 'ready' });
