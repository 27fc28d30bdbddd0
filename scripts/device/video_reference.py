#!/usr/bin/env python3
"""The reference clips the lab's video input is checked against (docs/video.md).

Decodes a video file (or a folder of frames) and preprocesses it the way the reference
implementations do, written from their code (TimeSformer's timesformer/datasets: decoder.py's
pyav_decode / get_start_end_idx / temporal_sampling, utils.py's tensor_normalize, transform.py's
random_short_side_scale_jitter with min = max and uniform_crop at the centre; transformers'
VideoMAEImageProcessor), and writes the clip as .npy (1, 3, T, H, W) float32 plus a JSON of what
it took.

Backends, each the real thing when it is installed, else a stand-in that runs anywhere:
  --decode pyav     PyAV, as the official loader (selective decoding by pts when the stream has a
                    duration, else every frame), frame.to_rgb().to_ndarray()
  --decode ffmpeg   the ffmpeg executable (--ffmpeg PATH): every frame as rgb24 (the unit tests)
  --transform torch torch.nn.functional.interpolate (the official transform) | numpy: the same
                    arithmetic in float32 numpy
  HF (--hf-config preprocessor_config.json): transformers' VideoMAEImageProcessor when
                    transformers imports (--hf-impl transformers), else PIL + numpy (--hf-impl pil)
  frames folders: PIL (Image.open(...).convert('RGB')), or cv2.imread + BGR->RGB (--frames-reader cv2)

usage: video_reference.py --clip PATH --out X.npy [--json X.json] --num-frames 8 --sampling-rate 32
         [--target-fps 30] [--views 1] (--short-side 224 --crop 224 | --hf-config FILE)
         --mean 0.45,0.45,0.45 --std 0.225,0.225,0.225 [--decode pyav|ffmpeg] [--ffmpeg PATH]
         [--transform torch|numpy] [--hf-impl transformers|pil] [--frames-reader pil|cv2]
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys

import numpy as np


def start_end(video_size, clip_size, clip_idx, num_clips):
    """decoder.get_start_end_idx for a test view (clip_idx >= 0)."""
    delta = max(video_size - clip_size, 0)
    start = delta * clip_idx / num_clips
    return start, start + clip_size - 1


def linspace_indices(start, end, n, count):
    """decoder.temporal_sampling's indices: torch.linspace (float32), clamped, .long()."""
    try:
        import torch
        idx = torch.clamp(torch.linspace(start, end, n), 0, count - 1).long()
        return [int(i) for i in idx]
    except ImportError:
        v = np.linspace(start, end, n).astype(np.float32)
        return [int(i) for i in np.clip(v, 0, count - 1).astype(np.int64)]


def decode_pyav(path, a, notes):
    """decoder.pyav_decode + decode(): the official PyAV path, first temporal view."""
    import av
    container = av.open(path)
    stream = container.streams.video[0]
    fps = float(stream.average_rate)
    frames_length = stream.frames
    duration = stream.duration
    clip_size = a.sampling_rate * a.num_frames / a.target_fps * fps
    decode_all = duration is None
    if not decode_all and frames_length == 0:
        notes.append('stream.frames is 0: the official pyav_decode divides by it and fails (the loader skips such a video); decoded every frame instead')
        decode_all = True
    if decode_all:
        start_pts, end_pts = 0, math.inf
    else:
        s, e = start_end(frames_length, clip_size, 0, a.views)
        timebase = duration / frames_length
        start_pts, end_pts = int(s * timebase), int(e * timebase)
    container.seek(max(start_pts - 1024, 0), any_frame=False, backward=True, stream=stream)
    got = {}
    for frame in container.decode(video=0):
        if frame.pts < start_pts:
            continue
        got[frame.pts] = frame
        if frame.pts > end_pts:
            break  # buffer_size 0: the first frame past the end is kept, then decoding stops
    frames = [got[p].to_rgb().to_ndarray() for p in sorted(got)]
    container.close()
    s, e = start_end(len(frames), clip_size, 0 if not decode_all else 0, 1 if not decode_all else a.views)
    idx = linspace_indices(s, e, a.num_frames, len(frames))
    meta = {'fps': fps, 'frames_length': frames_length, 'duration_pts': duration, 'decoded': len(frames), 'decode_all': decode_all,
            'pyav': av.__version__, 'ffmpeg_libs': getattr(av, 'library_versions', {}).get('libavcodec')}
    return [frames[i] for i in idx], idx, meta


