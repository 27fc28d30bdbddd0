/**
 * "Make Test Data from PyTorch…" without `vscode` (unit-tested): whether python3 and the modules
 * the script needs are here (asked of python3 itself, with a time limit), and the script copied into
 * the workspace with a header whose commands work where it now is — `python3 <the copy>` and the
 * CLI inside the installed extension (`node <extension>/dist/cli.js`), not the repository's
 * `scripts/…` path or a `timesformer-lab` no installed .vsix puts on the PATH.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** Modules the script imports: torch and numpy always; transformers for HF folders (and official checkpoints without --official-repo); yaml for an official checkpoint's cfg. */
export const REQUIRED = ['torch', 'numpy'] as const;
export const OPTIONAL = ['transformers', 'yaml'] as const;
const PIP_NAME: Record<string, string> = { torch: 'torch', numpy: 'numpy', transformers: 'transformers', yaml: 'pyyaml' };

export interface PythonCheck {
  /** The interpreter asked (python3, or the one given). */
  python: string;
  /** python3's version; undefined when it could not be started. */
  version?: string;
  /** Why python3 could not be asked (not found, timed out, failed). */
  error?: string;
  /** Each module: its version, or null when it cannot be imported. */
  modules: Record<string, string | null>;
}

/** What python3 runs: each required module imported (a broken install shows), the optional ones only looked up. */
const PROBE = [
  'import sys, json, importlib, importlib.util',
  'r = {"version": sys.version.split()[0], "modules": {}}',
  `for m in ${JSON.stringify(REQUIRED)}:`,
  '    try: r["modules"][m] = str(getattr(importlib.import_module(m), "__version__", "?"))',
  '    except Exception: r["modules"][m] = None',
  `for m in ${JSON.stringify(OPTIONAL)}:`,
  '    r["modules"][m] = "found" if importlib.util.find_spec(m) else None',
  'print(json.dumps(r))',
].join('\n');

/** Asks `python` (default python3) which of the modules it can import; never rejects. */
export function checkPython(python = 'python3', timeoutMs = 30_000): Promise<PythonCheck> {
  return new Promise((resolve) => {
    execFile(python, ['-c', PROBE], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const none = Object.fromEntries([...REQUIRED, ...OPTIONAL].map((m) => [m, null]));
      if (err) {
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        const why = e.code === 'ENOENT' ? `${python} was not found on the PATH`
          : e.killed ? `${python} did not answer within ${timeoutMs / 1000} s`
          : `${python} failed: ${(stderr || e.message).trim().split('\n').pop()}`;
        resolve({ python, error: why, modules: none });
        return;
      }
      try {
        const r = JSON.parse(stdout.trim().split('\n').pop() ?? '') as { version: string; modules: Record<string, string | null> };
        resolve({ python, version: r.version, modules: { ...none, ...r.modules } });
      } catch {
        resolve({ python, error: `${python} gave an answer that is not JSON: ${stdout.slice(0, 200)}`, modules: none });
      }
    });
  });
}

/** What is missing, in words, with the command that installs it; undefined when nothing the script needs is. */
export function missingText(c: PythonCheck): string | undefined {
  if (c.error) return `${c.error}. Install Python 3 (python3 on the PATH), then: python3 -m pip install torch numpy transformers pyyaml`;
  const missing = REQUIRED.filter((m) => c.modules[m] === null);
  const optional = OPTIONAL.filter((m) => c.modules[m] === null);
  if (!missing.length) return undefined;
  const names = [...missing, ...optional].map((m) => PIP_NAME[m]);
  return `python3 ${c.version} is here, but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not installed for it. Install with: python3 -m pip install ${names.join(' ')} (for a GPU build of torch, see pytorch.org)`;
}

/** A path as a shell argument (quoted when it holds anything but safe characters). */
function arg(p: string): string {
  return /^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}

/**
 * The script's text with its header's commands rewritten for where it is copied: `python3
 * scripts/make_test_data.py` becomes `python3 <copy>` and `timesformer-lab run` becomes the CLI of
 * the installed extension. Throws when the header no longer has the lines it rewrites (a script
 * and a command out of step must not ship quietly).
 */
export function headerFor(script: string, o: { copy: string; cli: string; from: string; check?: PythonCheck }): string {
  const run = 'python3 scripts/make_test_data.py';
  const cli = 'timesformer-lab run';
  if (!script.includes(run) || !script.includes(cli)) throw new Error(`make_test_data.py: its header has no "${run}" or "${cli}" line to rewrite`);
  const found = o.check ? (o.check.error ? `python3: ${o.check.error}` : `python3 ${o.check.version}; ${Object.entries(o.check.modules).map(([m, v]) => `${m} ${v ?? 'MISSING'}`).join(', ')}`) : undefined;
  const note = [
    `Copied here by TimeSformer Precision Lab ("Make Test Data from PyTorch…") from ${o.from}.`,
    ...(found ? [`When copied: ${found}.`] : []),
    'Choose the test_data.p it writes in the TimeSformer Lab sidebar and run "TimeSformer: Build & Run Engine" (or the CLI line below).',
    '',
  ].join('\n');
  return script
    .split(run).join(`python3 ${arg(o.copy)}`)
    .split(`\`${cli}`).join(`\`node ${arg(o.cli)} run`)
    .replace('"""', `"""${note}\n`);
}

/**
 * Copies the script into `dir` (as make_test_data.py) with headerFor's header. A copy already
 * there that the user changed is kept (its path is returned with `kept`).
 */
export function copyScript(src: string, dir: string, o: { cli: string; check?: PythonCheck }): { path: string; kept: boolean } {
  const copy = path.join(dir, 'make_test_data.py');
  let text: string;
  try {
    text = headerFor(fs.readFileSync(src, 'utf8'), { copy, cli: o.cli, from: src, check: o.check });
  } catch (e) {
    throw new Error(`cannot read ${src} (${(e as Error).message})`);
  }
  if (fs.existsSync(copy)) {
    const old = fs.readFileSync(copy, 'utf8');
    // ours, from an earlier copy (its note differs only by what was found): refreshed; the user's edits: kept
    const body = (t: string) => t.slice(t.indexOf('\nimport '));
    if (body(old) !== body(text)) return { path: copy, kept: true };
  }
  fs.writeFileSync(copy, text, { mode: 0o755 });
  return { path: copy, kept: false };
}
