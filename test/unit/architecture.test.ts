/**
 * The house's rules, checked by dependency-cruiser over the sources (type-only imports included):
 * no import cycles; the core never imports vscode or the host; nothing that ships imports tests or
 * scripts; the readers (core/formats) sit at the bottom; no stage of core/pipeline imports its
 * scheduler; the webview imports only the messages it shares with the host; in the host, a command
 * group (commands/*.ts) imports no other group, the views import no command, and the store stays
 * free of vscode. The rules and their reasons are in .dependency-cruiser.json.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..', '..');

describe('architecture (dependency-cruiser)', function () {
  it('has no import cycle and no arrow that climbs back up, over extension/, webview/, scripts/ and test/', function () {
    this.timeout(120_000);
    const bin = path.join(ROOT, 'node_modules', '.bin', 'depcruise');
    const r = spawnSync(bin, ['extension', 'webview', 'scripts', 'test', '--config', '.dependency-cruiser.json', '--output-type', 'json'],
      { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 28 });
    assert.ok(r.stdout, `depcruise printed nothing (exit ${r.status}): ${r.stderr}`);
    const result = JSON.parse(r.stdout) as {
      summary: { violations: { rule: { name: string }; from: string; to: string; cycle?: { name: string }[] }[]; totalCruised: number };
    };
    assert.ok(result.summary.totalCruised > 100, `only ${result.summary.totalCruised} modules cruised: the source folders were not found`);
    const lines = result.summary.violations.map((v) =>
      `${v.rule.name}: ${v.from} → ${v.to}${v.cycle?.length ? ` (cycle ${v.cycle.map((c) => c.name).join(' → ')})` : ''}`);
    assert.deepEqual(lines, []);
  });

  it('keeps the rules this file promises (a rule removed from .dependency-cruiser.json fails here, not silently)', function () {
    const config = JSON.parse(fs.readFileSync(path.join(ROOT, '.dependency-cruiser.json'), 'utf8')) as { forbidden: { name: string; from: { path?: string } }[] };
    const names = config.forbidden.map((r) => r.name);
    for (const rule of ['no-cycles', 'core-without-vscode', 'product-without-tools', 'readers-at-the-bottom', 'stages-below-the-scheduler', 'webview-renders-only']) {
      assert.ok(names.includes(rule), `.dependency-cruiser.json has no rule ${rule}`);
    }
    // the stage rule covers every module of core/pipeline but the scheduler and the index
    const stage = config.forbidden.find((r) => r.name === 'stages-below-the-scheduler')!;
    const stages = fs.readdirSync(path.join(ROOT, 'extension', 'core', 'pipeline')).filter((f) => f.endsWith('.ts') && !/^(scheduler|index)[.]ts$/.test(f));
    assert.ok(stages.length >= 8, `only ${stages.length} stage modules in core/pipeline`);
    for (const f of stages) assert.match(`extension/core/pipeline/${f}`, new RegExp(stage.from.path!));
  });
});
