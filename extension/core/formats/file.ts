/**
 * Opening input files safely, and reading them by range.
 *
 * Only regular files are read. A path is stat'ed first (symlinks followed) and refused with
 * NOT_A_FILE when it names a directory, a device (/dev/zero never ends), a FIFO (a plain open()
 * blocks until a writer appears) or a socket. The open itself uses O_NONBLOCK, so that a path
 * swapped for a FIFO between the stat and the open cannot block either, and the opened handle is
 * checked again with fstat. Nothing reads a whole file: readers ask for byte ranges.
 */
import * as fs from 'fs';
import { promises as fsp } from 'fs';
import { LabError } from '../errors';

export interface OpenedFile {
  path: string;
  handle: fsp.FileHandle;
  /** Size in bytes when opened. */
  size: number;
}

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function notAFile(st: fs.Stats, path: string): LabError {
  return new LabError('NOT_A_FILE', `${kindOf(st)}, not a regular file; only regular files are read`, path);
}

/** A LabError for a failed file-system call on `path`. */
export function fileError(e: unknown, path: string): LabError {
  if (e instanceof LabError) return e.withFile(path);
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new LabError('FILE_NOT_FOUND', 'file not found', path, { cause: e });
  if (code === 'EISDIR') return new LabError('NOT_A_FILE', 'a directory, not a regular file; only regular files are read', path, { cause: e });
  return new LabError('FILE_UNREADABLE', `cannot read the file (${code ?? (e instanceof Error ? e.message : String(e))})`, path, { cause: e });
}

/** Open a regular file for reading; anything else is refused before it is opened. */
export async function openRegularFile(path: string): Promise<OpenedFile> {
  let st: fs.Stats;
  try {
    st = await fsp.stat(path);
  } catch (e) {
    throw fileError(e, path);
  }
  if (!st.isFile()) throw notAFile(st, path);
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    throw fileError(e, path);
  }
  try {
    const now = await handle.stat();
    if (!now.isFile()) throw notAFile(now, path);
    return { path, handle, size: now.size };
  } catch (e) {
    await handle.close();
    throw fileError(e, path);
  }
}

/** An open regular file for the synchronous readers (the JSON outputs, manifests, logs). */
export interface OpenedFileSync {
  path: string;
  fd: number;
  size: number;
}

/** openRegularFile, synchronously: stat, refuse what is not a regular file, open non-blocking, fstat again. */
export function openRegularFileSync(path: string): OpenedFileSync {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    throw fileError(e, path);
  }
  if (!st.isFile()) throw notAFile(st, path);
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    throw fileError(e, path);
  }
  try {
    const now = fs.fstatSync(fd);
    if (!now.isFile()) throw notAFile(now, path);
    return { path, fd, size: now.size };
  } catch (e) {
    fs.closeSync(fd);
    throw fileError(e, path);
  }
}

/** The first `n` bytes of an open regular file (all of it when smaller). */
function headOf(f: { fd: number; size: number }, path: string, n: number): Buffer {
  const out = Buffer.alloc(Math.min(f.size, n));
  let got: number;
  try {
    got = readAtSync(f.fd, out, 0);
  } catch (e) {
    throw fileError(e, path);
  }
  return out.subarray(0, got);
}

/**
 * The first `maxBytes` bytes of a regular file (all of it when smaller), read through
 * openRegularFileSync: a FIFO, device or directory is NOT_A_FILE, never blocks or runs on.
 */
export function readHeadSync(path: string, maxBytes: number): Buffer {
  const f = openRegularFileSync(path);
  try {
    return headOf(f, path, maxBytes);
  } finally {
    fs.closeSync(f.fd);
  }
}

/** A whole regular file of at most `maxBytes` (a manifest): larger is LIMIT_EXCEEDED, unread. */
export function readSmallFileSync(path: string, maxBytes: number, what: string): Buffer {
  const f = openRegularFileSync(path);
  try {
    if (f.size > maxBytes) throw new LabError('LIMIT_EXCEEDED', `${f.size} bytes is more than ${what} can hold (at most ${maxBytes}): not read`, path);
    return headOf(f, path, f.size);
  } finally {
    fs.closeSync(f.fd);
  }
}

/** The most bytes one read or write asks for: Node aborts the process (natively) on one over 2 GiB. */
export const MAX_READ = 2 ** 28;

/**
 * Read exactly `target.length` bytes at `position` into `target` (synchronously: the unpickler is
 * synchronous). A short read means the file ends there: the caller says what that means.
 * Returns the number of bytes read.
 */
export function readAtSync(fd: number, target: Uint8Array, position: number): number {
  let done = 0;
  while (done < target.length) {
    const n = fs.readSync(fd, target, done, Math.min(MAX_READ, target.length - done), position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Write all of `bytes` at `position` (a write may take fewer bytes than it is given). */
export function writeAtSync(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, Math.min(MAX_READ, bytes.byteLength - done), position + done);
}

/** readAtSync, asynchronously. */
export async function readAt(handle: fsp.FileHandle, target: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await handle.read(target, done, Math.min(MAX_READ, target.length - done), position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/**
 * A file as a pickle ByteSource (formats/byte-source.ts): synchronous positional reads into fresh
 * buffers. A read past the size recorded at open (the file shrank meanwhile) is FILE_UNREADABLE.
 */
export class FileSource {
  readonly stable = false;
  constructor(readonly fd: number, readonly size: number, private readonly path: string) {}
  read(pos: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    this.readInto(pos, out);
    return out;
  }
  readInto(pos: number, target: Uint8Array): void {
    let got: number;
    try {
      got = readAtSync(this.fd, target, pos);
    } catch (e) {
      throw fileError(e, this.path);
    }
    if (got !== target.length) {
      throw new LabError('FILE_UNREADABLE', `the file changed while it was read: bytes ${pos}..${pos + target.length} of ${this.size} are no longer there`, this.path);
    }
  }
}
