/**
 * A JPEG frame's planes (as FFmpeg's MJPEG decoder leaves them: yuvj420p, yuvj422p, yuvj444p or
 * gray, full range) → RGB as libjpeg(-turbo) computes it, the library Pillow and OpenCV read JPEG
 * frames with: "fancy" chroma upsampling (jdsample.c's h2v1/h2v2 triangle filters with their
 * rounding biases) and jdcolor.c's fixed-point YCbCr → RGB tables. swscale's conversion differs
 * by up to ~86 levels on sharp colour edges; this leaves the IDCT's ±2 (docs/video.md).
 */

/** The chroma layouts handled here; anything else is converted by swscale instead. */
export const JPEG_PLANAR = ['yuvj420p', 'yuvj422p', 'yuvj444p', 'gray'] as const;
export type JpegPlanar = (typeof JPEG_PLANAR)[number];

/** Bytes of one frame of this layout, and its chroma plane size. */
export function planarLayout(fmt: JpegPlanar, w: number, h: number): { bytes: number; cw: number; ch: number } {
  if (fmt === 'gray') return { bytes: w * h, cw: 0, ch: 0 };
  const cw = fmt === 'yuvj444p' ? w : (w + 1) >> 1;
  const ch = fmt === 'yuvj420p' ? (h + 1) >> 1 : h;
  return { bytes: w * h + 2 * cw * ch, cw, ch };
}

const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const FIX = (x: number) => Math.trunc(x * (1 << SCALEBITS) + 0.5);
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (FIX(1.402) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (FIX(1.772) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -FIX(0.71414) * x;
  CB_G[i] = -FIX(0.34414) * x + ONE_HALF;
}

/** jdsample.c h2v1_fancy_upsample for one row (in: cw samples → out: 2·cw). */
function h2v1Row(src: Uint8Array, off: number, cw: number, out: Int32Array): void {
  if (cw === 1) {
    out[0] = out[1] = src[off];
    return;
  }
  out[0] = src[off];
  out[1] = (src[off] * 3 + src[off + 1] + 2) >> 2;
  for (let i = 1; i < cw - 1; i++) {
    const v = src[off + i] * 3;
    out[2 * i] = (v + src[off + i - 1] + 1) >> 2;
    out[2 * i + 1] = (v + src[off + i + 1] + 2) >> 2;
  }
  const l = cw - 1;
  out[2 * l] = (src[off + l] * 3 + src[off + l - 1] + 1) >> 2;
  out[2 * l + 1] = src[off + l];
}

/** jdsample.c h2v2_fancy_upsample for one output row: chroma row `r` weighted 3:1 with its nearer neighbour row `n`. */
function h2v2Row(src: Uint8Array, r: number, n: number, cw: number, out: Int32Array): void {
  const col = (i: number) => src[r * cw + i] * 3 + src[n * cw + i];
  if (cw === 1) {
    out[0] = (col(0) * 4 + 8) >> 4;
    out[1] = (col(0) * 4 + 7) >> 4;
    return;
  }
  let last = col(0);
  let cur = last;
  let next = col(1);
  out[0] = (cur * 4 + 8) >> 4;
  out[1] = (cur * 3 + next + 7) >> 4;
  for (let i = 1; i < cw - 1; i++) {
    last = cur;
    cur = next;
    next = col(i + 1);
    out[2 * i] = (cur * 3 + last + 8) >> 4;
    out[2 * i + 1] = (cur * 3 + next + 7) >> 4;
  }
  last = cur;
  cur = next;
  out[2 * (cw - 1)] = (cur * 3 + last + 8) >> 4;
  out[2 * (cw - 1) + 1] = (cur * 4 + 7) >> 4;
}

const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

/** One frame's planes → rgb24 (w × h × 3) into `out`. */
export function jpegPlanesToRgb(planes: Uint8Array, fmt: JpegPlanar, w: number, h: number, out: Uint8Array): void {
  if (fmt === 'gray') {
    for (let i = 0; i < w * h; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = planes[i];
    return;
  }
  const { cw, ch } = planarLayout(fmt, w, h);
  const cb = planes.subarray(w * h, w * h + cw * ch);
  const cr = planes.subarray(w * h + cw * ch, w * h + 2 * cw * ch);
  const rowCb = new Int32Array(2 * cw + 2);
  const rowCr = new Int32Array(2 * cw + 2);
  for (let y = 0; y < h; y++) {
    if (fmt === 'yuvj444p') {
      for (let x = 0; x < w; x++) {
        rowCb[x] = cb[y * cw + x];
        rowCr[x] = cr[y * cw + x];
      }
    } else if (fmt === 'yuvj422p') {
      h2v1Row(cb, y * cw, cw, rowCb);
      h2v1Row(cr, y * cw, cw, rowCr);
    } else {
      const r = y >> 1;
      // the upper output row of a chroma row leans on the row above, the lower on the row below (edges repeat)
      const n = y & 1 ? Math.min(r + 1, ch - 1) : Math.max(r - 1, 0);
      h2v2Row(cb, r, n, cw, rowCb);
      h2v2Row(cr, r, n, cw, rowCr);
    }
    for (let x = 0; x < w; x++) {
      const Y = planes[y * w + x];
      const b = rowCb[x];
      const r = rowCr[x];
      const o = (y * w + x) * 3;
      out[o] = clamp(Y + CR_R[r]);
      out[o + 1] = clamp(Y + ((CB_G[b] + CR_G[r]) >> SCALEBITS));
      out[o + 2] = clamp(Y + CB_B[b]);
    }
  }
}
