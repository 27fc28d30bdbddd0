#!/usr/bin/env python3
"""scripts/device/device-video.sh's comparison (one Python process: torch and transformers import once).

For each clip our CLI preprocessed (DIR/<name>.ours.npy + .ours.json, from scripts/video-clip.js),
builds the reference implementations' clip with video_reference.py's functions (PyAV + the official
torch transform; transformers' VideoMAEImageProcessor for an HF config; frames folders with Pillow
and with OpenCV; OpenCV's VideoCapture as a second decoder) and writes DIR/<name>.ref.npy and one
JSON line per comparison to stdout: max |ours - reference| in the model's units and in 0-255 pixel
levels (× std × 255), the frame indices of both.

usage: video_device_compare.py OUT.jsonl DIR CLIP...   (each CLIP: a path; its outputs are DIR/<basename>.*;
       one JSON line per comparison appended to OUT.jsonl and printed)
"""
import json
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import video_reference as vr  # noqa: E402


def have(mod):
    try:
        __import__(mod)
        return True
    except Exception:
        return False


def main():
    jsonl, out_dir, clips = sys.argv[1], sys.argv[2], sys.argv[3:]
    sink = open(jsonl, 'a')

    def emit(row):
        line = json.dumps(row, default=str)
        print(line, flush=True)
        sink.write(line + '\n')
        sink.flush()
    env = {m: have(m) for m in ('av', 'torch', 'torchvision', 'transformers', 'cv2', 'PIL')}
    emit({'env': env})
    for clip in clips:
        name = os.path.basename(clip.rstrip('/'))
        ours_npy = os.path.join(out_dir, name + '.ours.npy')
        if not os.path.exists(ours_npy):
            emit({'clip': name, 'error': 'no clip of ours (video-clip.js failed)'})
            continue
        ours = np.load(ours_npy)
        info = json.load(open(os.path.join(out_dir, name + '.ours.json')))
        pre, norm = info['preprocess'], info['input']['normalization']
        shown = name if pre['kind'] == 'official' else f'{name} (HF)'
        std = np.array(norm['std'], np.float32).reshape(1, 3, 1, 1, 1)
        base = ['--clip', clip, '--out', '-', '--num-frames', str(pre['numFrames']), '--sampling-rate', str(pre['samplingRate']),
                '--target-fps', str(pre['targetFps']), '--mean', ','.join(map(str, norm['mean'])), '--std', ','.join(map(str, norm['std']))]
        if pre['kind'] == 'official':
            base += ['--short-side', str(pre['shortSide']), '--crop', str(pre['crop']), '--views', str(pre.get('views', 1))]
        else:
            base += ['--hf-config', info['hf_config']]
        variants = []
        if os.path.isdir(clip):
            variants = [('pillow', ['--frames-reader', 'pil']), ('opencv', ['--frames-reader', 'cv2'])]
        else:
            if env['av']:
                variants.append(('pyav', ['--decode', 'pyav']))
            if env['cv2']:
                variants.append(('opencv', ['--decode', 'cv2']))
            if not variants and shutil.which('ffmpeg'):
                # neither PyAV nor OpenCV here: the ffmpeg CLI (the same decoder as ours: checks this script, not the decoder)
                variants.append(('ffmpeg', ['--decode', 'ffmpeg']))
        for label, extra in variants:
            args = base + extra + ['--transform', 'torch' if env['torch'] else 'numpy', '--hf-impl', 'transformers' if env['transformers'] else 'pil']
            t0 = time.time()
            try:
                ref, meta = vr.build(vr.parser().parse_args(args))
            except BaseException as e:  # noqa: BLE001 - one clip's failure is a result, not the end
                emit({'clip': shown, 'reference': label, 'error': f'{type(e).__name__}: {e}'})
                continue
            if label in ('pyav', 'pillow') or (label == 'ffmpeg' and not env['av']):
                np.save(os.path.join(out_dir, name + '.ref.npy'), ref)
            row = {'clip': shown, 'reference': label, 'transform': 'transformers' if pre['kind'] != 'official' and env['transformers'] else ('torch' if env['torch'] else 'numpy'),
                   'indices_ours': info['input']['video']['indices'], 'indices_ref': meta['indices'], 'notes': meta.get('notes', []), 'seconds': round(time.time() - t0, 2)}
            if ref.shape != ours.shape:
                row['error'] = f'shape {list(ref.shape)} vs ours {list(ours.shape)}'
            else:
                d = np.abs(ref.astype(np.float64) - ours)
                row.update({'max_abs': float(d.max()), 'mean_abs': float(d.mean()),
                            'max_levels': float((d * std * 255).max()), 'within_1_255': bool((d * std * 255).max() <= 1.0 + 1e-4),
                            'frac_over_1_level': float(((d * std * 255) > 1.0 + 1e-4).mean())})
            emit(row)


if __name__ == '__main__':
    main()
