/**
 * Export Report's two files: the JSON the user named in the save dialog and the Markdown beside it
 * (`<name>.md`). The dialog asks before replacing the JSON; the Markdown is the command's to ask
 * about (mdExists). Writing says which file failed and why, in words. No `vscode` import:
 * unit-tested with mocha.
 */
import * as fs from 'fs';

export interface ReportFiles {
  json: string;
  md: string;
  /** The Markdown file is there already: replacing it is asked first. */
  mdExists: boolean;
}

export function reportFiles(json: string, exists: (p: string) => boolean = fs.existsSync): ReportFiles {
  const md = `${json.replace(/\.json$/i, '')}.md`;
  return { json, md, mdExists: exists(md) };
}

const CAUSES: Record<string, string> = {
  EACCES: 'permission denied', EPERM: 'permission denied', EROFS: 'the file system is read-only', ENOSPC: 'no space left on the device',
  EISDIR: 'it is a folder', ENOENT: 'its folder does not exist', ENOTDIR: 'a part of its path is not a folder', EDQUOT: 'the disk quota is exceeded',
};

/** Why a write failed, in words ("permission denied"), else the system's message. */
export function writeCause(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return (code && CAUSES[code]) ?? (e instanceof Error ? e.message : String(e));
}

/**
 * Writes the JSON, then the Markdown. Returns the files written, or the one that failed and why
 * (the JSON written before a failed Markdown is said too: nothing is lost unsaid).
 */
export function writeReportFiles(
  f: Pick<ReportFiles, 'json' | 'md'>, json: string, markdown: string, write: (p: string, text: string) => void = (p, t) => fs.writeFileSync(p, t),
): { written: string[] } | { written: string[]; failed: string; cause: string } {
  const written: string[] = [];
  for (const [p, text] of [[f.json, json], [f.md, markdown]] as const) {
    try {
      write(p, text);
      written.push(p);
    } catch (e) {
      return { written, failed: p, cause: writeCause(e) };
    }
  }
  return { written };
}
