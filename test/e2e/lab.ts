/**
 * Helpers shared by the lab's e2e suites: finding the sidebar and graph webviews, reading their
 * state through the test hooks (data-* attributes), choosing in the sidebar, and the workbench's
 * quick picks and notifications.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Frame, Page } from 'playwright-core';
import { findWebviewFrame, openView, repoRoot, runCommand, waitForCondition } from './harness';

export const ROOT = repoRoot();
/** The extension under test: this repository (built), or another build (E2E_EXTENSION_DIR, e.g. main's, to see a test fail there). */
export const EXTENSION_DIR = process.env.E2E_EXTENSION_DIR || ROOT;
export const FIXTURES = [path.join(ROOT, 'test', 'fixtures'), '/work/shared/fixtures'].find((d) => fs.existsSync(path.join(d, 'd1_outlier.pyth')))!;

export interface BlockAttrs { block: number; status: string; error: number; color: string; isBreak: boolean }

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The graph panel's frame (the one drawing run `runId`, block `block`), once the run is whole: a run
 * lands before its minimal fix's confirmation (its verdict data-confirming) and is whole after it.
 */
export async function graphFrame(page: Page, runId: string, block = 0, timeoutMs = 90_000): Promise<Frame> {
  const frame = await findWebviewFrame(page, `#graph g.node.block[data-run="${runId}"][data-block="${block}"]`, timeoutMs);
  await frame.waitForSelector(`#verdicts .verdict[data-run="${runId}"]:not([data-confirming])`, { state: 'attached', timeout: timeoutMs });
  return frame;
}

export function sidebarFrame(page: Page): Promise<Frame> {
  return findWebviewFrame(page, '#layerNorm');
}

/** The lab's sidebar, opened if it is not (a view restored after a reload may open by itself meanwhile). */
export async function openSidebar(page: Page): Promise<Frame> {
  const open = await findWebviewFrame(page, '#layerNorm', 2000).catch(() => undefined);
  if (open) return open;
  await openView(page, 'TimeSformer Lab').catch(() => undefined);
  return findWebviewFrame(page, '#layerNorm', 30_000);
}

export async function blocks(frame: Frame, runId: string): Promise<BlockAttrs[]> {
  return frame.$$eval(`#graph g.node.block[data-run="${runId}"]`, (els) => els.map((e) => ({
    block: Number(e.getAttribute('data-block')),
    status: e.getAttribute('data-status') ?? '',
    error: Number(e.getAttribute('data-error')),
    color: e.getAttribute('data-color') ?? '',
    isBreak: e.getAttribute('data-break') === 'true',
  })));
}

export async function waitForRun(page: Page, runId: string, depth: number): Promise<{ frame: Frame; blocks: BlockAttrs[] }> {
  const frame = await graphFrame(page, runId, depth - 1);
  return { frame, blocks: await blocks(frame, runId) };
}

/** Copy d1 (checkpoint and test data) into `dir` (made if missing): the workspace most suites run on. */
export function copyD1(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['d1_outlier.pyth', 'd1_outlier_test_data.p']) fs.copyFileSync(path.join(FIXTURES, f), path.join(dir, f));
}

/** Until the sidebar holds d1's checkpoint and test data (the workspace search found and paired them). */
export async function waitForD1(sidebar: Frame): Promise<void> {
  await waitForCondition(async () => (await valueOf(sidebar, '#checkpoint')).endsWith('d1_outlier.pyth'), 30_000, 'the checkpoint');
  await waitForCondition(async () => (await valueOf(sidebar, '#testData')).endsWith('d1_outlier_test_data.p'), 30_000, 'the test data');
}

/** A sidebar control's value as shown, and as the host holds it (data-value). */
export async function valueOf(frame: Frame, selector: string): Promise<string> {
  return frame.$eval(selector, (e) => (e as unknown as { value: string }).value);
}

export async function heldValue(frame: Frame, id: string): Promise<string> {
  return (await frame.getAttribute(`#${id}`, 'data-value')) ?? '';
}

/**
 * Picks an option in the sidebar and waits until the host holds it (data-value). A native select
 * here; the Webview UI Toolkit's dropdown of the extension before issue 10 too, so that the
 * behavioral tests can be run against that build (E2E_EXTENSION_DIR) and fail on the behavior.
 */
export async function choose(sidebar: Frame, id: string, value: string): Promise<void> {
  const tag = await sidebar.$eval(`#${id}`, (e) => e.tagName.toLowerCase());
  if (tag === 'select') await sidebar.selectOption(`#${id}`, value);
  else {
    await sidebar.click(`#${id}`);
    await sidebar.click(`#${id} vscode-option[value="${value.replace(/"/g, '\\"')}"]`);
  }
  await sidebar.waitForSelector(`#${id}[data-value="${value.replace(/"/g, '\\"')}"]`, { timeout: 10_000 });
}

