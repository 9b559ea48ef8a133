// The folder helpers: the glob matcher, the recursive image finder behind `hlgfa detect FOLDER`, and
// anomalib's folder layout as a dataset (split, masks, errors naming the folder).
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { comparePaths, findImages, globMatcher, normalTestSet, scanFolderLayout } from '../../src/data/folder.js';
import { encodePng } from '../../src/io/png-node.js';

const png = (w = 4, h = 4, v = 0) => encodePng({ width: w, height: h, data: new Uint8Array(w * h * 4).fill(v) });

/** Writes each path (relative to a fresh temp folder) as a small PNG, or with the given bytes. */
function tree(files: Record<string, Uint8Array | string | null>): string {
  const root = mkdtempSync(join(tmpdir(), 'hlgfa-folder-'));
  for (const [rel, content] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content ?? png());
  }
  return root;
}

describe('globMatcher', () => {
  const cases: Array<[string, string, boolean]> = [
    ['*.png', 'a.png', true],
    ['*.png', 'sub/a.png', false], // * stays within one folder
    ['**/*.png', 'a.png', true], // ** includes no folder at all
    ['**/*.png', 'x/y/a.png', true],
    ['**/*.png', 'x/y/a.jpg', false],
    ['good/*', 'good/1.png', true],
    ['good/*', 'good/sub/1.png', false],
    ['good/**', 'good/sub/1.png', true],
    ['good/**', 'goods/1.png', false],
    ['a/**/b.png', 'a/b.png', true],
    ['a/**/b.png', 'a/x/y/b.png', true],
    ['a**.png', 'ab/c.png', false], // not a whole segment: a plain *
    ['?.png', 'a.png', true],
    ['?.png', 'ab.png', false],
    ['?/x.png', '/x.png', false],
    ['{crack,cut}/*.png', 'cut/1.png', true],
    ['{crack,cut}/*.png', 'cu/1.png', false],
    ['{a,b{c,d}}.png', 'bd.png', true],
    ['{a,b{c,d}}.png', 'b.png', false],
    ['{,x}a.png', 'a.png', true],
    ['[0-4]*.jpg', '3x.jpg', true],
    ['[0-4]*.jpg', '5x.jpg', false],
    ['[!0-4]*.jpg', '5x.jpg', true],
    ['[^0-4]*.jpg', '3x.jpg', false],
    ['[]a].png', '].png', true],
    ['[a-]x', '-x', true],
    ['x[!a]y', 'x/y', false], // a class never matches "/"
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['a.png', 'aXpng', false], // "." is literal
    ['(a)+.png', '(a)+.png', true],
    ['*.PNG', 'a.png', false], // case-sensitive like the file system
    ['**', 'any/thing.bmp', true],
  ];
  it.each(cases)('%s against %s → %s', (pattern, path, expected) => {
    expect(globMatcher(pattern)(path)).toBe(expected);
  });

  it('rejects malformed patterns, naming them', () => {
    expect(() => globMatcher('a[bc')).toThrow('glob "a[bc": unclosed "[" at position 2');
    expect(() => globMatcher('{a,b')).toThrow('glob "{a,b": unclosed "{" at position 1');
    expect(() => globMatcher('[z-a]')).toThrow('glob "[z-a]": reversed range "z-a" in a character class');
    expect(() => globMatcher('a\\')).toThrow('glob "a\\": ends with an escape "\\"');
  });
});

