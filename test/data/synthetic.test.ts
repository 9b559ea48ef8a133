import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSample, scanMvtec } from '../../src/data/mvtec.js';
import { generateDataset, generateSample, SYNTHETIC_CATEGORIES, SYNTHETIC_DEFECTS, type SyntheticSample } from '../../src/data/synthetic.js';
import { writeSyntheticDataset } from '../../src/data/synthetic-node.js';
import { hashSeed, Prng } from '../../src/data/prng.js';

const small = { trainCount: 3, testGoodCount: 2, testDefectCount: 4, size: 96 };

function dilate(mask: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (!mask[y * w + x]) continue;
    for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
      const yy = y + dy;
      const xx = x + dx;
      if (yy >= 0 && yy < h && xx >= 0 && xx < w) out[yy * w + xx] = 1;
    }
  }
  return out;
}

describe('Prng', () => {
  it('is deterministic, uniform enough, and hashSeed separates labels', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.next()));
    expect(Math.abs(xs.reduce((s, v) => s + v, 0) / 1000 - 0.5)).toBeLessThan(0.05);
    expect(xs.every((v) => v >= 0 && v < 1)).toBe(true);
    const n = Array.from({ length: 4000 }, () => a.normal());
    const m = n.reduce((s, v) => s + v, 0) / n.length;
    expect(Math.abs(m)).toBeLessThan(0.06);
    expect(Math.abs(n.reduce((s, v) => s + (v - m) ** 2, 0) / n.length - 1)).toBeLessThan(0.1);
    expect(hashSeed(1, 'a')).not.toBe(hashSeed(1, 'b'));
    expect(hashSeed(1, 'a', 2)).toBe(hashSeed(1, 'a', 2));
    expect(hashSeed('1')).not.toBe(hashSeed(1));
  });
});

