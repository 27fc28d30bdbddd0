#!/usr/bin/env python3
"""Make the small HuggingFace TimeSformer fixtures (test/fixtures/hf_*) with transformers, and their
test data with transformers' own forward through make_test_data.py.

  python3 scripts/make_hf_fixtures.py --out DIR [--device cuda|cpu]

Weights are drawn as the official fixtures' (shared NOTES "The fixtures", scripts/gen-checkpoint.ts):
every Linear inside a block ~ N(0, 1.6/sqrt(C)), their biases 0 except temporal_dense's N(0, 0.02);
LayerNorm weights 1 + N(0, 0.1), biases N(0, 0.05); cls/position/time embeddings N(0, 0.02); the
patch Conv as torch initializes it; the final LayerNorm 1 / 0; the classifier N(0, 0.02), bias 0.
A massive activation is planted: output.dense (the official mlp.fc2) bias = 300 in one channel of
one block, so a plain FP16 LayerNorm overflows in the next block.

Fixtures (all small; together well under 6 MB):
  hf_outlier/   TimesformerForVideoClassification, model.safetensors, 6 blocks, C 48, 3 heads, 4x32x32,
                10 named classes, preprocessor_config.json (mean 0.45 / std 0.225); outlier in block 2
                -> hf_outlier_test_data.p (synthetic:0), hf_outlier_frames.npy (uint8 frames) and
                   hf_outlier_frames_test_data.p (those frames, normalized as the official loader does)
  hf_sharded/   TimesformerForVideoClassification, sharded model-0000i-of-0000n.safetensors + index,
                4 blocks, C 32, 2 heads, layer_norm_eps 1e-5; outlier in block 1
                -> hf_sharded_test_data.p (synthetic:1)
  hf_bin/       TimesformerForVideoClassification, pytorch_model.bin (torch.save of the state dict:
                transformers 5 no longer writes .bin), qkv_bias false, 4 blocks, C 32, 2 heads;
                outlier in block 2 -> hf_bin_test_data.p (synthetic:2)
  hf_base/      TimesformerModel (no classifier), model.safetensors, 3 blocks, C 32, 4 heads, 2x32x32,
                patch 8; outlier in block 0 -> hf_base_test_data.p (synthetic:3): the final LayerNorm's
                class token in place of probabilities
Also writes DIR/hf_fixtures.json: per fixture its config, files, outlier, the top-1 class, and
transformers' own fp16 / bf16 errors (make_test_data.py --compare-precisions) for calibration.
"""
import argparse
import json
import math
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_test_data as mtd  # noqa: E402

KINETICS_LIKE = ['abseiling', 'air drumming', 'answering questions', 'applauding', 'applying cream',
                 'archery', 'arm wrestling', 'arranging flowers', 'assembling computer', 'auctioning']

FIXTURES = [
    dict(name='hf_outlier', arch='TimesformerForVideoClassification', save='safetensors', seed=11, input='synthetic:0',
         cfg=dict(hidden_size=48, num_hidden_layers=6, num_attention_heads=3, intermediate_size=192, num_frames=4, image_size=32,
                  patch_size=16, num_labels=10), labels=KINETICS_LIKE, outlier=(2, 7), preprocessor=True, frames=True),
    dict(name='hf_sharded', arch='TimesformerForVideoClassification', save='safetensors-sharded', seed=12, input='synthetic:1',
         cfg=dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=128, num_frames=4, image_size=32,
                  patch_size=16, num_labels=5, layer_norm_eps=1e-5), outlier=(1, 3)),
    dict(name='hf_bin', arch='TimesformerForVideoClassification', save='bin', seed=13, input='synthetic:2',
         cfg=dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=128, num_frames=4, image_size=32,
                  patch_size=16, num_labels=5, qkv_bias=False), outlier=(2, 5)),
    dict(name='hf_base', arch='TimesformerModel', save='safetensors', seed=14, input='synthetic:3',
         cfg=dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=128, num_frames=2, image_size=32,
                  patch_size=8), outlier=(0, 9)),
]


