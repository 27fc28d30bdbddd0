/**
 * Test helpers that write small Python-format files by hand: a protocol-2 pickle from a tiny
 * expression tree, a stored (uncompressed) zip, and the pieces of a torch.save checkpoint or a
 * numpy test-data pickle. Used to make bad or unusual inputs without committing binary files.
 */
import * as zlib from 'zlib';

/** A Python value to pickle. JS arrays are tuples. */
export type Py =
  | null | boolean | number | string | Uint8Array
  | Py[]
  | { $global: string } // module.name
  | { $call: Py; args: Py[] } // REDUCE
  | { $list: Py[] }
  | { $dict: [Py, Py][] }
  | { $pid: Py } // BINPERSID
  | { $build: Py; state: Py } // BUILD
  | { $put: number; value: Py } // the value, then LONG_BINPUT: memoized under that key
  | { $get: number } // LONG_BINGET: the memoized object itself, not a copy
  | { $binbytes: Uint8Array } // BINBYTES (protocol 3+ bytes, as numpy arrays pickle their data)
  | { $raw: Uint8Array }; // opcodes written as they are (for streams the mini-language cannot say)

export function pickle2(value: Py): Buffer {
  const out: Buffer[] = [Buffer.from([0x80, 0x02])];
  const op = (...bytes: number[]) => out.push(Buffer.from(bytes));
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); out.push(b); };
  const str = (s: string) => { const b = Buffer.from(s, 'utf8'); op(0x58); u32(b.length); out.push(b); };
  const emit = (v: Py): void => {
    if (v === null) op(0x4e);
    else if (v === true) op(0x88);
    else if (v === false) op(0x89);
    else if (typeof v === 'number') {
      if (!Number.isInteger(v)) { const b = Buffer.alloc(8); b.writeDoubleBE(v); op(0x47); out.push(b); }
      else if (v >= 0 && v < 256) op(0x4b, v);
      else if (v >= 0 && v < 65536) op(0x4d, v & 0xff, v >> 8);
      else if (v >= -(2 ** 31) && v < 2 ** 31) { const b = Buffer.alloc(4); b.writeInt32LE(v); op(0x4a); out.push(b); }
      else { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(v)); op(0x8a, 8); out.push(b); }
    } else if (typeof v === 'string') str(v);
    else if (v instanceof Uint8Array) {
      // Protocol 2 bytes, as Python writes them: _codecs.encode('<latin-1 text>', 'latin1')
      emit({ $call: { $global: '_codecs.encode' }, args: [Buffer.from(v).toString('latin1'), 'latin1'] });
    } else if (Array.isArray(v)) { op(0x28); v.forEach(emit); op(0x74); }
    else if ('$global' in v) {
      const dot = v.$global.lastIndexOf('.');
      out.push(Buffer.from(`c${v.$global.slice(0, dot)}\n${v.$global.slice(dot + 1)}\n`, 'latin1'));
    } else if ('$call' in v) { emit(v.$call); emit(v.args); op(0x52); }
    else if ('$list' in v) { op(0x5d, 0x28); v.$list.forEach(emit); op(0x65); }
    else if ('$dict' in v) { op(0x7d, 0x28); for (const [k, x] of v.$dict) { emit(k); emit(x); } op(0x75); }
    else if ('$pid' in v) { emit(v.$pid); op(0x51); }
    else if ('$put' in v) { emit(v.value); op(0x72); u32(v.$put); }
    else if ('$get' in v) { op(0x6a); u32(v.$get); }
    else if ('$binbytes' in v) { op(0x42); u32(v.$binbytes.length); out.push(Buffer.from(v.$binbytes)); }
    else if ('$raw' in v) out.push(Buffer.from(v.$raw));
    else { emit(v.$build); emit(v.state); op(0x62); }
  };
  emit(value);
  op(0x2e);
  return Buffer.concat(out);
}

