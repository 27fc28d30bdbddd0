/**
 * Lazy zip access through yauzl (a kept library: ZIP64, validated central directory, local headers
 * and entry names, an inflate stream that enforces the recorded uncompressed size). The central
 * directory is parsed when the archive is opened; an entry's bytes are read only when asked for.
 *
 * What this module adds on top, for files nobody vouches for:
 * - duplicate entry names are refused (PyTorch's reader would pick one of them; which one depends
 *   on its index, so no reader can promise to see what PyTorch sees);
 * - stored entries (what torch.save writes) are read by range with positional reads straight into
 *   a fresh buffer per range: no copy, nothing read that is not asked for;
 * - deflated entries are inflated once per request, streaming, stopping at the last byte any of
 *   the requested ranges needs; a request that needs more than INFLATE_RATIO times the entry's
 *   compressed size (and more than INFLATE_FLOOR) is refused before inflating, and all inflation in
 *   one archive stops at 8x the file's size + 16 MiB (overlapping entries cannot multiply it).
 */
import yauzl from 'yauzl';
import { Readable } from 'stream';
import { LabError } from '../errors';
import * as fs from 'fs';
import { OpenedFile, openRegularFile, readAtSync } from './file';

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
  /** The file's size in bytes. */
  fileSize: number;
  entries: ReadonlyMap<string, ZipEntry>;
  /** An entry's bytes (or a range of them), in a fresh buffer; more than `maxBytes` is refused before reading. */
  read(name: string, range?: ByteRange, maxBytes?: number): Promise<Uint8Array>;
  /**
   * Several ranges of one entry, each in a fresh buffer of its own, in one pass: a deflated entry
   * is inflated once, up to the last byte needed. Errors are BAD_ZIP naming the file and entry.
   */
  readRanges(name: string, ranges: readonly ByteRange[]): Promise<Uint8Array[]>;
  /** Bytes inflated so far, all entries together. */
  readonly inflated: number;
  close(): Promise<void>;
}

/** A deflated entry may be at most this many times its compressed size ... */
export const INFLATE_RATIO = 100;
/** ... unless it is this small. */
export const INFLATE_FLOOR = 1 << 20;

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function openZip(path: string): Promise<ZipArchive> {
  return openZipFile(await openRegularFile(path));
}

/**
 * The most entries an archive may list: torch.save writes one per storage (~200 for TimeSformer
 * base, ~1,500 with an optimizer's state), and each listed entry costs ~1 KB of memory to keep.
 */
export const MAX_ZIP_ENTRIES = 16_384;

