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
 *   (constants.py:31) and may hold ndarrays directly.
 */
import * as fs from 'fs';
import { StringDecoder } from 'string_decoder';
import { LabError } from '../errors';
import { parseNpyHeader } from '../formats/npy';
import { NumpyDType, bytesToTensor } from '../formats/pickle';

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

type Json = null | boolean | number | string | Float32Array | Json[] | { [k: string]: Json };

/** Words trtexec (C++ ostream) and Python's json write for non-finite floats. */
const WORDS: Record<string, number> = {
  nan: NaN, '-nan': NaN, NaN: NaN, '-NaN': NaN, inf: Infinity, '-inf': -Infinity, Infinity: Infinity, '-Infinity': -Infinity, true: 1, false: 0,
};

/**
 * Parse a JSON file (with the non-finite words above) in chunks. Arrays of numbers become
 * Float32Arrays. Errors are BAD_OUTPUTS naming the file and the byte where it went wrong;
 * a file that ends early is called truncated.
 */
export function parseJsonFile(file: string, budgetBytes: number, what: string): Json {
  let fd: number;
  let size: number;
  try {
    fd = fs.openSync(file, 'r');
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      fs.closeSync(fd);
      throw new LabError('NOT_A_FILE', 'is not a regular file', file);
    }
    size = st.size;
  } catch (e) {
    if (e instanceof LabError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new LabError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', code === 'ENOENT' ? 'file not found' : `cannot read the file (${code})`, file);
  }
  try {
    if (size > budgetBytes) {
      throw new LabError('LIMIT_EXCEEDED', `${(size / 2 ** 20).toFixed(1)} MiB is more than ${what} of this model can take (at most ${(budgetBytes / 2 ** 20).toFixed(1)} MiB): not read`, file);
    }
    if (size === 0) throw new LabError('BAD_OUTPUTS', 'the file is empty', file);
    return new StreamParser(file).run(fd, size);
  } finally {
    fs.closeSync(fd);
  }
}

/** A bare word: a number, nan, inf, true, false, null (sticky: matched from lastIndex). */
const WORD_RE = /[\w.+-]*/y;

type Frame = { kind: 'a'; v: Json[]; state: 'first' | 'value' | 'comma' } | { kind: 'o'; v: { [k: string]: Json }; key: string; state: 'first' | 'key' | 'colon' | 'value' | 'comma' };

class StreamParser {
  private stack: Frame[] = [];
  private root: Json | undefined;
  private done = false;
  private pos = 0;
  /** A string or word cut by a chunk's end. */
  private partial: { kind: 'str' | 'word'; text: string; escaped: boolean } | undefined;
  constructor(private readonly file: string) {}

  private fail(why: string): never {
    throw new LabError('BAD_OUTPUTS', `not valid JSON at byte ~${this.pos}: ${why}`, this.file);
  }

  run(fd: number, size: number): Json {
    const buf = Buffer.alloc(Math.min(size, 4 << 20));
    const dec = new StringDecoder('utf8');
    let at = 0;
    while (at < size) {
      const n = fs.readSync(fd, buf, 0, buf.length, at);
      if (n === 0) break;
      at += n;
      this.feed(dec.write(buf.subarray(0, n)));
    }
    this.feed(dec.end());
    if (this.partial?.kind === 'word') this.word(this.partial.text);
    else if (this.partial) this.truncated();
    this.partial = undefined;
    if (!this.done) this.truncated();
    return this.root!;
  }

  private truncated(): never {
    throw new LabError('BAD_OUTPUTS', `the JSON ends early (truncated at byte ${this.pos}${this.stack.length ? `, ${this.stack.length} bracket(s) still open` : ''}): was the tool stopped while writing it?`, this.file);
  }

