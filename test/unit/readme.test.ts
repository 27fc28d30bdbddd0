/**
 * The README and docs/ tell a newcomer the truth: the README stays short (≤ 150 lines); every
 * relative link and image in README.md and docs/*.md leads to a file that exists (and to a heading
 * that exists there); the commands it gives are the ones scripts/ and package.json provide; every
 * CLI option the docs name is one the CLI accepts, for the command it is named under, and every
 * option the CLI's help lists is documented in docs/cli.md.
 * Markdown is read with markdown-it (links, images and headings as a renderer sees them).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import MarkdownIt from 'markdown-it';
import { cli } from './helpers/cli';

const ROOT = path.join(__dirname, '..', '..', '..');
const DOCS = path.join(ROOT, 'docs');
const README = path.join(ROOT, 'README.md');
const read = (f: string) => fs.readFileSync(f, 'utf8');
const rel = (f: string) => path.relative(ROOT, f);
const docFiles = (): string[] => [README, ...fs.readdirSync(DOCS).filter((f) => f.endsWith('.md')).sort().map((f) => path.join(DOCS, f))];


const md = new MarkdownIt({ html: true });
type Token = ReturnType<typeof md.parse>[number];

interface Parsed {
  links: { href: string; image: boolean; line: number }[];
  headings: string[];
  /** Text of each fenced or indented code block, with the heading it sits under. */
  code: { text: string; section: string }[];
  /** Inline code spans and code blocks, with the level-2 heading they sit under. */
  spans: { text: string; section: string }[];
}

