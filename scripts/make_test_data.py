#!/usr/bin/env python3
"""Make a test_data.p for TimeSformer Precision Lab from your PyTorch model: the clip, the
probabilities and every block's output, computed by PyTorch itself in fp32 (TF32 off), in the
seed's format `(video, [probs, [block_0, ..., block_{L-1}]])` of numpy float32 arrays, pickled
with protocol 4. Then compare the lab's engine with PyTorch:
`timesformer-lab run --weights MODEL --data test_data.p`.

  python3 scripts/make_test_data.py --weights MODEL --out test_data.p
      [--input synthetic[:SEED] | clip.npy | other_test_data.p] [--mean R,G,B --std R,G,B]
      [--heads N] [--official-repo PATH] [--device cuda|cpu] [--trust-checkpoint]
      [--compare-precisions fp16,bf16,autocast-fp16,autocast-bf16 --errors-json errors.json]
      [--check-against REF_test_data.p [--check-tol 1e-5]]

MODEL is one of:
  * a HuggingFace folder (config.json + model.safetensors / pytorch_model.bin, sharded or not)
    of TimesformerForVideoClassification or TimesformerModel: run by transformers. Without a
    classifier (TimesformerModel) the "probs" slot holds the final LayerNorm's class token
    (last_hidden_state[:, 0]), which the lab compares instead.
  * an official checkpoint (.pyth, facebookresearch/TimeSformer's `model_state`): with
    --official-repo PATH, run by that repo's own timesformer/models/vit.py; without it, its weights
    are renamed onto transformers' TimesformerForVideoClassification (the same math). The head
    count is not in the weights: pass --heads (12 for the released models).
Input (default synthetic:0): the lab's own deterministic clip (the same generator as the lab's
`--input synthetic:SEED`, so both see the same clip), a .npy clip — the model's input (B, 3, T, H,
W) as floats, or RGB frames (T, H, W, 3) uint8, normalized as the official loader does: /255, then
(x - mean) / std, mean/std from --mean/--std, else the checkpoint's cfg DATA.MEAN/STD or the
folder's preprocessor_config.json, else 0.45 / 0.225 — or another test_data.p (its video).
--compare-precisions runs the same clip in those precisions (on the GPU) and writes, per precision,
every block's rel L2 against fp32 (||out - ref|| / ||ref|| over the patch tokens, class token
dropped: the lab's metric) and the probabilities' to --errors-json.
--check-against compares this run with another test_data.p of the same clip (e.g. one the
official code made) and exits 1 when a block or the probabilities differ by more than --check-tol.

Needs torch, numpy, pyyaml, and transformers unless --official-repo. Nothing here is downloaded.
"""
import argparse
import collections
import copy
import json
import math
import os
import pickle
import sys

import numpy as np

DEFAULT_MEAN = (0.45, 0.45, 0.45)
DEFAULT_STD = (0.225, 0.225, 0.225)
PRECISIONS = ('fp16', 'bf16', 'autocast-fp16', 'autocast-bf16')


# ---------------------------------------------------------------- the clip (no torch needed)

def synthetic_video(shape, seed):
    """The lab's synthetic clip (extension/core/pipeline.ts syntheticVideo), value for value:
    mulberry32 + Box-Muller in float64, each value rounded to float32."""
    n = 1
    for d in shape:
        n *= d
    out = np.empty(n, dtype=np.float32)
    s = seed & 0xFFFFFFFF
    M = 0xFFFFFFFF

    def nxt():
        nonlocal s
        s = (s + 0x6D2B79F5) & M
        t = s
        t = ((t ^ (t >> 15)) * (t | 1)) & M
        t = (t ^ ((t + (((t ^ (t >> 7)) * (t | 61)) & M)) & M)) & M
        return ((t ^ (t >> 14)) & M) / 4294967296

    two_pi = 2 * math.pi
    vals = [0.0] * n
    for i in range(0, n, 2):
        u = max(nxt(), 1e-12)
        v = nxt()
        r = math.sqrt(-2 * math.log(u))
        vals[i] = r * math.cos(two_pi * v)
        if i + 1 < n:
            vals[i + 1] = r * math.sin(two_pi * v)
    out[:] = vals
    return out.reshape(shape)


