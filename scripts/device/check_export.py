#!/usr/bin/env python3
"""Check an ONNX file the lab exported, as the tools that will read it do: onnx.checker (full check,
with strict shape inference), then onnxruntime on an input, its outputs compared with a reference.

  python3 scripts/device/check_export.py MODEL.onnx
      [--test-data test_data.p | --input VIDEO.npy|.bin]
      [--ref NAME=FILE.npy|.bin ...] [--ref-model OTHER.onnx]
      [--tolerance 1e-5] [--ep cpu|cuda] [--check-only]

MODEL.onnx     an export: `timesformer-lab export-onnx ... --out MODEL.onnx` (for TensorRT: one output,
               probs), `run --save-onnx` or the extension's Export ONNX (as run: block outputs
               blocks.N.out, statistics, probs).
--test-data    a test_data.p (the seed's `(video, [probs, [block_0, ...]])` of numpy float32 arrays;
               read with an unpickler that accepts numpy arrays only): its video is the input, its
               probabilities and block outputs the reference (PyTorch's).
--input        the video alone: .npy, or .bin (raw little-endian float32, in the model's input shape).
--ref          a reference output by name (probs, features, blocks.4.out), .npy or .bin (the output's
               declared shape); repeatable.
--ref-model    another ONNX file run on the same input: every output the two share is compared. To
               compare with our FP32 graph: `timesformer-lab run --weights W --input synthetic:0
               --precision fp32 --save-onnx fp32.onnx`, then `--ref-model fp32.onnx` with the same clip
               (`--input` of the .npy the lab reads, or the same --test-data).
--tolerance    exit 1 when an output's rel L2 error exceeds it (default: report only).
--check-only   onnx.checker and the interface only (no onnxruntime).

Errors are rel L2 = ||out - ref|| / ||ref||: over the patch tokens for block outputs (the class token
dropped: the lab's metric), over the whole tensor otherwise. Prints each, the worst block and the
worst output. Exit 0 checked (and within --tolerance), 1 over the tolerance, 2 the file fails the
checker or cannot be run. Needs numpy, onnx and (unless --check-only) onnxruntime; nothing else.
"""
import argparse
import os
import pickle
import re
import sys

import numpy as np
import onnx

ELEM = {1: np.float32, 7: np.int64, 10: np.float16, 16: None}


