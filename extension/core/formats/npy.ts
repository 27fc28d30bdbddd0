/**
 * NumPy `.npy` arrays (np.save), versions 1.0, 2.0 and 3.0: the magic "\x93NUMPY", a version, a
 * header length (2 bytes in 1.0, 4 bytes after), a Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 8, 224, 224), }`, then the raw data.
 *
 * Why not npyjs or numpy-parser (npm): both parse an ArrayBuffer of the whole file and return a
 * view of whatever follows the header, without checking it against the shape; npyjs brings
 * cross-fetch for URLs. The part that matters here is the checking (header length bounded, the
 * dict parsed strictly, the byte count from shape × dtype compared with the file's size before
 * anything is allocated, big-endian and object arrays refused); the dtype rules are shared with the
 * pickle reader's numpy support (NumpyDType).
 */
import { promises as fsp } from 'fs';
import { openRegularFile } from './file';
import { LabError, excerpt } from '../errors';
import { DTYPE_SIZE, numel, type DType, type Tensor } from '../tensor';
import { bytesToTensor } from './arrays';
import { NumpyDType } from './numpy-pickle';

const MAGIC = '\x93NUMPY';
/** numpy itself writes headers of a few hundred bytes; refuse anything past 1 MiB. */
const MAX_HEADER_BYTES = 1 << 20;
/** The most bytes one read() asks for (Node refuses a single read over 2 GiB, natively). */
const READ_CHUNK = 2 ** 28;

export interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the data. */
  dataStart: number;
}

/** Parse the header dict strictly: exactly the three keys numpy writes, with literal values. */
export function parseNpyHeader(text: string): Omit<NpyHeader, 'dataStart'> {
  const bad = (why: string): never => {
    throw new LabError('BAD_CLIP', `not a valid .npy header (${why}): ${excerpt(text, 64)}`);
  };
  const body = /^\s*\{(.*)\}\s*$/s.exec(text)?.[1] ?? bad('not a dict');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(body)?.[1] ?? bad("no 'descr' string (structured dtypes are not supported)");
  const fo = /'fortran_order'\s*:\s*(True|False)/.exec(body)?.[1] ?? bad("no 'fortran_order'");
  const sh = /'shape'\s*:\s*\(([^)]*)\)/.exec(body)?.[1] ?? bad("no 'shape' tuple");
  const dims = sh.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (!dims.every((d) => /^\d+L?$/.test(d))) bad(`shape (${sh}) is not a tuple of integers`);
  const shape = dims.map((d) => Number(d.replace(/L$/, '')));
  if (!shape.every(Number.isSafeInteger)) bad(`shape (${sh}) is too large`);
  const rest = body.replace(/'descr'\s*:\s*'[^']*'/, '').replace(/'fortran_order'\s*:\s*(True|False)/, '').replace(/'shape'\s*:\s*\([^)]*\)/, '');
  if (!/^[\s,]*$/.test(rest)) bad('unexpected entries');
  return { descr, fortranOrder: fo === 'True', shape };
}

/** What a .npy holds, known from its header: checked by readNpy's caller before any data is read. */
export interface NpyLayout {
  dtype: DType;
  shape: number[];
  /** Bytes of data (shape × element size). */
  bytes: number;
}

/**
 * Read a .npy file: the header, then exactly the bytes the shape needs. `check` sees the header
 * first and may refuse it (a clip of another size, more than a budget) before anything else is
 * read or allocated. Errors are BAD_CLIP naming the file.
 */
export async function readNpy(path: string, check?: (h: NpyLayout) => void): Promise<Tensor> {
  let fh: fsp.FileHandle | undefined;
  try {
    const file = await openRegularFile(path);
    fh = file.handle;
    const st = { size: file.size };
    const head = Buffer.alloc(12);
    const { bytesRead } = await fh.read(head, 0, 12, 0);
    if (bytesRead < 10 || head.subarray(0, 6).toString('latin1') !== MAGIC) {
      throw new LabError('BAD_CLIP', `not a NumPy .npy file (it does not start with "\\x93NUMPY")`, path);
    }
    const major = head[6];
    if (major < 1 || major > 3) throw new LabError('BAD_CLIP', `.npy format version ${major}.${head[7]} is not supported (1.0, 2.0, 3.0 are)`, path);
    const lenBytes = major === 1 ? 2 : 4;
    const headerLength = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
    const headerStart = 8 + lenBytes;
    if (headerLength > MAX_HEADER_BYTES || headerStart + headerLength > st.size) {
      throw new LabError('BAD_CLIP', `the .npy header claims ${headerLength} bytes but the file holds ${st.size} (truncated or not an .npy file)`, path);
    }
    const hbuf = Buffer.alloc(headerLength);
    await fh.read(hbuf, 0, headerLength, headerStart);
    const h = parseNpyHeader(hbuf.toString(major === 3 ? 'utf8' : 'latin1'));
    const dtype = new NumpyDType(h.descr).toDType();
    const count = numel(h.shape);
    const need = count * DTYPE_SIZE[dtype];
    check?.({ dtype, shape: h.shape, bytes: need });
    const dataStart = headerStart + headerLength;
    const have = st.size - dataStart;
    if (need !== have) {
      throw new LabError('BAD_CLIP', `the array is (${h.shape.join(', ')}) of ${h.descr}: ${need} bytes of data, but the file holds ${have} after its header (truncated or damaged)`, path);
    }
    const data = Buffer.alloc(need);
    let at = 0;
    while (at < need) {
      const r = await fh.read(data, at, Math.min(READ_CHUNK, need - at), dataStart + at);
      if (r.bytesRead === 0) throw new LabError('BAD_CLIP', 'the file ended while its data was read', path);
      at += r.bytesRead;
    }
    return bytesToTensor(dtype, data, h.shape, h.fortranOrder ? 'F' : 'C');
  } catch (e) {
    if (e instanceof LabError) {
      // dtype refusals from the shared numpy rules keep their code; everything names the file
      throw e.withFile(path);
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new LabError('FILE_NOT_FOUND', 'file not found', path, { cause: e });
    throw new LabError('FILE_UNREADABLE', `cannot read the file (${code ?? String(e)})`, path, { cause: e });
  } finally {
    await fh?.close();
  }
}