def normalize_frames(frames, mean, std):
    """uint8 (B, T, H, W, 3) -> float32 (B, 3, T, H, W): x / 255, - mean, / std, each step in
    float32 as the official loader's tensor_normalize computes it."""
    x = frames.astype(np.float32) / np.float32(255)
    x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 4, 1, 2, 3), dtype=np.float32)


def clip_from_array(a, frames_n, image, norm, path):
    """The lab's rules (pipeline.ts clipFromArray): float (B, 3, T, H, W) as is, (3, T, H, W) gets
    a batch; uint8 (T, H, W, 3) / (B, T, H, W, 3) normalized; sizes never changed."""
    def check(T, H, W):
        if T != frames_n or H != image or W != image:
            sys.exit(f'make_test_data: {path}: the clip has {T} frames of {H}x{W}; the model takes {frames_n} of '
                     f'{image}x{image} (resize the short side and crop the centre first, as the official test loader does)')
    if a.dtype == np.uint8:
        if a.ndim == 4:
            a = a[None]
        if a.ndim != 5 or a.shape[-1] != 3:
            sys.exit(f'make_test_data: {path}: uint8 frames must be (T, H, W, 3) or (B, T, H, W, 3), got {a.shape}')
        check(a.shape[1], a.shape[2], a.shape[3])
        return normalize_frames(a, norm['mean'], norm['std']), 'frames'
    if a.dtype in (np.float32, np.float64, np.float16):
        if a.ndim == 4 and a.shape[0] == 3:
            a = a[None]
        if a.ndim != 5 or a.shape[1] != 3:
            sys.exit(f'make_test_data: {path}: a float clip must be the model input (B, 3, T, H, W), got {a.shape}')
        check(a.shape[2], a.shape[3], a.shape[4])
        return np.ascontiguousarray(a, dtype=np.float32), 'npy'
    sys.exit(f'make_test_data: {path}: a clip must be float (B, 3, T, H, W) or uint8 frames (T, H, W, 3), got {a.dtype} {a.shape}')


def official_cfg_normalization(cfg):
    """DATA.MEAN / DATA.STD from an official checkpoint's cfg (the trainer's YAML dump), or None;
    exits when TIMESFORMER.ATTENTION_TYPE is not divided_space_time."""
    if cfg is None:
        return None
    tree = cfg
    if isinstance(cfg, str):
        import yaml
        try:
            tree = yaml.safe_load(cfg)
        except yaml.YAMLError:
            return None
    if not isinstance(tree, dict):
        return None
    att = (tree.get('TIMESFORMER') or {}).get('ATTENTION_TYPE')
    if att is not None and att != 'divided_space_time':
        sys.exit(f"make_test_data: the checkpoint's cfg has TIMESFORMER.ATTENTION_TYPE '{att}': only divided_space_time is supported")
    data = tree.get('DATA') or {}
    mean, std = _triple(data.get('MEAN')), _triple(data.get('STD'))
    return {'mean': mean, 'std': std, 'source': "DATA.MEAN / DATA.STD in the checkpoint's cfg"} if mean and std else None


def hf_normalization(folder):
    for name in ('preprocessor_config.json', 'video_preprocessor_config.json'):
        p = os.path.join(folder, name)
        if not os.path.isfile(p):
            continue
        with open(p) as f:
            j = json.load(f)
        if j.get('do_normalize') is False:
            return {'mean': [0, 0, 0], 'std': [1, 1, 1], 'source': f'{name} (do_normalize: false)'}
        mean, std = _triple(j.get('image_mean')), _triple(j.get('image_std'))
        if mean and std:
            return {'mean': mean, 'std': std, 'source': name}
    return None


def _triple(v):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return [float(v)] * 3
    if isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(x, (int, float)) for x in v):
        return [float(x) for x in v]
    return None


# ---------------------------------------------------------------- test data files

