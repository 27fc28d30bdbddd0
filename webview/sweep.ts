/**
 * The sweep view: the per-clip worst block error as a strip of bars (log scale) with the tolerance
 * line; the headroom per LayerNorm — blocks × temporal / spatial / MLP, the largest value over the
 * set of the mechanisms that apply, log scale — with the 65504 line; the covering fix and its
 * confirmation (its progress while it runs, each clip's verdict with the fix in its row). A clip's
 * bar or row (click, Enter) opens it as a single run. Redrawn for each clip, the keyboard's place
 * (a bar, a row, a button) kept; only #announce (a change of phase) is read out by screen readers.
 * Renders only what the host sends; words and rows are sweep-model.ts's. Test hooks:
 * .summary[data-verdict][data-done][data-total], .progress, rect.clip[data-clip][data-status][data-error],
 * line#tolerance, rect.ln[data-ln][data-factor][data-overflow], line#fp16max,
 * .fix[data-confirmed][data-layernorms], tr.cliprow[data-clip][data-confirmed], #announce.
 */
import { axisBottom, axisLeft } from 'd3-axis';
import { scaleBand, scaleLog } from 'd3-scale';
import { select } from 'd3-selection';
import { fromWire } from '../extension/host/protocol';
import type { HostToSweep, SweepToHost, SweepView } from '../extension/host/sweepProtocol';
import type { LayerNormHeadroom } from '../extension/core/sweep/types';
import { announcement, base, clipRows, fmt, headroomTitle, progress, ranked, summary } from './sweep-model';
import { h, post } from './vscode';

const FP16_MAX = 65504;
const send = (m: SweepToHost) => post(m);
const root = document.getElementById('root')!;
const live = h('div', { id: 'announce', role: 'status', class: 'sr-only' });
document.body.append(live);
const open = (clip: string) => send({ type: 'open', clip });

window.addEventListener('message', (e: MessageEvent) => {
  const m = fromWire(e.data as HostToSweep);
  if (m?.type === 'sweep') render(m.view);
});
send({ type: 'ready' });

/** How the clips ran: speed, where the blocks were compared, what a clip read back. */
function timing(r: NonNullable<SweepView['result']>): string {
  const t = r.timings;
  const how = r.options.compare === 'graph'
    ? `the engine and its FP32 reference as one graph, blocks compared inside it (${t.batch} clip${t.batch === 1 ? '' : 's'} a run)`
    : 'the engine and its FP32 reference as two sessions, blocks compared on the host';
  const kib = t.readBackBytesPerClip / 1024;
  return `${(t.totalMs / 1000).toFixed(1)} s, ${t.clipsPerSecond.toFixed(2)} clips/s · ${how} · ${kib >= 1024 ? `${(kib / 1024).toFixed(1)} MiB` : `${kib.toFixed(0)} KiB`} read back a clip`;
}

/** Where the keyboard is (a clip's bar or row, a button), to find it again after a redraw. */
function focusedSelector(): string | undefined {
  const f = document.activeElement;
  if (!f || f === document.body || !root.contains(f)) return undefined;
  const clip = f.getAttribute('data-clip');
  if (clip !== null) return `${f.matches('tr') ? 'tr.cliprow' : 'rect.clip'}[data-clip="${CSS.escape(clip)}"]`;
  return f.id ? `#${CSS.escape(f.id)}` : undefined;
}

function render(v: SweepView): void {
  const focused = focusedSelector();
  draw(v);
  if (focused) root.querySelector<HTMLElement | SVGElement>(focused)?.focus();
  const said = announcement(v);
  if (live.textContent !== said) live.textContent = said;
}

