/** The messages between the host and its webviews: what is accepted, what is refused, and Infinity over JSON. */
import { strict as assert } from 'assert';
import {
  fromWire, parseGraphMessage, parseHostToGraph, parseHostToSidebar, parseSidebarMessage, summarize, toWire, type RunView,
} from '../../extension/host/protocol';
import { makeReport, D1_FP16_ERRORS } from './helpers/report';

describe('protocol: sidebar -> host messages are validated', () => {
  it('accepts every well-formed message and returns a clean copy', () => {
    assert.deepEqual(parseSidebarMessage({ type: 'ready' }), { type: 'ready' });
    assert.deepEqual(parseSidebarMessage({ type: 'run', extra: 'dropped' }), { type: 'run' });
    assert.deepEqual(parseSidebarMessage({ type: 'cancel' }), { type: 'cancel' });
    assert.deepEqual(parseSidebarMessage({ type: 'browse', kind: 'testData' }), { type: 'browse', kind: 'testData' });
    assert.deepEqual(parseSidebarMessage({ type: 'fix', runId: 'run-3', mode: 'fp32' }), { type: 'fix', runId: 'run-3', mode: 'fp32' });
    assert.deepEqual(parseSidebarMessage({ type: 'fix', runId: 'run-3', mode: 'minimal' }), { type: 'fix', runId: 'run-3', mode: 'minimal' });
    assert.deepEqual(parseSidebarMessage({ type: 'copyTrtexec', runId: 'run-3', x: 1 }), { type: 'copyTrtexec', runId: 'run-3' });
    assert.equal(parseSidebarMessage({ type: 'copyTrtexec' }), undefined, 'a trtexec line belongs to a run');
    assert.equal(parseSidebarMessage({ type: 'fix', mode: 'fp32' }), undefined, 'a fix belongs to a run');
    assert.equal(parseSidebarMessage({ type: 'fix', runId: 'run-3', mode: 'plain' }), undefined, 'plain is no fix');
    assert.equal(parseSidebarMessage({ type: 'fix', runId: 'run-3', mode: 'fp64' }), undefined);
    assert.equal(parseSidebarMessage({ type: 'fix' }), undefined);
    assert.deepEqual(parseSidebarMessage({ type: 'choose', kind: 'checkpoint', path: '/ws/a_model.pyth' }), { type: 'choose', kind: 'checkpoint', path: '/ws/a_model.pyth' });
    assert.deepEqual(parseSidebarMessage({ type: 'choose', kind: 'testData', path: null }), { type: 'choose', kind: 'testData', path: null });
    for (const t of ['saveSettings', 'compare', 'showGraph']) assert.deepEqual(parseSidebarMessage({ type: t }), { type: t });
    const ok: [string, unknown][] = [
      ['precision', 'fp16'], ['accumulate', 'fp16'], ['accumulate', 'fp32'], ['layerNorm', 'fp32'], ['layerNorm', 'minimal'], ['layerNorm', 'expose'], ['exposeLayerNorm', true], ['ep', 'auto'], ['heads', 4], ['heads', null],
    ];
    for (const [key, value] of ok) {
      assert.deepEqual(parseSidebarMessage({ type: 'set', option: { key, value, more: 1 } }), { type: 'set', option: { key, value } }, `${key}=${value}`);
    }
  });

  it('refuses unknown types, unknown keys and values of the wrong kind', () => {
    const bad: unknown[] = [
      null, undefined, 'run', 42, [], {}, { type: 'delete' }, { type: 'browse' }, { type: 'browse', kind: 'weights' },
      { type: 'set' }, { type: 'set', option: null }, { type: 'set', option: { key: 'tolerance', value: 1 } },
      { type: 'set', option: { key: 'precision', value: 'fp8' } }, { type: 'set', option: { key: 'layerNorm', value: 'PLAIN' } },
      { type: 'set', option: { key: 'ep', value: 'rocm' } }, { type: 'set', option: { key: 'exposeLayerNorm', value: 'true' } },
      { type: 'set', option: { key: 'heads', value: 0 } }, { type: 'set', option: { key: 'heads', value: 2.5 } },
      { type: 'set', option: { key: 'heads', value: '4' } }, { type: 'set', option: { key: 'checkpoint', value: '/ws/a.pyth' } },
      { type: 'choose', kind: 'checkpoint', path: null }, { type: 'choose', kind: 'checkpoint', path: '' },
      { type: 'choose', kind: 'checkpoint', path: 'x'.repeat(5000) }, { type: 'choose', kind: 'weights', path: '/a' },
      { type: 'choose', kind: 'testData', path: 7 }, { type: 'fix', runId: '../x', mode: 'fp32' },
      { type: 'set', option: { key: 'accumulate', value: 'fp8' } }, { type: 'set', option: { key: 'accumulate', value: 'FP16' } },
      { type: 'copyTrtexec', runId: '../x' },
    ];
    for (const m of bad) assert.equal(parseSidebarMessage(m), undefined, JSON.stringify(m));
  });
});

