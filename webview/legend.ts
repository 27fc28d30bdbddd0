/**
 * The graph panel's legend: the one error color scale (log, anchored at the tolerance, the failing
 * side hatched), the tick labels, and the keys for pass, fail, the break and LayerNorm overflow.
 */
import { select } from 'd3-selection';
import { DECADES_BELOW, errorColor, fmtNum, hasPredicted, type GraphModel } from './viewmodel';
import { h } from './vscode';

const SVG = 'http://www.w3.org/2000/svg';

/** The one color scale, the same in every view: tolerance × 1e-4 … × 100, the tolerance marked. */
export function renderLegend(legend: HTMLElement, m: GraphModel): void {
  const W = 300;
  const s = m.scale;
  const root = document.createElementNS(SVG, 'svg');
  const lg = select(root).attr('width', W + 44).attr('height', 44).attr('class', 'legend-svg');
  const grad = lg.append('defs').append('linearGradient').attr('id', 'legend-gradient');
  for (let i = 0; i <= 60; i++) {
    const t = i / 60;
    grad.append('stop').attr('offset', `${(t * 100).toFixed(2)}%`).attr('stop-color', errorColor(t * 6 - DECADES_BELOW));
  }
  const g = lg.append('g').attr('transform', 'translate(22,16)');
  g.append('rect').attr('width', W).attr('height', 10).attr('fill', 'url(#legend-gradient)').attr('class', 'legend-bar');
  const tx = s.toleranceTick.t * W;
  g.append('rect').attr('x', tx).attr('width', W - tx).attr('height', 10).attr('fill', 'url(#fail-hatch)').attr('class', 'hatch-overlay');
  for (const t of s.ticks) {
    g.append('line').attr('x1', t.t * W).attr('x2', t.t * W).attr('y1', 10).attr('y2', 14).attr('class', 'tick');
    g.append('text').attr('x', t.t * W).attr('y', 25).attr('text-anchor', 'middle').attr('class', 'tick-label').attr('data-tick', t.ratio).text(t.label);
  }
  g.append('line').attr('x1', tx).attr('x2', tx).attr('y1', -4).attr('y2', 12).attr('class', 'tolerance');
  g.append('text').attr('x', tx).attr('y', -6).attr('text-anchor', 'middle').attr('class', 'tolerance-label').text(s.toleranceTick.label);
  legend.replaceChildren(
    h('span', { class: 'caption' }, 'rel L2 error (log)'),
    h('span', { class: 'key pass' }, '✓ pass'),
    root,
    h('span', { class: 'key fail' }, '✗ fail (hatched)'),
    ...(s.uniform ? [] : [h('span', { class: 'key tolerances', id: 'tolerances' }, `tolerance per run: ${m.lanes.map((l) => `${l.short.split(' ')[0]} ${fmtNum(l.tolerance)}`).join(', ')}`)]),
    h('span', { class: 'key break' }, '⚡ break: first failing block'),
    h('span', { class: 'key overflow' }, '▲ LayerNorm overflowed (T temporal, S spatial, M MLP)'),
    ...(hasPredicted(m) ? [h('span', { class: 'key overflow predicted', id: 'predictedKey' }, '△ predicted from the FP32 run (the engine\'s own values are not seen)')] : []),
  );
  legend.dataset.tolerance = String(s.tolerance);
  legend.dataset.uniform = String(s.uniform);
}
