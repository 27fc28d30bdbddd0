#!/usr/bin/env python3
"""PyTorch eager baseline for bench.js: per-clip latency of HuggingFace's TimesformerForVideoClassification
(divided space-time, the released full-size geometry), random init, batch 1, fp32 and fp16.

  python3 scripts/bench/bench_torch.py [--device cuda|cpu] [--precisions fp32,fp16] [--iters 50] [--warmup 10]
                                 [--batch 1] [--json torch.json] [--small] [--tf32]

Timing: eval() + torch.inference_mode(); for each timed iteration, torch.cuda.synchronize() before
and after, wall time with time.perf_counter (CUDA events give the same within noise at this size
and would not work on the CPU). The input lives on the device already (as in a training/eval loop);
`*_e2e_ms` also times the host->device copy of the clip and the logits' copy back, which our Node
engine always pays. TF32 matmuls stay off unless --tf32 (PyTorch's default), so fp32 is IEEE fp32
like the WebGPU EP. Timing does not depend on the weights' values.

Writes JSON: {fp32_ms, fp16_ms (medians), fp32: {median_ms, min_ms, mean_ms, ...}, device, torch, ...}.
--device cpu --small runs a tiny model for a smoke test anywhere torch is installed.
"""
import argparse
import json
import platform
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--precisions', default='fp32,fp16')
    ap.add_argument('--iters', type=int, default=50)
    ap.add_argument('--warmup', type=int, default=10)
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--json')
    ap.add_argument('--small', action='store_true', help='tiny model (smoke test)')
    ap.add_argument('--tf32', action='store_true', help='allow TF32 matmuls/convolutions in fp32')
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()

    import torch
    import transformers
    from transformers import TimesformerConfig, TimesformerForVideoClassification

    if a.device.startswith('cuda') and not torch.cuda.is_available():
        sys.exit('bench_torch: CUDA is not available (use --device cpu for a smoke test)')
    dev = torch.device(a.device)
    torch.manual_seed(a.seed)
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32

    if a.small:
        cfg = TimesformerConfig(image_size=32, patch_size=16, num_frames=2, hidden_size=64, num_hidden_layers=2,
                                num_attention_heads=4, intermediate_size=256, num_labels=10,
                                attention_type='divided_space_time')
    else:
        cfg = TimesformerConfig(image_size=224, patch_size=16, num_frames=8, hidden_size=768, num_hidden_layers=12,
                                num_attention_heads=12, intermediate_size=3072, num_labels=400,
                                attention_type='divided_space_time', layer_norm_eps=1e-6)
    t0 = time.perf_counter()
    model = TimesformerForVideoClassification(cfg).eval()
    params = sum(p.numel() for p in model.parameters())
    init_s = time.perf_counter() - t0
    model = model.to(dev)

    def sync():
        if dev.type == 'cuda':
            torch.cuda.synchronize(dev)

    shape = (a.batch, cfg.num_frames, cfg.num_channels, cfg.image_size, cfg.image_size)  # HF layout: (B, T, C, H, W)
    clip_cpu = torch.randn(shape)
    if dev.type == 'cuda':
        clip_cpu = clip_cpu.pin_memory()

    out = {
        'model': 'transformers.TimesformerForVideoClassification (divided_space_time), random init',
        'params': params, 'batch': a.batch, 'input_shape': list(shape), 'iters': a.iters, 'warmup': a.warmup,
        'device': torch.cuda.get_device_name(dev) if dev.type == 'cuda' else platform.processor() or platform.machine(),
        'device_type': dev.type, 'torch': torch.__version__, 'transformers': transformers.__version__,
        'cuda': torch.version.cuda, 'cudnn': torch.backends.cudnn.version() if dev.type == 'cuda' else None,
        'tf32': a.tf32, 'python': platform.python_version(), 'model_init_s': init_s,
    }
    print(f'[bench_torch] {out["device"]}, torch {out["torch"]}, transformers {out["transformers"]}, '
          f'{params:,} parameters, input {list(shape)}', flush=True)

    for prec in [p.strip() for p in a.precisions.split(',') if p.strip()]:
        dtype = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}[prec]
        m = model.to(dtype)
        clip = clip_cpu.to(dev, dtype)
        times, e2e = [], []
        try:
            with torch.inference_mode():
                for _ in range(a.warmup):
                    m(pixel_values=clip)
                sync()
                for _ in range(a.iters):
                    sync()
                    s = time.perf_counter()
                    logits = m(pixel_values=clip).logits
                    sync()
                    times.append((time.perf_counter() - s) * 1e3)
                # end to end: host clip -> device, forward, logits -> host (what a Node caller pays)
                for _ in range(max(1, a.iters // 2)):
                    sync()
                    s = time.perf_counter()
                    x = clip_cpu.to(dev, dtype, non_blocking=True)
                    logits = m(pixel_values=x).logits.float().cpu()
                    e2e.append((time.perf_counter() - s) * 1e3)
            finite = bool(torch.isfinite(logits).all())
        except Exception as e:  # e.g. fp16 kernels missing on an old CPU build
            print(f'[bench_torch] {prec}: failed: {e}', flush=True)
            out[prec] = {'error': str(e)}
            continue
        r = {
            'median_ms': statistics.median(times), 'min_ms': min(times), 'mean_ms': statistics.fmean(times),
            'max_ms': max(times), 'e2e_median_ms': statistics.median(e2e), 'logits_finite': finite,
            'times_ms': [round(t, 3) for t in times],
        }
        out[prec] = r
        out[f'{prec}_ms'] = r['median_ms']
        out[f'{prec}_e2e_ms'] = r['e2e_median_ms']
        print(f'[bench_torch] {prec}: median {r["median_ms"]:.2f} ms, min {r["min_ms"]:.2f} ms, '
              f'end-to-end {r["e2e_median_ms"]:.2f} ms per clip (batch {a.batch}, {a.iters} iters)', flush=True)
        if dev.type == 'cuda':
            out[f'{prec}_max_memory_mb'] = torch.cuda.max_memory_allocated(dev) / 2**20
            torch.cuda.reset_peak_memory_stats(dev)

    if a.json:
        with open(a.json, 'w') as f:
            json.dump(out, f, indent=1)
        print(f'[bench_torch] wrote {a.json}', flush=True)


if __name__ == '__main__':
    main()
