/**
 * JSON read from a file in chunks under a byte budget, as TensorRT's tools write it: with the
 * non-finite words C++ streams and Python print (nan, -nan, inf, Infinity...), which JSON itself
 * does not have; arrays of numbers become Float32Arrays as they are read. (Hand-written: streaming
 * JSON parsers follow the JSON grammar, which has no such words, and JSON.parse would need the
 * whole file as one string.)
 */
import * as fs from 'fs';
import { StringDecoder } from 'string_decoder';
import { LabError } from '../errors';
import { fileError, openRegularFileSync } from '../formats/file';

export type Json = null | boolean | number | string | Float32Array | Json[] | { [k: string]: Json };

/** Words trtexec (C++ ostream) and Python's json write for non-finite floats (the only non-JSON accepted). */
const WORDS: Record<string, number> = {
  nan: NaN, '-nan': NaN, NaN: NaN, '-NaN': NaN, inf: Infinity, '-inf': -Infinity, Infinity: Infinity, '-Infinity': -Infinity,
};

/** JSON's number grammar (RFC 8259 §6): no hex, no leading +, no leading zeros, no bare '.5' or '1.'. */
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
/** The same, with the blanks JSON allows around a value (the fast path's slices between commas). */
const BLANK_NUMBER = /^[ \t\r\n]*-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?[ \t\r\n]*$/;

/**
 * Parse a JSON file (with the non-finite words above) in chunks. Arrays of numbers become
 * Float32Arrays. Errors are BAD_OUTPUTS naming the file and the byte where it went wrong;
 * a file that ends early is called truncated.
 */
export function parseJsonFile(file: string, budgetBytes: number, what: string): Json {
  // a regular file only (formats/file.ts): a FIFO would block the open, a directory is EISDIR
  const { fd, size } = openRegularFileSync(file);
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
  /** Where in the chunk being fed the parser is (an error's place is pos + cur). */
  private cur = 0;
  /** A string or word cut by a chunk's end. */
  private partial: { kind: 'str' | 'word'; text: string; escaped: boolean } | undefined;
  constructor(private readonly file: string) {}

  private fail(why: string): never {
    throw new LabError('BAD_OUTPUTS', `not valid JSON at byte ~${this.pos + this.cur}: ${why}`, this.file);
  }

  run(fd: number, size: number): Json {
    const buf = Buffer.alloc(Math.min(size, 4 << 20));
    const dec = new StringDecoder('utf8');
    let at = 0;
    while (at < size) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - at), at);
      } catch (e) {
        throw fileError(e, this.file);
      }
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
    this.cur = 0;
    const n = s.length;
    if (this.partial) {
      i = this.continuePartial(s, 0);
      if (this.partial) {
        this.pos += n;
        return;
      }
    }
    while (i < n) {
      this.cur = i;
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
          let v: number;
          if (BLANK_NUMBER.test(w)) v = Number(w);
          else {
            const t = w.trim();
            if (!Object.hasOwn(WORDS, t)) break; // the general path says what is wrong (0x10, +1, true...)
            v = WORDS[t];
          }
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
    this.cur = 0;
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
    else if (w === 'true' || w === 'false') return this.value(w === 'true'); // a boolean, never a number
    else {
      if (!NUMBER.test(w)) this.fail(`'${w.slice(0, 40)}' is not a value (JSON numbers, or nan/inf as trtexec writes them)`);
      v = Number(w);
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
      // an own property, whatever its name: assigning "__proto__" would re-prototype the object
      if (top.key === '__proto__') Object.defineProperty(top.v, top.key, { value: x, writable: true, enumerable: true, configurable: true });
      else top.v[top.key] = x;
      top.state = 'comma';
    }
  }
}

/** A non-empty array of numbers as float32 (outputs are float32); any other array as it is. */
function numeric(a: Json[]): Json {
  if (!a.length || !a.every((x) => typeof x === 'number')) return a;
  return Float32Array.from(a as number[]);
}
