/** A file we write for the user (an ONNX export) replaces the earlier one only once complete (core/write-file.ts). */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabError } from '../../extension/core/errors';
import { writeFileAtomic } from '../../extension/core/write-file';

describe('writeFileAtomic: a failed write loses nothing', () => {
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-write-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('complete: the file replaced, nothing else left beside it', () => {
    const f = path.join(tmp, 'model.onnx');
    fs.writeFileSync(f, 'old');
    assert.equal(writeFileAtomic(f, (fd) => fs.writeSync(fd, 'new bytes')), 9);
    assert.equal(fs.readFileSync(f, 'utf8'), 'new bytes');
    assert.deepEqual(fs.readdirSync(tmp), ['model.onnx']);
  });

  it('a write that fails half-way (the disk full): the earlier file as it was, no partial file, the error names the file and the cause', () => {
    const f = path.join(tmp, 'model.onnx');
    fs.writeFileSync(f, 'the earlier export');
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    assert.throws(() => writeFileAtomic(f, (fd) => {
      fs.writeSync(fd, 'half of it');
      throw full;
    }), (e: unknown) => e instanceof LabError && e.code === 'FILE_UNWRITABLE' && e.file === f && /the disk is full \(ENOSPC\); nothing was changed there/.test(e.message) && e.message.includes(f));
    assert.equal(fs.readFileSync(f, 'utf8'), 'the earlier export');
    assert.deepEqual(fs.readdirSync(tmp), ['model.onnx']);
  });

  it('no folder, or a folder where the file would go: FILE_UNWRITABLE naming it', () => {
    assert.throws(() => writeFileAtomic(path.join(tmp, 'no', 'model.onnx'), () => 0), (e: unknown) => e instanceof LabError && e.code === 'FILE_UNWRITABLE' && /its folder does not exist/.test(e.message));
    fs.mkdirSync(path.join(tmp, 'dir.onnx'));
    assert.throws(() => writeFileAtomic(path.join(tmp, 'dir.onnx'), (fd) => fs.writeSync(fd, 'x')), (e: unknown) => e instanceof LabError && e.code === 'FILE_UNWRITABLE' && /it is a folder/.test(e.message));
    assert.deepEqual(fs.readdirSync(tmp).sort(), ['dir.onnx']);
  });
});