class _ArraysOnly(pickle.Unpickler):
    """Test data holds numpy arrays in tuples and lists: nothing else is resolved."""
    ALLOWED = {
        ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
        ('numpy', 'ndarray'), ('numpy', 'dtype'),
        ('numpy.core.numeric', '_frombuffer'), ('numpy._core.numeric', '_frombuffer'),
        ('collections', 'OrderedDict'),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f'a test-data pickle should hold numpy arrays only, not {module}.{name}')


def read_test_data(path):
    with open(path, 'rb') as f:
        video, (probs, blocks) = _ArraysOnly(f).load()
    return np.asarray(video, np.float32), np.asarray(probs, np.float32), [np.asarray(b, np.float32) for b in blocks]


def write_test_data(path, video, probs, blocks):
    """The seed's format: (video, [probs, [block_0 .. block_{L-1}]]), float32, protocol 4."""
    item = (np.ascontiguousarray(video, np.float32), [np.ascontiguousarray(probs, np.float32), [np.ascontiguousarray(b, np.float32) for b in blocks]])
    with open(path, 'wb') as f:
        pickle.dump(item, f, protocol=4)


def rel_l2(out, ref, drop_cls=True):
    """||out - ref|| / ||ref||, over the patch tokens when the arrays are (B, 1 + S*T, C)."""
    o, r = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    if drop_cls and o.ndim == 3:
        o, r = o[:, 1:, :], r[:, 1:, :]
    d = np.linalg.norm((o - r).ravel())
    n = np.linalg.norm(r.ravel())
    return float(d / n) if n > 0 else float(d)


# ---------------------------------------------------------------- official names <-> transformers names

HF_LAYER = collections.OrderedDict([
    ('temporal_norm1', 'temporal_layernorm'),
    ('temporal_attn.qkv', 'temporal_attention.attention.qkv'),
    ('temporal_attn.proj', 'temporal_attention.output.dense'),
    ('temporal_fc', 'temporal_dense'),
    ('norm1', 'layernorm_before'),
    ('attn.qkv', 'attention.attention.qkv'),
    ('attn.proj', 'attention.output.dense'),
    ('norm2', 'layernorm_after'),
    ('mlp.fc1', 'intermediate.dense'),
    ('mlp.fc2', 'output.dense'),
])
HF_TOP = {
    'cls_token': 'timesformer.embeddings.cls_token',
    'pos_embed': 'timesformer.embeddings.position_embeddings',
    'time_embed': 'timesformer.embeddings.time_embeddings',
    'patch_embed.proj.weight': 'timesformer.embeddings.patch_embeddings.projection.weight',
    'patch_embed.proj.bias': 'timesformer.embeddings.patch_embeddings.projection.bias',
    'norm.weight': 'timesformer.layernorm.weight',
    'norm.bias': 'timesformer.layernorm.bias',
    'head.weight': 'classifier.weight',
    'head.bias': 'classifier.bias',
}


def strip_official_prefix(key):
    for p in ('module.model.', 'model.', 'module.'):
        if key.startswith(p):
            return key[len(p):]
    return key


def official_to_hf_key(key):
    """'model.blocks.3.mlp.fc2.bias' -> 'timesformer.encoder.layer.3.output.dense.bias'."""
    k = strip_official_prefix(key)
    if k in HF_TOP:
        return HF_TOP[k]
    parts = k.split('.')
    if len(parts) >= 4 and parts[0] == 'blocks' and parts[1].isdigit():
        mod, leaf = '.'.join(parts[2:-1]), parts[-1]
        if mod in HF_LAYER and leaf in ('weight', 'bias'):
            return f'timesformer.encoder.layer.{parts[1]}.{HF_LAYER[mod]}.{leaf}'
    raise KeyError(f'no transformers name for official weight {key}')


