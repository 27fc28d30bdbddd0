/**
 * The graph seen whole (issue 17 item 4) and its status texts readable in every theme kind (issue 22
 * item 6), in real VS Code (code-server + Chromium, see harness.ts) on d1_outlier:
 *  - Fit of a single FP16 run and of an expanded three-run Compare, in a panel 1250 px wide: every
 *    node's box lies inside the graph's svg; the lane titles stay on screen while panning; pan, then
 *    Collapse, leaves the nodes in view.
 *  - The inspector keeps the user's zoom (its block in view) and refits only Fit's view; Enter moves
 *    the keyboard into it, Escape closes it from anywhere and brings the keyboard back to the block.
 *  - The PASS / FAIL / overflow texts of the sidebar, the graph and the inspector reach WCAG AA
 *    (4.5:1) against their effective background in Light Modern, Dark Modern, High Contrast and High
 *    Contrast Light, read from getComputedStyle after switching workbench.colorTheme.
 * Screenshots: artifacts/e2e/graph-*.png (graph-readme-single-fp16.png is media/screenshot-graph.png).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Frame, Page } from 'playwright-core';
import { VSCodeSession, artifactsDir, closeAfter, openView, runCommand, startVSCode, waitForCondition } from './harness';
import { EXTENSION_DIR, FIXTURES, ROOT, choose, clearNotifications, clickRun, graphFrame, pickMany, sidebarFrame, sleep, waitForRun } from './lab';

// Browser globals for the functions evaluated inside the webviews (the tests compile without the DOM lib).
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const SVGElement: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare function getComputedStyle(e: unknown, pseudo?: string): any; // eslint-disable-line @typescript-eslint/no-explicit-any
type Element = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const PANEL_W = 1250;

interface Rect { left: number; top: number; right: number; bottom: number }

/** Every node of the graph (its whole group: box, break flag, marks, parts) against the svg's box, in screen px. */
async function nodesOutside(frame: Frame): Promise<{ svg: Rect; count: number; outside: string[] }> {
  return frame.evaluate(() => {
    const r = (e: Element) => { const b = e.getBoundingClientRect(); return { left: b.left, top: b.top, right: b.right, bottom: b.bottom }; };
    const svg = r(document.getElementById('graph')!);
    const nodes = [...document.querySelectorAll('#graph g.node')];
    const outside = nodes.map((n) => ({ key: n.getAttribute('data-key') ?? '', b: r(n) }))
      .filter(({ b }) => b.left < svg.left - 0.5 || b.top < svg.top - 0.5 || b.right > svg.right + 0.5 || b.bottom > svg.bottom + 0.5)
      .map(({ key, b }) => `${key} [${b.left.toFixed(0)},${b.top.toFixed(0)} – ${b.right.toFixed(0)},${b.bottom.toFixed(0)}]`);
    return { svg, count: nodes.length, outside };
  });
}

async function laneTitles(frame: Frame): Promise<(Rect & { run: string })[]> {
  return frame.$$eval('#graph g.lane', (els) => els.map((e) => {
    const b = e.querySelector('.lane-title')!.getBoundingClientRect();
    return { run: e.getAttribute('data-run') ?? '', left: b.left, top: b.top, right: b.right, bottom: b.bottom };
  }));
}

/** Each lane's title below another lane, with the bottom of the lane above (its nodes and parts) and the top of its own nodes, in screen px. */
async function titlesBetweenLanes(frame: Frame): Promise<{ run: string; top: number; bottom: number; aboveBottom: number; nodesTop: number }[]> {
  return frame.$$eval('#graph g.lane', (lanes) => lanes.slice(1).map((lane, i) => {
    const nodes = (l: Element) => [...l.querySelectorAll('g.node')].map((n) => n.getBoundingClientRect());
    const t = lane.querySelector('.lane-title')!.getBoundingClientRect();
    return {
      run: lane.getAttribute('data-run') ?? '', top: t.top, bottom: t.bottom,
      aboveBottom: Math.max(...nodes(lanes[i]).map((b) => b.bottom)), nodesTop: Math.min(...nodes(lane).map((b) => b.top)),
    };
  }));
}

