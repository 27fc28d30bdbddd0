/**
 * The graph's zoom and pan (d3-zoom): Fit shows the whole graph, however small that makes it (at a
 * small scale the graph is an overview: tooltips and the inspector carry the numbers); lane titles
 * stay on screen while panning (sticky at the left edge, never smaller than 12 px); after a
 * redraw that moved the content away (Collapse, Expand), the view fits again. When the panel
 * changes size (the inspector opens or closes, the window is resized) it fits again only while the
 * view is Fit's; once the user zoomed or panned, their scale and centre stay (view-keep.ts).
 * Test hooks: #graph[data-scale], #graph[data-fitted], #graph[data-size] (the canvas size the view
 * last followed), text.lane-title[data-lane-top].
 */
import { select, type Selection } from 'd3-selection';
import { zoom, zoomIdentity, zoomTransform, type ZoomTransform } from 'd3-zoom';
import { afterResize, revealShift, type Size } from './view-keep';

/** The content's extent in graph units (before zoom): what Fit must show whole. */
export interface ContentBox { x0: number; y0: number; x1: number; y1: number }

export interface GraphZoom {
  /** Scales and centers the whole content into the panel. */
  fit(): void;
  zoomBy(k: number): void;
  /** The content's extent after a redraw; lane titles are placed for the current transform. */
  setContent(box: ContentBox): void;
  /** Fits when no node is on screen any more (the content moved away under the view). */
  keepInView(): void;
  /** Pans (scale kept) so that `el` is in view. */
  reveal(el: Element): void;
}

/** Largest scale Fit uses (a small graph is not blown up past its drawn size). */
const FIT_MAX = 1;
/** Smallest scale the user can zoom out to: this, or what Fit needs to show everything when that is smaller. */
const MIN_SCALE = 0.7;
const MAX_SCALE = 3;
const MARGIN = 16;
/** Screen px above the first lane's nodes kept for its title (12 px text, 12 px above the nodes). */
const TITLE_ROOM = 26;
/** A lane title's distance from the left edge of the panel while the lane is panned past it. */
const STICKY_X = 6;
/** A lane title's height above its lane's nodes, in screen px: 12 px to its baseline, its 12 px font's ascent and its 2 px halo. */
const TITLE_PX = 26;

export function graphZoom(
  svg: Selection<SVGSVGElement, unknown, null, undefined>,
  viewport: Selection<SVGGElement, unknown, null, undefined>,
  canvas: HTMLElement,
  onZoom: () => void,
  /** After the view followed a change of the panel's size. */
  onResized: () => void,
): GraphZoom {
  let content: ContentBox | undefined;
  let minScale = MIN_SCALE;
  /** Whether the view is still Fit's: no wheel, drag or zoom button since. */
  let fitted = false;
  const setFitted = (f: boolean) => {
    fitted = f;
    svg.attr('data-fitted', String(f));
  };
  const zoomer = zoom<SVGSVGElement, unknown>()
    .scaleExtent([minScale, MAX_SCALE])
    // Smooth wheel zoom: about 8 % per wheel notch (d3's default is 15 %, and line-mode wheels jump).
    .wheelDelta((e: WheelEvent) => -e.deltaY * (e.deltaMode === 1 ? 0.025 : e.deltaMode ? 0.5 : 0.0012))
    .on('zoom', (e: { transform: ZoomTransform; sourceEvent: Event | null }) => {
      // the user's wheel or drag (a programmatic transform has no source event)
      if (e.sourceEvent) setFitted(false);
      viewport.attr('transform', e.transform.toString());
      svg.attr('data-scale', e.transform.k.toFixed(3));
      placeTitles(e.transform);
      onZoom();
    });
  svg.call(zoomer).on('dblclick.zoom', null);

  /**
   * Each lane title (drawn at 0,0 in its lane, data-lane-top = the lane's node row) is counter-scaled
   * below scale 1 so that it stays 12 px, sits 12 px above its lane's nodes, and is held at the
   * left edge of the panel when the lane's start is panned off to the left. A title below another
   * lane (data-room: the layout's units between that lane's last row and this lane's nodes) is
   * never taller than its room: zoomed far out it shrinks rather than cover the lane above.
   */
  function placeTitles(t: ZoomTransform): void {
    const s = Math.min(1, t.k);
    viewport.selectAll<SVGTextElement, unknown>('text.lane-title').each(function () {
      const top = Number(this.getAttribute('data-lane-top'));
      const room = Number(this.getAttribute('data-room') ?? Infinity);
      // units per screen px: 1/s keeps 12 px; the title with its halo takes about TITLE_PX px
      const u = Math.min(1 / s, room / TITLE_PX);
      const x = Math.max(0, (STICKY_X - t.x) / t.k);
      select(this).attr('transform', `translate(${x},${top - 12 * u}) scale(${u})`);
    });
  }

  function fit(): void {
    const { width, height } = canvas.getBoundingClientRect();
    if (!content || !width || !height) return;
    const w = content.x1 - content.x0;
    const h = content.y1 - content.y0;
    if (w <= 0 || h <= 0) return;
    const k = Math.min(FIT_MAX, (width - 2 * MARGIN) / w, (height - 2 * MARGIN - TITLE_ROOM) / h);
    minScale = Math.min(MIN_SCALE, k);
    zoomer.scaleExtent([minScale, MAX_SCALE]);
    const x = (width - w * k) / 2 - content.x0 * k;
    const y = MARGIN + TITLE_ROOM - content.y0 * k;
    zoomer.transform(svg, zoomIdentity.translate(x, y).scale(k));
    setFitted(true);
  }

  /** The panel's size changed: Fit again, or keep the user's scale and centre. */
  let laidOut: Size = { width: 0, height: 0 };
  new ResizeObserver(() => {
    const now = { width: canvas.clientWidth, height: canvas.clientHeight };
    if (!now.width || (now.width === laidOut.width && now.height === laidOut.height)) return;
    const before = laidOut;
    laidOut = now;
    requestAnimationFrame(() => {
      const t = afterResize(zoomTransform(svg.node() as SVGSVGElement), before, now, fitted);
      if (t === 'fit') fit();
      else zoomer.transform(svg, zoomIdentity.translate(t.x, t.y).scale(t.k));
      onResized();
      svg.attr('data-size', `${now.width}x${now.height}`);
    });
  }).observe(canvas);

  function reveal(el: Element): void {
    const c = (svg.node() as SVGSVGElement).getBoundingClientRect();
    const r = el.getBoundingClientRect();
    const { dx, dy } = revealShift({ left: r.left - c.left, top: r.top - c.top, right: r.right - c.left, bottom: r.bottom - c.top }, c);
    const k = zoomTransform(svg.node() as SVGSVGElement).k;
    if (dx || dy) zoomer.translateBy(svg, dx / k, dy / k);
  }

  function keepInView(): void {
    const c = (svg.node() as SVGSVGElement).getBoundingClientRect();
    const visible = [...(viewport.node() as SVGGElement).querySelectorAll('g.node rect.box')].some((n) => {
      const r = n.getBoundingClientRect();
      return r.right > c.left && r.left < c.right && r.bottom > c.top && r.top < c.bottom;
    });
    if (!visible) fit();
  }

  return {
    fit,
    zoomBy: (k) => {
      zoomer.scaleBy(svg, k);
      setFitted(false);
    },
    setContent(box) {
      content = box;
      placeTitles(zoomTransform(svg.node() as SVGSVGElement));
    },
    keepInView,
    reveal,
  };
}