def official_sizes(sd):
    """Sizes from an official state dict (keys without 'model.')."""
    C = sd['cls_token'].shape[2]
    depth = 0
    while f'blocks.{depth}.norm1.weight' in sd:
        depth += 1
    P = sd['patch_embed.proj.weight'].shape[2]
    S = sd['pos_embed'].shape[1] - 1
    grid = int(round(math.sqrt(S)))
    if grid * grid != S:
        sys.exit(f'make_test_data: pos_embed has {S} patches, not a square grid')
    return {'C': C, 'depth': depth, 'T': sd['time_embed'].shape[1], 'P': P, 'image': grid * P,
            'hidden': sd['blocks.0.mlp.fc1.weight'].shape[0], 'classes': sd['head.weight'].shape[0]}


# ---------------------------------------------------------------- models (torch from here on)

def fp32_exact(torch):
    """IEEE fp32: no TF32 in matmuls or convolutions (PyTorch's default allows it in convolutions)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


class Model:
    """A model, how to feed it the lab's (B, 3, T, H, W) clip, its blocks, its final output."""

    def __init__(self, module, kind, layers, head, frames, image, norm, describe):
        self.module, self.kind, self.layers, self.head = module, kind, layers, head
        self.frames, self.image, self.norm, self.describe = frames, image, norm, describe

    def forward(self, video):
        """-> (final (B, K) probabilities or (B, C) final LayerNorm class token, [block outputs]); float32 torch tensors."""
        import torch
        blocks = []
        hooks = [layer.register_forward_hook(lambda _m, _i, out: blocks.append((out[0] if isinstance(out, (tuple, list)) else out).float()))
                 for layer in self.layers]
        try:
            if self.kind == 'official':
                logits = self.module(video)
                final = torch.softmax(logits.float(), dim=-1)
            else:
                out = self.module(pixel_values=video.permute(0, 2, 1, 3, 4))
                if self.head:
                    final = torch.softmax(out.logits.float(), dim=-1)
                else:
                    final = out.last_hidden_state[:, 0].float()
        finally:
            for h in hooks:
                h.remove()
        if len(blocks) != len(self.layers):
            sys.exit(f'make_test_data: {len(blocks)} block outputs for {len(self.layers)} blocks')
        return final, blocks


def load_torch_checkpoint(path, trust):
    import torch
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises several kinds here
        if not trust:
            sys.exit(f'make_test_data: {path}: torch.load(weights_only=True) refused it ({type(e).__name__}: {str(e)[:300]}).\n'
                     f'  If you trust this file, pass --trust-checkpoint to load it with weights_only=False.')
        return torch.load(path, map_location='cpu', weights_only=False)


def official_state(ckpt):
    for k in ('model_state', 'state_dict', 'model'):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(k), dict):
            return ckpt[k]
    return ckpt


def load_official(path, heads, repo, trust):
    import torch
    if not heads:
        sys.exit('make_test_data: an official checkpoint does not store its head count: pass --heads (12 for the released models)')
    ckpt = load_torch_checkpoint(path, trust)
    sd = {strip_official_prefix(k): v for k, v in official_state(ckpt).items() if hasattr(v, 'shape')}
    norm = official_cfg_normalization(ckpt.get('cfg') if isinstance(ckpt, dict) else None)
    z = official_sizes(sd)
    if z['C'] % heads:
        sys.exit(f"make_test_data: --heads {heads} does not divide the width {z['C']}")
    if repo:
        sys.path.insert(0, os.path.abspath(repo))
        from functools import partial
        try:
            from timesformer.models.vit import VisionTransformer
        except ImportError as e:
            sys.exit(f'make_test_data: cannot import timesformer.models.vit from {repo} ({e}); install the official repo\'s requirements (einops, fvcore, ...)')
        m = VisionTransformer(img_size=z['image'], patch_size=z['P'], num_classes=z['classes'], embed_dim=z['C'], depth=z['depth'],
                              num_heads=heads, mlp_ratio=z['hidden'] / z['C'], qkv_bias=True,
                              norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), drop_rate=0., attn_drop_rate=0., drop_path_rate=0.,
                              num_frames=z['T'], attention_type='divided_space_time')
        missing, unexpected = m.load_state_dict(sd, strict=False)
        if missing or unexpected:
            sys.exit(f'make_test_data: the checkpoint does not fit the official VisionTransformer: missing {missing[:5]}, unexpected {unexpected[:5]}')
        return Model(m.eval(), 'official', list(m.blocks), True, z['T'], z['image'], norm,
                     f"official VisionTransformer from {repo}, {z['depth']} blocks, C={z['C']}, {heads} heads")
    from transformers import TimesformerConfig, TimesformerForVideoClassification
    cfg = TimesformerConfig(image_size=z['image'], patch_size=z['P'], num_channels=3, num_frames=z['T'], hidden_size=z['C'],
                            num_hidden_layers=z['depth'], num_attention_heads=heads, intermediate_size=z['hidden'],
                            hidden_act='gelu', hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, layer_norm_eps=1e-6,
                            qkv_bias=True, attention_type='divided_space_time', num_labels=z['classes'])
    m = TimesformerForVideoClassification(cfg)
    hf_sd = {official_to_hf_key(k): v for k, v in sd.items()}
    missing, unexpected = m.load_state_dict(hf_sd, strict=False)
    if missing or unexpected:
        sys.exit(f'make_test_data: the official weights do not fill TimesformerForVideoClassification: missing {missing[:5]}, unexpected {unexpected[:5]}')
    return Model(m.eval(), 'hf', list(m.timesformer.encoder.layer), True, z['T'], z['image'], norm,
                 f"official checkpoint mapped onto transformers' TimesformerForVideoClassification, {z['depth']} blocks, C={z['C']}, {heads} heads")