export async function statusBarText(page: Page): Promise<string> {
  return (await page.locator('.statusbar-item').filter({ hasText: 'TimeSformer' }).first().textContent()) ?? '';
}

export async function clickRun(page: Page): Promise<void> {
  const sidebar = await sidebarFrame(page);
  await waitForCondition(() => sidebar.$eval('#run', (e) => !e.hasAttribute('disabled')), 30_000, 'the Run button to be enabled');
  await sidebar.click('#run');
}

/**
 * The sidebar's outcome box: its kind (run, error, cancelled, none) and text. The kind is read from
 * what the box says when the build has no data-kind (the extension before issue 10).
 */
export async function outcome(sidebar: Frame): Promise<{ kind: string; text: string }> {
  const o = await sidebar.$eval('#last', (e) => ({ kind: e.getAttribute('data-kind'), text: e.textContent ?? '' }));
  const kind = o.kind ?? (/PASS|FAIL/.test(o.text) ? 'run' : /ERROR/.test(o.text) ? 'error' : /Cancelled/.test(o.text) ? 'cancelled' : o.text.trim() ? 'other' : 'none');
  return { kind, text: o.text };
}

const QUICK_ROWS = '.quick-input-widget .quick-input-list .monaco-list-row';

/** Labels of the open quick pick's rows. */
export async function quickPickLabels(page: Page): Promise<string[]> {
  return (await page.locator(`${QUICK_ROWS} .label-name`).allTextContents()).map((s) => s.replace(/\s+/g, ' ').trim());
}

/**
 * In an open multi-select quick pick, checks exactly the rows whose label matches one of `want`,
 * then accepts. Each row's box is read back until it holds (the list re-renders while it settles).
 */
export async function pickMany(page: Page, want: RegExp[], opts: { title?: string | RegExp } = {}): Promise<void> {
  const rows = page.locator(QUICK_ROWS);
  // the picker itself, shown (a hidden widget still holds the rows of the last picker: see pickItem)
  const titled = (t: string) => opts.title === undefined || (typeof opts.title === 'string' ? t === opts.title : opts.title.test(t));
  await waitForCondition(async () => {
    const s = await quickInputState(page);
    return s.visible && titled(s.title) && s.rows.some((r) => want.some((re) => re.test(r.label)));
  }, 10_000, 'the quick pick rows');
  await sleep(300);
  const state = async (i: number) => {
    const row = rows.nth(i);
    const label = ((await row.locator('.label-name').first().textContent()) ?? '').replace(/\s+/g, ' ').trim();
    const box = row.locator('input[type="checkbox"], .monaco-custom-toggle, [role="checkbox"]').first();
    const checked = (await box.getAttribute('aria-checked')) === 'true' || (await box.isChecked().catch(() => false));
    return { box, checked, should: want.some((re) => re.test(label)) };
  };
  await waitForCondition(async () => {
    const n = await rows.count();
    let settled = true;
    for (let i = 0; i < n; i++) {
      const s = await state(i);
      if (s.checked !== s.should) {
        settled = false;
        // The mouse left on the row clicked before shows that row's hover, which can cover the
        // next row's box (a click then waits for it until its timeout): move it away first, and
        // keep each click short so that the loop reads the rows again.
        await page.mouse.move(1, 1);
        await s.box.click({ timeout: 2000 });
        await sleep(150);
      }
    }
    return settled;
  }, 10_000, 'the runs to be checked');
  await page.locator('.quick-input-widget .quick-input-action .monaco-button, .quick-input-widget .quick-input-ok .monaco-button').first().click()
    .catch(() => page.keyboard.press('Enter'));
  await page.locator('.quick-input-widget').first().waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
}

/** Runs a palette command that asks for confirmation in a modal or a notification, and confirms with `button`. */
export async function runAndConfirm(page: Page, command: string, button: string): Promise<void> {
  await runCommand(page, command);
  const b = page.locator('.notifications-toasts .monaco-button, .monaco-dialog-box .monaco-button').filter({ hasText: new RegExp(`^${button}$`) }).first();
  await b.waitFor({ state: 'visible', timeout: 10_000 });
  await b.click();
}

/** Closes every notification toast (they would cover the panel in screenshots). */
export async function clearNotifications(page: Page): Promise<void> {
  await runCommand(page, 'Notifications: Clear All Notifications').catch(() => undefined);
}

/**
 * In VS Code's own open dialog (the simple file dialog of code-server), types `file` and accepts.
 * The dialog fills its input with the current folder after it shows, so the test waits for that
 * first, and for its own text to stand, before pressing Enter.
 */
