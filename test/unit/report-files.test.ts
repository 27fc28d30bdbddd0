/**
 * Export Report's files (host/report-files.ts): the Markdown beside the JSON is known to exist
 * before anything is written (the command asks before replacing it), and a write that fails names
 * the file and the cause in words, saying what was written before it.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { reportFiles, writeCause, writeReportFiles } from '../../extension/host/report-files';

describe('Export Report: the JSON and the Markdown beside it', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-report-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('names the Markdown <name>.md and says when one is there already (it is asked about, never replaced silently)', () => {
    const json = path.join(dir, 'r.json');
    assert.deepEqual(reportFiles(json), { json, md: path.join(dir, 'r.md'), mdExists: false });
    fs.writeFileSync(path.join(dir, 'r.md'), 'my notes');
    assert.equal(reportFiles(json).mdExists, true);
    assert.equal(fs.readFileSync(path.join(dir, 'r.md'), 'utf8'), 'my notes', 'looking writes nothing');
    assert.equal(reportFiles(path.join(dir, 'R.JSON')).md, path.join(dir, 'R.md'));
    assert.equal(reportFiles(path.join(dir, 'plain')).md, path.join(dir, 'plain.md'));
  });

  it('writes both; a failure names the file and the cause in words, and what was written before it', () => {
    const ok = reportFiles(path.join(dir, 'a.json'));
    assert.deepEqual(writeReportFiles(ok, '{}', '# r'), { written: [ok.json, ok.md] });
    assert.equal(fs.readFileSync(ok.md, 'utf8'), '# r');
    // the Markdown's name is a folder: the JSON is written, the Markdown said to fail
    const clash = reportFiles(path.join(dir, 'b.json'));
    fs.mkdirSync(clash.md);
    assert.deepEqual(writeReportFiles(clash, '{}', '# r'), { written: [clash.json], failed: clash.md, cause: 'it is a folder' });
    const nowhere = reportFiles(path.join(dir, 'missing', 'c.json'));
    assert.deepEqual(writeReportFiles(nowhere, '{}', '# r'), { written: [], failed: nowhere.json, cause: 'its folder does not exist' });
    const denied = Object.assign(new Error('EACCES: permission denied, open'), { code: 'EACCES' });
    assert.deepEqual(writeReportFiles(ok, '{}', '# r', () => {
      throw denied;
    }), { written: [], failed: ok.json, cause: 'permission denied' });
    assert.equal(writeCause(new Error('odd')), 'odd');
  });
});