  private feed(s: string): void {
    let i = 0;
    const n = s.length;
    if (this.partial) {
      i = this.continuePartial(s, 0);
      if (this.partial) {
        this.pos += n;
        return;
      }
    }
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) {
        i++;
        continue;
      }
      if (c === 34) {
        this.partial = { kind: 'str', text: '', escaped: false };
        i = this.continuePartial(s, i + 1);
        continue;
      }
      if (c === 123 || c === 91) {
        this.expectValue();
        this.stack.push(c === 123 ? { kind: 'o', v: {}, key: '', state: 'first' } : { kind: 'a', v: [], state: 'first' });
        i++;
        continue;
      }
      if (c === 125 || c === 93) {
        const top = this.stack[this.stack.length - 1];
        if (!top || top.kind !== (c === 125 ? 'o' : 'a') || (top.state !== 'first' && top.state !== 'comma')) this.fail(`unexpected '${String.fromCharCode(c)}'`);
        this.stack.pop();
        this.value(top.kind === 'a' ? numeric(top.v) : top.v);
        i++;
        continue;
      }
      if (c === 58) {
        const top = this.stack[this.stack.length - 1];
        if (top?.kind !== 'o' || top.state !== 'colon') this.fail("unexpected ':'");
        top.state = 'value';
        i++;
        continue;
      }
      if (c === 44) {
        const top = this.stack[this.stack.length - 1];
        if (!top || top.state !== 'comma') this.fail("unexpected ','");
        top.state = top.kind === 'a' ? 'value' : 'key';
        i++;
        continue;
      }
      const top = this.stack[this.stack.length - 1];
      if (top?.kind === 'a' && top.state !== 'comma') {
        // fast path for long lists of numbers (trtexec: millions): `value, value, ...` up to the
        // last one before ']' or the chunk's end, which take the general path
        let k = i;
        for (;;) {
          const c = s.indexOf(',', k);
          if (c < 0) break;
          const w = s.slice(k, c);
          let v = Number(w); // trims blanks; NaN for anything that is not one number
          if (v !== v) {
            const t = w.trim();
            if (!Object.hasOwn(WORDS, t) || t === 'true' || t === 'false') break; // the general path says what is wrong
            v = WORDS[t];
          } else if (v === 0 && !/\d/.test(w)) break;
          top.v.push(v);
          k = c + 1;
        }
        if (k !== i) {
          top.state = 'value';
          i = k;
          continue;
        }
      }
      this.partial = { kind: 'word', text: '', escaped: false };
      i = this.continuePartial(s, i);
    }
    this.pos += n;
  }

  /** Read on in a string or a word from s[i]; returns where it stopped (partial cleared when it ended). */
  private continuePartial(s: string, i: number): number {
    const p = this.partial!;
    if (p.kind === 'word') {
      WORD_RE.lastIndex = i;
      WORD_RE.exec(s);
      const j = WORD_RE.lastIndex;
      p.text += s.slice(i, j);
      if (j === s.length) return j;
      this.partial = undefined;
      if (!p.text) this.fail(`unexpected '${s[j]}'`);
      this.word(p.text);
      return j;
    }
    let j = i;
    while (j < s.length) {
      const c = s.charCodeAt(j);
      if (p.escaped) p.escaped = false;
      else if (c === 92) p.escaped = true;
      else if (c === 34) break;
      j++;
    }
    p.text += s.slice(i, j);
    if (j === s.length) return j;
    this.partial = undefined;
    let str: string;
    try {
      str = p.text.includes('\\') ? (JSON.parse(`"${p.text}"`) as string) : p.text;
    } catch {
      this.fail('a bad escape in a string');
    }
    this.string(str);
    return j + 1;
  }

  private string(s: string): void {
    const top = this.stack[this.stack.length - 1];
    if (top?.kind === 'o' && (top.state === 'first' || top.state === 'key')) {
      top.key = s;
      top.state = 'colon';
      return;
    }
    this.expectValue();
    this.value(s);
  }

  private word(w: string): void {
    this.expectValue();
    let v: number;
    if (Object.hasOwn(WORDS, w)) v = WORDS[w];
    else if (w === 'null') return this.value(null);
    else {
      v = /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(w) ? Number(w) : NaN;
      if (Number.isNaN(v)) this.fail(`'${w.slice(0, 40)}' is not a value`);
    }
    this.value(v);
  }

  private expectValue(): void {
    const top = this.stack[this.stack.length - 1];
    if (!top) {
      if (this.done) this.fail('more after the end of the JSON value');
      return;
    }
    if (top.kind === 'a' ? top.state === 'first' || top.state === 'value' : top.state === 'value') return;
    this.fail(top.kind === 'o' && top.state !== 'colon' ? 'expected a key' : 'expected a separator');
  }

  private value(x: Json): void {
    const top = this.stack[this.stack.length - 1];
    if (!top) {
      this.root = x;
      this.done = true;
    } else if (top.kind === 'a') {
      top.v.push(x);
      top.state = 'comma';
    } else {
      top.v[top.key] = x;
      top.state = 'comma';
    }
  }
}

