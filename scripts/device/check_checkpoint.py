#!/usr/bin/env python3
"""Read a torch.save zip checkpoint without torch (zipfile + a restricted Unpickler + numpy) and check it.

  python3 scripts/device/check_checkpoint.py CKPT [--manifest M.json] [--params N] [--like REF.pyth]

Checks: the zip layout torch writes (STORED entries, data at 64-byte boundaries, byteorder
'little', version); every CRC (zipfile checks it on read); the pickle only names the globals torch
uses for a state dict; every tensor's shape and its storage size; the parameter count (--params,
or 121,566,352 when the shapes are the full-size model's); with --manifest (written by
gen-checkpoint.js --manifest) each tensor's shape, first values (exact) and sums; with --like, the
same zip entry kinds, flags and pickle globals as a reference checkpoint (e.g. a fixture made by
torch). Only reads. Exit status 0 when every check passes.
"""
import argparse
import collections
import json
import pickle
import struct
import sys
import zipfile

import numpy as np

FULL_SIZE_PARAMS = 121_566_352
DTYPES = {
    'FloatStorage': np.float32, 'HalfStorage': np.float16, 'DoubleStorage': np.float64,
    'LongStorage': np.int64, 'IntStorage': np.int32, 'ShortStorage': np.int16,
    'CharStorage': np.int8, 'ByteStorage': np.uint8, 'BoolStorage': np.bool_,
}


class StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = DTYPES.get(name)


class Storage:
    def __init__(self, stype, key, location, numel):
        self.stype, self.key, self.location, self.numel = stype, key, location, numel


class TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *rest):
    return TensorRef(storage, storage_offset, size, stride)


class Unpickler(pickle.Unpickler):
    """Resolves only what torch.save writes for a state dict; anything else is an error."""

    globals_seen = collections.Counter()

    def find_class(self, module, name):
        Unpickler.globals_seen[f'{module}.{name}'] += 1
        if (module, name) == ('collections', 'OrderedDict'):
            return collections.OrderedDict
        if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
            return rebuild_tensor_v2
        if module == 'torch' and name.endswith('Storage'):
            return StorageType(name)
        raise pickle.UnpicklingError(f'unexpected global {module}.{name}')

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == 'storage'):
            raise pickle.UnpicklingError(f'unexpected persistent id {pid!r}')
        _, stype, key, location, numel = pid
        return Storage(stype, key, location, numel)


def local_data_offset(raw_header):
    sig, _, _, _, _, _, _, _, _, name_len, extra_len = struct.unpack('<IHHHHHIIIHH', raw_header[:30])
    assert sig == 0x04034B50, 'bad local header signature'
    return 30 + name_len + extra_len


