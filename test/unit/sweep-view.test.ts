/**
 * The sweep view's words and rows (webview/sweep-model.ts): the covering fix's confirmation is
 * shown while it runs and per clip when done; numbers in the lab's one format (inf, 0).
 */
import { strict as assert } from 'assert';
import type { ClipResult, ConfirmedClip, LayerNormHeadroom } from '../../extension/core/sweep/types';
import type { SweepView } from '../../extension/host/sweepProtocol';
import { announcement, clipRows, headroomTitle, progress, summary } from '../../webview/sweep-model';

const clip = (name: string, worst: number, verdict: 'pass' | 'fail', fix: string[] = []): ClipResult => ({
  clip: `/w/clips/${name}`, key: `k-${name}`, status: 'done', verdict, worstRelL2: worst, worstBlock: 4, fix, ms: 3,
});
const confirmed = (c: ClipResult, verdict: 'pass' | 'fail', worst = 0.001): ConfirmedClip => ({ clip: c.clip, key: c.key, fixKey: 'f', status: 'done', verdict, worstRelL2: worst, worstBlock: 2, ms: 4 });
const a = clip('a.npy', 0.004, 'pass');
const b = clip('b.npy', Infinity, 'fail', ['blocks.4.norm1']);
const c = clip('c.npy', 0, 'pass');
const running = (o: Partial<SweepView>): SweepView => ({ status: 'running', weights: '/w/m.pyth', out: '/o', total: 3, tolerance: 0.025, clips: [a, b, c], confirms: [], ...o });

describe('sweep view model', () => {
  it('says the clips in progress, then the confirmation pass (i/N), not a bare RUNNING (3/3)', () => {
    assert.equal(progress(running({ clips: [a], confirms: [] })), 'sweeping: clip 1/3');
    const v = running({ confirms: [confirmed(b, 'pass')], confirmTotal: 3 });
    assert.equal(progress(v), 'confirming the covering fix: 1/3 clips re-run with it');
    assert.equal(announcement(v), 'confirming the covering fix');
    assert.equal(progress({ ...v, status: 'cancelled' }), '');
  });

  it("each clip's row gets its confirmation verdict as it comes (and keeps it from the result)", () => {
    const v = running({ confirms: [confirmed(b, 'pass'), confirmed(a, 'fail', 0.031)], confirmTotal: 3 });
    const rows = new Map(clipRows(v).map((r) => [r.clip, r]));
    assert.equal(rows.get(b.clip)!.confirmed, 'pass');
    assert.equal(rows.get(b.clip)!.cells[4], 'PASS');
    assert.equal(rows.get(a.clip)!.confirmed, 'fail');
    assert.equal(rows.get(a.clip)!.cells[4], 'FAIL, worst 0.031 (block 2)');
    assert.equal(rows.get(c.clip)!.confirmed, '', 'not confirmed yet');
    assert.match(rows.get(b.clip)!.title, /; with the fix: PASS — click to open as a run$/);
    const fix = { layerNorms: ['blocks.4.norm1'], confirmed: { verdict: 'pass' as const, clips: [a, b, c].map((x) => confirmed(x, 'pass')) } };
    const done = { ...v, status: 'done' as const, result: { fix, summary: { clips: 3, done: 3, passed: 2, failed: 1, bad: 0, skipped: 0, verdict: 'fail' as const } } } as unknown as SweepView;
    assert.deepEqual(clipRows(done).map((r) => r.confirmed), ['pass', 'pass', 'pass']);
    assert.equal(announcement(done), 'sweep fail: 2 of 3 clips pass');
  });

  it('numbers as the rest of the lab writes them: inf and 0, worst first', () => {
    const rows = clipRows(running({}));
    assert.deepEqual(rows.map((r) => r.cells[2]), ['inf (block 4)', '4.00e-3 (block 4)', '0 (block 4)']);
    assert.equal(summary(running({})).text, ' — 2 of 3 clips pass, 1 fail (3/3) · m.pyth');
    const mech = (max: number) => ({ max, clip: b.clip, factor: max ? 65504 / max : null, applies: true });
    const l: LayerNormHeadroom = { name: 'blocks.4.norm1', block: 4, place: 'spatial', square: mech(Infinity), sumSquares: mech(0), sumX: mech(12), factor: 0, closest: [{ clip: b.clip, factor: 0 }], firesOn: [b.clip] };
    assert.equal(headroomTitle(l), 'blocks.4.norm1 (spatial): max (x−mean)² inf, Σ(x−mean)² 0, |Σx| 12; headroom 0×; closest: b.npy 0×');
  });
});
