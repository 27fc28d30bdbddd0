#!/usr/bin/env python3
"""PyTorch eager next to bench-sweep.js: the same clips (uint8 frames .npy, T×H×W×3) through
HuggingFace's TimesformerForVideoClassification (random init, the bench's geometry), an fp32 and an
fp16 forward per clip (what our sweep runs: the FP32 reference and the FP16 engine), clips read and
normalized (0.45 / 0.225) in the loop.

  python3 scripts/bench_sweep_torch.py --clips DIR [--size full|small] [--device cuda] [--json out.json]

Writes JSON: {clips, clips_per_second, peak_rss_bytes, device, torch, ...}.
"""
import argparse
import glob
import json
import os
import resource
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--clips', required=True)
    ap.add_argument('--size', default='full')
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--json')
    a = ap.parse_args()
    import numpy as np
    import torch
    from transformers import TimesformerConfig, TimesformerForVideoClassification

    dev = torch.device(a.device if (a.device != 'cuda' or torch.cuda.is_available()) else 'cpu')
    if a.size == 'full':
        cfg = TimesformerConfig(image_size=224, patch_size=16, num_frames=8, hidden_size=768, num_hidden_layers=12,
                                num_attention_heads=12, intermediate_size=3072, num_labels=400, attention_type='divided_space_time')
    else:
        cfg = TimesformerConfig(image_size=32, patch_size=16, num_frames=4, hidden_size=64, num_hidden_layers=3,
                                num_attention_heads=4, intermediate_size=256, num_labels=10, attention_type='divided_space_time')
    m32 = TimesformerForVideoClassification(cfg).eval().to(dev)
    m16 = TimesformerForVideoClassification(cfg).eval().to(dev).half()
    m16.load_state_dict({k: v.half() for k, v in m32.state_dict().items()})
    files = sorted(glob.glob(os.path.join(a.clips, '*.npy')))
    mean = torch.tensor([0.45] * 3, device=dev).view(1, 1, 3, 1, 1)
    std = torch.tensor([0.225] * 3, device=dev).view(1, 1, 3, 1, 1)

    def sync():
        if dev.type == 'cuda':
            torch.cuda.synchronize(dev)

    def one(f):
        x = torch.from_numpy(np.load(f)).to(dev)  # T, H, W, 3 uint8
        x = x.permute(0, 3, 1, 2).unsqueeze(0).float() / 255  # B, T, 3, H, W (HF layout)
        x = (x - mean) / std
        a32 = m32(pixel_values=x).logits
        a16 = m16(pixel_values=x.half()).logits
        return float((a32 - a16.float()).norm() / a32.norm())

    with torch.inference_mode():
        for f in files[:2]:
            one(f)  # warm-up
        sync()
        t = time.perf_counter()
        for f in files:
            one(f)
        sync()
        s = time.perf_counter() - t
    out = {
        'clips': len(files), 'seconds': s, 'clips_per_second': len(files) / s,
        'peak_rss_bytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        'device': torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu', 'torch': torch.__version__, 'size': a.size,
    }
    print(f'[bench_sweep_torch] {len(files)} clips in {s:.2f} s: {out["clips_per_second"]:.2f} clips/s (fp32 + fp16 forward), '
          f'peak RSS {out["peak_rss_bytes"] / 2**20:.0f} MiB on {out["device"]}', flush=True)
    if a.json:
        with open(a.json, 'w') as fh:
            json.dump(out, fh, indent=1)


if __name__ == '__main__':
    main()
