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
import { LabError, excerpt } from '../errors';
import { DTYPE_SIZE, Tensor, numel, type DType } from '../tensor';
import { typedArrayFromBytes } from './arrays';
import { fileError, openRegularFile } from './file';
import type { LazyTensor } from './torch';

/** The safetensors library refuses headers above 100 MB; so do we, and never more than the file. */
export const MAX_HEADER_BYTES = 100_000_000;
/**
 * The most entries a header may have: a TimeSformer has ~250 tensors, the largest published
 * checkpoints a few thousand per file. Past this the file is refused while its header is scanned,
 * before anything is kept (a 100 MB header holds ~1.7 million empty entries).
 */
export const MAX_ENTRIES = 100_000;
/** The largest tensor that is read: no TimeSformer weight comes near (the full-size model's largest is 9 MB). */
export const MAX_TENSOR_BYTES = 2 ** 30;
/** The most bytes one read() asks for (Node refuses a single read over 2 GiB, natively). */
const READ_CHUNK = 2 ** 28;

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
    const { bytesRead } = await fh.read(buf, at, Math.min(READ_CHUNK, length - at), position + at);
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
  if (text[0] !== '{') bad(`not a safetensors file: the header does not start with '{' (it starts ${excerpt(text, 16)})`);
  const dataStart = 8 + headerLength;
  const dataSize = size - dataStart;
  const metadata: Record<string, string> = {};
  const raw: { name: string; fileDtype: string; dtype: DType | null; elementSize: number; shape: number[]; begin: number; end: number }[] = [];
  const seen = new Set<string>();
  scanHeader(text, bad, (name, v) => {
    if (seen.has(name)) bad(`tensor ${name} appears twice in the header (the safetensors library refuses such a file)`);
    seen.add(name);
    if (seen.size > MAX_ENTRIES) throw new LabError('LIMIT_EXCEEDED', `the header has more than ${MAX_ENTRIES.toLocaleString('en-US')} entries; a real checkpoint has at most a few thousand`, path);
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('__metadata__ is not an object');
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (typeof x !== 'string') bad(`__metadata__.${k} is not a string`);
        Object.defineProperty(metadata, k, { value: x, enumerable: true, writable: true, configurable: true });
      }
      return;
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
    // an empty tensor is no weight of any model: checked, not kept
    if (count === 0) return;
    raw.push({ name, fileDtype: fileDtype as string, dtype, elementSize, shape: shape as number[], begin, end });
  });
  seen.clear();
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
        if (r.end - r.begin > MAX_TENSOR_BYTES) throw new LabError('LIMIT_EXCEEDED', `tensor ${r.name} is ${r.end - r.begin} bytes; more than the ${MAX_TENSOR_BYTES} bytes any TimeSformer weight needs`, path);
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

/**
 * Walk the header's top-level object `{"name": value, ...}` and hand each entry to `entry` with
 * its value parsed on its own: linear in the header, and nothing of an entry outlives its call
 * unless `entry` keeps it (JSON.parse of the whole header would build every entry's objects at
 * once: 1.5 GB for a 100 MB header of empty entries). The text is strict JSON: each key and value
 * is checked by JSON.parse, the punctuation between them here.
 */
export function scanHeader(text: string, bad: (msg: string) => never, entry: (name: string, value: unknown) => void): void {
  const n = text.length;
  let i = 0;
  const ws = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const fail = (what: string): never => bad(`the header is not valid JSON (${what} at character ${i})`);
  /** From an opening quote at i, past the closing one. */
  const skipString = () => {
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x5c) i += 2;
      else if (c === 0x22) {
        i++;
        return;
      } else i++;
    }
    fail('an unterminated string');
  };
  const parse = (a: number, b: number, what: () => string): unknown => {
    try {
      return JSON.parse(text.slice(a, b));
    } catch {
      return fail(`a malformed ${what()}`);
    }
  };
  ws();
  if (text[i] !== '{') fail('no object');
  i++;
  ws();
  if (text[i] === '}') i++;
  else {
    for (;;) {
      ws();
      if (text[i] !== '"') fail('a key that is not a string');
      const k0 = i;
      skipString();
      const name = parse(k0, i, () => 'key') as string;
      ws();
      if (text[i] !== ':') fail("no ':' after a key");
      i++;
      ws();
      const v0 = i;
      let depth = 0;
      while (i < n) {
        const c = text[i];
        if (c === '"') {
          skipString();
          continue;
        }
        if (c === '{' || c === '[') depth++;
        else if (c === '}' || c === ']') {
          if (depth === 0) break;
          depth--;
        } else if (c === ',' && depth === 0) break;
        i++;
      }
      entry(name, parse(v0, i, () => `value of ${excerpt(name, 64)}`));
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] !== '}') fail("no '}' at the end");
      i++;
      break;
    }
  }
  ws();
  if (i !== n) fail('text after the object');
}
