/** The graph's view when the panel changes size (webview/view-keep.ts): Fit's view fits again, the user's zoom and pan stay. */
import { strict as assert } from 'assert';
import { afterResize, revealShift } from '../../webview/view-keep';

describe('graph view on a resize (the inspector opens or closes)', () => {
  const t = { x: -300, y: 40, k: 1.409 };

  it("Fit's view fits again (and so does the first layout)", () => {
    assert.equal(afterResize(t, { width: 1250, height: 600 }, { width: 830, height: 600 }, true), 'fit');
    assert.equal(afterResize(t, { width: 0, height: 0 }, { width: 830, height: 600 }, false), 'fit');
  });

  it('zoomed or panned by the user: the scale stays, the centre stays at the centre', () => {
    const opened = afterResize(t, { width: 1250, height: 600 }, { width: 830, height: 600 }, false);
    assert.deepEqual(opened, { x: -510, y: 40, k: 1.409 });
    // the graph point at the old centre is at the new centre
    const centre = (v: typeof t, w: number) => (w / 2 - v.x) / v.k;
    assert.equal(centre(opened as typeof t, 830), centre(t, 1250));
    // closed again: back where it was
    assert.deepEqual(afterResize(opened as typeof t, { width: 830, height: 600 }, { width: 1250, height: 600 }, false), t);
  });

  it('a node out of view is brought in by the least shift, 12 px from the edge; one in view is not moved', () => {
    const view = { width: 830, height: 600 };
    assert.deepEqual(revealShift({ left: 900, top: 100, right: 1046, bottom: 170 }, view), { dx: 830 - 12 - 1046, dy: 0 });
    assert.deepEqual(revealShift({ left: -50, top: -30, right: 96, bottom: 40 }, view), { dx: 62, dy: 42 });
    assert.deepEqual(revealShift({ left: 100, top: 100, right: 246, bottom: 170 }, view), { dx: 0, dy: 0 });
    // larger than the view: its left/top edge first
    assert.deepEqual(revealShift({ left: 400, top: 0, right: 1400, bottom: 100 }, view), { dx: 12 - 400, dy: 12 });
  });
});
