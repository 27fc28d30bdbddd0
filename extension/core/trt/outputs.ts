/**
 * Reading engine outputs written by TensorRT's tools, streamed from disk under a byte budget (a
 * file larger than the model's outputs can justify is refused before it is read; none is read
 * into one string):
 *
 * - trtexec --exportOutput (NVIDIA/TensorRT samples/common/sampleReporting.cpp:483-504,
 *   exportJSONOutput): `[ { "name" : "probs"\n  , "dimensions" : "1x400"\n  , "values" : [ v, v ] }, ... ]`.
 *   Quirks: the dimensions are a string, `d0xd1x...` (sampleOptions.h:524-531, operator<< for Dims);
 *   values are printed with `os << v` (sampleUtils.cpp:525-528; half values cast to float,
 *   540-543), so 6 significant digits and, for non-finite values, `nan`, `-nan`, `inf`, `-inf` —
 *   not JSON; the outputs come in the engine's binding order (an unordered_map, not the graph's).
 * - Polygraphy --save-outputs: RunResults `{"lst": [[runner_name, [IterationResult, ...]], ...],
 *   "polygraphy_class": "RunResults"}` (tools/Polygraphy/polygraphy/comparator/struct.py:311-318),
 *   IterationResult `{"outputs": {name: LazyArray}, "runtime", "runner_name"}` (struct.py:172-185),
 *   LazyArray `{"values": ndarray}` (struct.py:68-77), ndarray `{"array": base64 of np.save}`
 *   (polygraphy/json/serde.py:219-247); older files mark types with "polygraphy_serialized_json_type"
 *   (constants.py:31) and may hold ndarrays directly. Files of Polygraphy before 0.31 (np.savez
 *   bytes in a latin-1 string) are refused, saying how to convert them (legacyArray).
 */
import { LabError } from '../errors';
import { readHeadSync } from '../formats/file';
import { parseNpyHeader } from '../formats/npy';
import { bytesToTensor } from '../formats/arrays';
import { NumpyDType } from '../formats/numpy-pickle';
import { parseJsonFile, type Json } from './json-stream';

// The names this module has always exported, from their rooms.
export { parseJsonFile } from './json-stream';

/** One output as a tool wrote it. */
export interface RawOutput {
  name: string;
  dims: number[];
  data: Float32Array;
}

/** One set of outputs: one trtexec file, or one runner's iteration of a Polygraphy file. */
export interface RawRun {
  tool: 'trtexec' | 'polygraphy';
  /** Polygraphy's runner name (e.g. onnxrt-runner-N0-12/07/26-05:13:25) and the iteration. */
  runner?: string;
  iteration?: number;
  outputs: RawOutput[];
}

/** trtexec's `1x400` (an empty string for a scalar). */
export function parseDims(s: string, file: string, name: string): number[] {
  if (s === '') return [];
  if (!/^\d+(x\d+)*$/.test(s)) throw new LabError('BAD_OUTPUTS', `output '${name}' has dimensions '${s}', not trtexec's d0xd1x... form`, file);
  return s.split('x').map(Number);
}

/** A trtexec --exportOutput file. */
export function readTrtexecOutputs(file: string, budgetBytes: number): RawRun {
  const j = parseJsonFile(file, budgetBytes, 'trtexec --exportOutput JSON');
  if (!Array.isArray(j)) throw new LabError('BAD_OUTPUTS', 'not a trtexec --exportOutput file (expected a JSON list of { "name", "dimensions", "values" })', file);
  if (j.some((o) => o && typeof o === 'object' && !Array.isArray(o) && !(o instanceof Float32Array) && Object.values(o).some((v) => pgType(v) !== undefined))) {
    throw new LabError('BAD_OUTPUTS', 'this is a Polygraphy inputs file (--load-inputs / --save-inputs: a list of feed dicts), not engine outputs', file);
  }
  const outputs = j.map((o, k): RawOutput => {
    if (!o || typeof o !== 'object' || Array.isArray(o) || o instanceof Float32Array || typeof o.name !== 'string' || typeof o.dimensions !== 'string') {
      throw new LabError('BAD_OUTPUTS', `entry ${k} is not { "name", "dimensions", "values" } as trtexec --exportOutput writes`, file);
    }
    const dims = parseDims(o.dimensions, file, o.name);
    const v = o.values;
    const data = v instanceof Float32Array ? v : Array.isArray(v) && v.length === 0 ? new Float32Array(0) : undefined;
    if (!data) throw new LabError('BAD_OUTPUTS', `output '${o.name}' has no list of numeric values`, file);
    return { name: o.name, dims, data };
  });
  return { tool: 'trtexec', outputs };
}

