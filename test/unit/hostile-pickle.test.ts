/**
 * The readers review, finding 3: a pickle's work budget bounded time but not memory — one byte
 * (`}`, EMPTY_DICT) makes a ~190-byte Map, so a 110 MB test_data.p of them aborted Node (heap
 * out of memory) and a 16 MiB data.pkl reached 917 MB; a zip listing 600,000 entries reached
 * 598 MB. Now what a pickle makes is charged in estimated bytes against 4 MiB + 2 per byte of the
 * pickle, and an archive may list at most MAX_ZIP_ENTRIES entries. The hostile files are made here.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabError } from '../../extension/core/errors';
import { BASE_GLOBALS, unpickle } from '../../extension/core/formats/pickle';
import { readTestData } from '../../extension/core/formats/testdata';
import { readCheckpoint } from '../../extension/core/formats/torch';
import { MAX_ZIP_ENTRIES } from '../../extension/core/formats/zip';
import { storedZip } from './helpers/pyfiles';

const dicts = (n: number) => Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.alloc(n, 0x7d), Buffer.from('.')]);

/** The byte an "objects" LIMIT_EXCEEDED stopped near. */
function objectsLimit(f: () => unknown, file?: string): number {
  let near = -1;
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof LabError, String(e));
    assert.equal(e.code, 'LIMIT_EXCEEDED', e.message);
    if (file) assert.equal(e.file, file);
    assert.match(e.message, /makes more than [\d.]+ MiB of objects/);
    near = Number(/near byte (\d+)/.exec(e.message)![1]);
    return true;
  });
  return near;
}

describe('hostile pickles: memory is bounded, not only work (readers finding 3)', function () {
  this.timeout(20000);
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-hostile-pickle-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('4 MB of EMPTY_DICT: refused after ~65,000 dicts (4 MiB + 2 per byte of ~192-byte Maps), not ~1,000,000 by the work budget alone', () => {
    const near = objectsLimit(() => unpickle(dicts(4_000_000), { globals: BASE_GLOBALS, file: 'x.p' }));
    // (4 MiB + 8 MB) / 200 ≈ 63,000 Maps; the work budget alone (1M + 8 per byte, 33 per dict) stopped at ~1,000,000
    assert.ok(near > 10_000 && near < 80_000, `near byte ${near}`);
  });

  it('maxObjectBytes is the limit when given', () => {
    const near = objectsLimit(() => unpickle(dicts(100_000), { globals: BASE_GLOBALS, maxObjectBytes: 192 * 100 }));
    assert.ok(near < 200, `near byte ${near}`);
  });

  it('set(L) called again and again on one memoized list: its copies are charged, at most 64 MiB + 2 per byte', () => {
    // L = [0 .. 19999] memoized; then k × set(L): 20,000 entries (~640 KB of Set) per 6-byte call
    const make = (calls: number) => {
      const parts: Buffer[] = [Buffer.from([0x80, 0x02]), Buffer.from('c__builtin__\nset\nq\x01]q\x02(', 'latin1')];
      const ints = Buffer.alloc(5 * 20_000);
      for (let i = 0; i < 20_000; i++) {
        ints[5 * i] = 0x4a; // BININT
        ints.writeInt32LE(i, 5 * i + 1);
      }
      parts.push(ints, Buffer.from('e0', 'latin1'));
      for (let k = 0; k < calls; k++) parts.push(Buffer.from('h\x01h\x02\x85R0', 'latin1'));
      parts.push(Buffer.from('N.', 'latin1'));
      return Buffer.concat(parts);
    };
    // (the work budget set aside) 90 calls: 57.6 MB of copies, admitted; 120 calls: 76.8 MB > 64 MiB + 2 × 100 KB, refused
    assert.equal(unpickle(make(90), { globals: BASE_GLOBALS, budget: 1e9 }), null);
    assert.throws(() => unpickle(make(120), { globals: BASE_GLOBALS, budget: 1e9 }), (e: unknown) => e instanceof LabError && e.code === 'LIMIT_EXCEEDED' && /copies more than 64\.\d MiB of objects/.test(e.message));
  });

  it('a test_data.p of 8 MB of EMPTY_DICT: LIMIT_EXCEEDED naming the file, in well under a second', async () => {
    const f = path.join(tmp, 'dicts.p');
    fs.writeFileSync(f, dicts(8_000_000));
    const t0 = Date.now();
    await assert.rejects(readTestData(f), (e: unknown) => e instanceof LabError && e.code === 'LIMIT_EXCEEDED' && e.file === f && /MiB of objects/.test(e.message));
    assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms`);
  });

  it('a checkpoint whose data.pkl is 2 MB of EMPTY_DICT: LIMIT_EXCEEDED naming the checkpoint', async () => {
    const f = path.join(tmp, 'dicts.pyth');
    fs.writeFileSync(f, storedZip([['archive/data.pkl', dicts(2_000_000)], ['archive/version', Buffer.from('3\n')]]));
    await assert.rejects(readCheckpoint(f), (e: unknown) => e instanceof LabError && e.code === 'LIMIT_EXCEEDED' && e.file === f && /MiB of objects/.test(e.message));
  });

  it(`a zip listing ${MAX_ZIP_ENTRIES + 1} entries: LIMIT_EXCEEDED before the entries are kept; ${MAX_ZIP_ENTRIES} are still read`, async () => {
    const make = (n: number, name: string) => {
      const entries: [string, Uint8Array][] = [['archive/data.pkl', Buffer.from('\x80\x02}.', 'latin1')]];
      for (let i = 1; i < n; i++) entries.push([`archive/data/${i}`, new Uint8Array(0)]);
      const f = path.join(tmp, name);
      fs.writeFileSync(f, storedZip(entries));
      return f;
    };
    const over = make(MAX_ZIP_ENTRIES + 1, 'over.pyth');
    await assert.rejects(readCheckpoint(over), (e: unknown) => e instanceof LabError && e.code === 'LIMIT_EXCEEDED' && e.file === over && /lists 16,385 entries/.test(e.message));
    const at = make(MAX_ZIP_ENTRIES, 'at.pyth');
    await assert.rejects(readCheckpoint(at), (e: unknown) => e instanceof LabError && e.code !== 'LIMIT_EXCEEDED');
  });

  it('shared references stay cheap: L = [L, L] forty times over is 41 lists, not 2^40', () => {
    // ]q\x00 then 40 × (h\x00 h\x00 \x86 (tuple2 of the same) q\x00): each level references the last twice
    const parts = [Buffer.from([0x80, 0x02]), Buffer.from(']q\x00', 'latin1')];
    for (let k = 0; k < 40; k++) parts.push(Buffer.from('h\x00h\x00\x86q\x00', 'latin1'));
    parts.push(Buffer.from('.', 'latin1'));
    const v = unpickle(Buffer.concat(parts), { globals: BASE_GLOBALS, maxObjectBytes: 64 * 1024 }) as unknown[];
    assert.equal(v.length, 2);
    assert.equal(v[0], v[1]);
  });
});
