/**
 * The path settings (timesformerLab.checkpoint, timesformerLab.testData) as written and read back:
 * one rule both ways, so that what "Save Choices as Workspace Settings" writes reads back as the
 * same file in a multi-root workspace too. A path inside the first workspace folder is written
 * relative to it (as resolvePath reads it), any other absolutely; the test data "none" (compare
 * with the model's own FP32) is the word `none`. No `vscode` import: unit-tested with mocha.
 */
import * as path from 'path';

/** The test-data setting's value for "no test data: compare with the model's own FP32". */
export const NO_TEST_DATA = 'none';

/** A setting's path: absolute, or relative to the first workspace folder (`root`). */
export function resolveSettingPath(p: string | undefined, root: string | undefined): string | undefined {
  if (!p) return undefined;
  return path.isAbsolute(p) || !root ? p : path.join(root, p);
}

/** The test-data setting read: null for `none`, else its path resolved (undefined: not set, pair by shape). */
export function readTestDataSetting(v: string | undefined, root: string | undefined): string | null | undefined {
  if (v?.trim().toLowerCase() === NO_TEST_DATA) return null;
  return resolveSettingPath(v, root);
}

/** What a path setting is written as, so that resolveSettingPath reads it back as `p`. */
export function settingPath(p: string, root: string | undefined): string {
  if (!root) return p;
  const rel = path.relative(root, p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel.split(path.sep).join('/') : p;
}

/** The test-data choice written as the setting: `none` for no test data. */
export function testDataSetting(td: string | null, root: string | undefined): string {
  return td === null ? NO_TEST_DATA : settingPath(td, root);
}
