/**
 * safetensors (HuggingFace): an 8-byte little-endian header length N, N bytes of JSON
 * `{"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`,
 * then the raw little-endian tensor bytes; offsets are relative to the first byte after the header.
 *
 * Why a reader of our own: no kept npm package reads local safetensors files lazily. The
 * `safetensors` package on npm is a 0.0.1 placeholder, and @huggingface/hub's
 * parseSafetensorsMetadata reads a repository's header over HTTP (hub URLs, range requests), not a
 * file handle, and brings WASM dependencies for the rest of the hub client. The format is a JSON
 * header plus raw bytes, so what matters is the checking, which is ours in any case.
 *
 * Opening reads the 8-byte length and the header only; a tensor's bytes are read (by byte range,
 * through one file handle) when its `load()` is called. Nothing in the header is trusted: the
 * header length is bounded by the file size and by MAX_HEADER_BYTES before it is allocated, every
 * entry's dtype, shape and offsets are checked (shape × dtype size = offsets' span, inside the
 * data, no two tensors overlapping) before any tensor is read.
 */
import { promises as fsp } from 'fs';
import { LabError } from '../errors';
import { DTYPE_SIZE, Tensor, numel, type DType } from '../tensor';
import { typedArrayFromBytes } from './pickle';
import { fileError, openRegularFile } from './file';
import type { LazyTensor } from './torch';

/** The safetensors library refuses headers above 100 MB; so do we, and never more than the file. */
export const MAX_HEADER_BYTES = 100_000_000;

/** safetensors dtype names the lab reads. Others (F8_*, U16, U32, U64, C64...) fail when loaded, naming the dtype. */
const DTYPES: Record<string, DType> = {
  F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};
/** Element sizes of the dtypes we do not read, so their entries can still be bounds-checked. */
const OTHER_SIZES: Record<string, number> = {
  U16: 2, U32: 4, U64: 8, F8_E4M3: 1, F8_E5M2: 1, F8_E8M0: 1, F6_E2M3: 1, F6_E3M2: 1, F4: 1, C64: 8, C128: 16,
};

export interface SafetensorsEntry extends LazyTensor {
  /** The dtype as the file names it (F32, BF16, ...). */
  fileDtype: string;
  /** Byte range inside the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  path: string;
  /** Tensors in file order (by data offset). */
  tensors: Map<string, SafetensorsEntry>;
  /** `__metadata__` (string to string), e.g. { format: 'pt' }. */
  metadata: Record<string, string>;
  /** Byte offset of the data section in the file (8 + header length). */
  dataStart: number;
  close(): Promise<void>;
}

async function readExactly(fh: fsp.FileHandle, length: number, position: number, what: string, path: string): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let at = 0;
  while (at < length) {
    const { bytesRead } = await fh.read(buf, at, length - at, position + at);
    if (bytesRead === 0) throw new LabError('BAD_WEIGHTS', `the file is truncated: it ends inside ${what}`, path);
    at += bytesRead;
  }
  return buf;
}

export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  let fh: fsp.FileHandle;
  let size: number;
  {
    const file = await openRegularFile(path);
    fh = file.handle;
    size = file.size;
  }
  try {
    return await parse(fh, size, path);
  } catch (e) {
    await fh.close();
    throw fileError(e, path);
  }
}

async function parse(fh: fsp.FileHandle, size: number, path: string): Promise<SafetensorsFile> {
  const bad = (msg: string): never => {
    throw new LabError('BAD_WEIGHTS', msg, path);
  };
  if (size < 8) bad(`not a safetensors file: ${size} bytes, shorter than the 8-byte header length`);
  const n = (await readExactly(fh, 8, 0, 'the header length', path)).readBigUInt64LE(0);
  if (n < 2n) bad(`not a safetensors file: header length ${n}`);
  if (n > BigInt(size - 8)) bad(`not a safetensors file, or a truncated one: the header claims ${n} bytes but the file holds ${size - 8} after the length`);
  if (n > BigInt(MAX_HEADER_BYTES)) bad(`the header claims ${n} bytes, more than the ${MAX_HEADER_BYTES} a safetensors header may have`);
  const headerLength = Number(n);
  const text = (await readExactly(fh, headerLength, 8, 'the header', path)).toString('utf8');
  if (text[0] !== '{') bad(`not a safetensors file: the header does not start with '{' (it starts ${JSON.stringify(text.slice(0, 16))})`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    bad(`the header is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad('the header is not a JSON object');
  const dataStart = 8 + headerLength;
  const dataSize = size - dataStart;
  const metadata: Record<string, string> = {};
  const raw: { name: string; fileDtype: string; dtype: DType | null; elementSize: number; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('__metadata__ is not an object');
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (typeof x !== 'string') bad(`__metadata__.${k} is not a string`);
        Object.defineProperty(metadata, k, { value: x, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`tensor ${name}: its entry is not an object`);
    const e = v as Record<string, unknown>;
    const fileDtype = e.dtype;
    if (typeof fileDtype !== 'string') bad(`tensor ${name}: dtype is missing`);
    const dtype = DTYPES[fileDtype as string] ?? null;
    const elementSize = dtype ? DTYPE_SIZE[dtype] : OTHER_SIZES[fileDtype as string];
    if (elementSize === undefined) bad(`tensor ${name}: unknown dtype '${String(fileDtype)}'`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) bad(`tensor ${name}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) bad(`tensor ${name}: data_offsets ${JSON.stringify(offs)} is not a pair of non-negative integers`);
    const [begin, end] = offs as number[];
    if (end < begin) bad(`tensor ${name}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataSize) bad(`tensor ${name} reaches byte ${end} of the data, but the file holds ${dataSize} bytes of data (truncated?)`);
    // numel cannot overflow usefully: the product is compared with a span that fits in the file
    const count = numel(shape as number[]);
    if (count * elementSize !== end - begin) bad(`tensor ${name}: shape [${(shape as number[]).join(', ')}] of ${fileDtype} needs ${count * elementSize} bytes, data_offsets span ${end - begin}`);
    raw.push({ name, fileDtype: fileDtype as string, dtype, elementSize, shape: shape as number[], begin, end });
  }
  raw.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < raw.length; i++) {
    if (raw[i].begin < raw[i - 1].end) bad(`tensors ${raw[i - 1].name} and ${raw[i].name} overlap (bytes ${raw[i].begin}..${raw[i - 1].end})`);
  }
  let closed = false;
  const tensors = new Map<string, SafetensorsEntry>();
  for (const r of raw) {
    tensors.set(r.name, {
      name: r.name,
      dtype: r.dtype ?? 'uint8',
      fileDtype: r.fileDtype,
      shape: [...r.shape],
      numel: numel(r.shape),
      begin: r.begin,
      end: r.end,
      async load(): Promise<Tensor> {
        if (!r.dtype) throw new LabError('UNSUPPORTED_DTYPE', `tensor ${r.name} has dtype ${r.fileDtype}; supported: ${Object.keys(DTYPES).join(', ')}`, path);
        if (closed) throw new LabError('FILE_UNREADABLE', `cannot read tensor ${r.name}: the file was closed`, path);
        try {
          const bytes = await readExactly(fh, r.end - r.begin, dataStart + r.begin, `tensor ${r.name}`, path);
          return new Tensor(r.dtype, r.shape, typedArrayFromBytes(r.dtype, bytes));
        } catch (e) {
          throw fileError(e, path);
        }
      },
    });
  }
  return {
    path,
    tensors,
    metadata,
    dataStart,
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}