/** Resizes the browser so that the graph panel (its svg) is `width` px wide. */
async function panelWidth(page: Page, frame: Frame, width: number, height = 900): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const w = await frame.$eval('#graph', (e) => e.getBoundingClientRect().width);
    if (Math.abs(w - width) < 1) break;
    const vp = page.viewportSize()!;
    await page.setViewportSize({ width: Math.round(vp.width + width - w), height });
    await sleep(800);
  }
  assert.ok(Math.abs(await frame.$eval('#graph', (e) => e.getBoundingClientRect().width) - width) < 1, `the graph panel is ${width} px wide`);
}

describe('the graph seen whole, and readable in every theme (d1_outlier)', function () {
  let tmp: string;
  let vs: VSCodeSession | undefined;

  before(async function () {
    this.timeout(240_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-graph-'));
    const workspace = path.join(tmp, 'workspace');
    fs.mkdirSync(workspace, { recursive: true });
    for (const f of ['d1_outlier.pyth', 'd1_outlier_test_data.p']) fs.copyFileSync(path.join(FIXTURES, f), path.join(workspace, f));
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'webview', 'graph.js')), 'build first: npm run build');
    vs = await startVSCode({
      workspace,
      extensionDir: EXTENSION_DIR,
      name: 'graph',
      viewport: { width: 1400, height: 900 },
      settings: { 'timesformerLab.precision': 'fp16', 'timesformerLab.layerNorm': 'plain', 'timesformerLab.executionProvider': 'cpu' },
    });
  });

  closeAfter('graph', () => ({ vs, tmp }));

  it('Fit shows a single FP16 run whole in a 1250 px panel: every node, the head included, inside the view', async function () {
    this.timeout(240_000);
    const { page } = vs!;
    await openView(page, 'TimeSformer Lab');
    await sidebarFrame(page);
    await runCommand(page, 'TimeSformer: Build & Run Engine');
    const { frame, blocks } = await waitForRun(page, 'run-1', 12);
    assert.deepStrictEqual(blocks.map((b) => b.status), [...Array(4).fill('pass'), ...Array(8).fill('fail')]);
    await clearNotifications(page);
    await runCommand(page, 'View: Close Primary Side Bar');
    await panelWidth(page, frame, PANEL_W);
    await frame.click('#fit');
    await sleep(400);
    const { count, outside, svg } = await nodesOutside(frame);
    assert.strictEqual(count, 15, 'patch embedding, 12 blocks, norm, head');
    assert.deepStrictEqual(outside, [], `every node inside the ${svg.right - svg.left} px view`);
    await frame.waitForSelector('#graph g.node[data-key="run-1:head"]');
    for (const t of await laneTitles(frame)) assert.ok(t.left >= svg.left && t.top >= svg.top, `the lane title is in view: ${JSON.stringify(t)}`);
    await page.mouse.move(2, 2);
    await vs!.screenshot('graph-01-fit-single-1250');

    // The README's picture: the same run in a wider window, block 4 (the break) expanded to its parts, the editor area alone.
    await panelWidth(page, frame, 1600, 760);
    await frame.click('g.node.block[data-run="run-1"][data-block="4"] .expander');
    await frame.waitForSelector('g.node.block[data-run="run-1"][data-block="4"] g.part[data-part="norm2"][data-overflow="true"]');
    await frame.click('#fit');
    await sleep(400);
    assert.deepStrictEqual((await nodesOutside(frame)).outside, []);
    await page.mouse.move(2, 2);
    await page.locator('.part.editor').screenshot({ path: path.join(artifactsDir(), 'graph-readme-single-fp16.png') });
    await frame.click('#collapse-all');
    await page.setViewportSize({ width: 1400, height: 900 });
  });

  it("the inspector keeps the user's zoom and its block in view (Fit's view fits again); the keyboard goes into it, Escape closes it from anywhere", async function () {
    this.timeout(120_000);
    const { page } = vs!;
    const frame = await graphFrame(page, 'run-1', 11);
    const scale = async () => Number(await frame.getAttribute('#graph', 'data-scale'));
    const focused = () => frame.evaluate(() => document.activeElement?.getAttribute('data-key') ?? document.activeElement?.id);
    const hidden = () => frame.$eval('#inspector', (e) => e.hidden);
    /** Waits until the view has followed the canvas's size (graph-zoom's data-size) after the inspector opened or closed. */
    const settled = (open: boolean) => waitForCondition(async () => {
      const { w, h } = await frame.$eval('#canvas', (e) => ({ w: e.clientWidth, h: e.clientHeight }));
      return (await hidden()) === !open && (await frame.getAttribute('#graph', 'data-size')) === `${w}x${h}`;
    }, 10_000, `the view laid out for the inspector ${open ? 'open' : 'closed'}`);
    const inView = (key: string) => frame.evaluate((k) => {
      const c = document.getElementById('graph').getBoundingClientRect();
      const r = document.querySelector(`g.node[data-key="${k}"] rect.box`).getBoundingClientRect();
      return r.left >= c.left && r.right <= c.right && r.top >= c.top && r.bottom <= c.bottom;
    }, key);
    await frame.click('#fit');
    await frame.waitForSelector('#graph[data-fitted="true"]');
    const fitScale = await scale();
    for (let i = 0; i < 3; i++) await frame.click('#zoom-in');
    await frame.waitForSelector('#graph[data-fitted="false"]');
    const zoomed = await scale();
    assert.ok(Math.abs(zoomed - fitScale * 1.25 ** 3) < 0.002, `${zoomed} after 3 zoom-ins from ${fitScale}`);
    // Enter on the break: the inspector takes 420 px, the zoom stays, block 4 stays in view, the keyboard is in the inspector
    await frame.focus('g.node.block[data-key="run-1:4"]');
    await page.keyboard.press('Enter');
    await frame.waitForSelector('#inspector[data-block="4"] tr.ln-row', { timeout: 15_000 });
    await settled(true);
    assert.equal(await scale(), zoomed, 'the zoom stays when the inspector opens');
    assert.ok(await inView('run-1:4'), 'the inspected block is in view');
    assert.equal(await focused(), 'inspector');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'inspector-close', 'one Tab to the close button');
    await vs!.screenshot('graph-01b-inspector-keeps-zoom');
    // Escape from the inspector: closed, the keyboard back on block 4, the zoom still the user's
    await page.keyboard.press('Escape');
    await settled(false);
    assert.equal(await focused(), 'run-1:4');
    assert.equal(await scale(), zoomed, 'the zoom stays when the inspector closes');
    // Escape with the keyboard on another block closes it too (the keyboard stays there)
    await page.keyboard.press('Enter');
    await settled(true);
    await frame.focus('g.node.block[data-key="run-1:5"]');
    await page.keyboard.press('Escape');
    await settled(false);
    assert.equal(await focused(), 'run-1:5');
    // after Fit, opening the inspector fits the graph into the narrower panel
    await frame.click('#fit');
    await frame.waitForSelector('#graph[data-fitted="true"]');
    await frame.click('g.node.block[data-key="run-1:4"]');
    await settled(true);
    assert.ok(await scale() < fitScale - 0.05, `Fit's view fits again: ${await scale()} (was ${fitScale})`);
    assert.deepStrictEqual((await nodesOutside(frame)).outside, [], 'every node in view beside the inspector');
    await page.keyboard.press('Escape');
    await settled(false);
  });

  it('an expanded three-run Compare fits whole in a 1250 px panel; lane titles stay on screen while panning; pan, then Collapse, keeps the nodes in view', async function () {
    this.timeout(360_000);
    const { page } = vs!;
    await openView(page, 'TimeSformer Lab');
    const sb = await sidebarFrame(page);
    await choose(sb, 'layerNorm', 'fp32');
    await clickRun(page);
    await waitForRun(page, 'run-2', 12);
    await choose(sb, 'precision', 'fp32');
    await clickRun(page);
    await waitForRun(page, 'run-3', 12);
    await runCommand(page, 'TimeSformer: Compare Runs');
    await pickMany(page, [/^#1 /, /^#2 /, /^#3 /]);
    const frame = await graphFrame(page, 'run-1', 11);
    await waitForCondition(async () => (await frame.$$eval('#graph g.lane', (els) => els.map((e) => e.getAttribute('data-run')))).join() === 'run-1,run-2,run-3', 15_000, 'three lanes');
    await clearNotifications(page);
    await runCommand(page, 'View: Close Primary Side Bar');
    await panelWidth(page, frame, PANEL_W);
    await frame.click('#expand-all');
    await frame.waitForSelector('g.node.block[data-run="run-3"][data-block="11"] g.part[data-part="add_mlp"]');
    await sleep(400);
    // Expand all fits by itself; so does Fit.
    for (const how of ['after Expand all', 'after Fit']) {
      if (how === 'after Fit') await frame.click('#fit');
      await sleep(300);
      const { count, outside } = await nodesOutside(frame);
      assert.strictEqual(count, 3 * 15);
      assert.deepStrictEqual(outside, [], how);
      assert.strictEqual(await frame.$$eval('#graph g.part', (els) => els.length), 3 * 12 * 10, 'every block expanded');
      // each lane's title sits between the lane above's last row and its own nodes, readable
      const titles = await titlesBetweenLanes(frame);
      for (const t of titles) {
        assert.ok(t.top >= t.aboveBottom - 0.5 && t.bottom <= t.nodesTop + 0.5, `${how}: lane ${t.run}'s title [${t.top.toFixed(1)}, ${t.bottom.toFixed(1)}] between the lane above (ends ${t.aboveBottom.toFixed(1)}) and its nodes (${t.nodesTop.toFixed(1)})`);
        assert.ok(t.bottom - t.top >= 8, `${how}: lane ${t.run}'s title is ${(t.bottom - t.top).toFixed(1)} px high`);
      }
      assert.strictEqual(titles.length, 2);
    }
    await page.mouse.move(2, 2);
    await vs!.screenshot('graph-02-fit-compare-expanded-1250');

    // Zoom in and pan right and down: the content's left edge leaves the view, the lane titles stay.
    for (let i = 0; i < 4; i++) await frame.click('#zoom-in');
    await sleep(300);
    const svgBox = (await (await frame.$('#graph'))!.boundingBox())!;
    await page.mouse.move(svgBox.x + svgBox.width * 0.6, svgBox.y + svgBox.height * 0.7);
    await page.mouse.down();
    await page.mouse.move(svgBox.x + svgBox.width * 0.1, svgBox.y + svgBox.height * 0.1, { steps: 12 });
    await page.mouse.up();
    await sleep(300);
    const panned = await nodesOutside(frame);
    const firstNode = await frame.$eval('#graph g.node[data-key="run-1:patch_embed"]', (e) => e.getBoundingClientRect().right);
    assert.ok(firstNode < panned.svg.left, `panned past the lanes' start: patch embedding ends at ${firstNode}, the view starts at ${panned.svg.left}`);
    for (const t of await laneTitles(frame)) {
      assert.ok(t.left >= panned.svg.left && t.left <= panned.svg.left + 12, `lane ${t.run}'s title stays at the left edge: ${t.left} (view ${panned.svg.left})`);
    }
    await vs!.screenshot('graph-03-panned-sticky-titles');

    await frame.click('#collapse-all');
    await sleep(400);
    const after = await nodesOutside(frame);
    assert.strictEqual(await frame.$$eval('#graph g.part', (els) => els.length), 0);
    assert.deepStrictEqual(after.outside, [], 'after Collapse every node is in view');
    await vs!.screenshot('graph-04-pan-then-collapse');
    await page.setViewportSize({ width: 1400, height: 900 });
  });

  it('PASS, FAIL and overflow texts reach WCAG AA (4.5:1) in Light Modern, Dark Modern, High Contrast and High Contrast Light', async function () {
    this.timeout(240_000);
    const { page } = vs!;
    await openView(page, 'TimeSformer Lab');
    const sb = await sidebarFrame(page);
    const g = await graphFrame(page, 'run-1', 4);
    await g.click('#expand-all');
    await g.click('g.node.block[data-run="run-1"][data-block="4"]');
    await g.waitForSelector('#inspector[data-block="4"] tr.ln-row.overflow', { timeout: 15_000 });
    // The sidebar shows the last run (run 3, a pass); its other status texts are made the way the sidebar makes them.
    await sb.evaluate(() => {
      const last = document.getElementById('last')!;
      const probe = document.createElement('div');
      probe.id = 'contrast-probes';
      for (const [cls, text] of [['verdict fail', '✗ FAIL'], ['verdict error', '⚠ ERROR'], ['note warn', 'overflows in FP16'], ['note pairing disagree', 'shapes disagree'], ['note pairing agree', 'matches']]) {
        const d = document.createElement('div');
        d.className = cls;
        d.textContent = text;
        probe.append(d);
      }
      last.append(probe);
    });
    const themes: [string, RegExp][] = [
      ['Default Light Modern', /\bvscode-light\b/],
      ['Default Dark Modern', /\bvscode-dark\b/],
      ['Default High Contrast', /\bvscode-high-contrast\b(?!-)/],
      ['Default High Contrast Light', /\bvscode-high-contrast-light\b/],
    ];
    const failures: string[] = [];
    for (const [theme, bodyClass] of themes) {
      await setColorTheme(page, theme);
      for (const f of [sb, g]) await waitForCondition(async () => bodyClass.test(await f.$eval('body', (e) => e.className)), 30_000, `${theme} in the webviews`);
      await sleep(500);
      const name = theme.toLowerCase().replace(/\s+/g, '-');
      await page.mouse.move(2, 2);
      await vs!.screenshot(`graph-05-contrast-${name}`);
      const texts = [
        ...await contrasts(sb, 'sidebar', 'sideBar', ['.verdict.pass', '.verdict.fail', '.verdict.error', '.note.warn', '.pairing.disagree', '.pairing.agree::before']),
        ...await contrasts(g, 'graph', 'editor', [
          '#verdicts .verdict.pass b', '#verdicts .verdict.fail b', '#legend .key.fail', '#legend .key.overflow',
          '.lane.pass .lane-verdict', '.lane.fail .lane-verdict', '.ln-marker.overflow .ln-label', '.break-flag text',
          '.part.overflow text.label', '.part.overflow text.value', '#inspector .badge.fail', '#inspector tr.ln-row.overflow td',
        ]),
      ];
      for (const t of texts) {
        if (t.missing) failures.push(`${theme}: ${t.where} ${t.selector} not found`);
        else if (t.ratio < 4.5) failures.push(`${theme}: ${t.where} ${t.selector} "${t.text}" ${t.fg} on ${t.bg}: ${t.ratio.toFixed(2)}:1`);
      }
      console.log(`      ${theme}: ${texts.map((t) => `${t.selector} ${t.ratio.toFixed(2)}`).join(', ')}`);
    }
    assert.deepStrictEqual(failures, [], 'every status text at 4.5:1 or more');
  });
});