/** LazyArrays nested in one another (Polygraphy writes one level; a hostile file, thousands). */
const MAX_LAZY = 4;

const TYPE_KEYS = ['polygraphy_class', 'polygraphy_serialized_json_type'];

function pgType(o: Json): string | undefined {
  if (!o || typeof o !== 'object' || Array.isArray(o) || o instanceof Float32Array) return undefined;
  if (typeof o.polygraphy_class === 'string') return o.polygraphy_class;
  // older Polygraphy: {"__polygraphy_encoded_<Type>": "polygraphy_serialized_json_type", ...} (serde.py:31-32, 180-183)
  const legacy = Object.keys(o).find((k) => k.startsWith('__polygraphy_encoded_') && o[k] === 'polygraphy_serialized_json_type');
  return legacy?.slice('__polygraphy_encoded_'.length);
}

/**
 * Polygraphy before 0.31 (0.29.2 in NVIDIA/TensorRT's history, json/serde.py 73fa0193:179-193) wrote an
 * array as `{"array": np.savez bytes as a latin-1 string, "__polygraphy_encoded_ndarray":
 * "polygraphy_serialized_json_type"}`; 0.31.1 (b5ff2435:205-230) writes base64 of np.save and reads
 * both. Not decoded here: a readable refusal saying how to convert the file (with Polygraphy itself).
 */
function legacyArray(name: string): string {
  return `output '${name}' is in the format of Polygraphy before 0.31 (arrays as np.savez bytes in a latin-1 string, "polygraphy_serialized_json_type" markers), which is not read here: `
    + 'save it again with Polygraphy 0.31 or newer, which reads it and writes base64 np.save arrays: '
    + `python3 -c "from polygraphy.comparator import RunResults; RunResults.load('OLD.json').save('NEW.json')"`;
}

/** A Polygraphy ndarray (or a LazyArray holding one) as float32. */
function pgArray(o: Json, file: string, name: string): { dims: number[]; data: Float32Array } {
  // LazyArray {"values": ndarray}: unwrapped in a loop (a file may nest them without end); Polygraphy writes one level
  let obj = o as { [k: string]: Json };
  for (let depth = 0; obj && typeof obj === 'object' && !(obj instanceof Float32Array) && !Array.isArray(obj) && 'values' in obj && !('array' in obj); depth++) {
    if (depth === MAX_LAZY) throw new LabError('BAD_OUTPUTS', `output '${name}' nests more than ${MAX_LAZY} LazyArrays ({"values": {"values": ...}}): Polygraphy writes one`, file);
    obj = obj.values as { [k: string]: Json };
  }
  const b64 = obj && typeof obj === 'object' ? obj.array : undefined;
  if (typeof b64 !== 'string') throw new LabError('BAD_OUTPUTS', `output '${name}' is not a Polygraphy-encoded array ({"array": base64 of np.save})`, file);
  if (b64.startsWith('PK\u0003\u0004') || obj.__polygraphy_encoded_ndarray === 'polygraphy_serialized_json_type') throw new LabError('BAD_OUTPUTS', legacyArray(name), file);
  const bytes = Buffer.from(b64, 'base64');
  const bad = (why: string): never => {
    throw new LabError('BAD_OUTPUTS', `output '${name}': ${why}`, file);
  };
  if (bytes.length < 10 || bytes.subarray(0, 6).toString('latin1') !== '\x93NUMPY') bad('its array is not np.save bytes');
  const major = bytes[6];
  if (major !== 1 && major !== 2 && major !== 3) bad(`its array is np.save format version ${major}, not 1, 2 or 3`);
  const at = major === 1 ? 10 : 12;
  if (bytes.length < at) bad(`its array is truncated (${bytes.length} bytes, np.save's header length alone takes ${at})`);
  const hl = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = at + hl;
  if (start > bytes.length) bad('its array is truncated');
  let h: ReturnType<typeof parseNpyHeader>;
  let dtype: ReturnType<NumpyDType['toDType']>;
  try {
    h = parseNpyHeader(bytes.subarray(at, start).toString('latin1'));
    dtype = new NumpyDType(h.descr).toDType();
    const t = bytesToTensor(dtype, new Uint8Array(bytes.subarray(start)).slice(), h.shape, h.fortranOrder ? 'F' : 'C');
    return { dims: h.shape, data: t.asFloat32().data as Float32Array };
  } catch (e) {
    // a LabError's cause without its file (the npy readers name none here); another error's message as it is
    return bad(e instanceof LabError ? e.detail : e instanceof Error ? e.message : String(e));
  }
}

