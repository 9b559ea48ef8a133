// train/eval on anomalib's folder layout (--normal-dir, --abnormal-dir, --mask-dir, the normal test
// split), the option errors, and eval's --json naming the dataset and model relative to itself.
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { normalTestSet } from '../../src/data/folder.js';
import { hlgfa, makeFixture, type Fixture } from '../reliability/fixtures.js';

let fx: Fixture;
let normal: string;
let abnormal: string;
let masks: string;
let model: string;

// The fixture's MVTec dataset rearranged as a folder layout: 12 + 3 normal images (renamed so the
// names do not collide); the crack and scratch images as one abnormal folder, with their masks.
beforeAll(() => {
  fx = makeFixture();
  normal = join(fx.dir, 'folder', 'normal');
  abnormal = join(fx.dir, 'folder', 'scratched');
  masks = join(fx.dir, 'folder', 'masks');
  for (const d of [normal, abnormal, masks]) mkdirSync(d, { recursive: true });
  for (const f of readdirSync(join(fx.data, 'train', 'good'))) copyFileSync(join(fx.data, 'train', 'good', f), join(normal, `train_${f}`));
  for (const f of readdirSync(join(fx.data, 'test', 'good'))) copyFileSync(join(fx.data, 'test', 'good', f), join(normal, `test_${f}`));
  for (const d of ['crack', 'scratch']) {
    for (const f of readdirSync(join(fx.data, 'test', d))) copyFileSync(join(fx.data, 'test', d, f), join(abnormal, `${d}_${f}`));
    // one mask named <stem>_mask.png, the other <stem>.png: both are accepted
    for (const f of readdirSync(join(fx.data, 'ground_truth', d))) copyFileSync(join(fx.data, 'ground_truth', d, f), join(masks, d === 'crack' ? `${d}_${f}` : `${d}_${f.replace('_mask', '')}`));
  }
  model = join(fx.dir, 'folder-model.safetensors');
});

const firstError = (err: string) => err.replace(/^Warning: .*artificially reduced.*\n/gm, '').split('\n')[0];

describe('folder layout', () => {
  it('train holds out the normal test split; eval scores that split and the abnormal folder, with masks', () => {
    const t = hlgfa('folder train', 'train', '--normal-dir', normal, '--out', model, '--epochs', '1', '--size', '64', '--batch', '4', '--backbone', fx.backbone);
    expect(t.code, t.err).toBe(0);
    const held = normalTestSet(readdirSync(normal), 0.2);
    expect(held.size).toBe(3);
    expect(t.err).toContain(`training on 12 images from ${join(fx.dir, 'folder', 'normal')}`);

    const reports = join(fx.dir, 'reports');
    const json = join(reports, 'folder.json');
    const e = hlgfa('folder eval', 'eval', '--normal-dir', normal, '--abnormal-dir', abnormal, '--mask-dir', masks, '--model', model, '--backbone', fx.backbone, '--json', json);
    expect(e.code, e.err).toBe(0);
    const m = JSON.parse(readFileSync(json, 'utf8'));
    expect(m.images).toBe(3 + 2);
    expect(Object.keys(m.perDefect)).toEqual(['scratched']);
    expect(m.verdict.tn + m.verdict.fp).toBe(3);
    expect(Number.isFinite(m.pixelAUROC)).toBe(true); // masks were found and used
    // Paths relative to the report's folder; no absolute path anywhere in it.
    expect(m.dataset).toBe('../folder/normal');
    expect(m.model).toBe('../folder-model.safetensors');
    expect(m.folders).toEqual({ normal: '../folder/normal', abnormal: '../folder/scratched', mask: '../folder/masks', normalTest: null, normalTestSplit: 0.2 });
    expect(readFileSync(json, 'utf8')).not.toContain(fx.dir);
  });

  it('without masks the pixel figures are undefined, and eval says so', () => {
    const e = hlgfa('folder eval no masks', 'eval', '--normal-dir', normal, '--abnormal-dir', abnormal, '--model', model, '--backbone', fx.backbone);
    expect(e.code, e.err).toBe(0);
    expect(e.err).toContain('note: no --mask-dir: pixel AUROC and AUPRO are undefined (–); image-level figures only');
    expect(e.out).toMatch(/^all\s+5\s+\d+\.\d\s+–\s+–$/m);
  });

  it('MVTec layout: eval --json names the dataset and model relative to the report', () => {
    const json = join(fx.dir, 'out', 'deep', 'metrics.json');
    const e = hlgfa('mvtec eval relative', 'eval', '--data', fx.data, '--model', fx.model, '--backbone', fx.backbone, '--json', json);
    expect(e.code, e.err).toBe(0);
    const m = JSON.parse(readFileSync(json, 'utf8'));
    expect([m.dataset, m.model]).toEqual(['../../metal', '../../model.safetensors']);
    expect(m.folders).toBeUndefined();
  });

  it('option errors: usage errors (exit 2) before anything is read; folder errors (exit 1) name the folder', () => {
    const out = join(fx.dir, 'never.safetensors');
    const cases: Array<[string[], number, string]> = [
      [['train', '--data', fx.data, '--normal-dir', normal, '--out', out], 2, 'hlgfa train: give the dataset either as --data DIR (MVTec AD layout) or as --normal-dir DIR … (folder layout), not both'],
      [['train', '--out', out], 2, 'hlgfa train: --data DIR is required (an MVTec AD category folder; or give the folder layout as --normal-dir DIR [--abnormal-dir DIR] [--mask-dir DIR])'],
      [['eval', '--data', fx.data, '--abnormal-dir', abnormal, '--model', model], 2, 'hlgfa eval: --abnormal-dir belongs to the folder layout, which --normal-dir DIR names; --data takes an MVTec AD category folder'],
      [['eval', '--normal-dir', normal, '--mask-dir', masks, '--model', model], 2, 'hlgfa eval: --mask-dir needs --abnormal-dir (the masks belong to the abnormal images)'],
      [['train', '--normal-dir', normal, '--normal-test-split', '1', '--out', out], 2, 'hlgfa train: --normal-test-split must be >= 0 and < 1 (a share of the normal images), got "1"'],
      [['train', '--normal-dir', normal, '--normal-test-split', '-0.1', '--out', out], 2, 'hlgfa train: --normal-test-split must be a number >= 0 and <= 1, got "-0.1"'],
      [['train', '--normal-dir', normal, '--normal-test-dir', abnormal, '--normal-test-split', '0.1', '--out', out], 2, 'hlgfa train: give either --normal-test-dir DIR or --normal-test-split F, not both (the split only applies without a normal test folder)'],
      [['train', '--normal-dir', join(fx.dir, 'nope'), '--out', out], 1, `hlgfa train: ${join(fx.dir, 'nope')}: normal folder not found (ENOENT: no such file or directory)`],
      [['eval', '--normal-dir', normal, '--normal-test-split', '0', '--model', model], 1, `hlgfa eval: ${normal}: no test images (give --abnormal-dir DIR, --normal-test-dir DIR, or a --normal-test-split that holds out at least one normal image)`],
      [['train', '--normal-dir', join(fx.dir, 'folder'), '--abnormal-dir', abnormal, '--out', out], 1, `hlgfa train: ${abnormal}: the abnormal folder lies inside the normal folder ${join(fx.dir, 'folder')}; give folders that do not contain one another`],
    ];
    for (const [args, code, first] of cases) {
      const r = hlgfa(args.join(' '), ...args);
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(code);
      expect(firstError(r.err), args.join(' ')).toBe(first);
    }
    expect(readdirSync(fx.dir)).not.toContain('never.safetensors');
  });
});
