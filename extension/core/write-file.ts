/**
 * Writing a file the user asked for (--save-onnx, Export ONNX) so that a failure loses nothing:
 * the bytes go to `<file>.partial-<pid>` beside it, which replaces `file` only once complete; on
 * any error it is removed, the earlier `file` is left as it was, and the error names `file` and
 * the cause (disk full, no permission, a folder in the way).
 */
import * as fs from 'fs';
import * as path from 'path';
import { LabError } from './errors';

const WORDS: Record<string, string> = {
  ENOSPC: 'the disk is full', EDQUOT: 'the disk quota is used up', EACCES: 'no permission to write there', EPERM: 'no permission to write there',
  EROFS: 'the file system is read-only', ENOENT: 'its folder does not exist', ENOTDIR: 'a part of its path is not a folder', EISDIR: 'it is a folder',
};

/** Writes `file` through `write(fd)` (it writes every byte; returns what it likes), atomically. */
export function writeFileAtomic<T>(file: string, write: (fd: number) => T): T {
  const partial = path.join(path.dirname(file), `${path.basename(file)}.partial-${process.pid}`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(partial, 'w');
    const out = write(fd);
    fs.closeSync(fd);
    fd = undefined;
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw Object.assign(new Error(`${file} is a folder`), { code: 'EISDIR' });
    fs.renameSync(partial, file);
    return out;
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(partial, { force: true });
    if (e instanceof LabError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new LabError('FILE_UNWRITABLE', `cannot write it: ${code && WORDS[code] ? `${WORDS[code]} (${code})` : (e as Error).message}; nothing was changed there`, file, { cause: e });
  }
}
