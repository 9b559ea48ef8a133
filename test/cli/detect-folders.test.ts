// `hlgfa detect FOLDER`: recursive search, --glob, output names relative to the folder, the two
// layouts, and the argument errors that must stop it before the GPU starts (nothing written).
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readImageHeader } from '../../src/io/image-node.js';
import { footerHeight } from '../../src/io/heatmap.js';
import { hlgfa, makeFixture, type Fixture } from '../reliability/fixtures.js';

let fx: Fixture;
beforeAll(() => {
  fx = makeFixture();
});

const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');

describe('hlgfa detect with folders', () => {
  it('searches a folder recursively, in natural order, naming outputs by the path inside the folder', () => {
    const out = join(fx.dir, 'walk');
    const test = join(fx.data, 'test');
    symlinkSync(test, join(test, 'good', 'loop')); // a link back up: must not loop or repeat images
    const r = hlgfa('detect folder', 'detect', '--model', fx.model, '--out', out, '--backbone', fx.backbone, test);
    expect(r.code, r.err).toBe(0);
    const scored = lines(r.out).slice(0, -1).map((l) => l.split('\t')[0]);
    const rels = ['crack/000.png', 'good/000.png', 'good/001.png', 'good/002.png', 'missing/000.png', 'scratch/000.png', 'spot/000.png'];
    expect(scored).toEqual(rels.map((p) => join(test, p)));
    expect(lines(r.out).at(-1)).toMatch(/^\d\/7 anomalous \(threshold \d+\.\d{5}\); outputs in /);
    const stems = rels.map((p) => p.replace('/', '_').replace('.png', ''));
    expect(readdirSync(out).sort()).toEqual(stems.flatMap((s) => [`${s}_map.safetensors`, `${s}_overlay.png`]).sort());
    // overlay layout: the 64×64 image (never enlarged) above a scale-1 label strip
    const h = readImageHeader(join(out, 'good_000_overlay.png'));
    expect(h.height).toBe(64 + footerHeight(1));
    expect(h.width).toBeGreaterThanOrEqual(64);
  });

  it('--glob filters the folders by relative path; files given beside them are kept; side-by-side is three panels wide', () => {
    const out = join(fx.dir, 'glob');
    const r = hlgfa('detect glob', 'detect', '--model', fx.model, '--out', out, '--backbone', fx.backbone, '--json', '--layout', 'side-by-side', '--glob', '{crack,spot}/*.png', join(fx.data, 'test'), fx.trainPng);
    expect(r.code, r.err).toBe(0);
    const docs = lines(r.out).map((l) => JSON.parse(l));
    expect(docs.map((d) => [d.path, d.overlay])).toEqual([
      [join(fx.data, 'test', 'crack', '000.png'), join(out, 'crack_000_overlay.png')],
      [join(fx.data, 'test', 'spot', '000.png'), join(out, 'spot_000_overlay.png')],
      [fx.trainPng, join(out, '000_overlay.png')],
    ]);
    const h = readImageHeader(join(out, 'spot_000_overlay.png'));
    expect([h.width, h.height]).toEqual([3 * 64 + 2 * 2, 64 + footerHeight(1)]);
  });

  it('names colliding images from two folders by the folders given', () => {
    const out = join(fx.dir, 'two');
    const r = hlgfa('detect two folders', 'detect', '--model', fx.model, '--out', out, '--backbone', fx.backbone, '--glob', '000.png', join(fx.data, 'test', 'good'), join(fx.data, 'train', 'good'));
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(out).filter((f) => f.endsWith('.png')).sort()).toEqual(['test_good_000_overlay.png', 'train_good_000_overlay.png']);
  });

  it('argument errors name the folder, pattern or value, exit 2 (usage) or 1, and write nothing', () => {
    const out = join(fx.dir, 'never');
    const detect = (label: string, ...args: string[]) => hlgfa(label, 'detect', '--model', fx.model, '--out', out, '--backbone', fx.backbone, ...args);
    const empty = join(fx.dir, 'empty');
    mkdirSync(join(empty, 'sub'), { recursive: true });
    const cases: Array<[string, ReturnType<typeof detect>, number, string]> = [
      ['empty folder', detect('empty folder', empty), 1, `hlgfa detect: ${empty}: no .png, .jpg, .jpeg or .bmp images in the folder (searched recursively)\n`],
      [
        'glob matching nothing',
        detect('glob nothing', '--glob', '*.png', join(fx.data, 'test')),
        1,
        `hlgfa detect: ${join(fx.data, 'test')}: no .png, .jpg, .jpeg or .bmp images matching --glob "*.png" in the folder (searched recursively); the pattern is matched against paths relative to the folder (e.g. "sub/x.png"): write "**/*.png" to match at any depth\n`,
      ],
      ['malformed glob', detect('bad glob', '--glob', 'good/[0-', join(fx.data, 'test')), 2, 'hlgfa detect: --glob "good/[0-": unclosed "[" at position 6\n'],
      ['glob without folder', detect('glob files', '--glob', '*.png', fx.goodPng), 2, `hlgfa detect: --glob filters the images found in folders, but no folder was given (only files: ${fx.goodPng})\n`],
      ['bad layout', detect('bad layout', '--layout', 'side', fx.goodPng), 2, 'hlgfa detect: --layout must be overlay or side-by-side, got "side" (did you mean side-by-side?)\n'],
    ];
    for (const [label, r, code, first] of cases) {
      expect(r.code, `${label}: ${r.err}`).toBe(code);
      expect(r.err.replace(/^Warning: .*artificially reduced.*\n/gm, '').split('\n')[0] + '\n', label).toBe(first);
    }
    expect(existsSync(out)).toBe(false);

    // Outputs inside a folder being read would be picked up as images by the next run.
    const inside = hlgfa('out inside input', 'detect', '--model', fx.model, '--out', join(fx.data, 'test', 'good', 'results'), '--backbone', fx.backbone, join(fx.data, 'test'));
    expect(inside.code).toBe(2);
    expect(inside.err).toContain(`--out ${join(fx.data, 'test', 'good', 'results', 'crack_000_overlay.png')} lies inside ${join(fx.data, 'test')}, which this command reads images from`);
    expect(existsSync(join(fx.data, 'test', 'good', 'results'))).toBe(false);
  });
});
