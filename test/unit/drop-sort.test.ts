/**
 * A drop on the graph (webview/drop-sort.ts sortDrop -> protocol.ts -> host/drop.ts): what the
 * webview does not send (too large, past 16 files, nothing to import) reaches the host by name and
 * reason, which warns with it (graph-panel.ts) beside its own refusals.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { dropTargets } from '../../extension/host/drop';
import { MAX_DROP_BYTES, parseGraphMessage } from '../../extension/host/protocol';
import { MAX_DROP_FILES, sortDrop } from '../../webview/drop-sort';

describe('a drop on the graph: nothing refused silently', () => {
  it('a file over the size limit is named with its reason; the others are read', () => {
    const d = sortDrop([], [{ name: 'big.json', size: MAX_DROP_BYTES + 1 }, { name: 'trt.json', size: 10 }]);
    assert.deepEqual(d.read, [1]);
    assert.deepEqual(d.refused, ['big.json is larger than 512 MiB: use Import TensorRT Outputs… for it']);
  });

  it('files past 16 are named, not dropped silently (read files and URIs alike)', () => {
    const files = Array.from({ length: 18 }, (_, i) => ({ name: `o${i}.json`, size: 10 }));
    const d = sortDrop([], files);
    assert.equal(d.read.length, MAX_DROP_FILES);
    assert.deepEqual(d.refused, ['more than 16 files in one drop: o16.json, o17.json not imported (drop them again, or use Import TensorRT Outputs…)']);
    const u = sortDrop(Array.from({ length: 17 }, (_, i) => `file:///b/my%20out${i}.json`), []);
    assert.equal(u.uris.length, 16);
    assert.match(u.refused[0], /: my out16\.json not imported/);
  });

  it('a drop with no file says so; the host takes a drop of refusals only and names them first in its warning', () => {
    const d = sortDrop([], []);
    assert.deepEqual(d.refused, ['nothing to import: drop trtexec --exportOutput or Polygraphy --save-outputs JSON files']);
    const m = parseGraphMessage({ type: 'drop', uris: [], files: [], refused: d.refused });
    assert.ok(m && m.type === 'drop');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-drop-refused-'));
    try {
      const big = sortDrop([], [{ name: 'big.json', size: MAX_DROP_BYTES + 1 }, { name: 'x.onnx', size: 3 }]);
      const m2 = parseGraphMessage({ type: 'drop', uris: [], files: [{ name: 'x.onnx', text: '' }], refused: big.refused });
      assert.ok(m2 && m2.type === 'drop');
      assert.deepEqual(dropTargets(m2, dir).refused.map((r) => r.split(' ')[0].replace(/:$/, '')), ['big.json', 'x.onnx']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // still checked: no empty drop, no oversized or non-string reasons
    assert.equal(parseGraphMessage({ type: 'drop', uris: [], files: [], refused: [] }), undefined);
    assert.equal(parseGraphMessage({ type: 'drop', uris: [], files: [], refused: ['x'.repeat(401)] }), undefined);
    assert.equal(parseGraphMessage({ type: 'drop', uris: [], files: [], refused: [7] }), undefined);
  });
});
