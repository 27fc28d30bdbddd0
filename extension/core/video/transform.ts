/**
 * One decoded RGB frame → the model's input, as the reference implementations compute it:
 *
 * - official (timesformer/datasets: utils.tensor_normalize, transform.random_short_side_scale_jitter
 *   with min = max, transform.uniform_crop with spatial_idx 1): x / 255, − mean, / std in float32;
 *   then torch.nn.functional.interpolate(mode="bilinear", align_corners=False) to the short side
 *   (the long side floor(long / short × size)), skipped when the short side already has that size;
 *   then the centre crop at ceil((size − crop) / 2).
 * - huggingface (VideoMAEImageProcessor): PIL's resize of the uint8 frame (bilinear or bicubic, with
 *   PIL's antialiasing support and its 22-bit fixed-point coefficients, rounded to uint8 per pass)
 *   to shortest_edge (the long side int(edge × long / short)); the centre crop at (size − crop) // 2;
 *   × rescale_factor (float64, then float32); (x − mean) / std in float32.
 */
import type { Normalization } from '../model/load';
import type { HfPreprocess, OfficialPreprocess, VideoPreprocess } from './sampling';

const f = Math.fround;

/** The frame size after the resize, before the crop: (height, width). */
export function resizedSize(p: VideoPreprocess, h: number, w: number): [number, number] {
  if (p.kind === 'official') {
    const s = p.shortSide;
    if ((w <= h && w === s) || (h <= w && h === s)) return [h, w];
    return w < h ? [Math.floor((h / w) * s), s] : [s, Math.floor((w / h) * s)];
  }
  if (!p.resize) return [h, w];
  if ('height' in p.resize) return [p.resize.height, p.resize.width];
  const s = p.resize.shortestEdge;
  const [short, long] = w <= h ? [w, h] : [h, w];
  const newLong = Math.trunc((s * long) / short);
  return w <= h ? [newLong, s] : [s, newLong];
}

/** The crop's (top, left, height, width) in the resized frame. */
export function cropBox(p: VideoPreprocess, h: number, w: number): [number, number, number, number] {
  if (p.kind === 'official') return [Math.ceil((h - p.crop) / 2), Math.ceil((w - p.crop) / 2), p.crop, p.crop];
  if (!p.crop) return [0, 0, h, w];
  return [Math.floor((h - p.crop.height) / 2), Math.floor((w - p.crop.width) / 2), p.crop.height, p.crop.width];
}

/** The output side (H, W) for a decoded frame of h × w, or a reason it cannot be cropped. */
export function outputSize(p: VideoPreprocess, h: number, w: number): { size: [number, number] } | { problem: string } {
  const [rh, rw] = resizedSize(p, h, w);
  const [top, left, ch, cw] = cropBox(p, rh, rw);
  if (top < 0 || left < 0) return { problem: `a ${w}×${h} frame resized to ${rw}×${rh} is smaller than the ${cw}×${ch} crop` };
  return { size: [ch, cw] };
}

/**
 * Writes one frame (rgb24, h × w) into `out` (the clip's (3, T, H, W) float32 array) at time `t`.
 * `scratch` is reused between frames of one size.
 */
export function transformFrame(p: VideoPreprocess, norm: Normalization, rgb: Uint8Array, h: number, w: number, out: Float32Array, t: number, T: number): void {
  if (p.kind === 'official') official(p, norm, rgb, h, w, out, t, T);
  else huggingface(p, norm, rgb, h, w, out, t, T);
}

function official(p: OfficialPreprocess, norm: Normalization, rgb: Uint8Array, h: number, w: number, out: Float32Array, t: number, T: number): void {
  const mean = norm.mean.map(f);
  const std = norm.std.map(f);
  const [rh, rw] = resizedSize(p, h, w);
  const [top, left, S] = cropBox(p, rh, rw);
  const plane = S * S;
  // normalized planes, as utils.tensor_normalize computes them (before the resize)
  const x = new Float32Array(h * w);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < h * w; i++) x[i] = f(f(f(rgb[i * 3 + c] / 255) - mean[c]) / std[c]);
    const base = (c * T + t) * plane;
    if (rh === h && rw === w) {
      for (let y = 0; y < S; y++) for (let xx = 0; xx < S; xx++) out[base + y * S + xx] = x[(y + top) * w + xx + left];
      continue;
    }
    const ys = linearTaps(h, rh, top, S);
    const xs = linearTaps(w, rw, left, S);
    for (let y = 0; y < S; y++) {
      const r0 = ys.i0[y] * w;
      const r1 = ys.i1[y] * w;
      const wy0 = ys.w0[y];
      const wy1 = ys.w1[y];
      for (let xx = 0; xx < S; xx++) {
        const a = xs.i0[xx];
        const b = xs.i1[xx];
        const t0 = f(f(x[r0 + a] * xs.w0[xx]) + f(x[r0 + b] * xs.w1[xx]));
        const t1 = f(f(x[r1 + a] * xs.w0[xx]) + f(x[r1 + b] * xs.w1[xx]));
        out[base + y * S + xx] = f(f(t0 * wy0) + f(t1 * wy1));
      }
    }
  }
}

