/**
 * Where the bytes of a pickle (or of a payload it points at) come from: random access over memory
 * or a file, and payloads left in place until a consumer asks for them (LazyBytes).
 */
/**
 * Random access to the bytes a pickle is read from. `read` returns bytes [pos, pos + n): views of
 * the caller's memory for a MemorySource, fresh buffers for a file (formats/file.ts FileSource).
 */
export interface ByteSource {
  readonly size: number;
  /** True when read() returns views of memory that never changes (no copy needed to keep them). */
  readonly stable: boolean;
  read(pos: number, n: number): Uint8Array;
  /** Fill `target` with bytes [pos, pos + target.length). */
  readInto(pos: number, target: Uint8Array): void;
}

export class MemorySource implements ByteSource {
  readonly stable = true;
  constructor(readonly data: Uint8Array) {}
  get size(): number {
    return this.data.length;
  }
  read(pos: number, n: number): Uint8Array {
    return this.data.subarray(pos, pos + n);
  }
  readInto(pos: number, target: Uint8Array): void {
    target.set(this.data.subarray(pos, pos + target.length));
  }
}

/**
 * A bytes payload left where it is (BINBYTES, BYTEARRAY8 longer than `lazyBytesOver`): the offset
 * and length were checked against the source; nothing is read until a consumer asks, once it has
 * checked that it wants these bytes (a numpy array whose shape agrees with the model).
 */
export class LazyBytes {
  constructor(readonly source: ByteSource, readonly offset: number, readonly length: number) {}
  /** The bytes in a fresh, aligned buffer of their own. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    this.source.readInto(this.offset, out);
    return out;
  }
}

export type PyBytes = Uint8Array | LazyBytes;
export function bytesLength(b: PyBytes): number {
  return b.length;
}
/** Bytes in memory (reads a LazyBytes). */
export function materialize(b: PyBytes): Uint8Array {
  return b instanceof LazyBytes ? b.bytes() : b;
}
