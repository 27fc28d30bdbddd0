/**
 * A zip of STORED entries written front to back, each entry's data aligned as torch.save aligns it
 * (the local header's extra field padded), with data descriptors and ZIP64 records: what
 * torch-writer.ts lays a checkpoint out in. Why by hand: see torch-writer.ts. Test tooling.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';

// ---------------------------------------------------------------- CRC-32

let crcTable: Uint32Array | undefined;
function crc32Table(data: Uint8Array, prev: number): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = (prev ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const nativeCrc = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;

/** CRC-32 (zip's), continuing from `prev`. */
export function crc32(data: Uint8Array, prev = 0): number {
  return typeof nativeCrc === 'function' ? nativeCrc(data, prev) >>> 0 : crc32Table(data, prev);
}


// ---------------------------------------------------------------- stored zip

interface CentralRecord {
  name: Buffer;
  crc: number;
  size: number;
  offset: number;
}

const LOCAL_SIG = 0x04034b50;
const DESCRIPTOR_SIG = 0x08074b50;
const CENTRAL_SIG = 0x02014b50;
const EOCD_SIG = 0x06054b50;
const EOCD64_SIG = 0x06064b50;
const EOCD64_LOCATOR_SIG = 0x07064b50;
/** General purpose flags as torch writes them: bit 3 (sizes and CRC in a data descriptor), bit 11 (UTF-8 names). */
const FLAGS = 0x0808;
const U32_MAX = 0xffffffff;

/**
 * A zip of STORED entries written front to back into a file: each entry's data starts at a
 * multiple of `alignment` (torch: 64), its CRC and size follow in a data descriptor, so an entry
 * can be streamed in chunks. Offsets past 4 GiB are recorded with ZIP64 extra fields; a ZIP64 end
 * record is always written, as torch does. One entry must stay under 4 GiB.
 */
export class StoredZipWriter {
  private readonly fd: number;
  private offset = 0;
  private readonly records: CentralRecord[] = [];
  private open: { rec: CentralRecord; crc: number; size: number } | null = null;
  private finished = false;

  constructor(readonly path: string, readonly alignment = 64) {
    this.fd = fs.openSync(path, 'w');
  }

  private write(b: Uint8Array): void {
    let done = 0;
    while (done < b.length) done += fs.writeSync(this.fd, b, done, b.length - done);
    this.offset += b.length;
  }

  /** Start an entry: writes its local header, padded so that the data begins aligned. */
  begin(name: string): void {
    if (this.open) throw new Error(`zip: entry ${this.open.rec.name.toString()} is still open`);
    if (this.finished) throw new Error('zip: already finished');
    const nameBuf = Buffer.from(name, 'utf8');
    const headerEnd = this.offset + 30 + nameBuf.length;
    // Extra field "FB" (torch's padding field): 4-byte header + padding up to the boundary.
    let pad = (this.alignment - ((headerEnd + 4) % this.alignment)) % this.alignment;
    if (this.alignment <= 1) pad = -1;
    const extraLen = pad < 0 ? 0 : 4 + pad;
    const h = Buffer.alloc(30 + nameBuf.length + extraLen);
    h.writeUInt32LE(LOCAL_SIG, 0);
    h.writeUInt16LE(0, 4); // version needed (torch writes 0)
    h.writeUInt16LE(FLAGS, 6);
    h.writeUInt16LE(0, 8); // STORED
    h.writeUInt16LE(0, 10); // time
    h.writeUInt16LE(0x21, 12); // date: 1980-01-01
    // CRC and sizes: 0 here, in the data descriptor
    h.writeUInt16LE(nameBuf.length, 26);
    h.writeUInt16LE(extraLen, 28);
    nameBuf.copy(h, 30);
    if (extraLen) {
      const e = 30 + nameBuf.length;
      h.write('FB', e, 'latin1');
      h.writeUInt16LE(pad, e + 2);
      h.fill(0x5a, e + 4); // 'Z', as torch pads
    }
    const rec: CentralRecord = { name: nameBuf, crc: 0, size: 0, offset: this.offset };
    this.write(h);
    this.open = { rec, crc: 0, size: 0 };
  }