/** A zip archive over an opened file; the archive owns the handle and closes it. */
export async function openZipFile(file: OpenedFile): Promise<ZipArchive> {
  const { path, handle } = file;
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromRandomAccessReaderPromise(new HandleReader(handle.fd), file.size, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false });
  } catch (e) {
    await handle.close();
    throw new LabError('BAD_ZIP', `not a readable zip archive (${describe(e)}); the file may be truncated or corrupt`, path, { cause: e });
  }

  if (zip.entryCount > MAX_ZIP_ENTRIES) {
    zip.close();
    await handle.close();
    throw new LabError('LIMIT_EXCEEDED', `the archive lists ${zip.entryCount.toLocaleString('en-US')} entries; a checkpoint has one per storage (hundreds; at most ${MAX_ZIP_ENTRIES.toLocaleString('en-US')} are read): not read`, path);
  }
  const raw = new Map<string, yauzl.Entry>();
  const entries = new Map<string, ZipEntry>();
  const fail = async (detail: string, cause?: unknown): Promise<never> => {
    zip.close();
    await handle.close();
    throw new LabError('BAD_ZIP', detail, path, cause === undefined ? undefined : { cause });
  };
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue; // directory
      if (raw.has(entry.fileName)) {
        return await fail(`the archive holds two entries named ${entry.fileName}; PyTorch would read one of them, so which data is meant is ambiguous`);
      }
      raw.set(entry.fileName, entry);
      entries.set(entry.fileName, {
        name: entry.fileName,
        size: entry.uncompressedSize,
        compressedSize: entry.compressedSize,
        compressionMethod: entry.compressionMethod,
      });
    }
  } catch (e) {
    if (e instanceof LabError) throw e;
    return await fail(`corrupt zip central directory (${describe(e)}); the file may be truncated or damaged`, e);
  }

  const inflateCap = 8 * file.size + 16 * 2 ** 20;
  let inflated = 0;
  let closed = false;
  const dataStarts = new Map<yauzl.Entry, number>();

  const entryFor = (name: string): yauzl.Entry => {
    const entry = raw.get(name);
    if (!entry) throw new LabError('BAD_ZIP', `the archive has no entry ${name}`, path);
    if (closed) throw new LabError('BAD_ZIP', `cannot read ${name}: the archive was closed`, path);
    if (entry.isEncrypted()) throw new LabError('BAD_ZIP', `entry ${name} is encrypted`, path);
    if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
      throw new LabError('BAD_ZIP', `entry ${name} uses compression method ${entry.compressionMethod}; only stored and deflated entries are supported`, path);
    }
    return entry;
  };

  // Local headers and stored data are read with synchronous positional reads: a checkpoint has
  // hundreds of entries, and a thread-pool round trip per read cost ~0.1 ms each (132 ms for d1).
  const header = new Uint8Array(30);
  const headerView = new DataView(header.buffer);
  const dataStart = (entry: yauzl.Entry): number => {
    let at = dataStarts.get(entry);
    if (at === undefined) {
      const offset = entry.relativeOffsetOfLocalHeader;
      if (readAtSync(handle.fd, header, offset) !== 30) throw new Error(`its local header at byte ${offset} is past the end of the file`);
      if (headerView.getUint32(0, true) !== 0x04034b50) throw new Error(`no local file header signature at byte ${offset}`);
      at = offset + 30 + headerView.getUint16(26, true) + headerView.getUint16(28, true);
      if (at + entry.compressedSize > file.size) {
        throw new Error(`its data runs to byte ${at + entry.compressedSize} but the file ends at ${file.size}`);
      }
      dataStarts.set(entry, at);
    }
    return at;
  };

  const readStored = async (entry: yauzl.Entry, ranges: readonly ByteRange[]): Promise<Uint8Array[]> => {
    if (entry.compressedSize !== entry.uncompressedSize) throw new Error(`a stored entry records ${entry.compressedSize} bytes compressed and ${entry.uncompressedSize} uncompressed`);
    const at = dataStart(entry);
    const out: Uint8Array[] = [];
    for (const r of ranges) {
      const buf = new Uint8Array(r.end - r.start);
      const got = readAtSync(handle.fd, buf, at + r.start);
      if (got !== buf.length) throw new Error(`the file ends inside it (${got} of ${buf.length} bytes)`);
      out.push(buf);
    }
    return out;
  };

  const readDeflated = async (entry: yauzl.Entry, ranges: readonly ByteRange[]): Promise<Uint8Array[]> => {
    const name = entry.fileName;
    const last = ranges.reduce((m, r) => Math.max(m, r.end), 0);
    if (last > Math.max(INFLATE_FLOOR, INFLATE_RATIO * entry.compressedSize)) {
      throw new LabError('LIMIT_EXCEEDED', `reading entry ${name} means inflating ${entry.compressedSize.toLocaleString('en-US')} bytes to ${last.toLocaleString('en-US')}, more than ${INFLATE_RATIO} times: refused as a zip bomb`, path);
    }
    if (inflated + last > inflateCap) {
      throw new LabError('LIMIT_EXCEEDED', `reading entry ${name} would inflate ${(inflated + last).toLocaleString('en-US')} bytes in all from a ${file.size.toLocaleString('en-US')}-byte file (at most ${inflateCap.toLocaleString('en-US')}): refused as a zip bomb`, path);
    }
    const out = ranges.map((r) => new Uint8Array(r.end - r.start));
    if (last === 0) return out;
    const stream = await zip.openReadStreamPromise(entry);
    const pos = await copyRanges(stream, ranges, out, last);
    inflated += pos;
    return out;
  };

  const readRanges = async (name: string, ranges: readonly ByteRange[]): Promise<Uint8Array[]> => {
    const entry = entryFor(name);
    const size = entry.uncompressedSize;
    for (const r of ranges) {
      if (!(Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end) && r.start >= 0 && r.end <= size && r.start <= r.end)) {
        throw new LabError('BAD_ZIP', `entry ${name} holds ${size} bytes; bytes ${r.start}..${r.end} were asked for`, path);
      }
    }
    try {
      return entry.compressionMethod === 0 ? await readStored(entry, ranges) : await readDeflated(entry, ranges);
    } catch (e) {
      if (e instanceof LabError) throw e;
      throw new LabError('BAD_ZIP', `cannot read entry ${name} (${describe(e)}); the file may be truncated or corrupt`, path, { cause: e });
    }
  };

  return {
    path,
    fileSize: file.size,
    entries,
    get inflated() {
      return inflated;
    },
    async read(name: string, range?: ByteRange, maxBytes = Infinity): Promise<Uint8Array> {
      const size = entries.get(name)?.size ?? 0;
      const r = range ?? { start: 0, end: size };
      if (r.end - r.start > maxBytes) {
        throw new LabError('LIMIT_EXCEEDED', `entry ${name} holds ${(r.end - r.start).toLocaleString('en-US')} bytes; at most ${maxBytes.toLocaleString('en-US')} are read for it`, path);
      }
      return (await readRanges(name, [r]))[0];
    },
    readRanges,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      zip.close();
      await handle.close();
    },
  };
}

