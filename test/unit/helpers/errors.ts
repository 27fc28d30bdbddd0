/**
 * The promise that a call fails as the user is told it fails: a LabError with this code whose
 * message says these words (the file, the cause). One helper for every test file that checks it.
 */
import { strict as assert } from 'assert';
import { LabError } from '../../../extension/core/errors';

export async function rejects(p: Promise<unknown> | (() => unknown), code: LabError['code'], ...words: string[]): Promise<LabError> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof LabError, `expected a LabError ${code}, got ${err === undefined ? 'success' : String(err)}`);
  assert.equal(err.code, code, err.message);
  for (const w of words) assert.ok(err.message.includes(w), `message should contain "${w}": ${err.message}`);
  return err;
}
