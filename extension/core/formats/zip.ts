/**
 * Lazy zip access through yauzl (a kept library, ZIP64 included): the central directory is parsed
 * when the archive is opened; an entry's bytes are read from the file only when asked for.
 * The whole file is never held in memory.
 */
import yauzl from 'yauzl';
import type { Readable } from 'stream';
import { LabError } from '../errors';

export interface ZipEntry {
  name: string;
  /** Uncompressed size in bytes. */
  size: number;
  compressedSize: number;
  /** 0 = stored (what torch writes), 8 = deflated. */
  compressionMethod: number;
}

export interface ByteRange {
  /** First byte, relative to the entry's (uncompressed) data. */
  start: number;
  /** One past the last byte. */
  end: number;
}

export interface ZipArchive {
  path: string;
  entries: ReadonlyMap<string, ZipEntry>;
  /** An entry's bytes (or a range of them). Errors are BAD_ZIP naming the file and entry. */
  read(name: string, range?: ByteRange): Promise<Buffer>;
  close(): Promise<void>;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function openZip(path: string): Promise<ZipArchive> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new LabError('FILE_NOT_FOUND', 'file not found', path, { cause: e });
    if (code === 'EACCES' || code === 'EISDIR' || code === 'EPERM') throw new LabError('FILE_UNREADABLE', `cannot read the file (${code})`, path, { cause: e });
    throw new LabError('BAD_ZIP', `not a readable zip archive (${describe(e)}); the file may be truncated or corrupt`, path, { cause: e });
  }

  const raw = new Map<string, yauzl.Entry>();
  const entries = new Map<string, ZipEntry>();
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue; // directory
      raw.set(entry.fileName, entry);
      entries.set(entry.fileName, {
        name: entry.fileName,
        size: entry.uncompressedSize,
        compressedSize: entry.compressedSize,
        compressionMethod: entry.compressionMethod,
      });
    }
  } catch (e) {
    zip.close();
    throw new LabError('BAD_ZIP', `corrupt zip central directory (${describe(e)}); the file may be truncated or damaged`, path, { cause: e });
  }

  let closed = false;
  return {
    path,
    entries,
    async read(name: string, range?: ByteRange): Promise<Buffer> {
      const entry = raw.get(name);
      if (!entry) throw new LabError('BAD_ZIP', `the archive has no entry ${name}`, path);
      if (closed) throw new LabError('BAD_ZIP', `cannot read ${name}: the archive was closed`, path);
      const size = entry.uncompressedSize;
      const start = range?.start ?? 0;
      const end = range?.end ?? size;
      if (start < 0 || end > size || end < start) {
        throw new LabError('BAD_ZIP', `entry ${name} holds ${size} bytes; bytes ${start}..${end} were asked for`, path);
      }
      if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
        throw new LabError('BAD_ZIP', `entry ${name} uses compression method ${entry.compressionMethod}; only stored and deflated entries are supported`, path);
      }
      try {
        if (entry.compressionMethod === 0) {
          // Stored: read only the range asked for.
          const stream = await zip.openReadStreamPromise(entry, range ? { start, end } : {});
          return await collect(stream, end - start);
        }
        const all = await collect(await zip.openReadStreamPromise(entry), size);
        return range ? all.subarray(start, end) : all;
      } catch (e) {
        throw new LabError('BAD_ZIP', `cannot read entry ${name} (${describe(e)}); the file may be truncated or corrupt`, path, { cause: e });
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      zip.close();
    },
  };
}

/** Read a stream of known length into one preallocated Buffer. */
function collect(stream: Readable, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out = Buffer.allocUnsafe(length);
    let at = 0;
    stream.on('data', (chunk: Buffer) => {
      if (at + chunk.length > length) {
        stream.destroy();
        reject(new Error(`entry data is longer than its recorded size ${length}`));
        return;
      }
      chunk.copy(out, at);
      at += chunk.length;
    });
    stream.on('error', reject);
    stream.on('end', () => {
      if (at !== length) reject(new Error(`entry data ends after ${at} of ${length} bytes`));
      else resolve(out);
    });
  });
}