function parse(file: string): Parsed {
  const tokens = md.parse(read(file), {});
  const out: Parsed = { links: [], headings: [], code: [], spans: [] };
  let section = '';
  const walk = (ts: Token[], line: number) => {
    for (const t of ts) {
      if (t.type === 'link_open') out.links.push({ href: String(t.attrGet('href') ?? ''), image: false, line });
      if (t.type === 'image') out.links.push({ href: String(t.attrGet('src') ?? ''), image: true, line });
      if (t.type === 'code_inline') out.spans.push({ text: t.content, section });
      if (t.children) walk(t.children, line);
    }
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.type === 'heading_open') {
      const text = (tokens[i + 1].children ?? []).filter((c) => c.type === 'text' || c.type === 'code_inline').map((c) => c.content).join('');
      out.headings.push(text);
      if (t.tag === 'h2') section = text;
    }
    if (t.type === 'fence' || t.type === 'code_block') {
      out.code.push({ text: t.content, section });
      out.spans.push({ text: t.content, section });
    }
    walk([t], (t.map?.[0] ?? 0) + 1);
  }
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation and symbols dropped, spaces to hyphens; repeats get -1, -2… */
function anchors(headings: string[]): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const h of headings) {
    const base = h.trim().toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** Runs the CLI in this process, as dist/cli.js does, and collects what it prints. */

const COMMANDS = ['run', 'sweep', 'export-onnx', 'export-trt', 'import', 'trt-run', 'providers'];
/** The CLI options in a text; lines about trtexec (its own --onnx, --fp16…) are not ours. */
const optionsIn = (text: string): string[] => {
  const ours = text.split('\n').filter((l) => !/trtexec/.test(l)).join('\n');
  return [...new Set([...ours.matchAll(/(?<![\w-])(--[a-z][a-z0-9-]*|-h)\b/g)].map((m) => m[1]))];
};

/**
 * Whether `command` accepts `option`: the CLI is given the option and then an option that exists
 * nowhere, so that it stops at the argument parser either way; an unknown option is named.
 */
async function accepts(command: string, option: string): Promise<boolean> {
  if (option === '--help' || option === '-h') {
    const r = await cli([command, option]);
    return r.code === 0 && /usage:/.test(r.out);
  }
  const r = await cli([command, `${option}=x`, '--no-such-option-anywhere']);
  assert.equal(r.code, 2, `${command} ${option}: stops at the arguments (${r.err})`);
  if (command === 'providers') return !/providers takes no arguments/.test(r.err);
  return !new RegExp(`Unknown option '${option}'`).test(r.err);
}

describe('the README and docs/ are true for a newcomer', function () {
  this.timeout(60000);

  it('the README is at most 150 lines and keeps the "Your own model" section (Make Test Data… falls back to it)', () => {
    const lines = read(README).split('\n');
    const n = lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
    assert.ok(n <= 150, `README.md has ${n} lines`);
    assert.ok(lines.some((l) => /^#+\s+Your own model/i.test(l)), 'a "Your own model" heading');
  });

  it('every relative link and image in README.md and docs/*.md resolves to a file, and every #anchor to a heading', () => {
    const bad: string[] = [];
    let checked = 0;
    for (const file of docFiles()) {
      for (const { href, image, line } of parse(file).links) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(href)) continue; // https:, mailto:
        checked++;
        const [p, frag] = href.split('#');
        const target = p ? path.resolve(path.dirname(file), decodeURI(p)) : file;
        const where = `${rel(file)}:${line} ${image ? 'image' : 'link'} ${href}`;
        if (!fs.existsSync(target)) {
          bad.push(`${where}: no ${rel(target)}`);
          continue;
        }
        if (frag && target.endsWith('.md') && !anchors(parse(target).headings).has(frag)) bad.push(`${where}: no heading #${frag} in ${rel(target)}`);
      }
    }
    assert.ok(checked > 30, `links checked: ${checked}`);
    assert.deepEqual(bad, []);
  });

  it('the README shows the graph: media/screenshot-graph.png, a PNG of at most 300 KB', () => {
    const images = parse(README).links.filter((l) => l.image).map((l) => l.href);
    assert.ok(images.includes('media/screenshot-graph.png'), `images: ${images}`);
    const png = fs.readFileSync(path.join(ROOT, 'media', 'screenshot-graph.png'));
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
    assert.ok(png.length <= 300 * 1024, `${png.length} bytes`);
  });

  it('the two commands are the ones scripts/ and package.json provide, and CI runs the test command', () => {
    const pkg = JSON.parse(read(path.join(ROOT, 'package.json'))) as { scripts: Record<string, string>; bin: Record<string, string> };
    const block = parse(README).code.find((c) => c.section === 'The two commands')?.text ?? '';
    const commands = block.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
    assert.deepEqual(commands, ['bash scripts/sample.sh', 'bash scripts/test.sh']);
    for (const c of commands) assert.ok(fs.existsSync(path.join(ROOT, c.split(' ')[1])), c);
    assert.equal(pkg.scripts.sample, 'bash scripts/sample.sh');
    assert.match(read(path.join(ROOT, '.ci', 'run')), /^exec bash scripts\/test\.sh$/m);
    // test.sh installs everything, then runs the whole suite: npm test = build + unit + e2e
    assert.match(read(path.join(ROOT, 'scripts', 'test.sh')), /^npm ci\b/m);
    assert.match(read(path.join(ROOT, 'scripts', 'test.sh')), /^npm test$/m);
    assert.match(pkg.scripts.test, /npm run build && npm run test:unit && npm run test:e2e/);
    // the CLI the README names: the package's bin is the bundle that npm run build writes
    assert.deepEqual(pkg.bin, { 'timesformer-lab': './dist/cli.js' });
    assert.match(read(path.join(ROOT, 'scripts', 'bundle.js')), /\bcli\b/);
  });

  it('every `npm run X`, scripts/ file and `bash …` command the README and docs/ name exists', () => {
    const pkg = JSON.parse(read(path.join(ROOT, 'package.json'))) as { scripts: Record<string, string> };
    const bad: string[] = [];
    let seen = 0;
    for (const file of docFiles()) {
      for (const { text } of parse(file).spans) {
        for (const m of text.matchAll(/npm run (?:--silent )?([\w:-]+)/g)) {
          seen++;
          if (!pkg.scripts[m[1]]) bad.push(`${rel(file)}: npm run ${m[1]}`);
        }
        for (const m of text.matchAll(/(?<![\w/.-])(scripts\/(?:[\w.-]+\/)*[\w.-]+\.(?:sh|js|ts|py))\b/g)) {
          seen++;
          if (!fs.existsSync(path.join(ROOT, m[1]))) bad.push(`${rel(file)}: ${m[1]}`);
        }
      }
    }
    assert.ok(seen > 20, `commands and scripts seen: ${seen}`);
    assert.deepEqual(bad, []);
  });

  it('the option check can fail: an option that does not exist is refused by every command', async () => {
    for (const c of COMMANDS) assert.equal(await accepts(c, '--no-such-flag'), false, c);
    assert.equal(await accepts('run', '--layernorm'), true);
    assert.equal(await accepts('export-onnx', '--form'), true);
    assert.equal(await accepts('run', '--form'), false, 'export-onnx\'s --form is not run\'s');
  });

  it('every option named in docs/cli.md is accepted by the command whose section names it', async () => {
    const bad: string[] = [];
    const sections = new Map<string, Set<string>>();
    for (const { text, section } of parse(path.join(DOCS, 'cli.md')).spans) {
      for (const o of optionsIn(text)) {
        if (!sections.has(section)) sections.set(section, new Set());
        sections.get(section)!.add(o);
      }
    }
    for (const c of COMMANDS) assert.ok(sections.has(c) || c === 'providers', `a "## ${c}" section with its options`);
    for (const [section, opts] of sections) {
      // a section named after a command documents that command; elsewhere an option belongs to some command
      const cmds = COMMANDS.includes(section) ? [section] : COMMANDS;
      for (const o of opts) {
        let ok = false;
        for (const c of cmds) if (await accepts(c, o)) ok = true;
        if (!ok) bad.push(`${o} (section "${section || 'top'}") is not an option of ${cmds.join(' or ')}`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it('every option the CLI\'s help lists is documented in docs/cli.md, in its command\'s section', async () => {
    const documented = new Map<string, Set<string>>();
    for (const { text, section } of parse(path.join(DOCS, 'cli.md')).spans) {
      if (!documented.has(section)) documented.set(section, new Set());
      for (const o of optionsIn(text)) documented.get(section)!.add(o);
    }
    const help = new Map<string, string[]>();
    const run = await cli(['run', '--help']);
    assert.equal(run.code, 0);
    help.set('run', optionsIn(run.out));
    const sweep = await cli(['sweep', '--help']);
    assert.equal(sweep.code, 0);
    help.set('sweep', optionsIn(sweep.out));
    // the top-level usage: one entry per command, continued on the lines below it
    const top = await cli(['--help']);
    assert.equal(top.code, 0);
    let current = '';
    for (const line of top.out.split('\n')) {
      const m = /^\s+timesformer-lab (\S+)/.exec(line);
      if (m) current = m[1];
      if (COMMANDS.includes(current)) help.set(current, [...(help.get(current) ?? []), ...optionsIn(line.replace(/^\s+timesformer-lab \S+/, ''))]);
    }
    assert.ok((help.get('run') ?? []).length >= 25, `run --help lists ${help.get('run')}`);
    assert.ok((help.get('sweep') ?? []).length >= 15, `sweep --help lists ${help.get('sweep')}`);
    assert.ok((help.get('export-onnx') ?? []).includes('--form'), `export-onnx's usage: ${help.get('export-onnx')}`);
    const missing: string[] = [];
    for (const [cmd, opts] of help) for (const o of opts) if (!documented.get(cmd)?.has(o)) missing.push(`${cmd} ${o}`);
    assert.deepEqual(missing, []);
  });

  it('every `npx timesformer-lab …` line in the README and docs/ uses a command and options the CLI has', async () => {
    const bad: string[] = [];
    let lines = 0;
    for (const file of docFiles()) {
      for (const { text } of parse(file).code) {
        for (const line of text.split('\n')) {
          const m = /(?:npx )?timesformer-lab (\S+)(.*)/.exec(line.replace(/#.*/, ''));
          if (!m || !/^(npx |timesformer-lab )/.test(line.trim())) continue;
          lines++;
          if (!COMMANDS.includes(m[1])) {
            bad.push(`${rel(file)}: unknown command in "${line.trim()}"`);
            continue;
          }
          for (const o of optionsIn(m[2])) if (!(await accepts(m[1], o))) bad.push(`${rel(file)}: ${m[1]} ${o}`);
        }
      }
    }
    assert.ok(lines >= 5, `CLI lines seen: ${lines}`);
    assert.deepEqual(bad, []);
  });
});
