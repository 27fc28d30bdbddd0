/**
 * The Report's readers: the JSON the CLI (--json) and Export Report write validates against the
 * published JSON Schema docs/report.schema.json (ajv, strict), for every kind of run — and the schema
 * is strict enough to refuse a Report that lacks a field or carries another version. The Markdown
 * summary renders (markdown-it) into tables whose rows keep their columns whatever the file names hold.
 */
import { strict as assert } from 'assert';
import Ajv from 'ajv';
import MarkdownIt from 'markdown-it';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { reportToMarkdown } from '../../extension/core/markdown';
import { parseReportJson, REPORT_VERSION, reportToJson, type Report } from '../../extension/core/report';
import { makeReport } from './helpers/report';
import { cli } from './helpers/cli';

const ROOT = path.join(__dirname, '..', '..', '..');
const FIX = path.join(ROOT, 'test', 'fixtures');
const W = path.join(FIX, 'd1_outlier.pyth');
const D = path.join(FIX, 'd1_outlier_test_data.p');
const SCHEMA = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs', 'report.schema.json'), 'utf8'));


const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(SCHEMA);
function assertValid(json: unknown, what: string): void {
  const ok = validate(json);
  assert.ok(ok, `${what}: ${ajv.errorsText(validate.errors, { separator: '\n' })}`);
}

describe('the Report JSON validates against docs/report.schema.json', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-schema-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** The file the CLI writes with --json, as text: what a consumer reads. */
  async function written(args: string[], name: string): Promise<unknown> {
    const json = path.join(tmp, name);
    const r = await cli(['run', ...args, '--json', json, '--quiet']);
    assert.ok(r.code === 0 || r.code === 1, r.err);
    return JSON.parse(fs.readFileSync(json, 'utf8'));
  }

  it('the schema is the Report\'s version, and strict (ajv compiles it in strict mode)', () => {
    assert.equal(SCHEMA.definitions.Report.properties.version.const, REPORT_VERSION);
    assert.match(SCHEMA.title, new RegExp(`version ${REPORT_VERSION}$`));
  });

  it('d1 in FP32 (passes) and in FP16 (fails at block 4, with causes, the minimal fix confirmed, inf written as a string)', async () => {
    const fp32 = (await written(['--weights', W, '--data', D, '--heads', '4'], 'fp32.json')) as Report;
    assertValid(fp32, 'd1 fp32');
    assert.equal(fp32.diagnosis.verdict, 'pass');
    const fp16 = (await written(['--weights', W, '--data', D, '--heads', '4', '--precision', 'fp16'], 'fp16.json')) as Report;
    assertValid(fp16, 'd1 fp16');
    assert.equal(fp16.diagnosis.firstBadBlock, 4);
    assert.ok(fp16.diagnosis.causes.length && fp16.diagnosis.minimalFix?.confirmed, 'the diagnosis is there to validate');
    const text = fs.readFileSync(path.join(tmp, 'fp16.json'), 'utf8');
    // the extension's Export Report writes the same function's output
    assertValid(JSON.parse(reportToJson(parseReportJson(text))), 'd1 fp16 through Export Report');
  });

  it('a multi-mode run (an array of Reports, expose mode\'s exposed tensors among them), and a run without test data on a synthetic clip', async () => {
    const many = (await written(['--weights', W, '--data', D, '--heads', '4', '--precision', 'fp16', '--layernorm', 'expose,minimal', '--no-confirm'], 'many.json')) as Report[];
    assert.ok(Array.isArray(many) && many.length === 2);
    assert.ok(many[0].blocks[4].exposed.length > 0);
    assertValid(many, 'expose,minimal');
    const self = (await written(['--weights', W, '--heads', '4', '--input', 'synthetic:3'], 'self.json')) as Report;
    assert.equal(self.inputs.reference.kind, 'self');
    assertValid(self, 'self reference');
  });

  it('a run on a video (kind video, its frames and transform in inputs.input.video)', async () => {
    const r = (await written(['--weights', W, '--heads', '4', '--input', path.join(FIX, 'video', 'vp9_80x60_25fps.webm')], 'video.json')) as Report;
    assertValid(r, 'video');
    assert.equal(r.inputs.input.kind, 'video');
    assert.deepEqual(r.inputs.input.video?.indices, [0, 30, 60, 91, 121, 151, 182, 212]);
  });

  it('HuggingFace fixtures: a model with named classes and one without a classifier (features)', async () => {
    for (const hf of ['hf_outlier', 'hf_base']) {
      const r = (await written(['--weights', path.join(FIX, hf), '--data', path.join(FIX, `${hf}_test_data.p`), '--precision', 'fp16'], `${hf}.json`)) as Report;
      assert.equal(r.inputs.model?.kind, 'huggingface');
      assertValid(r, hf);
    }
  });

  it('refuses a Report that lacks a required field, has another version, an unknown mode or a field it does not define', () => {
    const good = JSON.parse(reportToJson(makeReport([0.001, 0.2], { overflowFrom: 1 })));
    assertValid(good, 'the synthetic Report');
    const broken: [string, (r: any) => void, RegExp][] = [
      ['no diagnosis sentence', (r) => delete r.diagnosis.sentence, /must have required property 'sentence'/],
      ['no block rel L2', (r) => delete r.blocks[1].relL2, /must have required property 'relL2'/],
      ['no version', (r) => delete r.version, /must have required property 'version'/],
      ['version 3', (r) => (r.version = 3), /must be equal to constant/],
      ['an unknown LayerNorm mode', (r) => (r.run.layerNorm = 'fussed'), /must be equal to one of the allowed values/],
      ['a field the schema does not define', (r) => (r.run.extra = 1), /must NOT have additional properties/],
      ['a number as text', (r) => (r.blocks[0].relL2 = '0.1'), /must be number/],
    ];
    for (const [what, spoil, why] of broken) {
      const r = structuredClone(good);
      spoil(r);
      assert.equal(validate(r), false, what);
      assert.match(ajv.errorsText(validate.errors), why, what);
    }
  });
});

