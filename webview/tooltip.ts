/**
 * The graph's tooltip: anchored to a node and placed from the node's position on screen, so that it
 * follows zoom and pan; hidden when its node leaves the visible canvas or the page.
 * Test hook: #tooltip[data-anchor] (the node's data-key).
 */
import { h } from './vscode';

export interface Tooltip {
  show(anchor: Element, lines: string[]): void;
  /** Places it again (after a zoom or a pan). */
  place(): void;
  hide(): void;
}

export function createTooltip(tooltip: HTMLElement, canvas: HTMLElement): Tooltip {
  let anchor: Element | undefined;

  function place(): void {
    if (!anchor || tooltip.hidden) return;
    if (!anchor.isConnected) return hide();
    const a = anchor.getBoundingClientRect();
    const c = canvas.getBoundingClientRect();
    // Off the visible canvas: nothing to point at.
    if (a.right < c.left || a.left > c.right || a.bottom < c.top || a.top > c.bottom) {
      tooltip.hidden = true;
      return;
    }
    const r = tooltip.getBoundingClientRect();
    const below = a.bottom + 6 + r.height <= window.innerHeight;
    tooltip.style.left = `${Math.max(4, Math.min(a.left, window.innerWidth - r.width - 4))}px`;
    tooltip.style.top = `${below ? a.bottom + 6 : Math.max(4, a.top - r.height - 6)}px`;
    tooltip.dataset.anchor = anchor.closest('[data-key]')?.getAttribute('data-key') ?? '';
  }

  function hide(): void {
    tooltip.hidden = true;
    anchor = undefined;
  }

  return {
    show(el, lines) {
      anchor = el;
      tooltip.replaceChildren(...lines.map((l, i) => h('div', { class: i ? '' : 'title' }, l)));
      tooltip.hidden = false;
      place();
    },
    place,
    hide,
  };
}
