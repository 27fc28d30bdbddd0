/**
 * The pixel size a PNG or JPEG file declares, read from its header (PNG IHDR, JPEG SOFn) before
 * anything decodes it: a frame of a folder is checked against MAX_FRAME_PIXELS first (ffmpeg's
 * probe reports no size for a PNG it has not decoded).
 */
import { openRegularFile, readAt } from '../formats/file';

/** (width, height), or undefined when the header is not one of these or is cut short. */
export async function imageHeaderSize(path: string): Promise<{ width: number; height: number } | undefined> {
  const f = await openRegularFile(path);
  try {
    const b = new Uint8Array(Math.min(f.size, 1 << 16));
    const n = await readAt(f.handle, b, 0);
    return headerSize(b.subarray(0, n));
  } finally {
    await f.handle.close();
  }
}

export function headerSize(b: Uint8Array): { width: number; height: number } | undefined {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length >= 24 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && String.fromCharCode(...b.subarray(12, 16)) === 'IHDR') {
    return { width: dv.getUint32(16), height: dv.getUint32(20) };
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    let i = 2;
    while (i + 9 <= b.length) {
      if (b[i] !== 0xff) return undefined;
      const marker = b[i + 1];
      if (marker === 0xff) {
        i++;
        continue;
      }
      const len = dv.getUint16(i + 2);
      // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC)
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { width: dv.getUint16(i + 7), height: dv.getUint16(i + 5) };
      }
      i += 2 + len;
    }
  }
  return undefined;
}
