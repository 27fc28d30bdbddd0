/**
 * The pixel size a PNG or JPEG file declares, read from its header (PNG IHDR, JPEG SOFn) before
 * anything decodes it: a frame of a folder is checked against MAX_FRAME_PIXELS first (ffmpeg's
 * probe reports no size for a PNG it has not decoded). A JPEG's segments are walked with small
 * positional reads, so a SOF behind large EXIF or ICC segments (64 KiB each at most) is found
 * without reading the file whole.
 */
import { openRegularFile, readAt } from '../formats/file';

/** A JPEG's segments walked at most (a real one has tens before its SOF). */
const MAX_SEGMENTS = 4096;

/** (width, height), or undefined when the header is not one of these or is cut short. */
export async function imageHeaderSize(path: string): Promise<{ width: number; height: number } | undefined> {
  const f = await openRegularFile(path);
  try {
    const at = async (pos: number, n: number) => {
      const b = new Uint8Array(Math.max(0, Math.min(n, f.size - pos)));
      return b.subarray(0, await readAt(f.handle, b, pos));
    };
    const head = await at(0, 24);
    if (!isJpeg(head)) return headerSize(head);
    let i = 2;
    for (let k = 0; k < MAX_SEGMENTS && i + 9 <= f.size; k++) {
      const seg = await at(i, 9);
      const s = segment(seg, 0);
      if (!s) return undefined;
      if (s.size) return s.size;
      i += s.next;
    }
    return undefined;
  } finally {
    await f.handle.close();
  }
}

const isJpeg = (b: Uint8Array) => b.length >= 4 && b[0] === 0xff && b[1] === 0xd8;

/** The JPEG segment at b[i]: its SOF's size, or how far the next one is; undefined: not a segment. */
function segment(b: Uint8Array, i: number): { size?: { width: number; height: number }; next: number } | undefined {
  if (i + 9 > b.length || b[i] !== 0xff) return undefined;
  const marker = b[i + 1];
  if (marker === 0xff) return { next: 1 };
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC)
  if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
    return { size: { width: dv.getUint16(i + 7), height: dv.getUint16(i + 5) }, next: 0 };
  }
  return { next: 2 + dv.getUint16(i + 2) };
}

/** The size declared by a header held whole in `b`. */
export function headerSize(b: Uint8Array): { width: number; height: number } | undefined {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length >= 24 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && String.fromCharCode(...b.subarray(12, 16)) === 'IHDR') {
    return { width: dv.getUint32(16), height: dv.getUint32(20) };
  }
  if (isJpeg(b)) {
    for (let i = 2, k = 0; k < MAX_SEGMENTS; k++) {
      const s = segment(b, i);
      if (!s) return undefined;
      if (s.size) return s.size;
      i += s.next;
    }
  }
  return undefined;
}
