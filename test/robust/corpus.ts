/**
 * The corpus of hostile and broken inputs (issue 12): every defect of the audit and its other
 * classes (truncations, forbidden globals, bad zips, wrong dtypes, mismatches...), each file made
 * here from a recipe, with the error code the lab must answer — or OK — in manifest.json.
 *
 *   node out/test/robust/corpus.js [--out test/fixtures/bad]
 *
 * The files are small TimeSformers (C=16, 2 blocks, 2 frames of 32x32, 3 classes) written with the
 * test helpers (pickle + zip by hand), deterministic; the zip bombs are deflate streams of repeated
 * flushed blocks (~1 KB per MiB), the 2 GiB legacy file is sparse. Only manifest.json and README.md
 * are committed; the test (test/unit/robust.test.ts) regenerates the files into a temp folder.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { contiguousStrides } from '../../extension/core/formats/arrays';
import { roundTwo } from './corpus-hf';
import { type Py, f32bytes, pickle2, torchTensor, zipArchive } from '../unit/helpers/pyfiles';
import { checkpoint, legacyCheckpoint, raw, deepTuple, billionLaughs, zeroBomb, type CorpusCase, type Dims, TINY, values, numel, ndarray, f32, testData, type Recipe } from './corpus-files';
export { Stage, CorpusCase, Dims, TINY, shapes, values, numel, CkptOptions, tinyCheckpoint, ndarray, f32, DataOptions, testData, Recipe } from './corpus-files';


const GOOD_W = 'good.pyth';
const GOOD_D = 'good_test_data.p';
const LINK = '[open a terminal](command:workbench.action.terminal.new)';

function recipes(): Recipe[] {
  const r: Recipe[] = [];
  const w = (id: string, expect: string, what: string, bytes: Buffer, defect?: number): void => {
    r.push({ id, defect, stage: 'weights', expect, what, files: { [`${id}.pyth`]: bytes }, weights: `${id}.pyth` });
  };
  const d = (id: string, expect: string, what: string, bytes: Buffer, defect?: number): void => {
    r.push({ id, defect, stage: 'data', expect, what, files: { [`${id}_test_data.p`]: bytes }, data: `${id}_test_data.p`, weights: GOOD_W });
  };

  r.push({ id: 'good', stage: 'pair', expect: 'OK', what: 'the tiny model and its test data, as torch.save and pickle write them', files: { [GOOD_W]: checkpoint(), [GOOD_D]: testData() }, weights: GOOD_W, data: GOOD_D });

  // 1. shared references
  w('d1_shared_cfg', 'OK', 'cfg is L=[1]; 40x L=[L,L] (memo references): read as 41 shared lists, meta rendered within its bound', checkpoint({ extraTop: [['cfg', billionLaughs()]] }), 1);
  w('d1_shared_param_groups', 'OK', 'optimizer_state.param_groups holds the same 40-level shared list', checkpoint({
    extraTop: [['optimizer_state', { $dict: [['state', { $dict: [] }], ['param_groups', { $list: [{ $dict: [['lr', 0.1], ['params', { $list: [0, 1] }], ['betas', billionLaughs()]] }] }]] }]],
  }), 1);
  w('d1_set_of_shared_list', 'LIMIT_EXCEEDED', 'set(L) of one memoized 100,000-item list, 2,000 times: each copy is paid for', checkpoint({
    extraTop: [['cfg', { $list: [{ $put: 1, value: { $list: Array.from({ length: 100_000 }, (_, i) => i % 200) } }, ...Array.from({ length: 2000 }, (): Py => ({ $call: { $global: 'builtins.set' }, args: [{ $get: 1 }] }))] }]],
  }), 1);
  w('d1_bytes_of_shared_string', 'LIMIT_EXCEEDED', '_codecs.encode of one memoized 1 MB string, 1,000 times', checkpoint({
    extraTop: [['cfg', { $list: [{ $put: 1, value: 'x'.repeat(1 << 20) }, ...Array.from({ length: 1000 }, (): Py => ({ $call: { $global: '_codecs.encode' }, args: [{ $get: 1 }, 'latin1'] }))] }]],
  }), 1);

  // 2. sizes
  w('d2_stride0_unused_key', 'OK', 'an extra state-dict key: a stride-0 view of a 64-element storage declared as 2^29 elements; the model never uses it, so it is never read', checkpoint({
    extraState: [['model.extra.expanded', torchTensor('FloatStorage', 'x', 64, 0, [2 ** 29], [0])]], storages: { x: f32bytes(new Array(64).fill(1)) },
  }), 2);
  w('d2_stride0_used_key', 'BAD_WEIGHTS', 'blocks.0.mlp.fc1.weight (64x16) is a stride-0 view of a 1-element storage', checkpoint({
    tensor: (k, _sk, shape) => (k === 'blocks.0.mlp.fc1.weight' ? torchTensor('FloatStorage', 'one', 1, 0, shape, [0, 0]) : undefined), storages: { one: f32bytes([0.5]) },
  }), 2);
  w('d2_shared_storage_many_times', 'LIMIT_EXCEEDED', 'every weight of 300 blocks is a view of the same storages: the tensors add up to far more than the file holds', checkpoint({
    dims: { ...TINY, depth: 300 },
    tensor: (_k, _sk, shape) => torchTensor('FloatStorage', 'big', 16384, 0, shape, contiguousStrides(shape)),
    storages: { big: new Uint8Array(16384 * 4) },
    zip: (specs) => specs.filter((s) => !/\/data\/\d+$/.test(s.name)),
  }), 2);
  d('d2_block_listed_100000_times', 'MISMATCH', 'one float64 block listed 100,000 times (memo references): refused before any array is read', testData({
    blocks: (B, tokens, C) => [{ $put: 7, value: ndarray('f8', [B, tokens, C], new Uint8Array(new Float64Array(values(B * tokens * C, 5)).buffer)) }, ...Array.from({ length: 99_999 }, (): Py => ({ $get: 7 }))],
  }), 2);
  d('d2_video_too_large', 'MISMATCH', 'a video 8 times the size the model needs', testData({ video: f32([1, 3, TINY.T * 8, TINY.image, TINY.image], 1) }), 2);

  // 3. zip bombs
  {
    const key = 'blocks.0.mlp.fc1.weight';
    const n = TINY.H * TINY.C;
    const bombMiB = 512;
    const bomb = zeroBomb(bombMiB);
    const bombed = (offset: number) => checkpoint({
      tensor: (k, _sk, shape) => (k === key ? torchTensor('FloatStorage', 'bomb', (bombMiB << 20) / 4, offset, shape, contiguousStrides(shape)) : undefined),
      zip: (specs) => [...specs, { name: 'tiny/data/bomb', method: 8, compressed: bomb.compressed, size: bomb.size, crc: bomb.crc }],
    });
    w('d3_bomb_needed_to_the_end', 'LIMIT_EXCEEDED', `${key} sits at the end of a 512 MiB deflated storage (~0.5 MB compressed): inflating that far is refused before it starts`, bombed((bombMiB << 20) / 4 - n), 3);
    w('d3_bomb_prefix_only', 'OK', `${key} sits at the start of the same 512 MiB bomb: only its 4 KiB are inflated`, bombed(0), 3);
    w('d3_bomb_shared_by_49_tensors', 'OK', 'all 49 weights are views at the start of one 512 MiB bomb: inflated once, up to the last byte needed', checkpoint({
      tensor: (_k, _sk, shape) => torchTensor('FloatStorage', 'bomb', (bombMiB << 20) / 4, 0, shape, contiguousStrides(shape)),
      zip: (specs) => [...specs.filter((s) => !/\/data\/\d+$/.test(s.name)), { name: 'tiny/data/bomb', method: 8, compressed: bomb.compressed, size: bomb.size, crc: bomb.crc }],
    }), 3);
    const pklBomb = zeroBomb(1024, pickle2({ $dict: [['epoch', 3]] }));
    w('d3_bomb_data_pkl', 'LIMIT_EXCEEDED', 'data.pkl deflated to 1 MB from a pickle followed by 1 GiB of zeros: more than a checkpoint pickle may span, refused before inflating', checkpoint({
      zip: (specs) => specs.map((s) => (s.name === 'tiny/data.pkl' ? { name: s.name, method: 8, compressed: pklBomb.compressed, size: pklBomb.size, crc: pklBomb.crc } : s)),
    }), 3);
  }
  w('deflated_ok', 'OK', 'every entry deflated (a re-zipped checkpoint): storages inflate as they are read', checkpoint({ zip: (specs) => specs.map((s) => ({ ...s, method: 8 })) }));

  // 4. legacy header that never ends, in a sparse 2 GiB file
  {
    const head = legacyCheckpoint({ mainPickle: Buffer.from('80027d71005858ffff7f', 'hex') }); // {} then BINUNICODE of 2^31-168 bytes
    const start = head.indexOf(Buffer.from('80027d7100', 'hex'));
    r.push({
      id: 'd4_legacy_sparse_2gib', defect: 4, stage: 'weights', expect: 'LIMIT_EXCEEDED',
      what: 'legacy checkpoint whose main pickle announces a 2 GiB string, in a sparse 2 GiB file: stopped at the 16 MiB span limit, nothing large is read',
      files: { 'd4_legacy_sparse_2gib.pyth': { sparse: head.subarray(0, start + 10), size: 2 ** 31 } }, weights: 'd4_legacy_sparse_2gib.pyth',
    });
  }

  // 5. file-controlled text that looks like a command link (escaping is the host's; the code is ours)
  w('d5_link_in_global', 'FORBIDDEN_PICKLE_GLOBAL', 'a global named like a markdown command link', checkpoint({ top: () => ({ $call: { $global: `os.${LINK}` }, args: [] }) }), 5);
  w('d5_link_in_keys', 'MISSING_WEIGHTS', 'top-level keys that are command links, no tensors', checkpoint({ top: () => ({ $dict: [[LINK, 1], [`[x](command:vscode.open?${encodeURIComponent('["/etc/passwd"]')})`, 2]] }) }), 5);
  w('d5_link_in_byteorder', 'BAD_WEIGHTS', 'the byteorder record is a command link', checkpoint({ zip: (specs) => specs.map((s) => (s.name.endsWith('byteorder') ? { name: s.name, data: Buffer.from(LINK) } : s)) }), 5);
  r.push({ id: 'd5_link_in_file_name', defect: 5, stage: 'weights', expect: 'NOT_A_CHECKPOINT', what: 'a text file whose name and first characters are command links', files: { [`${LINK}.pyth`]: Buffer.from(`${LINK}\n`) }, weights: `${LINK}.pyth` });

  // 6. devices and FIFOs (given as test data and as weights)
  r.push({ id: 'd6_dev_zero', defect: 6, stage: 'data', expect: 'NOT_A_FILE', what: '/dev/zero as test data: refused before it is read', files: {}, data: '/dev/zero', weights: GOOD_W });
  r.push({ id: 'd6_fifo_data', defect: 6, stage: 'data', expect: 'NOT_A_FILE', what: 'a FIFO as test data: refused without blocking', files: { 'd6_fifo_test_data.p': { fifo: true } }, data: 'd6_fifo_test_data.p', weights: GOOD_W });
  r.push({ id: 'd6_fifo_weights', defect: 6, stage: 'weights', expect: 'NOT_A_FILE', what: 'a FIFO as the checkpoint', files: { 'd6_fifo.pyth': { fifo: true } }, weights: 'd6_fifo.pyth' });
  r.push({ id: 'd6_symlink_to_dev_zero', defect: 6, stage: 'data', expect: 'NOT_A_FILE', what: 'a symlink in the workspace pointing at /dev/zero', files: { 'd6_link_test_data.p': { symlink: '/dev/zero' } }, data: 'd6_link_test_data.p', weights: GOOD_W });
  r.push({ id: 'd6_directory', defect: 6, stage: 'weights', expect: 'NOT_A_CHECKPOINT', what: 'a directory named like a checkpoint (a folder is read as a HuggingFace model folder; without config.json it is not one)', files: { 'd6_dir.pyth': { dir: true } }, weights: 'd6_dir.pyth' });

  // 7. stack traces
  w('d7_deep_tuple_key', 'LIMIT_EXCEEDED', 'a top-level dict key that is a tuple nested 5000 deep', checkpoint({ extraTop: [[deepTuple(5000), 1]] }), 7);
  d('d7_deep_tuple_test_data', 'LIMIT_EXCEEDED', 'test data whose probs are a tuple nested 5000 deep', testData({ probs: deepTuple(5000) }), 7);
  {
    const narrow: Dims = { ...TINY, C: 4, H: 16 };
    r.push({
      id: 'd7_width4_model', defect: 7, stage: 'run', expect: 'HEADS_UNDETECTED', what: 'a 4-wide model without --heads: nothing to detect from, a typed error (was: Reduce of empty array)',
      files: { 'd7_width4.pyth': checkpoint({ dims: narrow }), 'd7_width4_test_data.p': testData({ dims: narrow }) }, weights: 'd7_width4.pyth', data: 'd7_width4_test_data.p',
    });
  }

  // 8. wrong reports
  d('d8_batch0', 'BAD_TEST_DATA', 'test data with batch 0 (was: a vacuous PASS)', testData({ batch: 0 }), 8);
  w('d8_nan_weight', 'NON_FINITE', 'one NaN in blocks.1.mlp.fc2.bias (was: blamed on FP16 overflow in an FP32 run)', checkpoint({ values: (k, v) => { if (k === 'blocks.1.mlp.fc2.bias') v[5] = NaN; } }), 8);
  w('d8_inf_weight', 'NON_FINITE', '+infinity in the head', checkpoint({ values: (k, v) => { if (k === 'head.weight') v[0] = Infinity; } }), 8);
  w('d8_all_nan', 'NON_FINITE', 'every weight NaN (was: HEADS_UNDETECTED pinned on the test data)', checkpoint({ values: (_k, v) => v.fill(NaN) }), 8);
  d('d8_nan_test_data', 'NON_FINITE', 'a NaN in block output 1', testData({ blocks: (B, t, C) => [f32([B, t, C], 10), f32([B, t, C], 11, (v) => { v[100] = NaN; })] }), 8);

  // 10. leniency
  w('d10_duplicate_entry', 'BAD_ZIP', 'two zip entries named tiny/data/20, with different bytes', checkpoint({ zip: (specs) => [...specs, { name: 'tiny/data/20', data: new Uint8Array(64 * 16 * 4).fill(0x3f) }] }), 10);
  w('d10_negative_stride', 'BAD_WEIGHTS', 'head.weight with stride (-16, 1)', checkpoint({ tensor: (k, sk, shape) => (k === 'head.weight' ? torchTensor('FloatStorage', sk, numel(shape), 32, shape, [-16, 1]) : undefined) }), 10);
  w('d10_trailing_after_data_pkl', 'BAD_PICKLE', '1 KiB after data.pkl\'s STOP', checkpoint({ pklTail: new Uint8Array(1024).fill(0x2e) }), 10);
  d('d10_trailing_after_test_data', 'BAD_TEST_DATA', 'bytes after the test data\'s pickle', testData({ tail: Buffer.from('trailing') }), 10);

  // truncations
  const good = checkpoint();
  for (const f of [0.25, 0.5, 0.9]) w(`trunc_zip_${f * 100}`, 'BAD_ZIP', `the tiny checkpoint cut at ${f * 100}%`, good.subarray(0, Math.floor(good.length * f)));
  w('trunc_zip_eocd', 'BAD_ZIP', 'the end-of-central-directory record cut short', good.subarray(0, good.length - 10));
  w('trunc_zip_4_bytes', 'BAD_ZIP', 'only "PK\\x03\\x04"', good.subarray(0, 4));
  w('empty_weights', 'NOT_A_CHECKPOINT', 'an empty file', Buffer.alloc(0));
  const legacy = legacyCheckpoint();
  w('legacy_ok', 'OK', 'the tiny model in the legacy (pre-1.6) format', legacy);
  w('trunc_legacy_storages', 'BAD_WEIGHTS', 'legacy checkpoint cut inside its storages', legacy.subarray(0, legacy.length - 100));
  w('trunc_legacy_header', 'BAD_PICKLE', 'legacy checkpoint cut inside its main pickle', legacy.subarray(0, 200));
  const data = testData();
  d('trunc_test_data', 'BAD_TEST_DATA', 'test data cut at 60%', data.subarray(0, Math.floor(data.length * 0.6)));
  d('empty_test_data', 'BAD_TEST_DATA', 'an empty test-data file', Buffer.alloc(0));

  // forbidden globals
  const posixSystem = Buffer.from('\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.', 'latin1');
  const forbidden: [string, Py][] = [
    ['builtins_eval', { $call: { $global: 'builtins.eval' }, args: ['1+1'] }],
    ['builtins_exec', { $call: { $global: 'builtins.exec' }, args: ['import os'] }],
    ['builtins_getattr', { $call: { $global: 'builtins.getattr' }, args: [{ $global: 'collections.OrderedDict' }, '__init__'] }],
    ['dunder_import', { $call: { $global: '__builtin__.__import__' }, args: ['os'] }],
    ['subprocess_popen', { $call: { $global: 'subprocess.Popen' }, args: [['touch', '/tmp/pwned']] }],
    ['torch_load_from_bytes', { $call: { $global: 'torch.storage._load_from_bytes' }, args: [new Uint8Array([1, 2, 3])] }],
    ['torch_load', { $call: { $global: 'torch.load' }, args: ['/etc/passwd'] }],
    ['numpy_load', { $call: { $global: 'numpy.load' }, args: ['/etc/passwd'] }],
    ['ext1_opcode', raw('8201')],
    ['inst_os_system', { $raw: Buffer.from('(S\'id\'\nios\nsystem\n', 'latin1') }],
  ];
  for (const [id, expr] of forbidden) {
    w(`forbidden_${id}`, 'FORBIDDEN_PICKLE_GLOBAL', `data.pkl calls ${id.replace(/_/g, '.')}`, checkpoint({ extraTop: [['cfg', expr]] }));
  }
  d('forbidden_posix_system_test_data', 'FORBIDDEN_PICKLE_GLOBAL', 'test data that is posix.system(\'ls\')', posixSystem);
  w('forbidden_posix_system_zip', 'FORBIDDEN_PICKLE_GLOBAL', 'a zip whose data.pkl is posix.system(\'ls\')', zipArchive([{ name: 'evil/data.pkl', data: posixSystem }]));

  // bad zips
  w('zip_garbage_after_magic', 'BAD_ZIP', '"PK\\x03\\x04" followed by garbage', Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(200, 0x41)]));
  w('zip_dotdot_name', 'BAD_ZIP', 'an entry named ../../etc/cron.d/x', checkpoint({ zip: (specs) => [...specs, { name: '../../etc/cron.d/x', data: Buffer.from('* * * * * root id\n') }] }));
  w('zip_bzip2_data_pkl', 'BAD_ZIP', 'data.pkl with compression method 12 (bzip2)', checkpoint({ zip: (specs) => specs.map((s) => (s.name.endsWith('data.pkl') ? { ...s, method: 12, compressed: s.data } : s)) }));
  w('zip_encrypted_data_pkl', 'BAD_ZIP', 'data.pkl flagged encrypted (with the 12-byte encryption header)', checkpoint({ zip: (specs) => specs.map((s) => (s.name.endsWith('data.pkl') ? { ...s, flags: 0x801, compressed: Buffer.concat([Buffer.alloc(12), Buffer.from(s.data ?? [])]) } : s)) }));
  w('zip_stored_size_lie', 'BAD_ZIP', 'a stored storage entry whose recorded size is larger than its data', checkpoint({ zip: (specs) => specs.map((s) => (s.name === 'tiny/data/0' ? { ...s, size: 1 << 20 } : s)) }));
  w('zip_without_data_pkl', 'NOT_A_CHECKPOINT', 'a zip of text files', zipArchive([{ name: 'readme.txt', data: Buffer.from('hello') }]));
  w('zip_missing_storage', 'BAD_WEIGHTS', 'the storage of blocks.0.norm1.weight is not in the archive', checkpoint({ zip: (specs) => specs.filter((s) => s.name !== 'tiny/data/9') }));
  {
    const z = Buffer.from(good);
    const eocd = z.lastIndexOf(Buffer.from('PK\x05\x06', 'latin1'));
    z.writeUInt32LE(0xfffffff0, eocd + 16); // central directory offset past the end
    w('zip_cd_offset_out_of_range', 'BAD_ZIP', 'the central directory offset points past the end of the file', z);
  }

  // dtypes
  w('dtype_complex_storage', 'UNSUPPORTED_DTYPE', 'head.weight in a ComplexFloatStorage', checkpoint({ tensor: (k, sk, shape) => (k === 'head.weight' ? torchTensor('ComplexFloatStorage', sk, numel(shape) / 2, 0, shape, contiguousStrides(shape)) : undefined) }));
  w('dtype_qint8_storage', 'UNSUPPORTED_DTYPE', 'head.bias in a QInt8Storage', checkpoint({ tensor: (k, sk, shape) => (k === 'head.bias' ? torchTensor('QInt8Storage', sk, numel(shape), 0, shape, contiguousStrides(shape)) : undefined) }));
  w('dtype_big_endian', 'BAD_WEIGHTS', 'byteorder "big"', checkpoint({ zip: (specs) => specs.map((s) => (s.name.endsWith('byteorder') ? { name: s.name, data: Buffer.from('big') } : s)) }));
  w('dtype_half_weights', 'OK', 'every weight in a HalfStorage (float16), converted to float32', checkpoint({ dtype: 'float16' }));
  d('dtype_complex_array', 'UNSUPPORTED_DTYPE', 'a complex64 video', testData({ video: ndarray('c8', [1, 3, TINY.T, TINY.image, TINY.image], new Uint8Array(3 * TINY.T * TINY.image ** 2 * 8)) }));
  d('dtype_big_endian_array', 'UNSUPPORTED_DTYPE', 'a big-endian float32 video', testData({ video: ndarray('f4', [1, 3, TINY.T, TINY.image, TINY.image], new Uint8Array(3 * TINY.T * TINY.image ** 2 * 4), '>') }));
  d('dtype_object_array', 'UNSUPPORTED_DTYPE', 'an object array as probs', testData({ probs: { $build: { $call: { $global: 'numpy.core.multiarray._reconstruct' }, args: [{ $global: 'numpy.ndarray' }, [0], { $binbytes: Buffer.from('b') }] }, state: [1, [1, 3], { $build: { $call: { $global: 'numpy.dtype' }, args: ['O8', false, true] }, state: [3, '|', null, null, null, -1, -1, 63] }, false, { $list: [1, 2, 3] }] } }));
  d('dtype_float64_data', 'OK', 'float64 arrays (converted to float32)', testData({ video: ndarray('f8', [1, 3, TINY.T, TINY.image, TINY.image], new Uint8Array(new Float64Array(values(3 * TINY.T * TINY.image ** 2, 1)).buffer)) }));

  // mismatches and malformed weights
  {
    const other: Dims = { ...TINY, T: 4 };
    d('mismatch_frames', 'MISMATCH', 'test data of a 4-frame model', testData({ dims: other }));
  }
  d('mismatch_too_many_blocks', 'MISMATCH', '3 block outputs for a 2-block model', testData({ blocks: (B, t, C) => [0, 1, 2].map((i) => f32([B, t, C], 10 + i)) }));
  d('bytes_shape_disagree', 'BAD_TEST_DATA', 'a video whose bytes do not match its shape', testData({ video: ndarray('f4', [1, 3, TINY.T, TINY.image, TINY.image], new Uint8Array(100)) }));
  d('structure_not_pair', 'BAD_TEST_DATA', 'a top level of three items', testData({ root: (v, p, b) => [v, p, b] }));
  w('missing_key', 'MISSING_WEIGHTS', 'no blocks.1.mlp.fc2.weight', checkpoint({ drop: ['blocks.1.mlp.fc2.weight'] }));
  w('wrong_shape', 'BAD_WEIGHTS', 'blocks.1.attn.qkv.weight is (16, 16), not (48, 16)', checkpoint({ tensor: (k, sk) => (k === 'blocks.1.attn.qkv.weight' ? torchTensor('FloatStorage', sk, 768, 0, [16, 16], [16, 1]) : undefined) }));
  w('tensor_past_storage', 'BAD_WEIGHTS', 'head.weight starts 10 elements before its storage ends', checkpoint({ tensor: (k, sk, shape) => (k === 'head.weight' ? torchTensor('FloatStorage', sk, numel(shape), numel(shape) - 10, shape, contiguousStrides(shape)) : undefined) }));
  w('storage_smaller_than_declared', 'BAD_WEIGHTS', 'a storage entry shorter than its declared element count', checkpoint({ tensor: (k, sk, shape) => (k === 'norm.bias' ? torchTensor('FloatStorage', sk, 1000, 0, shape, contiguousStrides(shape)) : undefined) }));
  w('legacy_protocol', 'BAD_WEIGHTS', 'legacy protocol 1000', legacyCheckpoint({ protocol: 1000 }));
  w('legacy_big_endian', 'BAD_WEIGHTS', 'legacy sys_info little_endian False', legacyCheckpoint({ littleEndian: false }));
  w('legacy_count_mismatch', 'BAD_WEIGHTS', 'legacy storage records one element more than referenced', legacyCheckpoint({ countDelta: 1 }));
  w('legacy_unreferenced_key', 'BAD_WEIGHTS', 'legacy key list names a storage nothing references', legacyCheckpoint({ keys: ['0', 'ghost'] }));

  // malformed pickles
  w('pickle_unknown_opcode', 'BAD_PICKLE', 'opcode 0xff in data.pkl', checkpoint({ extraTop: [['cfg', raw('ff')]] }));
  w('pickle_stack_underflow', 'BAD_PICKLE', 'TUPLE3 on an empty stack', zipArchive([{ name: 'p/data.pkl', data: Buffer.from('800287', 'hex') }]));
  w('pickle_bad_memo', 'BAD_PICKLE', 'BINGET of a key never stored', checkpoint({ extraTop: [['cfg', raw('6863')]] }));
  w('pickle_huge_long', 'BAD_PICKLE', 'LONG4 announcing 100,000 bytes', checkpoint({ extraTop: [['cfg', { $raw: Buffer.concat([Buffer.from('8ba0860100', 'hex'), Buffer.alloc(100_000, 1)]) }]] }));
  w('pickle_proto_key', 'OK', '__proto__ and constructor as keys: plain data', checkpoint({ extraTop: [['__proto__', { $dict: [['polluted', true]] }], ['constructor', 1]] }));
  r.push(...roundTwo());
  return r;
}

/** Write every case's files into `dir`; returns the manifest (also written as dir/manifest.json). */
export function generateCorpus(dir: string): CorpusCase[] {
  fs.mkdirSync(dir, { recursive: true });
  const manifest: CorpusCase[] = [];
  const written = new Set<string>();
  for (const rc of recipes()) {
    for (const [name, content] of Object.entries(rc.files)) {
      const p = path.join(dir, name);
      if (written.has(name)) continue;
      written.add(name);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.rmSync(p, { recursive: true, force: true });
      if (Buffer.isBuffer(content)) fs.writeFileSync(p, content);
      else if ('fifo' in content) execFileSync('mkfifo', [p]);
      else if ('symlink' in content) fs.symlinkSync(content.symlink, p);
      else if ('dir' in content) fs.mkdirSync(p);
      else {
        fs.writeFileSync(p, content.sparse);
        fs.truncateSync(p, content.size);
      }
    }
    manifest.push({ id: rc.id, defect: rc.defect, item: rc.item, stage: rc.stage, weights: rc.weights, data: rc.data, expect: rc.expect, what: rc.what });
  }
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
  return manifest;
}

