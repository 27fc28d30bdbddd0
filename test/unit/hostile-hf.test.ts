/**
 * The readers review, finding 10: a HuggingFace folder whose config.json (or preprocessor config)
 * is a FIFO, a directory or a link to a FIFO is refused with NOT_A_FILE naming that file — not
 * "the folder has model.safetensors but no config.json", not silently read without it, never
 * opened (a FIFO would block). The hostile folders are made here, from test/fixtures/hf_base.
 */
import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabError } from '../../extension/core/errors';
import { isHfCheckpointFolder } from '../../extension/core/inspect';
import { openModelSource } from '../../extension/core/model/load';

const HB = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'hf_base');

describe('hostile HuggingFace folders: config files that are not regular files (readers finding 10)', function () {
  this.timeout(20000);
  let tmp: string;
  before(function () {
    if (process.platform === 'win32') this.skip();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-hostile-hf-'));
  });
  after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

  /** hf_base copied, with `name` replaced by what `make` puts there. */
  const folder = (label: string, name: string, make: (f: string) => void): string => {
    const d = path.join(tmp, label);
    fs.mkdirSync(d);
    for (const f of fs.readdirSync(HB)) fs.copyFileSync(path.join(HB, f), path.join(d, f));
    fs.rmSync(path.join(d, name), { force: true });
    make(path.join(d, name));
    return d;
  };
  const fifo = (f: string) => execFileSync('mkfifo', [f]);
  const makers: [string, (f: string) => void, RegExp][] = [
    ['a FIFO', fifo, /a FIFO/],
    ['a directory', (f) => fs.mkdirSync(f), /a directory/],
    ['a link (inside the folder) to a FIFO', (f) => { fifo(`${f}.pipe`); fs.symlinkSync(path.basename(`${f}.pipe`), f); }, /a FIFO/],
  ];

  async function refused(dir: string, file: string, re: RegExp): Promise<void> {
    await assert.rejects(openModelSource(dir), (e: unknown) => {
      assert.ok(e instanceof LabError, String(e));
      assert.equal(e.code, 'NOT_A_FILE', e.message);
      assert.equal(e.file, file);
      assert.match(e.message, re);
      return true;
    });
  }

  for (const [what, make, re] of makers) {
    it(`config.json ${what}: NOT_A_FILE naming config.json (the folder or its weight file given), not "no config.json"`, async () => {
      const d = folder(`cfg-${what.replace(/\W/g, '_')}`, 'config.json', make);
      await refused(d, path.join(d, 'config.json'), re);
      await refused(path.join(d, 'model.safetensors'), path.join(d, 'config.json'), re);
      assert.equal(await isHfCheckpointFolder(d), false); // the workspace scan: not offered, no error
    });
  }

  it('preprocessor_config.json a FIFO: NOT_A_FILE naming it, not silently the default normalization', async () => {
    const d = folder('pre-fifo', 'preprocessor_config.json', fifo);
    await refused(d, path.join(d, 'preprocessor_config.json'), /a FIFO/);
  });

  it('the folder as it is still opens (the control)', async () => {
    const d = folder('plain', 'nothing', () => undefined);
    const s = await openModelSource(d);
    await s.close();
  });
});