def init_like_fixtures(model, torch, C, seed):
    """Weights scaled as the official fixtures (see the module docstring)."""
    g = torch.Generator().manual_seed(seed)

    def normal(t, std, mean=0.0):
        with torch.no_grad():
            t.copy_(torch.randn(t.shape, generator=g) * std + mean)

    base = getattr(model, 'timesformer', model)
    emb = base.embeddings
    normal(emb.cls_token, 0.02)
    normal(emb.position_embeddings, 0.02)
    normal(emb.time_embeddings, 0.02)
    conv = emb.patch_embeddings.projection
    bound = 1 / math.sqrt(conv.weight[0].numel())
    with torch.no_grad():
        conv.weight.copy_((torch.rand(conv.weight.shape, generator=g) * 2 - 1) * bound)
        conv.bias.copy_((torch.rand(conv.bias.shape, generator=g) * 2 - 1) * bound)
    lin = 1.6 / math.sqrt(C)
    for layer in base.encoder.layer:
        for ln in (layer.temporal_layernorm, layer.layernorm_before, layer.layernorm_after):
            normal(ln.weight, 0.1, 1.0)
            normal(ln.bias, 0.05)
        for dense in (layer.temporal_attention.attention.qkv, layer.temporal_attention.output.dense, layer.temporal_dense,
                      layer.attention.attention.qkv, layer.attention.output.dense, layer.intermediate.dense, layer.output.dense):
            normal(dense.weight, lin)
            if dense.bias is not None:
                with torch.no_grad():
                    dense.bias.zero_()
        normal(layer.temporal_dense.bias, 0.02)
    with torch.no_grad():
        base.layernorm.weight.fill_(1.0)
        base.layernorm.bias.zero_()
    if hasattr(model, 'classifier'):
        normal(model.classifier.weight, 0.02)
        with torch.no_grad():
            model.classifier.bias.zero_()