function draw(v: SweepView): void {
  root.replaceChildren();
  const sm = summary(v);
  const now = progress(v);
  root.append(h('div', { class: 'summary', 'data-verdict': sm.verdict, 'data-done': sm.done, 'data-total': v.total, 'data-status': v.status },
    h('span', { class: 'verdict' }, sm.verdict.toUpperCase()),
    sm.text,
    now ? h('div', { class: 'note progress' }, now) : undefined,
    v.message ? h('div', { class: 'note' }, v.message) : undefined,
    v.result ? h('div', { class: 'note timing' }, timing(v.result)) : undefined));
  root.append(h('h2', {}, 'Worst block error per clip (worst first; the dashed line is the tolerance)'));
  root.append(clipStrip(v));
  if (v.result) {
    root.append(h('h2', {}, 'Headroom per LayerNorm: the largest value over the set (the dashed line is 65504)'));
    // the bars of a block are its three LayerNorms, in the block's order (a bar's tooltip names it)
    root.append(h('div', { class: 'note', id: 'headroomKey' }, 'In each block, left to right: temporal, spatial, MLP LayerNorm; "final" is the last LayerNorm. Hover a bar for its name, its three statistics and the clips that come closest.'));
    root.append(headroomChart(v.result.headroom));
    root.append(fixBox(v));
    root.append(h('button', { class: 'link', id: 'openMarkdown' }, 'Open sweep.md'));
    root.querySelector('#openMarkdown')!.addEventListener('click', () => send({ type: 'openMarkdown' }));
  }
  root.append(clipTable(v));
}

function clipStrip(v: SweepView): SVGSVGElement {
  const clips = ranked(v.clips);
  const titles = new Map(clipRows(v).map((r) => [r.clip, r.title]));
  const W = Math.max(320, Math.min(900, 40 + clips.length * 14));
  const H = 170;
  const m = { l: 48, r: 8, t: 8, b: 20 };
  const errs = clips.filter((c) => c.status === 'done').map((c) => (Number.isFinite(c.worstRelL2) ? c.worstRelL2! : 1e3)).filter((x) => x > 0);
  const lo = Math.min(v.tolerance / 10, ...errs);
  const hi = Math.max(v.tolerance * 10, ...errs);
  const y = scaleLog().domain([lo / 2, hi * 2]).range([H - m.b, m.t]).clamp(true);
  const x = scaleBand().domain(clips.map((c) => c.clip)).range([m.l, W - m.r]).padding(0.15);
  const svg = select(document.createElementNS('http://www.w3.org/2000/svg', 'svg')).attr('id', 'clips').attr('width', W).attr('height', H);
  svg.append('g').attr('class', 'axis').attr('transform', `translate(${m.l},0)`).call(axisLeft(y).ticks(4, '.0e'));
  svg.selectAll('rect.clip').data(clips).join('rect')
    .attr('class', 'clip').attr('tabindex', 0)
    .attr('data-clip', (c) => c.clip).attr('data-status', (c) => (c.status === 'done' ? c.verdict! : 'error'))
    .attr('data-error', (c) => String(c.worstRelL2 ?? ''))
    .attr('x', (c) => x(c.clip)!).attr('width', x.bandwidth())
    .attr('y', (c) => (c.status === 'done' ? y(Number.isFinite(c.worstRelL2) ? c.worstRelL2! : hi) : m.t)).attr('height', (c) => H - m.b - (c.status === 'done' ? y(Number.isFinite(c.worstRelL2) ? c.worstRelL2! : hi) : m.t))
    .on('click', (_e, c) => open(c.clip))
    .on('keydown', (e: KeyboardEvent, c) => e.key === 'Enter' && open(c.clip))
    .append('title').text((c) => titles.get(c.clip) ?? base(c.clip));
  svg.append('line').attr('id', 'tolerance').attr('class', 'limit').attr('data-tolerance', v.tolerance)
    .attr('x1', m.l).attr('x2', W - m.r).attr('y1', y(v.tolerance)).attr('y2', y(v.tolerance));
  svg.append('text').attr('x', W - m.r - 4).attr('y', y(v.tolerance) - 3).attr('text-anchor', 'end').text(`tolerance ${fmt(v.tolerance)}`);
  return svg.node()!;
}

/** The value a LayerNorm's headroom is about: the largest of the mechanisms that apply (else the square). */
function worstValue(l: LayerNormHeadroom): number {
  const ms = [l.square, l.sumSquares, l.sumX].filter((x) => x.applies);
  return Math.max(...(ms.length ? ms : [l.square]).map((x) => x.max));
}