/** The tiny good pair (seeds for the fuzzer). */
export function tinyPair(): { weights: Buffer; legacy: Buffer; data: Buffer } {
  return { weights: checkpoint(), legacy: legacyCheckpoint(), data: testData() };
}

/**
 * Run every case as robust.test.ts does (capped child processes, 5 s each) and print each case's
 * outcome against its expectation, the counts by outcome, and the worst time and memory.
 */
async function runCorpus(dir: string, m: CorpusCase[]): Promise<void> {
  const { runPool } = await import('./pool');
  const abs = (p?: string) => (p === undefined ? undefined : path.isAbsolute(p) ? p : path.join(dir, p));
  const out = await runPool(m.map((c) => ({ input: { stage: c.stage, weights: abs(c.weights), data: abs(c.data) } })), { workers: 2, caseTimeoutMs: 5000, rssCapBytes: 2 ** 30, heapMB: 512 });
  const by: Record<string, number> = {};
  let wrong = 0;
  m.forEach((c, i) => {
    const r = out[i];
    by[r.outcome] = (by[r.outcome] ?? 0) + 1;
    if (r.outcome !== c.expect) wrong++;
    if (r.outcome !== c.expect || process.argv.includes('--verbose')) {
      process.stdout.write(`${r.outcome === c.expect ? 'ok  ' : 'FAIL'} ${c.id}: expected ${c.expect}, got ${r.outcome} in ${r.ms.toFixed(0)} ms, ${(r.allocated / 2 ** 20).toFixed(1)} MiB (${(r.message ?? '').slice(0, 160).replace(/[\x00-\x1f]/g, '?')})\n`);
    }
  });
  const worst = (k: (r: (typeof out)[number]) => number) => out.reduce((a, b) => (k(b) > k(a) ? b : a));
  const wt = worst((r) => r.ms);
  const wm = worst((r) => r.allocated);
  const wr = worst((r) => r.rssGrowth);
  process.stdout.write(`${m.length} cases, ${m.length - wrong} as expected, ${wrong} not\n  outcomes: ${Object.entries(by).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
  process.stdout.write(`  worst time ${wt.ms.toFixed(0)} ms (${m[wt.i].id}); worst allocated ${(wm.allocated / 2 ** 20).toFixed(1)} MiB (${m[wm.i].id}); largest peak-RSS growth ${(wr.rssGrowth / 2 ** 20).toFixed(1)} MiB (${m[wr.i].id})\n`);
}

if (require.main === module) {
  const i = process.argv.indexOf('--out');
  const dir = path.resolve(i > 0 ? process.argv[i + 1] : path.join(__dirname, '../../../test/fixtures/bad'));
  const m = generateCorpus(dir);
  process.stdout.write(`wrote ${m.length} cases to ${dir}\n`);
  // --run: also run them (then the files are removed again unless the folder is the committed one)
  if (process.argv.includes('--run')) void runCorpus(dir, m);
}