/** torch's bilinear source taps (align_corners=False, no antialias, float32) for outputs from..from+n of a resize in → outSize. */
function linearTaps(inSize: number, outSize: number, from: number, n: number): { i0: Int32Array; i1: Int32Array; w0: Float32Array; w1: Float32Array } {
  const scale = f(inSize / outSize);
  const r = { i0: new Int32Array(n), i1: new Int32Array(n), w0: new Float32Array(n), w1: new Float32Array(n) };
  for (let k = 0; k < n; k++) {
    const d = from + k;
    const src = Math.max(f(f(scale * f(d + 0.5)) - 0.5), 0);
    const i0 = Math.trunc(src);
    const l1 = f(src - i0);
    r.i0[k] = i0;
    r.i1[k] = i0 < inSize - 1 ? i0 + 1 : i0;
    r.w1[k] = l1;
    r.w0[k] = f(1 - l1);
  }
  return r;
}

// ---- PIL (Pillow's libImaging/Resample.c), uint8 images ----

const PRECISION_BITS = 32 - 8 - 2;

function bilinearFilter(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

function bicubicFilter(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** precompute_coeffs + normalize_coeffs_8bpc: per output pixel, its first input pixel, tap count and fixed-point weights. */
function pilCoeffs(inSize: number, outSize: number, resample: 2 | 3): { bounds: Int32Array; ksize: number; kk: Int32Array } {
  const filter = resample === 2 ? bilinearFilter : bicubicFilter;
  const support0 = resample === 2 ? 1 : 2;
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = support0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let ww = 0;
    const ss = 1 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    for (let x = 0; x < xmax; x++) {
      const wv = filter((x + xmin - center + 0.5) * ss);
      k[x] = wv;
      ww += wv;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? k[x] / ww : k[x];
      kk[xx * ksize + x] = Math.trunc(v < 0 ? v * (1 << PRECISION_BITS) - 0.5 : v * (1 << PRECISION_BITS) + 0.5);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, ksize, kk };
}

const clip8 = (ss: number) => {
  const v = Math.floor(ss / (1 << PRECISION_BITS));
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/** Image.resize((W, H), resample) of an RGB uint8 image, as Pillow computes it (horizontal pass, then vertical). */
export function pilResize(rgb: Uint8Array, h: number, w: number, oh: number, ow: number, resample: 2 | 3): Uint8Array {
  let src = rgb;
  let sw = w;
  if (ow !== w) {
    const c = pilCoeffs(w, ow, resample);
    const tmp = new Uint8Array(h * ow * 3);
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < ow; xx++) {
        const xmin = c.bounds[xx * 2];
        const xmax = c.bounds[xx * 2 + 1];
        for (let ch = 0; ch < 3; ch++) {
          let ss = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < xmax; x++) ss += src[(y * w + x + xmin) * 3 + ch] * c.kk[xx * c.ksize + x];
          tmp[(y * ow + xx) * 3 + ch] = clip8(ss);
        }
      }
    }
    src = tmp;
    sw = ow;
  }
  if (oh === h) return src === rgb ? rgb.slice() : src;
  const c = pilCoeffs(h, oh, resample);
  const dst = new Uint8Array(oh * sw * 3);
  for (let yy = 0; yy < oh; yy++) {
    const ymin = c.bounds[yy * 2];
    const ymax = c.bounds[yy * 2 + 1];
    for (let x = 0; x < sw; x++) {
      for (let ch = 0; ch < 3; ch++) {
        let ss = 1 << (PRECISION_BITS - 1);
        for (let y = 0; y < ymax; y++) ss += src[((y + ymin) * sw + x) * 3 + ch] * c.kk[yy * c.ksize + y];
        dst[(yy * sw + x) * 3 + ch] = clip8(ss);
      }
    }
  }
  return dst;
}

function huggingface(p: HfPreprocess, norm: Normalization, rgb: Uint8Array, h: number, w: number, out: Float32Array, t: number, T: number): void {
  const [rh, rw] = resizedSize(p, h, w);
  const img = rh === h && rw === w ? rgb : pilResize(rgb, h, w, rh, rw, p.resample);
  const [top, left, ch, cw] = cropBox(p, rh, rw);
  const mean = norm.mean.map(f);
  const std = norm.std.map(f);
  const plane = ch * cw;
  for (let c = 0; c < 3; c++) {
    const base = (c * T + t) * plane;
    for (let y = 0; y < ch; y++) {
      for (let x = 0; x < cw; x++) {
        const v = f(img[((y + top) * rw + x + left) * 3 + c] * p.rescale);
        out[base + y * cw + x] = f(f(v - mean[c]) / std[c]);
      }
    }
  }
}