/** Every table of the rendered Markdown, as rows of cells (their text, as a reader sees it). */
function tables(md: string): string[][][] {
  const tokens = new MarkdownIt().parse(md, {});
  const out: string[][][] = [];
  let row: string[] | undefined;
  for (const t of tokens) {
    if (t.type === 'table_open') out.push([]);
    else if (t.type === 'tr_open') row = [];
    else if (t.type === 'tr_close') {
      out[out.length - 1].push(row!);
      row = undefined;
    } else if (t.type === 'inline' && row) row.push((t.children ?? []).map((c) => c.content).join(''));
  }
  return out;
}

describe('the Markdown report renders (markdown-it) into tables that keep their columns', () => {
  it('one row per block, the LayerNorm table\'s rows, and file names with |, backticks, line breaks and markup shown as typed', () => {
    const r = makeReport([0.001, 0.002, 0.003, 0.002, 0.131, 0.2], { overflowFrom: 4 });
    const weights = '/models/a|b `odd`\nname_*x*.pyth';
    r.inputs.weights = weights;
    r.inputs.reference.label = 'test data t|d.p <b>bold</b>\n# not a heading';
    r.run.label = 'FP16 | emulated';
    const md = reportToMarkdown(r);
    const [summary, blocks, lns] = tables(md);
    assert.ok(summary.every((row) => row.length === 2), JSON.stringify(summary));
    const cell = (name: string) => summary.find((row) => row[0] === name)?.[1];
    assert.equal(cell('Run'), 'FP16 | emulated');
    assert.equal(cell('Checkpoint'), `${weights.replace('\n', ' ')} (${r.inputs.weightsFormat}, ${r.inputs.weightsDtype})`);
    assert.equal(cell('Reference'), 'test data t|d.p <b>bold</b> # not a heading');
    assert.doesNotMatch(new MarkdownIt().render(md), /<b>bold|<h1>not a heading/);
    assert.equal(blocks.length, 1 + r.blocks.length, 'a header and one row per block');
    assert.ok(blocks.every((row) => row.length === 6));
    assert.deepEqual(blocks.slice(1).map((row) => row[4]), r.blocks.map((b) => (b.passed ? 'pass' : 'FAIL')));
    const risky = [...r.blocks.flatMap((b) => b.layerNorms), ...(r.finalNorm ? [r.finalNorm] : [])].filter((l) => l.overflowed || l.mechanisms.some((m) => m.wouldHit));
    assert.equal(lns.length, 1 + risky.length);
    assert.ok(lns.every((row) => row.length === 11), JSON.stringify(lns[0]));
    assert.equal(lns[0][5], 'max |Σx|');
    assert.deepEqual(lns.slice(1).map((row) => row[0]), risky.map((l) => l.name));
  });
});
