/**
 * Restricted Mode, kept in one place: every command that reads a workspace file (a checkpoint,
 * test data) or starts a program on it (the engine process, python3) calls `consent` first, before
 * it changes anything the user sees (the sidebar's checkpoint) or reads anything. In a trusted
 * workspace it answers yes at once; in Restricted Mode it asks, naming what would be read and run,
 * and answers yes only to "Run Once". No `vscode` import: the host gives it the workbench's calls
 * (TrustUi), so that the decision is unit-tested.
 */

/** What a command would do in the workspace, in the user's words. */
export interface Consented {
  /** The command, as the palette names it: "Build & Run Engine", "Export ONNX (For TensorRT)". */
  action: string;
  /** Workspace files it reads (base names are shown). */
  reads: readonly string[];
  /** The program it starts on them: "ONNX Runtime in a separate process", "python3". */
  runs?: string;
}

export interface TrustUi {
  isTrusted(): boolean;
  /** A warning with buttons; resolves with the button pressed (undefined: dismissed). */
  ask(message: string, ...actions: string[]): PromiseLike<string | undefined>;
  /** Opens the workbench's Manage Workspace Trust. */
  manage(): void;
  /** Log line (what was asked and answered). */
  log?(line: string): void;
}

export const RUN_ONCE = 'Run Once';
export const MANAGE_TRUST = 'Manage Workspace Trust';

/** The question asked in Restricted Mode (exported for the tests: they read the words the user reads). */
export function consentMessage(c: Consented): string {
  const files = c.reads.map(baseName).filter(Boolean);
  const what = files.length ? `reads ${files.join(' and ')}` : 'reads files of this workspace';
  const runs = c.runs ? ` and runs ${c.runs} on ${files.length === 1 ? 'it' : 'them'}` : '';
  return `TimeSformer: this workspace is in Restricted Mode. ${c.action} ${what}${runs}. Run once anyway?`;
}

/** Whether the command may go on: trusted, or "Run Once" pressed. Asks nothing in a trusted workspace. */
export async function consent(ui: TrustUi, c: Consented): Promise<boolean> {
  if (ui.isTrusted()) return true;
  const pick = await ui.ask(consentMessage(c), RUN_ONCE, MANAGE_TRUST);
  ui.log?.(`Restricted Mode: ${c.action} ${pick === RUN_ONCE ? 'allowed once' : 'not run (no consent)'}`);
  if (pick === MANAGE_TRUST) ui.manage();
  return pick === RUN_ONCE;
}

function baseName(p: string): string {
  return p.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? p;
}
