/**
 * The block inspector: the block's output vs reference (and, when exposed, the LayerNorm
 * intermediates) as statistics, histograms and per-channel max |x|; the LayerNorms' overflow
 * statistics; and the per-token error per frame as a heat map. Only statistics arrive, never
 * whole tensors. Test hooks: #inspector[data-block][data-run], #ln-note, tr.ln-row[data-layernorm]
 * [data-overflow][data-overflow-count][data-top-channel], .tensor[data-tensor][data-top-channel].
 */
import { select } from 'd3-selection';
import type { BlockResult } from '../extension/core/report';
import type { RunView } from '../extension/host/protocol';
import { fmtNum, inspectorModel, type ErrorScale, type Heatmap, type TensorRow } from './viewmodel';
import { h } from './vscode';

const SVG = 'http://www.w3.org/2000/svg';

function svgEl(width: number, height: number, label: string): SVGSVGElement {
  const s = document.createElementNS(SVG, 'svg');
  s.setAttribute('width', String(width));
  s.setAttribute('height', String(height));
  s.setAttribute('role', 'img');
  s.setAttribute('aria-label', label);
  return s;
}

function histogram(t: TensorRow): SVGSVGElement {
  const W = 300;
  const H = 56;
  const s = svgEl(W, H + 14, `Histogram of ${t.name}`);
  const max = Math.max(1, ...t.histogram.map((b) => b.count));
  const bw = W / Math.max(1, t.histogram.length);
  const g = select(s);
  g.selectAll('rect').data(t.histogram).join('rect')
    .attr('class', 'bar').attr('x', (_, i) => i * bw).attr('width', Math.max(1, bw - 1))
    .attr('y', (b) => H - (b.count / max) * H).attr('height', (b) => (b.count / max) * H)
    .append('title').text((b) => `[${fmtNum(b.x0)}, ${fmtNum(b.x1)}): ${b.count}`);
  const lo = t.histogram[0]?.x0;
  const hi = t.histogram[t.histogram.length - 1]?.x1;
  if (lo !== undefined) g.append('text').attr('class', 'axis').attr('x', 0).attr('y', H + 12).text(fmtNum(lo));
  if (hi !== undefined) g.append('text').attr('class', 'axis').attr('x', W).attr('y', H + 12).attr('text-anchor', 'end').text(fmtNum(hi));
  return s;
}

function channels(t: TensorRow): SVGSVGElement | undefined {
  if (!t.channels || !t.topChannel) return undefined;
  const W = 300;
  const H = 56;
  const top = t.topChannel;
  const s = svgEl(W, H + 14, `Per-channel max |x| of ${t.name}; channel ${top.channel} is the largest`);
  const max = Math.max(1e-30, top.maxAbs);
  const bw = W / t.channels.length;
  const g = select(s);
  g.selectAll('rect').data(t.channels).join('rect')
    .attr('class', (_, i) => (i === top.channel ? 'bar top' : 'bar'))
    .attr('x', (_, i) => i * bw).attr('width', Math.max(1, bw - 0.5))
    .attr('y', (v) => H - (v / max) * H).attr('height', (v) => (v / max) * H)
    .append('title').text((v, i) => `channel ${i}: ${fmtNum(v)}`);
  const x = Math.min(W - 4, Math.max(4, (top.channel + 0.5) * bw));
  g.append('text').attr('class', 'axis top-label').attr('x', x).attr('y', H + 12).attr('text-anchor', x > W / 2 ? 'end' : 'start')
    .text(`channel ${top.channel}: ${fmtNum(top.maxAbs)}`);
  return s;
}

function heatmapView(hm: Heatmap): HTMLElement {
  const cell = Math.max(6, Math.min(16, Math.floor(96 / Math.max(1, hm.grid))));
  const frames = hm.cells.map((frame, t) => {
    const s = svgEl(hm.grid * cell, hm.grid * cell, `Per-token error, frame ${t}`);
    const rows = select(s).selectAll('g').data(frame).join('g').attr('transform', (_, r) => `translate(0,${r * cell})`);
    rows.selectAll('rect').data((row) => row).join('rect')
      .attr('x', (_, c) => c * cell).attr('width', cell).attr('height', cell).attr('fill', (d) => d.color)
      .append('title').text((d) => `error ${fmtNum(d.value)}`);
    return h('figure', { class: 'frame', 'data-frame': t }, s, h('figcaption', {}, `frame ${t}`));
  });
  return h('div', { class: 'heatmap', 'data-frames': hm.frames, 'data-grid': hm.grid }, ...frames);
}