describe('synthetic dataset', () => {
  it('same seed gives identical bytes; another seed another dataset; each image depends only on its spec', () => {
    for (const category of SYNTHETIC_CATEGORIES) {
      const a = generateDataset({ category, seed: 7, ...small });
      const b = generateDataset({ category, seed: 7, ...small });
      const c = generateDataset({ category, seed: 8, ...small });
      const bytes = (ds: typeof a) => [...ds.train, ...ds.test].map((s) => Buffer.from(s.image.data).toString('base64') + Buffer.from(s.mask).toString('base64'));
      expect(bytes(a)).toEqual(bytes(b));
      expect(bytes(a)[0]).not.toEqual(bytes(c)[0]);
      const last = a.test[a.test.length - 1];
      const again = generateSample({ category, seed: 7, size: 96, split: 'test', defect: last.defect, index: last.index });
      expect(Buffer.compare(Buffer.from(again.image.data), Buffer.from(last.image.data))).toBe(0);
    }
  });

  it('has the requested layout: counts, names, labels, defects round-robin', () => {
    const ds = generateDataset({ category: 'wood', trainCount: 5, testGoodCount: 3, testDefectCount: 6, size: 64 });
    expect(ds.train.map((s) => s.name)).toEqual(['000', '001', '002', '003', '004']);
    expect(ds.test.map((s) => `${s.defect}/${s.name}`)).toEqual(['good/000', 'good/001', 'good/002', 'scratch/000', 'scratch/001', 'spot/000', 'spot/001', 'crack/000', 'missing/000']);
    expect(ds.test.map((s) => s.label)).toEqual([0, 0, 0, 1, 1, 1, 1, 1, 1]);
    expect(ds.defects).toEqual([...SYNTHETIC_DEFECTS]);
    for (const s of [...ds.train, ...ds.test]) {
      expect([s.image.width, s.image.height, s.image.data.length, s.mask.length]).toEqual([64, 64, 64 * 64 * 4, 64 * 64]);
    }
  });

  it('masks: empty for good images, a small non-empty region for each defect, 0/1 only', () => {
    for (const category of SYNTHETIC_CATEGORIES) {
      const ds = generateDataset({ category, trainCount: 2, testGoodCount: 2, testDefectCount: 8, size: 128, seed: 3 });
      for (const s of [...ds.train, ...ds.test]) {
        const on = s.mask.reduce((a, b) => a + b, 0);
        expect(s.mask.every((v) => v === 0 || v === 1)).toBe(true);
        if (s.label === 0) expect(on).toBe(0);
        else {
          expect(on, `${category}/${s.defect}/${s.name}`).toBeGreaterThanOrEqual(4);
          expect(on / s.mask.length, `${category}/${s.defect}/${s.name}`).toBeLessThan(0.06);
        }
      }
    }
  });

  it('defect pixels differ visibly from the clean texture, moderately, and nothing else changes', () => {
    const stats: string[] = [];
    for (const category of SYNTHETIC_CATEGORIES) {
      for (const defect of SYNTHETIC_DEFECTS) {
        let inside = 0;
        let count = 0;
        let saturated = 0;
        for (let index = 0; index < 3; index++) {
          const s = generateSample({ category, size: 256, seed: 1, split: 'test', defect, index }, true) as SyntheticSample & { clean: { data: Uint8Array } };
          const near = dilate(s.mask, 256, 256, 3);
          for (let i = 0; i < s.mask.length; i++) {
            for (let c = 0; c < 3; c++) {
              const d = Math.abs(s.image.data[4 * i + c] - s.clean.data[4 * i + c]);
              if (s.mask[i]) {
                inside += d;
                count++;
                if (s.image.data[4 * i + c] === 0 || s.image.data[4 * i + c] === 255) saturated++;
              } else if (!near[i] && d !== 0) throw new Error(`${category}/${defect}/${index}: pixel ${i} changed away from the defect`);
            }
          }
        }
        const mean = inside / count;
        stats.push(`${category}/${defect} ${mean.toFixed(1)}`);
        expect(mean, `${category}/${defect}`).toBeGreaterThan(8); // visible: mean |Δ| > 8/255 over the mask
        expect(mean, `${category}/${defect}`).toBeLessThan(90); // not a saturated blot
        expect(saturated / count).toBeLessThan(0.02);
      }
    }
    console.log(`mean |defective − clean| over mask pixels (0..255): ${stats.join(', ')}`);
  });

  it('normal images vary (phase, rotation, light) but keep their category statistics', () => {
    for (const category of SYNTHETIC_CATEGORIES) {
      const ds = generateDataset({ category, trainCount: 4, testGoodCount: 0, testDefectCount: 0, size: 128 });
      const means = ds.train.map((s) => {
        let m = 0;
        for (let i = 0; i < s.image.data.length; i += 4) m += s.image.data[i + 1];
        return m / (s.image.data.length / 4);
      });
      expect(new Set(ds.train.map((s) => Buffer.from(s.image.data).toString('base64'))).size).toBe(4);
      expect(Math.max(...means) - Math.min(...means), category).toBeLessThan(40);
      expect(Math.min(...means), category).toBeGreaterThan(40);
      expect(Math.max(...means), category).toBeLessThan(215);
    }
  });

  it('generates a default-size category quickly (target < 2 s on an idle machine)', () => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const ds = generateDataset({ category: 'fabric' });
    const cpu = process.cpuUsage(cpu0);
    const ms = performance.now() - t0;
    console.log(`fabric default dataset (${ds.train.length + ds.test.length} images of ${ds.size}²): ${ms.toFixed(0)} ms wall, ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU`);
    expect([ds.train.length, ds.test.length, ds.size]).toEqual([60, 50, 256]);
    expect(ms).toBeLessThan(8000); // generous: shared CI machines
  });

  it('rejects bad options with clear messages', () => {
    expect(() => generateDataset({ category: 'leather' as never })).toThrow(/synthetic: unknown category "leather", expected one of fabric, metal, wood/);
    expect(() => generateDataset({ category: 'metal', size: 16 })).toThrow(/synthetic: size 16, expected an integer ≥ 32/);
    expect(() => generateDataset({ category: 'metal', trainCount: -1 })).toThrow(/trainCount -1/);
    expect(() => generateDataset({ category: 'metal', defects: ['dent' as never] })).toThrow(/unknown defect "dent"/);
    expect(() => generateDataset({ category: 'metal', defects: [] })).toThrow(/no defect types/);
  });
});

describe('writeSyntheticDataset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hlgfa-synth-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the MVTec layout that scanMvtec reads back bit-exactly', async () => {
    const ds = generateDataset({ category: 'metal', ...small, testDefectCount: 5, seed: 4 });
    const cat = join(dir, 'metal');
    expect(writeSyntheticDataset(cat, ds)).toBe(3 + 2 + 5 + 5 + 1);
    const ix = scanMvtec(cat);
    expect(ix.defects).toEqual(['crack', 'missing', 'scratch', 'spot']);
    expect(ix.train.length).toBe(3);
    const byKey = new Map(ds.test.map((s) => [`${s.defect}/${s.name}`, s]));
    for (const s of ix.test) {
      const orig = byKey.get(`${s.defect}/${s.name}`)!;
      const { image, mask } = await loadSample(s);
      expect(Buffer.compare(Buffer.from(image.data), Buffer.from(orig.image.data))).toBe(0);
      expect(Buffer.compare(Buffer.from(mask), Buffer.from(orig.mask))).toBe(0);
    }
    expect(JSON.parse(readFileSync(join(cat, 'synthetic.json'), 'utf8'))).toMatchObject({ category: 'metal', size: 96, seed: 4, train: 3, testGood: 2, testDefect: 5 });
  });
});
