/**
 * What the graph's view keeps when the panel changes size (the inspector opens or closes, the
 * window is resized): the whole graph again when the view was Fit's and the user has not zoomed or
 * panned since, else the user's scale with the point at the centre kept there; and the shift that
 * brings a node (the inspected block) back into view. Pure (unit-tested); graph-zoom.ts applies it.
 */

export interface ViewTransform { x: number; y: number; k: number }
export interface Size { width: number; height: number }
/** A box in screen px, relative to the view's top-left corner. */
export interface Box { left: number; top: number; right: number; bottom: number }

/** 'fit' when the view is still Fit's; else the same scale, the centre kept at the centre. */
export function afterResize(t: ViewTransform, before: Size, after: Size, fitted: boolean): ViewTransform | 'fit' {
  if (fitted || !before.width || !before.height) return 'fit';
  return { x: t.x + (after.width - before.width) / 2, y: t.y + (after.height - before.height) / 2, k: t.k };
}

/** Screen px to move the content by so that `box` is in the view, `margin` from its edges (its top-left first when it is larger). */
export function revealShift(box: Box, view: Size, margin = 12): { dx: number; dy: number } {
  const axis = (lo: number, hi: number, size: number) =>
    lo < margin ? margin - lo : hi > size - margin ? Math.max(size - margin - hi, margin - lo) : 0;
  return { dx: axis(box.left, box.right, view.width), dy: axis(box.top, box.bottom, view.height) };
}