describe('findImages', () => {
  it('walks recursively in natural order, by extension in any case, skipping hidden entries and other files', () => {
    const root = tree({
      '10.png': null,
      '2.PNG': null,
      'b/1.jpg': png(),
      'a/x.Bmp': png(),
      'a/sub/y.jpeg': png(),
      'notes.txt': 'hello',
      '.hidden.png': null,
      '.cache/z.png': null,
    });
    expect(findImages(root).map((f) => f.rel)).toEqual(['2.PNG', '10.png', 'a/sub/y.jpeg', 'a/x.Bmp', 'b/1.jpg']);
    expect(findImages(root)[0].path).toBe(join(root, '2.PNG'));
  });

  it('filters by the glob on the path relative to the folder', () => {
    const root = tree({ 'good/1.png': null, 'good/2.jpg': null, 'bad/1.png': null, 'top.png': null });
    expect(findImages(root, globMatcher('**/*.png')).map((f) => f.rel)).toEqual(['bad/1.png', 'good/1.png', 'top.png']);
    expect(findImages(root, globMatcher('good/*')).map((f) => f.rel)).toEqual(['good/1.png', 'good/2.jpg']);
    expect(findImages(root, globMatcher('nothing*'))).toEqual([]);
  });

  it('ends symlink loops and visits a linked folder or file once', () => {
    const root = tree({ 'a/1.png': null, 'b/2.png': null });
    symlinkSync(root, join(root, 'a', 'loop')); // a/loop → root: a cycle
    symlinkSync(join(root, 'b'), join(root, 'c')); // c → b: the same folder twice
    symlinkSync(join(root, 'a', '1.png'), join(root, 'one.png')); // the same file twice
    const rels = findImages(root).map((f) => f.rel);
    expect(rels).toHaveLength(2);
    expect(new Set(rels.map((r) => r.split('/').pop()))).toEqual(new Set(['1.png', '2.png']));
  });

  it('errors name the folder or the broken link', () => {
    const root = tree({ 'x.png': null });
    expect(() => findImages(join(root, 'nope'))).toThrow(`${join(root, 'nope')}: cannot read (ENOENT: no such file or directory)`);
    expect(() => findImages(join(root, 'x.png'))).toThrow(`${join(root, 'x.png')}: not a folder`);
    symlinkSync(join(root, 'gone.png'), join(root, 'broken.png'));
    expect(() => findImages(root)).toThrow(`${join(root, 'broken.png')}: cannot read (ENOENT: no such file or directory)`);
    symlinkSync(join(root, 'gone'), join(root, 'broken-dir')); // not named like an image: not ours
    expect(() => findImages(root, globMatcher('x.png'))).not.toThrow();
  });

  it('comparePaths orders folder by folder, names naturally', () => {
    expect(['b/1.png', 'a10/x.png', 'a2/x.png', 'a2.png'].sort(comparePaths)).toEqual(['a2/x.png', 'a2.png', 'a10/x.png', 'b/1.png']);
  });
});

describe('normalTestSet', () => {
  const rels = Array.from({ length: 50 }, (_, i) => `img_${i}.png`);
  it('holds out round(split × n) images, the same ones whatever the listing order', () => {
    const a = normalTestSet(rels, 0.2);
    expect(a.size).toBe(10);
    expect(normalTestSet([...rels].reverse(), 0.2)).toEqual(a);
    expect(normalTestSet(rels, 0).size).toBe(0);
    expect(normalTestSet(rels.slice(0, 3), 0.2).size).toBe(1);
  });
  it('mostly keeps its choice when images are added', () => {
    const before = normalTestSet(rels, 0.2);
    const after = normalTestSet([...rels, 'new_1.png', 'new_2.png'], 0.2);
    const kept = [...before].filter((r) => after.has(r)).length;
    expect(kept).toBeGreaterThanOrEqual(8);
  });
});