/** A Polygraphy --save-outputs file: every runner's every iteration. */
export function readPolygraphyOutputs(file: string, budgetBytes: number): RawRun[] {
  const j = parseJsonFile(file, budgetBytes, 'Polygraphy --save-outputs JSON');
  const lst = j && typeof j === 'object' && !Array.isArray(j) && !(j instanceof Float32Array) ? j.lst : undefined;
  if (!Array.isArray(lst)) {
    if (Array.isArray(j) && j.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
      throw new LabError('BAD_OUTPUTS', 'this is a Polygraphy inputs file (--load-inputs / --save-inputs: a list of feed dicts), not outputs saved with --save-outputs', file);
    }
    throw new LabError('BAD_OUTPUTS', `not a Polygraphy --save-outputs file (expected RunResults: {"lst": [[runner, [iteration results]]]}${pgType(j) ? `; this is a ${pgType(j)}` : ''})`, file);
  }
  const runs: RawRun[] = [];
  lst.forEach((pair, r) => {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || !Array.isArray(pair[1])) {
      throw new LabError('BAD_OUTPUTS', `RunResults entry ${r} is not [runner_name, [iteration results]]`, file);
    }
    const runner = pair[0];
    pair[1].forEach((it, k) => {
      const outs = it && typeof it === 'object' && !Array.isArray(it) && !(it instanceof Float32Array) ? it.outputs : undefined;
      if (!outs || typeof outs !== 'object' || Array.isArray(outs) || outs instanceof Float32Array) {
        throw new LabError('BAD_OUTPUTS', `runner ${runner}, iteration ${k}: no "outputs" (not an IterationResult)`, file);
      }
      const outputs = Object.entries(outs).filter(([name]) => !TYPE_KEYS.includes(name) && !name.startsWith('__polygraphy_encoded_')).map(([name, v]) => ({ name, ...pgArray(v, file, name) }));
      runs.push({ tool: 'polygraphy', runner, iteration: k, outputs });
    });
  });
  if (!runs.length) throw new LabError('BAD_OUTPUTS', 'the Polygraphy file holds no iteration results', file);
  return runs;
}

/** Which tool wrote a file: Polygraphy's JSON is an object, trtexec's a list (the first non-blank byte). */
export function sniffTool(file: string): 'trtexec' | 'polygraphy' {
  // a regular file only: a FIFO would block the open (and Ctrl-C with it), a directory is EISDIR
  const head = readHeadSync(file, 4096);
  const c = head.toString('utf8').trimStart()[0];
  if (c === '[') return 'trtexec';
  if (c === '{') return 'polygraphy';
  throw new LabError('BAD_OUTPUTS', head.length === 0 ? 'the file is empty' : 'neither trtexec --exportOutput JSON (a list) nor Polygraphy --save-outputs JSON (an object)', file);
}