/** Picks a color theme the way a user does: Preferences: Color Theme, the theme's name, its row. */
async function setColorTheme(page: Page, theme: string): Promise<void> {
  await runCommand(page, 'Preferences: Color Theme');
  const input = page.locator('.quick-input-widget .quick-input-box input').first();
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(theme);
  // a row reads "Light Modern" with the theme's id, "Default Light Modern", beside it
  const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ has: page.locator('.label-description', { hasText: new RegExp(`^\\s*${theme}\\s*$`) }) }).first();
  await row.waitFor({ state: 'visible', timeout: 10_000 }).catch(async (e: Error) => {
    throw new Error(`${e.message}\nrows: ${JSON.stringify(await page.locator('.quick-input-widget .quick-input-list .monaco-list-row').allInnerTexts())}`);
  });
  await row.click();
  await page.locator('.quick-input-widget').first().waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
}

interface Contrast { where: string; selector: string; text: string; fg: string; bg: string; ratio: number; missing?: boolean }

/**
 * For each selector (the first shown match; `::before` reads the pseudo-element), the text color as
 * computed (CSS color, or fill for SVG text), the effective background behind it (the nearest
 * opaque background: an SVG shape drawn under the text, an element's background color, or else
 * the workbench's `--vscode-<host>-background` that shows through the transparent webview), and
 * their WCAG 2 contrast ratio.
 */