describe('scanFolderLayout', () => {
  function dataset() {
    const files: Record<string, Uint8Array | null> = {};
    for (let i = 0; i < 10; i++) files[`good/${i}.png`] = null;
    files['defect/a.png'] = null;
    files['defect/sub/b.jpg'] = png();
    files['masks/a_mask.png'] = null;
    files['masks/sub/b.png'] = null;
    return tree(files);
  }

  it('splits the normal folder, pairs masks by stem, and names the defect after the abnormal folder', () => {
    const root = dataset();
    const index = scanFolderLayout({ normalDir: join(root, 'good'), abnormalDir: join(root, 'defect'), maskDir: join(root, 'masks') });
    expect(index.train).toHaveLength(8);
    const held = normalTestSet(Array.from({ length: 10 }, (_, i) => `${i}.png`), 0.2);
    expect(index.test.filter((s) => s.label === 0).map((s) => `${s.name}.png`).sort()).toEqual([...held].sort());
    expect(index.train.every((s) => s.split === 'train' && s.label === 0 && s.defect === 'good' && !held.has(`${s.name}.png`))).toBe(true);
    const bad = index.test.filter((s) => s.label === 1);
    expect(bad.map((s) => [s.name, s.defect, s.maskPath])).toEqual([
      ['a', 'defect', join(root, 'masks', 'a_mask.png')],
      ['sub/b', 'defect', join(root, 'masks', 'sub', 'b.png')],
    ]);
    expect(index.test.slice(0, 2).every((s) => s.label === 0)).toBe(true); // normal first, like MVTec
    expect(index.defects).toEqual(['defect']);
    expect(index.root).toBe(root);
    expect(index.folders).toEqual([join(root, 'good'), join(root, 'defect'), join(root, 'masks')]);
  });

  it('takes the normal test images from --normal-test-dir when given, and honours the split share', () => {
    const root = dataset();
    const withDir = scanFolderLayout({ normalDir: join(root, 'good'), normalTestDir: join(root, 'defect') });
    expect(withDir.train).toHaveLength(10);
    expect(withDir.test.map((s) => [s.name, s.label])).toEqual([['a', 0], ['sub/b', 0]]);
    const half = scanFolderLayout({ normalDir: join(root, 'good'), normalTestSplit: 0.5 });
    expect([half.train.length, half.test.length]).toEqual([5, 5]);
    const none = scanFolderLayout({ normalDir: join(root, 'good'), normalTestSplit: 0 });
    expect([none.train.length, none.test.length]).toEqual([10, 0]);
  });

  it('without a mask folder, abnormal images have no mask', () => {
    const root = dataset();
    const index = scanFolderLayout({ normalDir: join(root, 'good'), abnormalDir: join(root, 'defect') });
    expect(index.test.filter((s) => s.label === 1).map((s) => s.maskPath)).toEqual([null, null]);
  });

  it('errors name the folder or file', () => {
    const root = dataset();
    const good = join(root, 'good');
    expect(() => scanFolderLayout({ normalDir: join(root, 'nope') })).toThrow(`${join(root, 'nope')}: normal folder not found (ENOENT: no such file or directory)`);
    expect(() => scanFolderLayout({ normalDir: good, abnormalDir: join(root, 'good', '0.png') })).toThrow(`${join(good, '0.png')}: the abnormal folder is not a folder`);
    mkdirSync(join(root, 'empty'));
    expect(() => scanFolderLayout({ normalDir: join(root, 'empty') })).toThrow(`${join(root, 'empty')}: no .png, .jpg, .jpeg or .bmp images in the normal folder (searched recursively)`);
    expect(() => scanFolderLayout({ normalDir: root, abnormalDir: join(root, 'defect') })).toThrow(
      `${join(root, 'defect')}: the abnormal folder lies inside the normal folder ${root}; give folders that do not contain one another`,
    );
    const one = tree({ 'n/0.png': null });
    expect(scanFolderLayout({ normalDir: join(one, 'n') }).train).toHaveLength(1); // round(0.2 × 1) = 0 held out
    const two = tree({ 'n/0.png': null, 'n/1.png': null });
    expect(() => scanFolderLayout({ normalDir: join(two, 'n'), normalTestSplit: 0.8 })).toThrow(
      `${join(two, 'n')}: 2 normal image(s) and a normal test split of 0.8 leave none to train on; add images or lower the split`,
    );
    writeFileSync(join(root, 'defect', 'c.png'), png());
    expect(() => scanFolderLayout({ normalDir: good, abnormalDir: join(root, 'defect'), maskDir: join(root, 'masks') })).toThrow(
      `${join(root, 'defect', 'c.png')}: abnormal image has no mask in ${join(root, 'masks')} (expected c.png or c_mask.png, or .jpg, .jpeg, .bmp)`,
    );
    writeFileSync(join(root, 'masks', 'c.png'), png(5, 4));
    expect(() => scanFolderLayout({ normalDir: good, abnormalDir: join(root, 'defect'), maskDir: join(root, 'masks') })).toThrow(
      `${join(root, 'masks', 'c.png')}: mask is 5×4 but its image ${join(root, 'defect', 'c.png')} is 4×4`,
    );
    writeFileSync(join(root, 'defect', 'c.bmp'), 'x');
    expect(() => scanFolderLayout({ normalDir: good, abnormalDir: join(root, 'defect') })).toThrow(
      `${join(root, 'defect', 'c.png')}: same name as ${join(root, 'defect', 'c.bmp')} in the abnormal folder (images and masks are paired by name)`,
    );
    expect(() => scanFolderLayout({ normalDir: good, maskDir: join(root, 'masks') })).toThrow('given without an abnormal folder');
    expect(() => scanFolderLayout({ normalDir: good, normalTestSplit: 1 })).toThrow('normal test split must be >= 0 and < 1, got 1');
  });
});
