/**
 * Which of a drop's files the graph panel sends (webview/graph-drop.ts), and why the others are
 * not: over MAX_DROP_BYTES, past MAX_DROP_FILES, or a drop with no file at all. No DOM (unit-tested).
 */
import { MAX_DROP_BYTES } from '../extension/host/protocol';

/** The most files of a drop sent (the host takes 16 URIs and 16 read files). */
export const MAX_DROP_FILES = 16;
const NOTHING = 'nothing to import: drop trtexec --exportOutput or Polygraphy --save-outputs JSON files';

/** Which of a drop's files (or URIs) are sent, and a sentence for each group that is not. No DOM (unit-tested). */
export function sortDrop(uris: string[], files: { name: string; size: number }[]): { uris: string[]; read: number[]; refused: string[] } {
  const refused: string[] = [];
  const past = (names: string[]) => names.length && refused.push(`more than ${MAX_DROP_FILES} files in one drop: ${names.join(', ')} not imported (drop them again, or use Import TensorRT Outputs…)`);
  const base = (u: string) => decodeURIComponent(u.split('/').pop() ?? u);
  past(uris.slice(MAX_DROP_FILES).map(base));
  const read: number[] = [];
  if (!uris.length) {
    files.forEach((f, i) => {
      if (f.size > MAX_DROP_BYTES) refused.push(`${f.name} is larger than ${MAX_DROP_BYTES / 2 ** 20} MiB: use Import TensorRT Outputs… for it`);
      else read.push(i);
    });
    past(read.slice(MAX_DROP_FILES).map((i) => files[i].name));
  }
  if (!uris.length && !read.length && !refused.length) refused.push(NOTHING);
  return { uris: uris.slice(0, MAX_DROP_FILES), read: read.slice(0, MAX_DROP_FILES), refused };
}