function tensorView(t: TensorRow): HTMLElement {
  const counts = [
    { label: 'inf', value: t.infCount }, { label: 'NaN', value: t.nanCount }, { label: '> 65504', value: t.overFp16 },
  ];
  const stats = h('dl', { class: 'stats' }, ...[...t.stats, ...counts.map((c) => ({ label: c.label, value: String(c.value) }))].flatMap((s) => [h('dt', {}, s.label), h('dd', {}, s.value)]));
  const ch = channels(t);
  return h('section', { class: 'tensor', 'data-tensor': t.name, 'data-top-channel': t.topChannel?.channel, 'data-over-fp16': t.overFp16 },
    h('h4', {}, t.name, h('span', { class: 'shape' }, ` ${t.shape}`)),
    stats,
    h('div', { class: 'chart-title' }, 'histogram'),
    histogram(t),
    ...(ch && t.topChannel
      ? [h('div', { class: 'chart-title' }, `per-channel max |x| — channel ${t.topChannel.channel} is ${Number.isFinite(t.topChannel.timesMedian) ? `${fmtNum(t.topChannel.timesMedian)}× the median` : 'the only non-zero one'}`), ch]
      : []),
  );
}

export function renderInspectorMessage(el: HTMLElement, text: string): void {
  el.hidden = false;
  el.replaceChildren(h('button', { id: 'inspector-close', class: 'close', 'aria-label': 'Close the inspector', title: 'Close (Esc)' }, '×'), h('p', { class: 'message' }, text));
}

export function renderInspector(el: HTMLElement, b: BlockResult, run: RunView, scale: ErrorScale): void {
  const m = inspectorModel(b, run.summary.config, scale, run.short, run.summary.tolerance);
  el.hidden = false;
  el.dataset.block = String(b.index);
  el.dataset.run = run.id;
  el.dataset.status = m.status;
  const lnTable = h('table', { class: 'layernorms' },
    h('thead', {}, h('tr', {}, ...['LayerNorm', 'max (x−mean)²', '> 65504', 'inf / NaN', 'top channel (max |x|)'].map((c) => h('th', {}, c)))),
    h('tbody', {}, ...m.layerNorms.map((l) => h('tr', {
      class: `ln-row${l.overflowed ? ' overflow' : ''}`, 'data-layernorm': l.name, 'data-overflow': String(l.overflowed),
      'data-overflow-count': l.overFp16Count, 'data-top-channel': l.topChannels[0]?.channel,
    },
    h('td', { title: l.name }, `${l.overflowed ? '⚠ ' : ''}${l.name.replace(/^blocks\.\d+\./, '')}`), h('td', {}, l.maxSq), h('td', {}, String(l.overFp16Count)),
    h('td', {}, `${l.infCount} / ${l.nanCount}`),
    h('td', { title: `max |x| per channel: ${l.topChannels.map((c) => `${c.channel}: ${c.maxAbs}`).join(', ')}` },
      l.topChannels[0] ? `${l.topChannels[0].channel} (${l.topChannels[0].maxAbs})` : '–')))));
  el.replaceChildren(
    h('button', { id: 'inspector-close', class: 'close', 'aria-label': 'Close the inspector', title: 'Close (Esc)' }, '×'),
    h('h3', {}, m.title),
    h('div', { class: `badge ${m.status}` }, `${m.status === 'pass' ? '✓ pass' : '✗ FAIL'} — rel L2 ${m.error} (tolerance ${fmtNum(run.summary.tolerance)})`),
    h('h4', { class: 'section' }, 'LayerNorms'),
    lnTable,
    // What the counts mean in this run's realization (the host words it): e.g. kept in FP32 in expose mode.
    ...(run.layerNormNote ? [h('p', { id: 'ln-note', class: 'message' }, run.layerNormNote)] : []),
    h('h4', { class: 'section' }, `Per-token error per frame (${m.heatmap.frames} frames of ${m.heatmap.grid}×${m.heatmap.grid} patches; max ${fmtNum(m.heatmap.max)}; the graph's color scale, tolerance ${fmtNum(run.summary.tolerance)})`),
    heatmapView(m.heatmap),
    h('h4', { class: 'section' }, b.exposed.length ? 'Tensors (block output, reference, exposed LayerNorm intermediates)' : 'Tensors (block output, reference)'),
    ...m.tensors.map(tensorView),
  );
}