def load(path):
    z = zipfile.ZipFile(path)
    infos = z.infolist()
    names = [i.filename for i in infos]
    pkl = [n for n in names if n.endswith('/data.pkl')]
    if len(pkl) != 1:
        raise SystemExit(f'{path}: expected one */data.pkl, found {pkl}')
    stem = pkl[0][: -len('/data.pkl')]
    Unpickler.globals_seen = collections.Counter()
    with z.open(pkl[0]) as f:
        root = Unpickler(f).load()
    return z, stem, root, dict(Unpickler.globals_seen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('checkpoint')
    ap.add_argument('--manifest')
    ap.add_argument('--params', type=int)
    ap.add_argument('--like')
    ap.add_argument('--state-key', default='model_state')
    a = ap.parse_args()
    problems = []

    z, stem, root, globs = load(a.checkpoint)
    infos = z.infolist()
    with open(a.checkpoint, 'rb') as fh:
        misaligned = []
        for i in infos:
            if i.compress_type != zipfile.ZIP_STORED:
                problems.append(f'{i.filename}: compressed (method {i.compress_type}); torch writes STORED')
            fh.seek(i.header_offset)
            start = i.header_offset + local_data_offset(fh.read(30 + 65535 * 2))
            if start % 64:
                misaligned.append(i.filename)
        if misaligned:
            problems.append(f'{len(misaligned)} entries not 64-byte aligned, e.g. {misaligned[:3]}')
    for name, want in (('byteorder', b'little'), ('version', None), ('.format_version', None)):
        full = f'{stem}/{name}'
        if full not in z.namelist():
            problems.append(f'missing {full}')
        elif want is not None and z.read(full) != want:
            problems.append(f'{full} = {z.read(full)!r}, expected {want!r}')

    if not isinstance(root, dict):
        raise SystemExit(f'top level is {type(root).__name__}, expected a dict')
    print(f'{a.checkpoint}: stem {stem!r}, {len(infos)} zip entries, top-level keys {list(root)}')
    state = root.get(a.state_key)
    if not isinstance(state, collections.OrderedDict):
        raise SystemExit(f'{a.state_key} is {type(state).__name__}, expected OrderedDict')
    print(f'globals: {globs}')

    arrays = collections.OrderedDict()
    params = 0
    for key, t in state.items():
        if not isinstance(t, TensorRef):
            problems.append(f'{key}: not a tensor ({type(t).__name__})')
            continue
        st = t.storage
        raw = z.read(f'{stem}/data/{st.key}')  # zipfile checks the CRC here
        dt = st.stype.dtype
        if dt is None:
            problems.append(f'{key}: unsupported storage {st.stype.name}')
            continue
        if len(raw) != st.numel * np.dtype(dt).itemsize:
            problems.append(f'{key}: storage {st.key} has {len(raw)} bytes, pickle says {st.numel} elements')
        flat = np.frombuffer(raw, dtype=dt)
        n = int(np.prod(t.size)) if t.size else 1
        item = np.dtype(dt).itemsize
        arr = np.lib.stride_tricks.as_strided(flat[t.offset:], shape=t.size, strides=[s * item for s in t.stride]) if n else flat[:0].reshape(t.size)
        arrays[key] = arr
        params += n

    print(f'{len(arrays)} tensors, {params:,} parameters')
    for k in list(arrays)[:3] + list(arrays)[-2:]:
        v = arrays[k]
        print(f'  {k:40s} {str(tuple(v.shape)):18s} first {np.round(v.reshape(-1)[:4].astype(np.float64), 5).tolist()}')

    expected = a.params
    if expected is None:
        cls = arrays.get('model.cls_token')
        pos = arrays.get('model.pos_embed')
        head = arrays.get('model.head.weight')
        if cls is not None and pos is not None and head is not None and cls.shape == (1, 1, 768) and pos.shape == (1, 197, 768) and head.shape == (400, 768) and 'model.blocks.11.norm1.weight' in arrays:
            expected = FULL_SIZE_PARAMS
    if expected is not None:
        if params != expected:
            problems.append(f'parameter count {params:,} != expected {expected:,}')
        else:
            print(f'parameter count matches {expected:,}')

    if a.manifest:
        m = json.load(open(a.manifest))
        if m.get('params') != params:
            problems.append(f'manifest says {m.get("params")} parameters, file has {params}')
        seen = 0
        for e in m['tensors']:
            v = arrays.get(e['key'])
            if v is None:
                problems.append(f'{e["key"]}: in the manifest, not in the file')
                continue
            seen += 1
            if list(v.shape) != e['shape']:
                problems.append(f'{e["key"]}: shape {list(v.shape)} != manifest {e["shape"]}')
                continue
            flat = v.reshape(-1)
            first = np.array(e['first'], dtype=np.float32)
            if not np.array_equal(flat[: len(first)], first):
                problems.append(f'{e["key"]}: first values {flat[:len(first)].tolist()} != manifest {first.tolist()}')
            f64 = flat.astype(np.float64)
            s, s2 = float(f64.sum()), float((f64 * f64).sum())
            tol = 1e-9 * max(1.0, float(np.abs(f64).sum()))
            if abs(s - e['sum']) > tol or abs(s2 - e['sumSq']) > 1e-9 * max(1.0, s2):
                problems.append(f'{e["key"]}: sums {s}, {s2} != manifest {e["sum"]}, {e["sumSq"]}')
        if seen != len(arrays):
            problems.append(f'file has {len(arrays)} tensors, manifest {seen}')
        print(f'manifest: {seen} tensors compared (shape, first {len(m["tensors"][0]["first"])} values, sums)')

    if a.like:
        rz, rstem, rroot, rglobs = load(a.like)

        def kinds(zf, st):
            out = set()
            for i in zf.infolist():
                n = i.filename[len(st) + 1:]
                out.add(('data/N' if n.startswith('data/') else n, i.compress_type, i.flag_bits))
            return out

        mine, ref = kinds(z, stem), kinds(rz, rstem)
        if mine != ref:
            problems.append(f'zip entry kinds differ from {a.like}: only here {sorted(mine - ref)}, only there {sorted(ref - mine)}')
        if set(globs) != set(rglobs):
            problems.append(f'pickle globals differ: here {sorted(globs)}, reference {sorted(rglobs)}')
        missing_top = set(rroot) - set(root)
        if missing_top:
            problems.append(f'top-level keys missing vs reference: {sorted(missing_top)}')
        rstate = rroot.get(a.state_key)
        ref_keys = [k.split('.', 2)[-1] if k.startswith('model.blocks.') else k for k in rstate]
        my_keys = [k.split('.', 2)[-1] if k.startswith('model.blocks.') else k for k in state]
        if list(dict.fromkeys(ref_keys)) != list(dict.fromkeys(my_keys)):
            problems.append('state-dict key order differs from the reference')
        print(f'like {a.like}: zip entry kinds, flags, pickle globals, top-level keys and key order compared')

    if problems:
        print('FAILED:')
        for p in problems:
            print('  ' + p)
        sys.exit(1)
    print('OK')


if __name__ == '__main__':
    main()
