/**
 * Every error the core raises is a LabError: a stable code, the file it concerns (when there is
 * one) and a cause in words a user understands. The message always names the file.
 */
export type LabErrorCode =
  | 'FILE_NOT_FOUND'
  | 'FILE_UNREADABLE'
  /** A file we were asked to write (an ONNX export) could not be: disk full, no permission, no folder; the earlier file is kept. */
  | 'FILE_UNWRITABLE'
  /** A directory, device, FIFO or socket where a file was expected: refused before it is opened for reading. */
  | 'NOT_A_FILE'
  | 'NOT_A_CHECKPOINT'
  | 'BAD_ZIP'
  | 'BAD_PICKLE'
  | 'FORBIDDEN_PICKLE_GLOBAL'
  | 'BAD_TENSOR'
  | 'UNSUPPORTED_DTYPE'
  | 'MISSING_WEIGHTS'
  | 'BAD_WEIGHTS'
  | 'BAD_TEST_DATA'
  | 'BAD_CLIP'
  | 'UNSUPPORTED_MODEL'
  /** NaN or infinity in the weights or the test data (named: which tensor, which index). */
  | 'NON_FINITE'
  /** A file asks for more than its size can justify: a zip bomb, a pickle that expands, tensors sharing data many times over. */
  | 'LIMIT_EXCEEDED'
  | 'MISMATCH'
  | 'HEADS_UNDETECTED'
  | 'BAD_OPTION'
  | 'ENGINE_FAILED'
  | 'PROVIDER_UNAVAILABLE'
  /** Imported engine outputs (trtexec --exportOutput, Polygraphy --save-outputs) that are malformed, truncated, too large or of another model. */
  | 'BAD_OUTPUTS'
  | 'CANCELLED'
  /** A file of a model folder is a symbolic link that leads outside the model's own tree (the folder, or its HF cache `models--…` root): refused unread. */
  | 'LINK_OUTSIDE_MODEL';

export class LabError extends Error {
  readonly code: LabErrorCode;
  readonly file?: string;
  readonly detail: string;
  constructor(code: LabErrorCode, detail: string, file?: string, options?: { cause?: unknown }) {
    super(file ? `${file}: ${detail}` : detail, options);
    this.name = 'LabError';
    this.code = code;
    this.file = file;
    this.detail = detail;
  }
  /** The same error, attributed to a file (used when a pure reader is called on bytes). */
  withFile(file: string): LabError {
    if (this.file) return this;
    const e = new LabError(this.code, this.detail, file, { cause: this.cause });
    e.stack = this.stack;
    return e;
  }
  toJSON(): { code: LabErrorCode; file?: string; message: string } {
    return { code: this.code, file: this.file, message: this.message };
  }
}

export function isLabError(e: unknown): e is LabError {
  return e instanceof LabError;
}

/**
 * A short excerpt of a file's text for an error message: at most `max` characters, every control,
 * bidirectional-override and non-ASCII character escaped (\u001b, \u202e...), quoted. Errors never
 * quote more of a file than this.
 */
export function excerpt(text: string, max = 24): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  const esc = cut.replace(/[^\x20-\x7e]|["\\]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  return `"${esc}"${text.length > max ? '…' : ''}`;
}

/** A JSON.parse failure in words, without the excerpt of the text V8 puts in its message (Unexpected token 'r', "root:x:0:0"...). */
export function jsonSyntaxError(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const pos = /position (\d+)/.exec(msg)?.[1];
  const line = /line (\d+) column (\d+)/.exec(msg);
  if (/Unexpected end of JSON input/.test(msg)) return 'the text ends before the JSON does';
  return `a JSON syntax error${pos !== undefined ? ` at character ${pos}` : ''}${line ? ` (line ${line[1]}, column ${line[2]})` : ''}`;
}

/**
 * Text from a file (names, keys, dtype strings, error details) as a terminal may show it: C0 and C1
 * control characters but newline and tab (ESC sequences, OSC-8 links, BEL, clear-screen, carriage
 * return) and the bidirectional controls (right-to-left override...) become visible \uXXXX escapes.
 */
export function escapeControls(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
