/**
 * Promises of the pipeline that mutants showed no test held (issue 23; docs/mutation.md): the user's
 * tolerance is the one the verdict uses, and test data of another model is a MISMATCH naming the file.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabError } from '../../extension/core/errors';
import { readTestData } from '../../extension/core/formats';
import { runPipeline } from '../../extension/core/pipeline';
import { npArray, pickle2 } from './helpers/pyfiles';
import { rejects } from './helpers/errors';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
let tmp = '';
before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-promises-'))));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ---- the pipeline: the user's tolerance, and test data of another model ----

describe('promise: the pipeline judges with the user\'s tolerance and refuses test data of another model', function () {
  const W = path.join(FIX, 'd1_outlier.pyth');
  const D = path.join(FIX, 'd1_outlier_test_data.p');
  it('d1 in FP16 with plain LayerNorm fails at 0.025 (block 4: 0.13) and passes with --tolerance 2', async () => {
    const o = { weights: W, data: D, ep: 'cpu' as const, heads: 4, precision: 'fp16' as const, confirmMinimalFix: false };
    const strict = (await runPipeline(o)).report;
    assert.equal(strict.diagnosis.verdict, 'fail');
    const loose = (await runPipeline({ ...o, tolerance: 2 })).report;
    assert.equal(loose.tolerance, 2);
    assert.equal(loose.toleranceSource, 'option');
    assert.equal(loose.diagnosis.verdict, 'pass', loose.diagnosis.sentence);
    assert.ok(loose.blocks.every((b) => b.passed), 'every block within 2');
    assert.deepEqual(loose.blocks.map((b) => b.relL2), strict.blocks.map((b) => b.relL2), 'the same errors, judged against another tolerance');
  });
  it('test data with 9 classes for a 10-class head: a MISMATCH naming the file and the classes, not an internal error', async () => {
    const td = await readTestData(D);
    const arr = (t: { shape: readonly number[]; data: Float32Array }) => npArray('f4', [...t.shape], new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    const classes = td.probs.shape[td.probs.shape.length - 1];
    const probs = { shape: [...td.probs.shape.slice(0, -1), classes - 1], data: td.probs.data.slice(0, classes - 1) };
    const file = path.join(tmp, 'nine_classes_test_data.p');
    fs.writeFileSync(file, pickle2([arr(td.video), { $list: [arr(probs), { $list: td.blocks.map(arr) }] }]));
    const e = await rejects(runPipeline({ weights: W, data: file, ep: 'cpu', heads: 4, precision: 'fp32' }), 'MISMATCH', `the probabilities have ${classes - 1} classes, the head has ${classes}`);
    assert.equal(e.file, file);
  });
});