def decode_cv2(path, a, notes):
    """Every frame through OpenCV's VideoCapture (its own FFmpeg build), BGR -> RGB: a second decoder, not the official path."""
    import cv2
    cap = cv2.VideoCapture(path)
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    if not frames:
        raise SystemExit(f'OpenCV decodes no frame of {path}')
    clip_size = a.sampling_rate * a.num_frames / a.target_fps * fps
    s, e = start_end(len(frames), clip_size, 0, a.views)
    idx = linspace_indices(s, e, a.num_frames, len(frames))
    return [frames[i] for i in idx], idx, {'fps': fps, 'decoded': len(frames), 'opencv': cv2.__version__}


def probe_ffmpeg(ffmpeg, path):
    err = subprocess.run([ffmpeg, '-hide_banner', '-nostdin', '-i', path], capture_output=True, text=True).stderr
    m = re.search(r'Stream #0:\d+.*?: Video: .*?[ ,](\d+)x(\d+)[ ,].*?([\d.]+)(k?) (fps|tbr)', err)
    if not m:
        raise SystemExit(f'ffmpeg cannot read {path}: {err[-300:]}')
    return int(m.group(1)), int(m.group(2)), float(m.group(3)) * (1000 if m.group(4) else 1)


def decode_ffmpeg(path, a, notes):
    """Every frame through the ffmpeg executable (decode-all: the official path without a duration)."""
    w, h, fps = probe_ffmpeg(a.ffmpeg, path)
    raw = subprocess.run([a.ffmpeg, '-hide_banner', '-nostdin', '-loglevel', 'error', '-noautorotate', '-i', path, '-map', '0:v:0',
                          '-vsync', '0', '-sws_flags', 'bilinear', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
    clip_size = a.sampling_rate * a.num_frames / a.target_fps * fps
    s, e = start_end(len(frames), clip_size, 0, a.views)
    idx = linspace_indices(s, e, a.num_frames, len(frames))
    return [frames[i] for i in idx], idx, {'fps': fps, 'decoded': len(frames)}


def natural_key(name):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r'(\d+)', name)]


