/**
 * Files dropped onto the graph panel (webview/graph-drop.ts -> a 'drop' message) as the paths
 * "Import TensorRT Outputs…" takes: file: URIs become paths; files the webview read (a browser's
 * drop has no path) are written under `dir` by their base name. Only .json files: anything else is
 * named in `refused`, after what the webview itself refused (m.refused). No vscode import (unit-tested).
 */
import * as fs from 'fs';
import * as path from 'path';
import { fileURLToPath } from 'url';
import type { GraphToHost } from './protocol';

export function dropTargets(m: Extract<GraphToHost, { type: 'drop' }>, dir: string): { files: string[]; refused: string[] } {
  const files: string[] = [];
  const refused: string[] = [...(m.refused ?? [])];
  for (const u of m.uris) {
    let p: string;
    try {
      p = fileURLToPath(u);
    } catch {
      refused.push(`${u}: not a local file`);
      continue;
    }
    if (!/\.json$/i.test(p)) refused.push(`${path.basename(p)}: not a .json file (trtexec --exportOutput, Polygraphy --save-outputs)`);
    else files.push(p);
  }
  const used = new Set<string>();
  for (const f of m.files) {
    const name = path.basename(f.name);
    if (!/\.json$/i.test(name) || name !== f.name) {
      refused.push(`${f.name}: not a .json file (trtexec --exportOutput, Polygraphy --save-outputs)`);
      continue;
    }
    if (used.has(name)) {
      refused.push(`${name}: dropped twice`);
      continue;
    }
    used.add(name);
    fs.mkdirSync(dir, { recursive: true });
    const p = path.join(dir, name);
    fs.writeFileSync(p, f.text);
    files.push(p);
  }
  return { files, refused };
}