function headroomChart(hs: LayerNormHeadroom[]): SVGSVGElement {
  const groups = [...new Set(hs.map((l) => (l.block === null ? 'final' : String(l.block))))];
  const W = Math.max(320, Math.min(900, 60 + groups.length * 48));
  const H = 190;
  const m = { l: 52, r: 8, t: 10, b: 28 };
  const vals = hs.map(worstValue).filter((v) => v > 0 && Number.isFinite(v));
  const y = scaleLog().domain([Math.min(1, ...vals), Math.max(FP16_MAX * 4, ...vals) * 1.5]).range([H - m.b, m.t]).clamp(true);
  const x0 = scaleBand().domain(groups).range([m.l, W - m.r]).padding(0.2);
  const x1 = scaleBand().domain(['temporal', 'spatial', 'mlp', 'final']).range([0, x0.bandwidth()]).padding(0.05);
  const svg = select(document.createElementNS('http://www.w3.org/2000/svg', 'svg')).attr('id', 'headroom').attr('width', W).attr('height', H);
  svg.append('g').attr('class', 'axis').attr('transform', `translate(${m.l},0)`).call(axisLeft(y).ticks(5, '.0e'));
  svg.append('g').attr('class', 'axis').attr('transform', `translate(0,${H - m.b})`).call(axisBottom(x0));
  svg.selectAll('rect.ln').data(hs).join('rect')
    .attr('class', 'ln').attr('data-ln', (l) => l.name).attr('data-factor', (l) => String(l.factor ?? '')).attr('data-overflow', (l) => String(l.factor !== null && l.factor < 1))
    .attr('x', (l) => x0(l.block === null ? 'final' : String(l.block))! + x1(l.place)!).attr('width', x1.bandwidth())
    .attr('y', (l) => y(Math.max(worstValue(l), 1e-30))).attr('height', (l) => H - m.b - y(Math.max(worstValue(l), 1e-30)))
    .append('title').text(headroomTitle);
  svg.append('line').attr('id', 'fp16max').attr('class', 'limit').attr('x1', m.l).attr('x2', W - m.r).attr('y1', y(FP16_MAX)).attr('y2', y(FP16_MAX));
  svg.append('text').attr('x', W - m.r - 4).attr('y', y(FP16_MAX) - 3).attr('text-anchor', 'end').text('65504');
  return svg.node()!;
}

function fixBox(v: SweepView): HTMLElement {
  const f = v.result!.fix;
  const c = f.confirmed;
  return h('div', { class: 'fix', 'data-confirmed': c ? c.verdict : 'none', 'data-layernorms': f.layerNorms.join(',') },
    h('h2', {}, 'The fix that covers every clip'),
    f.layerNorms.length ? `${f.layerNorms.length} LayerNorm(s) in FP32: ${f.layerNorms.join(', ')}. ` : `${f.note ?? 'Nothing to fix.'} `,
    c ? h('span', { class: 'confirmed' }, c.verdict === 'pass' ? `Confirmed: the set re-run with it passes on all ${c.clips.length} clips.` : `With it, ${c.clips.filter((x) => x.verdict !== 'pass').length} clip(s) still fail.`) : f.layerNorms.length ? (f.note ?? '') : undefined);
}

function clipTable(v: SweepView): HTMLElement {
  const rows = clipRows(v).map((r) => {
    const tr = h('tr', { class: 'cliprow', tabindex: 0, 'data-clip': r.clip, 'data-status': r.status, 'data-confirmed': r.confirmed, title: r.title },
      ...r.cells.map((c) => h('td', {}, c)));
    tr.addEventListener('click', () => open(r.clip));
    tr.addEventListener('keydown', (e) => e.key === 'Enter' && open(r.clip));
    return tr;
  });
  return h('table', { id: 'cliptable' }, h('tr', {}, ...['clip', 'verdict', 'worst error', 'LayerNorms', 'with the fix'].map((c) => h('th', {}, c))), ...rows);
}