def load_hf(folder, heads):
    import torch
    from transformers import TimesformerConfig, TimesformerForVideoClassification, TimesformerModel
    cfg = TimesformerConfig.from_pretrained(folder)
    if getattr(cfg, 'attention_type', 'divided_space_time') != 'divided_space_time':
        sys.exit(f"make_test_data: {folder}: attention_type '{cfg.attention_type}' is not supported (divided_space_time only)")
    if heads and heads != cfg.num_attention_heads:
        sys.exit(f'make_test_data: --heads {heads} disagrees with config.json (num_attention_heads {cfg.num_attention_heads})')
    arch = (cfg.architectures or ['TimesformerForVideoClassification'])[0]
    cls = TimesformerModel if arch == 'TimesformerModel' else TimesformerForVideoClassification
    try:
        m = cls.from_pretrained(folder)
    except Exception as e:  # noqa: BLE001 - e.g. a transformers that no longer loads pytorch_model.bin
        bins = sorted(f for f in os.listdir(folder) if f.startswith('pytorch_model') and f.endswith('.bin'))
        if not bins:
            raise
        print(f'make_test_data: from_pretrained failed ({type(e).__name__}: {str(e)[:200]}); loading {", ".join(bins)} with torch.load(weights_only=True)')
        m = cls(cfg)
        sd = {}
        for b in bins:
            sd.update(torch.load(os.path.join(folder, b), map_location='cpu', weights_only=True))
        missing, unexpected = m.load_state_dict(sd, strict=False)
        if missing or unexpected:
            sys.exit(f'make_test_data: {folder}: missing {missing[:5]}, unexpected {unexpected[:5]}')
    m = m.float().eval()
    base = m if cls is TimesformerModel else m.timesformer
    return Model(m, 'hf', list(base.encoder.layer), cls is not TimesformerModel, cfg.num_frames, cfg.image_size, hf_normalization(folder),
                 f'transformers {cls.__name__} from {folder}, {cfg.num_hidden_layers} blocks, C={cfg.hidden_size}, {cfg.num_attention_heads} heads')


def load_model(a):
    if os.path.isdir(a.weights) or os.path.basename(a.weights) == 'config.json':
        folder = a.weights if os.path.isdir(a.weights) else os.path.dirname(os.path.abspath(a.weights))
        return load_hf(folder, a.heads)
    return load_official(a.weights, a.heads, a.official_repo, a.trust_checkpoint)