  /** Append bytes to the open entry. */
  data(chunk: Uint8Array): void {
    const o = this.open;
    if (!o) throw new Error('zip: no open entry');
    o.crc = crc32(chunk, o.crc);
    o.size += chunk.length;
    if (o.size > U32_MAX) throw new Error(`zip: entry ${o.rec.name.toString()} exceeds 4 GiB`);
    this.write(chunk);
  }

  /** Close the open entry: its data descriptor. */
  end(): void {
    const o = this.open;
    if (!o) throw new Error('zip: no open entry');
    const d = Buffer.alloc(16);
    d.writeUInt32LE(DESCRIPTOR_SIG, 0);
    d.writeUInt32LE(o.crc, 4);
    d.writeUInt32LE(o.size, 8);
    d.writeUInt32LE(o.size, 12);
    this.write(d);
    o.rec.crc = o.crc;
    o.rec.size = o.size;
    this.records.push(o.rec);
    this.open = null;
  }

  /** A whole entry at once. */
  add(name: string, data: Uint8Array | string): void {
    this.begin(name);
    this.data(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    this.end();
  }

  /** Central directory, ZIP64 end record and locator, end record; closes the file. Returns its size. */
  finish(): number {
    if (this.open) throw new Error('zip: an entry is still open');
    const cdStart = this.offset;
    for (const r of this.records) {
      const big = r.offset >= U32_MAX;
      const extra = big ? Buffer.alloc(12) : Buffer.alloc(0);
      if (big) {
        extra.writeUInt16LE(0x0001, 0); // ZIP64 extended information
        extra.writeUInt16LE(8, 2);
        extra.writeBigUInt64LE(BigInt(r.offset), 4);
      }
      const h = Buffer.alloc(46);
      h.writeUInt32LE(CENTRAL_SIG, 0);
      h.writeUInt16LE(big ? 45 : 0, 4); // version made by
      h.writeUInt16LE(big ? 45 : 0, 6); // version needed
      h.writeUInt16LE(FLAGS, 8);
      h.writeUInt16LE(0, 10);
      h.writeUInt16LE(0, 12);
      h.writeUInt16LE(0x21, 14);
      h.writeUInt32LE(r.crc, 16);
      h.writeUInt32LE(r.size, 20);
      h.writeUInt32LE(r.size, 24);
      h.writeUInt16LE(r.name.length, 28);
      h.writeUInt16LE(extra.length, 30);
      // comment length, disk start, internal/external attributes: 0
      h.writeUInt32LE(big ? U32_MAX : r.offset, 42);
      this.write(h);
      this.write(r.name);
      if (extra.length) this.write(extra);
    }
    const cdSize = this.offset - cdStart;
    const eocd64At = this.offset;
    const n = this.records.length;
    const z = Buffer.alloc(56 + 20 + 22);
    z.writeUInt32LE(EOCD64_SIG, 0);
    z.writeBigUInt64LE(44n, 4); // size of the rest of this record
    z.writeUInt16LE(0x031e, 12); // made by: Unix, 3.0 (torch's value)
    z.writeUInt16LE(45, 14); // needed: 4.5
    // disk numbers: 0
    z.writeBigUInt64LE(BigInt(n), 24);
    z.writeBigUInt64LE(BigInt(n), 32);
    z.writeBigUInt64LE(BigInt(cdSize), 40);
    z.writeBigUInt64LE(BigInt(cdStart), 48);
    z.writeUInt32LE(EOCD64_LOCATOR_SIG, 56);
    z.writeUInt32LE(0, 60);
    z.writeBigUInt64LE(BigInt(eocd64At), 64);
    z.writeUInt32LE(1, 72); // total disks
    z.writeUInt32LE(EOCD_SIG, 76);
    z.writeUInt16LE(0, 80);
    z.writeUInt16LE(0, 82);
    z.writeUInt16LE(Math.min(n, 0xffff), 84);
    z.writeUInt16LE(Math.min(n, 0xffff), 86);
    z.writeUInt32LE(Math.min(cdSize, U32_MAX), 88);
    z.writeUInt32LE(Math.min(cdStart, U32_MAX), 92);
    z.writeUInt16LE(0, 96);
    this.write(z);
    fs.closeSync(this.fd);
    this.finished = true;
    return this.offset;
  }

  /** Close the file without finishing it (after an error). */
  abort(): void {
    if (!this.finished) {
      this.finished = true;
      fs.closeSync(this.fd);
    }
  }
}