def save(model, folder, how, torch):
    os.makedirs(folder, exist_ok=True)
    if how == 'bin':
        model.config.save_pretrained(folder)
        torch.save(model.state_dict(), os.path.join(folder, 'pytorch_model.bin'))
        return 'torch.save(state_dict) -> pytorch_model.bin'
    if how == 'safetensors':
        model.save_pretrained(folder)
        return 'save_pretrained -> model.safetensors'
    model.save_pretrained(folder, max_shard_size='40KB')
    if os.path.isfile(os.path.join(folder, 'model.safetensors.index.json')):
        return 'save_pretrained(max_shard_size=40KB) -> sharded safetensors'
    # a transformers that refused to shard this small: shard by hand, as save_pretrained would
    from safetensors.torch import save_file
    for f in os.listdir(folder):
        if f.endswith('.safetensors'):
            os.remove(os.path.join(folder, f))
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    keys = list(sd)
    n = 3
    groups = [keys[i * len(keys) // n:(i + 1) * len(keys) // n] for i in range(n)]
    weight_map = {}
    for i, g in enumerate(groups):
        name = f'model-{i + 1:05d}-of-{n:05d}.safetensors'
        save_file({k: sd[k] for k in g}, os.path.join(folder, name), metadata={'format': 'pt'})
        weight_map.update({k: name for k in g})
    total = sum(v.numel() * v.element_size() for v in sd.values())
    with open(os.path.join(folder, 'model.safetensors.index.json'), 'w') as f:
        json.dump({'metadata': {'total_size': total}, 'weight_map': weight_map}, f, indent=2)
    return 'safetensors sharded by hand (save_pretrained wrote one file)'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--device', default=None)
    a = ap.parse_args(argv)
    import torch
    import transformers
    from transformers import TimesformerConfig, TimesformerForVideoClassification, TimesformerModel
    os.makedirs(a.out, exist_ok=True)
    summary = {'transformers': transformers.__version__, 'torch': torch.__version__, 'fixtures': {}}
    dev = ['--device', a.device] if a.device else []
    for fx in FIXTURES:
        name = fx['name']
        folder = os.path.join(a.out, name)
        shutil.rmtree(folder, ignore_errors=True)
        labels = fx.get('labels')
        extra = {}
        if labels:
            extra = dict(id2label={i: l for i, l in enumerate(labels)}, label2id={l: i for i, l in enumerate(labels)})
        cfg = TimesformerConfig(attention_type='divided_space_time', hidden_act='gelu', hidden_dropout_prob=0.0,
                                attention_probs_dropout_prob=0.0, layer_norm_eps=fx['cfg'].pop('layer_norm_eps', 1e-6),
                                **fx['cfg'], **extra)
        cls = TimesformerModel if fx['arch'] == 'TimesformerModel' else TimesformerForVideoClassification
        model = cls(cfg).eval()
        init_like_fixtures(model, torch, cfg.hidden_size, fx['seed'])
        block, channel = fx['outlier']
        base = getattr(model, 'timesformer', model)
        with torch.no_grad():
            base.encoder.layer[block].output.dense.bias[channel] = 300.0
        how = save(model, folder, fx['save'], torch)
        if fx.get('preprocessor'):
            with open(os.path.join(folder, 'preprocessor_config.json'), 'w') as f:
                json.dump({'image_processor_type': 'VideoMAEImageProcessor', 'do_normalize': True, 'do_rescale': True,
                           'rescale_factor': 1 / 255, 'image_mean': [0.45, 0.45, 0.45], 'image_std': [0.225, 0.225, 0.225],
                           'do_resize': False, 'do_center_crop': False}, f, indent=2)
        files = sorted(os.listdir(folder))
        print(f'{name}: {cls.__name__}, {how}: {", ".join(files)}')
        entry = {'class': cls.__name__, 'saved': how, 'files': files, 'outlier': {'block': block, 'channel': channel, 'value': 300.0},
                 'config': {k: v for k, v in cfg.to_dict().items() if k in ('hidden_size', 'num_hidden_layers', 'num_attention_heads',
                            'intermediate_size', 'num_frames', 'image_size', 'patch_size', 'num_labels', 'layer_norm_eps', 'qkv_bias')}}
        runs = [(fx['input'], f'{name}_test_data.p')]
        if fx.get('frames'):
            rng = np.random.default_rng(fx['seed'])
            frames = rng.integers(0, 256, size=(cfg.num_frames, cfg.image_size, cfg.image_size, 3), dtype=np.uint8)
            fpath = os.path.join(a.out, f'{name}_frames.npy')
            np.save(fpath, frames)
            runs.append((fpath, f'{name}_frames_test_data.p'))
            entry['frames_vs_transformers_processor'] = processor_check(folder, frames)
        for inp, out in runs:
            errs = os.path.join(a.out, f'{out}.errors.json')
            rc = mtd.main(['--weights', folder, '--out', os.path.join(a.out, out), '--input', inp, *dev,
                           '--compare-precisions', 'fp16,bf16,autocast-fp16,autocast-bf16', '--errors-json', errs])
            if rc:
                sys.exit(f'make_hf_fixtures: make_test_data failed for {name}')
            with open(errs) as f:
                e = json.load(f)
            os.remove(errs)
            _, final, _ = mtd.read_test_data(os.path.join(a.out, out))
            entry.setdefault('test_data', {})[out] = {
                'input': inp if not inp.endswith('.npy') else os.path.basename(inp),
                'top1': int(final.argmax(-1)[0]) if cls is not TimesformerModel else None,
                'precisions': e.get('precisions'),
            }
        summary['fixtures'][name] = entry
    with open(os.path.join(a.out, 'hf_fixtures.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(a.out) for f in fs)
    print(f'make_hf_fixtures: {len(FIXTURES)} fixtures in {a.out}, {total / 1e6:.2f} MB in all')
    return 0


def processor_check(folder, frames):
    """Our frames normalization vs transformers' own image processor on the same frames (no resize,
    no crop): the max |difference|, or why it could not be compared."""
    try:
        from transformers import VideoMAEImageProcessor
        proc = VideoMAEImageProcessor.from_pretrained(folder)
        pv = proc(list(frames), return_tensors='np', do_resize=False, do_center_crop=False)['pixel_values']
        pv = np.asarray(pv, np.float32)  # (1, T, 3, H, W)
        ours = mtd.normalize_frames(frames[None], [0.45] * 3, [0.225] * 3).transpose(0, 2, 1, 3, 4)
        d = float(np.abs(pv - ours).max())
        print(f'  frames: our normalization vs VideoMAEImageProcessor: max |diff| {d:.3g}')
        return {'maxAbsDiff': d}
    except Exception as e:  # noqa: BLE001 - informational only
        print(f'  frames: VideoMAEImageProcessor comparison skipped ({type(e).__name__}: {str(e)[:200]})')
        return {'skipped': f'{type(e).__name__}: {str(e)[:200]}'}


if __name__ == '__main__':
    sys.exit(main())