export async function acceptOpenDialog(page: Page, file: string): Promise<void> {
  const input = page.locator('.quick-input-widget .quick-input-box input').first();
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await waitForCondition(async () => (await input.inputValue()).length > 0, 10_000, 'the dialog\'s folder');
  await sleep(300);
  for (let attempt = 0; attempt < 3; attempt++) {
    await input.fill(file);
    await sleep(300);
    if ((await input.inputValue()) === file) break;
  }
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-widget').first().waitFor({ state: 'hidden', timeout: 10_000 });
}

const QUICK = '.quick-input-widget';

/** What the quick input shows now: visible, its title, its input's text, each row's label and whether it has the focus. */
export async function quickInputState(page: Page): Promise<{ visible: boolean; title: string; value: string; rows: { label: string; focused: boolean }[] }> {
  return page.evaluate(`(() => {
    const w = document.querySelector('${QUICK}');
    const visible = !!w && w.offsetParent !== null && getComputedStyle(w).display !== 'none';
    const title = w ? (w.querySelector('.quick-input-title') || {}).textContent || '' : '';
    const input = w && w.querySelector('.quick-input-box input');
    const rows = w ? [...w.querySelectorAll('.quick-input-list .monaco-list-row')].map((r) => ({
      label: ((r.querySelector('.label-name') || r).textContent || '').replace(/\\s+/g, ' ').trim(),
      focused: r.classList.contains('focused'),
    })) : [];
    return { visible, title: title.trim(), value: input ? input.value : '', rows };
  })()`);
}

/**
 * Picks one row of a single-select quick pick by its label, as a user who types to find it: waits
 * until the picker titled `title` shows (not the palette that opened it: the quick input widget is
 * shared, and after a palette command its rows and input stay the palette's until the command's
 * own picker replaces them, an extension-host round trip later), types `filter` (by default the
 * label) into its input, waits until the list holds exactly the wanted row and that row has the
 * focus, then presses Enter and waits until the picker is gone or replaced. Keys and clicks sent
 * before that land in the palette or on rows about to be replaced: the race this replaces (see
 * docs/development.md, "e2e: picking from a quick pick").
 */
export async function pickItem(page: Page, label: string | RegExp, opts: { title?: string | RegExp; filter?: string; timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const matches = (l: string) => (typeof label === 'string' ? l === label : label.test(l));
  const titled = (t: string) => opts.title === undefined || (typeof opts.title === 'string' ? t === opts.title : opts.title.test(t));
  const seen: string[] = [];
  const trace = (s: Awaited<ReturnType<typeof quickInputState>>) => {
    const line = `${s.visible ? 'shown' : 'hidden'} "${s.title}" [${s.value}] ${s.rows.map((r) => `${r.focused ? '>' : ''}${r.label}`).join(' | ')}`;
    if (seen[seen.length - 1] !== line) seen.push(line);
  };
  const fail = (e: Error) => { throw new Error(`${e.message}; quick input states seen:\n  ${seen.slice(-8).join('\n  ')}`); };
  // 1. The picker itself, with its items.
  let filter = opts.filter;
  await waitForCondition(async () => {
    const s = await quickInputState(page);
    trace(s);
    const row = s.visible && titled(s.title) ? s.rows.find((r) => matches(r.label)) : undefined;
    if (row && filter === undefined) filter = typeof label === 'string' ? label : row.label;
    return !!row;
  }, timeoutMs, `a quick pick${opts.title ? ` titled ${String(opts.title)}` : ''} listing ${String(label)}`, 100).catch(fail);
  // 2. Typed into its filter: exactly that row left, and focused (the list focuses the first match).
  const input = page.locator(`${QUICK} .quick-input-box input`).first();
  let title = '';
  await waitForCondition(async () => {
    const s = await quickInputState(page);
    trace(s);
    if (!s.visible || !titled(s.title)) return false;
    title = s.title;
    if (s.value !== filter) {
      await input.fill(filter!);
      return false;
    }
    return s.rows.length === 1 && matches(s.rows[0].label) && s.rows[0].focused;
  }, timeoutMs, `"${filter}" typed into the picker, leaving only its row, focused`, 100).catch(fail);
  await page.keyboard.press('Enter');
  // 3. Accepted: the picker hides, or the next one (another title or input) replaces it.
  await waitForCondition(async () => {
    const s = await quickInputState(page);
    trace(s);
    return !s.visible || s.title !== title || s.value !== filter;
  }, timeoutMs, `the pick of ${String(label)} to be accepted`, 100).catch(fail);
  // E2E_TRACE_PICK=1: every state the quick input went through, to see what a test met on its way.
  if (process.env.E2E_TRACE_PICK) console.log(`pickItem ${String(label)}:\n  ${seen.join('\n  ')}`);
}
