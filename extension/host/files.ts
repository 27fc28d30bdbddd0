/**
 * The workspace's files, as a service the commands share: the scan (checkpoints, HF folders, test
 * data) into the store, the headers read in a second engine process (so that pairing never waits
 * for a run; skipped in Restricted Mode), and the open dialog that browses for a file. Every
 * result goes into the store through its intents (setScan, setInspections, choose*).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { isHfCheckpointFolder } from '../core/inspect';
import type { InspectRequest } from '../protocol';
import type { Inspection } from './pairing';
import { RunError, type WorkerClient } from './runner';
import { SECTION } from './settings';
import type { FileEntry, LabState } from './state';
import { VIDEO_GLOB_EXTS } from './video';

const CHECKPOINT_GLOB = '**/*.{pyth,pth,pt,ckpt,safetensors}';
const TEST_DATA_GLOB = `**/*.{p,pkl,pickle,${VIDEO_GLOB_EXTS}}`;
const HF_CONFIG_GLOB = '**/config.json';
const EXCLUDE_GLOB = '**/{node_modules,.git,out,dist}/**';
/** Reading one batch of headers may take this long before the reading process is ended. */
const INSPECT_TIMEOUT_MS = 30_000;

export class WorkspaceFiles {
  /** The workspace scan in flight (a command may arrive before the first one ends). */
  discovering: Promise<void> = Promise.resolve();
  /** The header reading in flight. */
  inspecting: Promise<void> = Promise.resolve();

  constructor(private readonly state: LabState, private readonly reader: WorkerClient, private readonly log: (line: string) => void) {}

  /** Scans again after the ones in flight (a file created or deleted, a folder added). */
  rescan(): void {
    this.discovering = this.discovering.then(() => this.discover());
  }

  private async discover(): Promise<void> {
    const entry = (u: vscode.Uri): FileEntry => ({ path: u.fsPath, label: vscode.workspace.asRelativePath(u, false) });
    // Only files that exist: a name holding a newline comes back from the search split in two
    // (ripgrep lists one path a line), and "line.pyth" of "new\nline.pyth" was offered as a checkpoint.
    const find = async (glob: string) => (await vscode.workspace.findFiles(glob, EXCLUDE_GLOB, 500)).filter((u) => fs.existsSync(u.fsPath)).map(entry);
    const [files, testData, configs] = await Promise.all([find(CHECKPOINT_GLOB), find(TEST_DATA_GLOB), find(HF_CONFIG_GLOB)]);
    // HF folders: a config.json of a timesformer model beside its weights (a small JSON read, size-capped).
    const hf: FileEntry[] = [];
    for (const c of configs) {
      const dir = path.dirname(c.path);
      if (await isHfCheckpointFolder(dir)) hf.push({ path: dir, label: `${path.dirname(c.label) === '.' ? path.basename(dir) : path.dirname(c.label)}/`, hf: true });
    }
    const byLabel = (a: FileEntry, b: FileEntry) => a.label.localeCompare(b.label);
    // A weight file inside an HF folder is the folder's, not a checkpoint of its own.
    const loose = files.filter((f) => !hf.some((h) => path.dirname(f.path) === h.path));
    // a file browsed to (or a fix's) that was deleted or renamed since leaves the lists
    this.state.setScan([...loose, ...hf].sort(byLabel), testData.sort(byLabel), (p) => fs.existsSync(p));
    void vscode.commands.executeCommand('setContext', `${SECTION}.hfFolders`, hf.map((f) => f.path));
    this.inspect();
  }

  /** Reads the headers of files not read yet, in the reader process (skipped in Restricted Mode). */
  inspect(): void {
    this.inspecting = this.inspecting.then(async () => {
      const todo: InspectRequest[] = this.state.uninspected();
      if (!todo.length) return;
      const results = new Map<string, Inspection>();
      if (!this.state.trusted) {
        for (const f of todo) results.set(f.path, { state: 'skipped', reason: 'not read in Restricted Mode' });
        this.state.setInspections(results);
        return;
      }
      for (const f of todo) results.set(f.path, { state: 'pending' });
      this.state.setInspections(results);
      for (let i = 0; i < todo.length; i += 16) {
        const batch = todo.slice(i, i + 16);
        const done = new Map<string, Inspection>();
        try {
          const timer = setTimeout(() => void this.reader.cancel(), INSPECT_TIMEOUT_MS);
          const answers = await this.reader.inspect(batch).finally(() => clearTimeout(timer));
          for (const a of answers) done.set(a.path, a.ok ? { state: 'ok', signature: a.signature } : { state: 'error', code: a.error.code, message: a.error.message });
        } catch (e) {
          const why = e instanceof RunError && e.code === 'CANCELLED' ? `reading the headers took more than ${INSPECT_TIMEOUT_MS / 1000} s` : e instanceof Error ? e.message : String(e);
          for (const f of batch) done.set(f.path, { state: 'error', code: 'UNREADABLE', message: why });
        }
        this.state.setInspections(done);
      }
    }).catch((e: unknown) => this.log(`reading headers: ${e instanceof Error ? e.message : String(e)}`));
  }

  /** A file changed on disk: what its header said (and its folder's, for an HF folder) is read again. */
  changed(p: string): void {
    this.state.forget([p, path.dirname(p)]);
    this.inspect();
  }

  /** Trusted now: read the headers that Restricted Mode skipped. */
  trusted(): void {
    this.state.setTrusted(true);
    const files = [...this.state.checkpointList(), ...this.state.testDataList()].map((f) => f.path);
    this.state.forget(files.filter((p) => this.state.inspection(p)?.state === 'skipped'));
    this.inspect();
  }

  /** The open dialog: a checkpoint (a file, or an HF folder) or test data, chosen and read. */
  async browse(kind: 'checkpoint' | 'testData'): Promise<void> {
    const filters: Record<string, string[]> = kind === 'checkpoint'
      ? { 'PyTorch checkpoint': ['pyth', 'pth', 'pt', 'ckpt'], 'All files': ['*'] }
      : { 'Test data (pickle)': ['p', 'pkl', 'pickle'], 'Videos': VIDEO_GLOB_EXTS.split(','), 'All files': ['*'] };
    const uris = await vscode.window.showOpenDialog({
      canSelectMany: false, canSelectFiles: true, canSelectFolders: kind === 'checkpoint', filters,
      title: kind === 'checkpoint' ? 'Select the checkpoint (a file, or an HF folder)' : 'Select the test data or a video',
    });
    const p = uris?.[0]?.fsPath;
    if (!p) return;
    const label = vscode.workspace.asRelativePath(p, false);
    if (kind === 'checkpoint') this.state.chooseCheckpoint(p, label);
    else this.state.chooseTestData(p, label);
    this.inspect();
  }
}