describe('protocol: graph -> host messages are validated', () => {
  it('accepts ready, pick, show and inspect', () => {
    assert.deepEqual(parseGraphMessage({ type: 'ready' }), { type: 'ready' });
    assert.deepEqual(parseGraphMessage({ type: 'pick', x: 1 }), { type: 'pick' });
    assert.deepEqual(parseGraphMessage({ type: 'show', runIds: ['run-1', 'run-3'] }), { type: 'show', runIds: ['run-1', 'run-3'] });
    assert.deepEqual(parseGraphMessage({ type: 'show', runIds: [] }), { type: 'show', runIds: [] });
    assert.deepEqual(parseGraphMessage({ type: 'inspect', requestId: 7, runId: 'run-2', block: 4 }), { type: 'inspect', requestId: 7, runId: 'run-2', block: 4 });
  });

  it('refuses malformed ones: ids that are not ids, negative or fractional numbers, missing fields', () => {
    const bad: unknown[] = [
      { type: 'show' }, { type: 'show', runIds: 'run-1' }, { type: 'show', runIds: ['../../etc/passwd'] }, { type: 'show', runIds: [1] },
      { type: 'show', runIds: Array.from({ length: 65 }, (_, i) => `run-${i}`) },
      { type: 'inspect', requestId: 1, runId: 'run-1' }, { type: 'inspect', requestId: -1, runId: 'run-1', block: 0 },
      { type: 'inspect', requestId: 1, runId: 'run-1', block: 1.5 }, { type: 'inspect', requestId: '1', runId: 'run-1', block: 0 },
      { type: 'inspect', requestId: 1, runId: 'run 1', block: 0 }, { type: 'openFile', path: '/etc/passwd' }, null,
    ];
    for (const m of bad) assert.equal(parseGraphMessage(m), undefined, JSON.stringify(m));
  });
});

describe('protocol: host -> webview messages', () => {
  const report = makeReport(D1_FP16_ERRORS, { overflowFrom: 4 });
  const run: RunView = { id: 'run-1', label: '#1 d1.pyth + d1_test_data.p · FP16 · LayerNorm plain · cpu · 14:03:12', short: '#1 d1 · FP16 plain · cpu', reference: 'reference: d1_test_data.p', summary: summarize(report) };

  it('a run summary keeps the verdict and per-block numbers but not the tensors, token errors or log', () => {
    const s = run.summary;
    assert.equal(s.blocks.length, 12);
    assert.equal(s.blocks[4].relL2, 0.131);
    assert.equal(s.blocks[4].layerNorms[0].overflowed, true);
    for (const b of s.blocks) for (const k of ['tokenError', 'output', 'reference', 'exposed']) assert.ok(!(k in b), k);
    assert.ok(!('log' in s));
    assert.equal(s.diagnosis.verdict, 'fail');
  });

  it('envelopes are checked on the webview side too', () => {
    assert.ok(parseHostToGraph({ type: 'runs', runs: [run], shown: ['run-1'] }));
    assert.ok(parseHostToGraph({ type: 'blockDetail', requestId: 1, runId: 'run-1', block: report.blocks[4] }));
    assert.ok(parseHostToGraph({ type: 'blockDetailError', requestId: 1, message: 'gone' }));
    assert.equal(parseHostToGraph({ type: 'runs', runs: [{ id: 'run-1' }], shown: [] }), undefined);
    assert.equal(parseHostToGraph({ type: 'runs', runs: [{ ...run, short: undefined }], shown: [] }), undefined);
    assert.equal(parseHostToGraph({ type: 'runs', runs: [run] }), undefined);
    assert.equal(parseHostToGraph({ type: 'blockDetail', requestId: 1, runId: 'run-1' }), undefined);
    assert.equal(parseHostToGraph({ type: 'eval', code: '1' }), undefined);
    assert.ok(parseHostToSidebar({ type: 'state', state: { checkpoints: [] } }));
    assert.equal(parseHostToSidebar({ type: 'state' }), undefined);
  });

  it('Infinity and NaN survive JSON through toWire/fromWire (JSON alone turns them into null)', () => {
    const msg = { type: 'x', a: [1, Infinity, -Infinity, NaN], b: { relL2: Infinity, s: 'Infinity', n: null, ok: 0.5 } };
    assert.equal(JSON.parse(JSON.stringify(msg)).b.relL2, null);
    const back = fromWire(JSON.parse(JSON.stringify(toWire(msg))) as typeof msg);
    assert.deepEqual(back.a.slice(0, 3), [1, Infinity, -Infinity]);
    assert.ok(Number.isNaN(back.a[3]));
    assert.deepEqual(back.b, { relL2: Infinity, s: 'Infinity', n: null, ok: 0.5 });
  });
});