async function contrasts(frame: Frame, where: string, host: string, selectors: string[]): Promise<Contrast[]> {
  return frame.evaluate(({ where, host, selectors }) => {
    const parse = (c: string): number[] | undefined => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return undefined;
      const v = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return [v[0], v[1], v[2], v[3] ?? 1];
    };
    const over = (top: number[], bottom: number[]) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat(1);
    const lum = (c: number[]) => {
      const [r, g, b] = c.slice(0, 3).map((x) => x / 255).map((x) => (x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const probe = document.createElement('div');
    document.body.append(probe);
    const resolve = (css: string) => { probe.style.color = css; return getComputedStyle(probe).color; };
    const hostBg = resolve(`var(--vscode-${host}-background)`);
    probe.remove();
    /** The fill of the SVG rect that the text sits on, in its own group or an enclosing one (a node's box, a part's rect, the break flag's pill). */
    const shapeUnder = (el: Element): string | undefined => {
      const t = el.getBoundingClientRect();
      const [cx, cy] = [(t.left + t.right) / 2, (t.top + t.bottom) / 2];
      for (let g: Element | null = el.parentElement; g && g.tagName.toLowerCase() !== 'svg'; g = g.parentElement) {
        for (const c of g.children) {
          if (c.tagName !== 'rect') continue;
          const r = c.getBoundingClientRect();
          const fill = getComputedStyle(c).fill;
          if (cx >= r.left && cx <= r.right && cy >= r.top && cy <= r.bottom && fill && fill !== 'none' && !fill.startsWith('url')) return fill;
        }
      }
      return undefined;
    };
    const background = (el: Element): number[] => {
      const layers: number[][] = [];
      const svgFill = el instanceof SVGElement ? shapeUnder(el) : undefined;
      if (svgFill) layers.push(parse(svgFill)!);
      for (let e: Element | null = el; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c && c[3] > 0) layers.push(c);
        if (c && c[3] === 1) break;
      }
      let bg = parse(hostBg) ?? [255, 255, 255, 1];
      for (const l of layers.reverse()) bg = over(l, bg);
      return bg;
    };
    return selectors.map((sel) => {
      const [base, pseudo] = sel.split('::');
      const all = [...document.querySelectorAll(base)] as Element[];
      const el = all.find((e) => (e.textContent ?? '').trim() && e.getBoundingClientRect().width > 0) ?? all[0];
      if (!el) return { where, selector: sel, text: '', fg: '', bg: '', ratio: 0, missing: true };
      const style = getComputedStyle(el, pseudo ? `::${pseudo}` : undefined);
      const fgRaw = el instanceof SVGElement ? style.fill : style.color;
      const bg = background(el);
      const fg = over(parse(fgRaw) ?? [0, 0, 0, 1], bg);
      const [a, b] = [lum(fg), lum(bg)];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      const rgb = (c: number[]) => `rgb(${c.slice(0, 3).map((x) => Math.round(x)).join(', ')})`;
      return { where, selector: sel, text: (pseudo ? style.content : el.textContent ?? '').slice(0, 40), fg: rgb(fg), bg: rgb(bg), ratio };
    });
  }, { where, host, selectors });
}
