/**
 * Every error the core raises is a LabError: a stable code, the file it concerns (when there is
 * one) and a cause in words a user understands. The message always names the file.
 */
export type LabErrorCode =
  | 'FILE_NOT_FOUND'
  | 'FILE_UNREADABLE'
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
  | 'CANCELLED';

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