def read_clip(spec, model, mean, std):
    shape = (1, 3, model.frames, model.image, model.image)
    spec = spec or 'synthetic'
    if spec == 'synthetic' or spec.startswith('synthetic:'):
        seed = int(spec.split(':', 1)[1]) if ':' in spec else 0
        return synthetic_video(shape, seed), {'kind': 'synthetic', 'seed': seed}
    if spec.lower().endswith('.npy'):
        norm = model.norm or {'mean': list(DEFAULT_MEAN), 'std': list(DEFAULT_STD), 'source': 'default (0.45 / 0.225)'}
        if mean or std:
            norm = {'mean': mean or norm['mean'], 'std': std or norm['std'], 'source': '--mean/--std'}
        video, kind = clip_from_array(np.load(spec, allow_pickle=False), model.frames, model.image, norm, spec)
        return video, {'kind': kind, 'path': spec, **({'normalization': norm} if kind == 'frames' else {})}
    video, _, _ = read_test_data(spec)
    if video.shape[1:] != shape[1:]:
        sys.exit(f'make_test_data: {spec}: its video is {video.shape}, the model takes (B, {", ".join(map(str, shape[1:]))})')
    return video, {'kind': 'test-data', 'path': spec}


def compare_precisions(model, video_t, ref_final, ref_blocks, precisions, device):
    """Per precision: every block's rel L2 vs fp32 (patch tokens) and the final output's."""
    import contextlib
    import torch
    res = {}
    for p in precisions:
        entry = {}
        try:
            m = copy.deepcopy(model.module)
            x = video_t
            ctx = contextlib.nullcontext()
            if p in ('fp16', 'bf16'):
                dt = torch.float16 if p == 'fp16' else torch.bfloat16
                m, x = m.to(dt), x.to(dt)
            else:
                ctx = torch.autocast(device_type=device.type, dtype=torch.float16 if p.endswith('fp16') else torch.bfloat16)
            mm = Model(m.eval(), model.kind, _layers_of(m, model), model.head, model.frames, model.image, model.norm, model.describe)
            with torch.inference_mode(), ctx:
                final, blocks = mm.forward(x)
            fin = final.float().cpu().numpy()
            bl = [b.float().cpu().numpy() for b in blocks]
            entry = {
                'blocks': [rel_l2(b, r) for b, r in zip(bl, ref_blocks)],
                'final': rel_l2(fin, ref_final, drop_cls=False),
                'nonFinite': int(sum(int((~np.isfinite(b)).sum()) for b in bl) + int((~np.isfinite(fin)).sum())),
            }
            if model.head:
                entry['top1Agree'] = bool((fin.argmax(-1) == ref_final.argmax(-1)).all())
            del m
        except Exception as e:  # noqa: BLE001 - record it and go on with the other precisions
            entry = {'error': f'{type(e).__name__}: {str(e)[:300]}'}
        res[p] = entry
        print(f"  {p:14s} " + ('error: ' + entry['error'] if 'error' in entry else
              'blocks ' + ' '.join(f'{v:.2e}' for v in entry['blocks']) + f"  final {entry['final']:.2e}"))
    return res


def _layers_of(m, model):
    if model.kind == 'official':
        return list(m.blocks)
    base = getattr(m, 'timesformer', m)
    return list(base.encoder.layer)


def check_against(path, video, final, blocks, tol):
    rv, rf, rb = read_test_data(path)
    problems = []
    if rv.shape != video.shape or float(np.abs(rv - video).max()) != 0.0:
        problems.append('its video differs from this clip: pass it as --input')
    if len(rb) != len(blocks):
        problems.append(f'{len(rb)} blocks there, {len(blocks)} here')
    errs = [rel_l2(b, r) for b, r in zip(blocks, rb)]
    fe = rel_l2(final, rf, drop_cls=False) if rf.shape == final.shape else float('inf')
    print(f'check against {path}: blocks ' + ' '.join(f'{e:.2e}' for e in errs) + f'  final {fe:.2e}  (tolerance {tol:g})')
    worst = max(errs + [fe])
    if worst > tol:
        problems.append(f'worst rel L2 {worst:.2e} > {tol:g}')
    return {'against': path, 'blocks': errs, 'final': fe, 'tolerance': tol, 'passed': not problems, 'problems': problems}