def decode_folder(path, a, notes):
    names = sorted((n for n in os.listdir(path) if n.lower().endswith(('.jpg', '.jpeg', '.png'))), key=natural_key)
    clip_size = a.sampling_rate * a.num_frames  # frames at TARGET_FPS: fps = target_fps
    idx = linspace_indices(0, clip_size - 1, a.num_frames, len(names))
    out = []
    for i in idx:
        f = os.path.join(path, names[i])
        if a.frames_reader == 'cv2':
            import cv2
            out.append(cv2.cvtColor(cv2.imread(f, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
        else:
            from PIL import Image
            out.append(np.asarray(Image.open(f).convert('RGB')))
    return out, idx, {'fps': a.target_fps, 'decoded': len(names), 'files': [names[i] for i in idx]}


def bilinear_numpy(x, oh, ow):
    """torch.nn.functional.interpolate(x, (oh, ow), mode='bilinear', align_corners=False) on (..., H, W) float32."""
    ih, iw = x.shape[-2:]

    def taps(i, o):
        scale = np.float32(i / o)
        d = np.arange(o, dtype=np.float32)
        src = np.maximum(scale * (d + np.float32(0.5)) - np.float32(0.5), np.float32(0))
        i0 = src.astype(np.int64)
        l1 = (src - i0).astype(np.float32)
        return i0, np.where(i0 < i - 1, i0 + 1, i0), np.float32(1) - l1, l1
    y0, y1, wy0, wy1 = taps(ih, oh)
    x0, x1, wx0, wx1 = taps(iw, ow)
    top = x[..., y0, :][..., x0] * wx0 + x[..., y0, :][..., x1] * wx1
    bot = x[..., y1, :][..., x0] * wx0 + x[..., y1, :][..., x1] * wx1
    return (top * wy0[:, None] + bot * wy1[:, None]).astype(np.float32)


def official_transform(frames, a, mean, std):
    """utils.tensor_normalize, T H W C -> C T H W, short side scale (min = max), uniform_crop(spatial_idx=1)."""
    size = a.short_side
    if a.transform == 'torch':
        import torch
        x = torch.as_tensor(np.stack(frames)).float() / 255.0
        x = (x - torch.tensor(mean)) / torch.tensor(std)
        x = x.permute(3, 0, 1, 2)
        h, w = x.shape[2], x.shape[3]
        if not ((w <= h and w == size) or (h <= w and h == size)):
            nh, nw = (int(math.floor(h / w * size)), size) if w < h else (size, int(math.floor(w / h * size)))
            x = torch.nn.functional.interpolate(x, size=(nh, nw), mode='bilinear', align_corners=False)
        x = x.numpy()
    else:
        x = np.stack(frames).astype(np.float32) / np.float32(255.0)
        x = ((x - np.array(mean, np.float32)) / np.array(std, np.float32)).astype(np.float32)
        x = x.transpose(3, 0, 1, 2)
        h, w = x.shape[2], x.shape[3]
        if not ((w <= h and w == size) or (h <= w and h == size)):
            nh, nw = (int(math.floor(h / w * size)), size) if w < h else (size, int(math.floor(w / h * size)))
            x = bilinear_numpy(x, nh, nw)
    h, w = x.shape[2], x.shape[3]
    yo, xo = int(math.ceil((h - a.crop) / 2)), int(math.ceil((w - a.crop) / 2))
    return x[:, :, yo:yo + a.crop, xo:xo + a.crop][None]


def hf_transform(frames, a, mean, std, notes):
    cfg = json.load(open(a.hf_config))
    if a.hf_impl == 'transformers':
        from transformers import VideoMAEImageProcessor
        kw = {k: v for k, v in cfg.items() if k not in ('image_processor_type', 'processor_class')}
        kw['image_mean'], kw['image_std'] = mean, std
        proc = VideoMAEImageProcessor(**kw)
        pv = proc(list(frames), return_tensors='np')['pixel_values']  # (1, T, C, H, W)
        return np.asarray(pv, np.float32).transpose(0, 2, 1, 3, 4)
    from PIL import Image
    size = cfg.get('size', {'shortest_edge': 224})
    crop = cfg.get('crop_size', {'height': 224, 'width': 224})
    resample = cfg.get('resample', 2)
    factor = cfg.get('rescale_factor', 1 / 255) if cfg.get('do_rescale', True) else 1.0
    out = []
    for f in frames:
        img = f
        if cfg.get('do_resize', True):
            h, w = img.shape[:2]
            if 'shortest_edge' in size:
                s = size['shortest_edge']
                short, long = (w, h) if w <= h else (h, w)
                nl = int(s * long / short)
                oh, ow = (nl, s) if w <= h else (s, nl)
            else:
                oh, ow = size['height'], size['width']
            img = np.asarray(Image.fromarray(img).resize((ow, oh), resample=resample))
        if cfg.get('do_center_crop', True):
            h, w = img.shape[:2]
            t, l = (h - crop['height']) // 2, (w - crop['width']) // 2
            img = img[t:t + crop['height'], l:l + crop['width']]
        x = (img.astype(np.float64) * factor).astype(np.float32)
        if cfg.get('do_normalize', True):
            x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
        out.append(x.transpose(2, 0, 1))
    return np.stack(out)[None].transpose(0, 2, 1, 3, 4).astype(np.float32)


def parser():
    p = argparse.ArgumentParser()
    p.add_argument('--clip', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--json')
    p.add_argument('--num-frames', type=int, required=True)
    p.add_argument('--sampling-rate', type=int, required=True)
    p.add_argument('--target-fps', type=int, default=30)
    p.add_argument('--views', type=int, default=1)
    p.add_argument('--short-side', type=int)
    p.add_argument('--crop', type=int)
    p.add_argument('--hf-config')
    p.add_argument('--mean', required=True)
    p.add_argument('--std', required=True)
    p.add_argument('--decode', choices=['pyav', 'ffmpeg', 'cv2'], default='pyav')
    p.add_argument('--ffmpeg', default='ffmpeg')
    p.add_argument('--transform', choices=['torch', 'numpy'], default='torch')
    p.add_argument('--hf-impl', choices=['transformers', 'pil'], default='transformers')
    p.add_argument('--frames-reader', choices=['pil', 'cv2'], default='pil')
    return p


def build(a):
    """The reference clip (1, 3, T, H, W) float32 and what it took, for parsed arguments."""
    mean = [float(v) for v in a.mean.split(',')]
    std = [float(v) for v in a.std.split(',')]
    notes = []
    if os.path.isdir(a.clip):
        frames, idx, meta = decode_folder(a.clip, a, notes)
    elif a.decode == 'pyav':
        frames, idx, meta = decode_pyav(a.clip, a, notes)
    elif a.decode == 'cv2':
        frames, idx, meta = decode_cv2(a.clip, a, notes)
    else:
        frames, idx, meta = decode_ffmpeg(a.clip, a, notes)
    x = hf_transform(frames, a, mean, std, notes) if a.hf_config else official_transform(frames, a, mean, std)
    return np.ascontiguousarray(x, dtype=np.float32), {'indices': idx, 'shape': list(x.shape), 'notes': notes, **meta}


def main():
    a = parser().parse_args()
    x, info = build(a)
    np.save(a.out, x)
    if a.json:
        json.dump(info, open(a.json, 'w'), indent=1, default=str)
    print(json.dumps(info, default=str))


if __name__ == '__main__':
    sys.exit(main())