/** A non-empty array of numbers as float32 (outputs are float32); any other array as it is. */
function numeric(a: Json[]): Json {
  if (!a.length || !a.every((x) => typeof x === 'number')) return a;
  return Float32Array.from(a as number[]);
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

const TYPE_KEYS = ['polygraphy_class', 'polygraphy_serialized_json_type'];

function pgType(o: Json): string | undefined {
  if (!o || typeof o !== 'object' || Array.isArray(o) || o instanceof Float32Array) return undefined;
  if (typeof o.polygraphy_class === 'string') return o.polygraphy_class;
  // older Polygraphy: {"__polygraphy_encoded_<Type>": "polygraphy_serialized_json_type", ...} (serde.py:31-32, 180-183)
  const legacy = Object.keys(o).find((k) => k.startsWith('__polygraphy_encoded_') && o[k] === 'polygraphy_serialized_json_type');
  return legacy?.slice('__polygraphy_encoded_'.length);
}

/** A Polygraphy ndarray (or a LazyArray holding one) as float32. */
function pgArray(o: Json, file: string, name: string): { dims: number[]; data: Float32Array } {
  const obj = o as { [k: string]: Json };
  if (obj && typeof obj === 'object' && 'values' in obj && !('array' in obj)) return pgArray(obj.values, file, name); // LazyArray
  const b64 = obj && typeof obj === 'object' ? obj.array : undefined;
  if (typeof b64 !== 'string') throw new LabError('BAD_OUTPUTS', `output '${name}' is not a Polygraphy-encoded array ({"array": base64 of np.save})`, file);
  const bytes = Buffer.from(b64, 'base64');
  const bad = (why: string): never => {
    throw new LabError('BAD_OUTPUTS', `output '${name}': ${why}`, file);
  };
  if (bytes.length < 10 || bytes.subarray(0, 6).toString('latin1') !== '\x93NUMPY') bad('its array is not np.save bytes');
  const major = bytes[6];
  const hl = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hl;
  if (start > bytes.length) bad('its array is truncated');
  let h: ReturnType<typeof parseNpyHeader>;
  let dtype: ReturnType<NumpyDType['toDType']>;
  try {
    h = parseNpyHeader(bytes.subarray(major === 1 ? 10 : 12, start).toString('latin1'));
    dtype = new NumpyDType(h.descr).toDType();
    const t = bytesToTensor(dtype, new Uint8Array(bytes.subarray(start)).slice(), h.shape, h.fortranOrder ? 'F' : 'C');
    return { dims: h.shape, data: t.asFloat32().data as Float32Array };
  } catch (e) {
    return bad(e instanceof Error ? e.message.replace(/^[^:]*: /, '') : String(e));
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
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new LabError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', code === 'ENOENT' ? 'file not found' : `cannot read the file (${code})`, file);
  }
  try {
    const b = Buffer.alloc(4096);
    const n = fs.readSync(fd, b, 0, b.length, 0);
    const c = b.subarray(0, n).toString('utf8').trimStart()[0];
    if (c === '[') return 'trtexec';
    if (c === '{') return 'polygraphy';
    throw new LabError('BAD_OUTPUTS', n === 0 ? 'the file is empty' : 'neither trtexec --exportOutput JSON (a list) nor Polygraphy --save-outputs JSON (an object)', file);
  } finally {
    fs.closeSync(fd);
  }
}