def floats(s):
    return [float(x) for x in s.split(',')] if s else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument('--weights', required=True, help='HF folder (or its config.json), or an official .pyth')
    ap.add_argument('--out', required=True, help='the test_data.p to write')
    ap.add_argument('--input', default='synthetic:0', help='synthetic[:SEED] | clip.npy | test_data.p (its video)')
    ap.add_argument('--mean', help='R,G,B (or one value) for uint8 frames')
    ap.add_argument('--std', help='R,G,B (or one value) for uint8 frames')
    ap.add_argument('--heads', type=int, help='attention heads (official checkpoints: required)')
    ap.add_argument('--official-repo', help='a checkout of facebookresearch/TimeSformer: run its vit.py instead of transformers')
    ap.add_argument('--device', default=None, help='cuda or cpu (default: cuda when available)')
    ap.add_argument('--trust-checkpoint', action='store_true', help='allow torch.load(weights_only=False) for official checkpoints that need it')
    ap.add_argument('--compare-precisions', help=','.join(PRECISIONS))
    ap.add_argument('--errors-json', help='where --compare-precisions and --check-against write their numbers')
    ap.add_argument('--check-against', help='another test_data.p of the same clip to compare with')
    ap.add_argument('--check-tol', type=float, default=1e-5)
    a = ap.parse_args(argv)
    mean, std = floats(a.mean), floats(a.std)
    for v, n in ((mean, 'mean'), (std, 'std')):
        if v is not None and len(v) == 1:
            v *= 3
        if v is not None and len(v) != 3:
            sys.exit(f'make_test_data: --{n} takes 1 or 3 numbers')
    precisions = [p.strip() for p in a.compare_precisions.split(',')] if a.compare_precisions else []
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad:
        sys.exit(f'make_test_data: unknown precision(s) {bad}; choose from {",".join(PRECISIONS)}')

    try:
        import torch
    except ImportError:
        sys.exit('make_test_data: PyTorch is not installed here (pip install torch, and transformers for HF models)')
    fp32_exact(torch)
    device = torch.device(a.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    model = load_model(a)
    video, input_info = read_clip(a.input, model, mean, std)
    model.module.to(device)
    video_t = torch.from_numpy(video).to(device)
    with torch.inference_mode():
        final_t, blocks_t = model.forward(video_t)
    final = final_t.cpu().numpy().astype(np.float32)
    blocks = [b.cpu().numpy().astype(np.float32) for b in blocks_t]
    write_test_data(a.out, video, final, blocks)
    what = 'probabilities' if model.head else "final LayerNorm class token (no classifier)"
    print(f'make_test_data: {model.describe}; clip {tuple(video.shape)} ({input_info["kind"]}); {len(blocks)} blocks '
          f'{tuple(blocks[0].shape) if blocks else ()}; {what} {tuple(final.shape)}; fp32 on {device} (TF32 off) -> {a.out}')
    report = {'weights': a.weights, 'model': model.describe, 'input': input_info, 'device': str(device),
              'device_name': torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu',
              'torch': torch.__version__, 'tf32': False, 'final': 'probabilities' if model.head else 'final LayerNorm class token'}
    try:
        import transformers
        report['transformers'] = transformers.__version__
    except ImportError:
        pass
    rc = 0
    if a.check_against:
        report['check'] = check_against(a.check_against, video, final, blocks, a.check_tol)
        if not report['check']['passed']:
            print('make_test_data: CHECK FAILED: ' + '; '.join(report['check']['problems']))
            rc = 1
    if precisions:
        if device.type != 'cuda':
            print('make_test_data: --compare-precisions on the CPU: fp16 kernels there differ from the GPU\'s')
        print(f'precisions vs fp32 (rel L2 of the patch tokens; final = {what}):')
        report['reference'] = 'fp32'
        report['precisions'] = compare_precisions(model, video_t, final, blocks, precisions, device)
    if a.errors_json:
        with open(a.errors_json, 'w') as f:
            json.dump(report, f, indent=1)
    return rc


if __name__ == '__main__':
    sys.exit(main())