class NumpyOnly(pickle.Unpickler):
    """Unpickles numpy arrays, lists and tuples; refuses every other global (a pickle can run code)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            try:
                return super().find_class(module, name)
            except ModuleNotFoundError:  # written by numpy 2 (numpy._core), read by numpy 1 (numpy.core)
                return super().find_class(module.replace("numpy._core", "numpy.core"), name)
        raise pickle.UnpicklingError(f"refusing {module}.{name}: a test_data.p holds numpy arrays only")


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def dims_of(value_info):
    t = value_info.type.tensor_type
    return [d.dim_value for d in t.shape.dim] if t.HasField("shape") else None


def load_array(path, shape, what):
    if not os.path.isfile(path):
        fail(f"{what}: {path} does not exist")
    if path.endswith(".npy"):
        a = np.load(path, allow_pickle=False)
    else:
        a = np.fromfile(path, dtype="<f4")
        if shape is None or int(np.prod(shape)) != a.size:
            fail(f"{what}: {path} holds {a.size} float32 values, the model declares shape {shape}")
        a = a.reshape(shape)
    return np.ascontiguousarray(a, dtype=np.float32)


def read_test_data(path):
    with open(path, "rb") as f:
        try:
            video, (probs, blocks) = NumpyOnly(f).load()
        except (pickle.UnpicklingError, ValueError, TypeError) as e:
            fail(f"{path}: not a test_data.p of (video, [probs, [blocks...]]): {e}")
    return np.asarray(video, np.float32), np.asarray(probs, np.float32), [np.asarray(b, np.float32) for b in blocks]


def rel_l2(out, ref, block):
    out = np.asarray(out, np.float64).reshape(-1)
    ref = np.asarray(ref, np.float64).reshape(-1)
    if out.size != ref.size:
        return None
    if block:  # (B, 1 + S*T, C): the class token of each clip left out, as the lab compares blocks
        c = int(block)
        rows = out.reshape(-1, c)
        refs = ref.reshape(-1, c)
        keep = np.ones(rows.shape[0], bool)
        keep[0] = False
        out, ref = rows[keep].reshape(-1), refs[keep].reshape(-1)
    if not np.all(np.isfinite(out)):
        return float("inf")
    den = np.linalg.norm(ref)
    num = np.linalg.norm(out - ref)
    return float(num / den) if den > 0 else float(num)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--test-data")
    src.add_argument("--input")
    ap.add_argument("--ref", action="append", default=[], metavar="NAME=FILE")
    ap.add_argument("--ref-model")
    ap.add_argument("--tolerance", type=float)
    ap.add_argument("--ep", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--check-only", action="store_true")
    a = ap.parse_args()

    if not os.path.isfile(a.model):
        fail(f"{a.model} does not exist")
    # 1. the checker, given the path (models over 2 GB and external data are read from beside it)
    try:
        onnx.checker.check_model(a.model, full_check=True)
    except Exception as e:  # onnx.checker.ValidationError, onnx.shape_inference.InferenceError
        fail(f"{a.model}: onnx.checker.check_model(full_check=True) refuses it: {e}")
    m = onnx.load(a.model, load_external_data=False)
    ext = [t.name for t in m.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    outs = {o.name: dims_of(o) for o in m.graph.output}
    ins = {i.name: dims_of(i) for i in m.graph.input}
    for name, d in list(ins.items()) + list(outs.items()):
        if not d or any(x <= 0 for x in d):
            fail(f"{a.model}: graph input/output {name} has no full shape ({d})")
    size = os.path.getsize(a.model)
    print(f"{a.model}: onnx.checker (full) passes; {size / 2**20:.1f} MiB, {len(m.graph.node)} nodes, "
          f"{len(m.graph.initializer)} initializers{f', {len(ext)} of them external data' if ext else ' inline'}, "
          f"opset {max(o.version for o in m.opset_import if o.domain in ('', 'ai.onnx'))}")
    print(f"  inputs:  {', '.join(f'{k} {v}' for k, v in ins.items())}")
    shown = list(outs.items())
    print(f"  outputs: {', '.join(f'{k} {v}' for k, v in shown[:6])}{f' … ({len(shown)} in all)' if len(shown) > 6 else ''}")
    if a.check_only:
        return 0

    try:
        import onnxruntime as ort  # only here: --check-only needs no onnxruntime
    except ImportError:
        fail("onnxruntime is not installed (pip install onnxruntime, or onnxruntime-gpu for --ep cuda); --check-only runs the checker alone")

    refs = {}
    if a.test_data:
        video, probs, blocks = read_test_data(a.test_data)
        refs["probs" if "probs" in outs else "features"] = probs
        for i, b in enumerate(blocks):
            refs[f"blocks.{i}.out"] = b
    elif a.input:
        video = load_array(a.input, next(iter(ins.values())), "--input")
    else:
        fail("give the input: --test-data or --input")
    for r in a.ref:
        name, _, path = r.partition("=")
        if not path:
            fail(f"--ref {r}: expected NAME=FILE")
        refs[name] = load_array(path, outs.get(name), f"--ref {name}")

    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if a.ep == "cuda" else ["CPUExecutionProvider"]

    def run(path):
        s = ort.InferenceSession(path, providers=providers)
        names = [o.name for o in s.get_outputs()]
        return dict(zip(names, s.run(names, {s.get_inputs()[0].name: video})))

    try:
        got = run(a.model)
    except Exception as e:
        fail(f"onnxruntime cannot run {a.model}: {e}")
    for name, value in got.items():
        if outs.get(name) and list(value.shape) != outs[name]:
            fail(f"output {name}: onnxruntime gives shape {list(value.shape)}, the graph declares {outs[name]}")
    if a.ref_model:
        try:
            other = run(a.ref_model)
        except Exception as e:
            fail(f"onnxruntime cannot run {a.ref_model}: {e}")
        refs.update({k: v for k, v in other.items() if k in got})

    common = [k for k in got if k in refs]
    if not common:
        fail(f"no output of {a.model} ({', '.join(got)}) has a reference ({', '.join(refs) or 'none given'})")
    block = re.compile(r"^blocks\.(\d+)\.out$")
    worst_block = None
    worst = 0.0
    print(f"{'output':24} rel L2")
    for k in sorted(common, key=lambda n: (0, int(block.match(n).group(1))) if block.match(n) else (1, n)):
        is_block = block.match(k)
        e = rel_l2(got[k], refs[k], got[k].shape[-1] if is_block else 0)
        if e is None:
            fail(f"{k}: {got[k].size} values, the reference has {np.asarray(refs[k]).size}")
        print(f"{k:24} {e:.3e}")
        worst = max(worst, e)
        if is_block and (worst_block is None or e > worst_block[1]):
            worst_block = (k, e)
    if worst_block:
        print(f"worst block: {worst_block[0]} {worst_block[1]:.3e}")
    print(f"worst output: {worst:.3e}{'' if a.tolerance is None else f' (tolerance {a.tolerance:g})'}")
    if a.tolerance is not None and not worst <= a.tolerance:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
