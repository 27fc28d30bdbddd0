/**
 * Writes PyTorch checkpoints in torch.save's zip format, streaming: a protocol-2 pickle of the
 * subset torch.save emits for a dict of tensors, and a STORED zip whose entries' data start at
 * 64-byte boundaries, as torch's own writer lays them out (`<stem>/data.pkl`, `<stem>/data/<key>`,
 * `.format_version`, `.storage_alignment`, `byteorder`, `version`, `.data/serialization_id`).
 *
 * Why the zip is written by hand: torch aligns every record's data to 64 bytes by padding the
 * local header's extra field ("FB" field), and no kept zip library offers control of the local
 * extra field (yazl: STORED and ZIP64, but no per-entry extra field; adm-zip builds the whole
 * archive in memory). The format subset needed (stored entries, data descriptors, a ZIP64 end
 * record) is short. CRC-32 comes from zlib.crc32 (Node >= 20.15); a table fallback covers older
 * Node 20 releases.
 *
 * Test and fixture tooling (scripts/fixtures/gen-checkpoint.ts, the unit tests), not the product: the lab
 * only reads checkpoints (core/formats/torch.ts).
 */
import { DTYPE_SIZE, type DType } from '../../extension/core/tensor';
import { PickleWriter, PyOrderedDict, TorchTensorRef, type PyValue } from './pickle-writer';
import { StoredZipWriter } from './stored-zip';

// ---------------------------------------------------------------- torch.save layout

export interface TensorSpec {
  /** State-dict key, e.g. `model.blocks.0.attn.qkv.weight`. */
  key: string;
  dtype: DType;
  shape: readonly number[];
}

/**
 * Streams a torch.save zip checkpoint of `{...top, [stateKey]: OrderedDict(tensors)}`. Tensor data
 * is asked for one tensor at a time, in order, by `fill` (any chunking); only the pickle is built
 * in memory.
 */
export function writeTorchCheckpoint(opts: {
  path: string;
  /** The record prefix inside the zip; torch uses the file's stem. */
  stem: string;
  tensors: readonly TensorSpec[];
  /** Top-level entries before the state dict (e.g. epoch) and after it (e.g. cfg). */
  before?: [string, PyValue][];
  after?: [string, PyValue][];
  stateKey?: string;
  /** Writes the bytes of tensor i, in order, by calling `write` one or more times. */
  fill: (i: number, spec: TensorSpec, write: (chunk: Uint8Array) => void) => void;
  /** 40 decimal digits; torch writes a random one. */
  serializationId?: string;
}): { bytes: number } {
  const refs = opts.tensors.map((t, i) => new TorchTensorRef(String(i), t.dtype, t.shape));
  const state = new PyOrderedDict(opts.tensors.map((t, i) => [t.key, refs[i]]));
  const root = new Map<string, PyValue>([...(opts.before ?? []), [opts.stateKey ?? 'model_state', state], ...(opts.after ?? [])]);
  const pkl = PickleWriter.dump(root);
  const z = new StoredZipWriter(opts.path, 64);
  const p = `${opts.stem}/`;
  try {
    z.add(`${p}data.pkl`, pkl);
    z.add(`${p}.format_version`, '1');
    z.add(`${p}.storage_alignment`, '64');
    z.add(`${p}byteorder`, 'little');
    opts.tensors.forEach((t, i) => {
      z.begin(`${p}data/${i}`);
      let written = 0;
      opts.fill(i, t, (chunk) => {
        written += chunk.length;
        z.data(chunk);
      });
      const expected = t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[t.dtype];
      if (written !== expected) throw new Error(`checkpoint: ${t.key} got ${written} bytes, expected ${expected}`);
      z.end();
    });
    z.add(`${p}version`, '3\n');
    z.add(`${p}.data/serialization_id`, opts.serializationId ?? '0'.repeat(40));
    return { bytes: z.finish() };
  } catch (e) {
    z.abort();
    throw e;
  }
}