/**
 * yauzl reads through this, over the file we opened (yauzl's own fromFd would close the descriptor
 * when the archive closes; here the owner of the handle closes it, once).
 */
class HandleReader extends yauzl.RandomAccessReader {
  constructor(private readonly fd: number) {
    super();
  }
  override _readStreamForRange(start: number, end: number): Readable {
    // Not fs.createReadStream: destroying one (we stop inflating early) closes its descriptor.
    const fd = this.fd;
    let pos = start;
    return new Readable({
      highWaterMark: 1 << 16,
      read(size: number) {
        const len = Math.min(size, end - pos);
        if (len <= 0) {
          this.push(null);
          return;
        }
        const buf = Buffer.allocUnsafe(len);
        fs.read(fd, buf, 0, len, pos, (err, got) => {
          if (err) this.destroy(err);
          else if (got === 0) this.destroy(new Error(`the file ends at byte ${pos}, inside entry data`));
          else {
            pos += got;
            this.push(buf.subarray(0, got));
          }
        });
      },
    });
  }
  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null) => void): void {
    let err: Error | null = null;
    try {
      const got = readAtSync(this.fd, buffer.subarray(offset, offset + length), position);
      if (got !== length) err = new Error(`the file ends at byte ${position + got}, inside the zip structure`);
    } catch (e) {
      err = e as Error;
    }
    process.nextTick(callback, err);
  }
  override close(callback: (err: Error | null) => void): void {
    setImmediate(() => callback(null));
  }
}

/**
 * Stream an entry's bytes, copying each range into its buffer; stop (destroy the stream) once
 * `last` bytes have passed. Returns how many bytes went by.
 */
function copyRanges(stream: Readable, ranges: readonly ByteRange[], out: Uint8Array[], last: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let pos = 0;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      if (err) reject(err);
      else resolve(pos);
    };
    stream.on('data', (chunk: Buffer) => {
      if (done) return;
      const from = pos;
      const to = pos + chunk.length;
      ranges.forEach((r, i) => {
        const s = Math.max(r.start, from);
        const e = Math.min(r.end, to);
        if (s < e) out[i].set(chunk.subarray(s - from, e - from), s - r.start);
      });
      pos = to;
      if (pos >= last) {
        stream.destroy();
        finish();
      }
    });
    stream.on('error', (e) => finish(e));
    stream.on('end', () => {
      if (pos < last) finish(new Error(`entry data ends after ${pos} of ${last} bytes`));
      else finish();
    });
  });
}
