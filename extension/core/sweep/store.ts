/**
 * A sweep's output folder: clips.jsonl (one line per finished clip, appended as it finishes, and
 * one per confirmation run), sweep.json (the SweepResult) and sweep.md. A rerun reads clips.jsonl
 * and skips the clips whose key (model hash + options + clip identity) is there already; a torn
 * last line (the process killed mid-write) is removed when the folder is opened (its clip runs again).
 */
import * as fs from 'fs';
import * as path from 'path';
import { LabError } from '../errors';
import { parseReportJson, reportToJson } from '../report';
import type { ClipResult, ConfirmedClip, SweepResult } from './types';

export const CLIPS_FILE = 'clips.jsonl';
export const RESULT_FILE = 'sweep.json';
export const MARKDOWN_FILE = 'sweep.md';

type Line = { kind: 'clip'; result: ClipResult } | { kind: 'confirm'; result: ConfirmedClip };

export class SweepStore {
  private readonly clips = new Map<string, ClipResult>();
  private readonly confirms = new Map<string, ConfirmedClip>();
  readonly file: string;

  constructor(readonly dir: string) {
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new LabError('BAD_OPTION', `cannot create the sweep's output folder: ${(e as Error).message}`, dir);
    }
    if (!fs.statSync(dir).isDirectory()) throw new LabError('BAD_OPTION', 'the sweep\'s output must be a folder', dir);
    this.file = path.join(dir, CLIPS_FILE);
    if (!fs.existsSync(this.file)) return;
    for (const line of this.endTornLine().split('\n')) {
      if (!line.trim()) continue;
      let l: Line;
      try {
        l = parseReportJson<Line>(line);
      } catch {
        continue; // a line cut short by a kill: that clip runs again
      }
      if (l.kind === 'clip' && l.result?.status === 'done') this.clips.set(l.result.key, l.result);
      if (l.kind === 'confirm' && l.result?.status === 'done') this.confirms.set(`${l.result.fixKey}|${l.result.key}`, l.result);
    }
  }

  /**
   * clips.jsonl's text, its last line ended first: a line cut short by a kill is removed (an
   * append would join the next result to it, and that clip would run on every rerun); a whole line
   * that lost only its newline gets it.
   */
  private endTornLine(): string {
    const buf = fs.readFileSync(this.file);
    if (!buf.length || buf[buf.length - 1] === 0x0a) return buf.toString('utf8');
    const cut = buf.lastIndexOf(0x0a) + 1;
    try {
      parseReportJson<Line>(buf.subarray(cut).toString('utf8'));
      fs.appendFileSync(this.file, '\n');
      return buf.toString('utf8');
    } catch {
      fs.truncateSync(this.file, cut);
      return buf.subarray(0, cut).toString('utf8');
    }
  }

  done(key: string): ClipResult | undefined {
    return this.clips.get(key);
  }

  confirmed(fixKey: string, key: string): ConfirmedClip | undefined {
    return this.confirms.get(`${fixKey}|${key}`);
  }

  addClip(r: ClipResult): void {
    if (r.status === 'done') this.clips.set(r.key, r);
    fs.appendFileSync(this.file, reportToJson({ kind: 'clip', result: r }, 0) + '\n');
  }

  addConfirm(r: ConfirmedClip): void {
    if (r.status === 'done') this.confirms.set(`${r.fixKey}|${r.key}`, r);
    fs.appendFileSync(this.file, reportToJson({ kind: 'confirm', result: r }, 0) + '\n');
  }

  writeResult(r: SweepResult, markdown: string): void {
    fs.writeFileSync(path.join(this.dir, RESULT_FILE), reportToJson(r));
    fs.writeFileSync(path.join(this.dir, MARKDOWN_FILE), markdown);
  }
}