/** One zip entry: its bytes, or (for deflated or lying entries) what the headers should say. */
export interface ZipSpec {
  name: string;
  /** The uncompressed bytes (used for the CRC and, when stored, as the data). */
  data?: Uint8Array;
  /** 0 stored (default), 8 deflated, anything else as declared. */
  method?: number;
  /** The bytes written as the entry's data (default: `data`, deflated when method is 8). */
  compressed?: Uint8Array;
  /** Declared uncompressed size (default: data's length). */
  size?: number;
  /** Declared CRC-32 (default: data's). */
  crc?: number;
  /** General-purpose flags (default 0x800, UTF-8 names; bit 0 = encrypted). */
  flags?: number;
}

/** A zip archive written entry by entry, as torch.save's writer (or a hostile one) lays it out. */
export function zipArchive(specs: ZipSpec[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of specs) {
    const nameBuf = Buffer.from(e.name, 'utf8');
    const method = e.method ?? 0;
    const data = e.data ?? new Uint8Array(0);
    const body = Buffer.from(e.compressed ?? (method === 8 ? zlib.deflateRawSync(data) : data));
    const size = e.size ?? data.length;
    const crc = e.crc ?? (zlib.crc32 ? zlib.crc32(data) >>> 0 : 0);
    const flags = e.flags ?? 0x800;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0x21, 12); // 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(flags, 8);
    cd.writeUInt16LE(method, 10);
    cd.writeUInt16LE(0x21, 14);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(body.length, 20);
    cd.writeUInt32LE(size, 24);
    cd.writeUInt16LE(nameBuf.length, 28);
    cd.writeUInt32LE(offset, 42);
    parts.push(local, nameBuf, body);
    central.push(cd, nameBuf);
    offset += 30 + nameBuf.length + body.length;
  }
  const cdBuf = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(specs.length, 8);
  end.writeUInt16LE(specs.length, 10);
  end.writeUInt32LE(cdBuf.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cdBuf, end]);
}

/** A zip archive with every entry stored (no compression), like the ones torch.save writes. */
export function storedZip(entries: [string, Uint8Array][]): Buffer {
  return zipArchive(entries.map(([name, data]) => ({ name, data })));
}

/** `torch._utils._rebuild_tensor_v2(<storage pid>, offset, size, stride, False, OrderedDict())`. */
export function torchTensor(storageType: string, key: string, storageNumel: number, offset: number, size: number[], stride: number[]): Py {
  return {
    $call: { $global: 'torch._utils._rebuild_tensor_v2' },
    args: [
      { $pid: ['storage', { $global: `torch.${storageType}` }, key, 'cpu', storageNumel] },
      offset, size, stride, false,
      { $call: { $global: 'collections.OrderedDict' }, args: [] },
    ],
  };
}

/** A zip checkpoint: `<archive>/data.pkl` holding `top`, storages at `<archive>/data/<key>`. */
export function torchZip(archive: string, top: Py, storages: Record<string, Uint8Array>, extra: [string, Uint8Array][] = []): Buffer {
  return storedZip([
    [`${archive}/data.pkl`, pickle2(top)],
    [`${archive}/byteorder`, Buffer.from('little')],
    ...Object.entries(storages).map(([k, b]): [string, Uint8Array] => [`${archive}/data/${k}`, b]),
    ...extra,
  ]);
}

/** A numpy array as protocol 5 pickles it: `numpy._core.numeric._frombuffer(bytes, dtype, shape, 'C')`. */
export function npArray(kind: string, shape: number[], data: Uint8Array, byteorder = '<'): Py {
  const dtype: Py = {
    $build: { $call: { $global: 'numpy.dtype' }, args: [kind, false, true] },
    state: [3, byteorder, null, null, null, -1, -1, 0],
  };
  return { $call: { $global: 'numpy._core.numeric._frombuffer' }, args: [data, dtype, shape, 'C'] };
}

export function f32bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}
