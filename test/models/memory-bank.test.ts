// The memory-bank term (normality 'knn'): patch embeddings against a CPU composition of the
// reference ops, a bank made of real normal patches, and end to end through training, scoring and
// a checkpoint — the map is the standardised sum of its terms.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expectClose, randn, useGpu } from '../helpers.js';
import { avgPool2dRef, concatRef, resizeRef } from '../../src/ops/index.js';
import { tensor } from '../../src/tensor/tensor.js';
import { buildMemoryBank, patchEmbedding } from '../../src/models/memory-bank.js';
import { loadBackbone } from '../../src/models/backbone.js';
import { resolveConfig } from '../../src/models/hlgfa-config.js';
import { dualFeatures, sha256Hex, viewTensor } from '../../src/models/detector.js';
import { detectorFromCheckpoint, parseCheckpoint } from '../../src/models/checkpoint.js';
import { trainHlgfa } from '../../src/models/hlgfa-train.js';
import { generateDataset } from '../../src/data/synthetic.js';
import { scope } from '../../src/tensor/tensor.js';

useGpu();

describe('patchEmbedding', () => {
  it('3×3 average (edges averaged over what exists), brought to one grid, channels concatenated', async () => {
    const a = randn(2 * 3 * 7 * 5, 1);
    const b = randn(2 * 4 * 4 * 3, 2);
    const xs = () => [tensor(a, [2, 3, 7, 5]), tensor(b, [2, 4, 4, 3])];
    const pool = { kernel: 3, stride: 1, padding: 1, countIncludePad: false };
    const pa = avgPool2dRef(a, [2, 3, 7, 5], pool);
    const pb = avgPool2dRef(b, [2, 4, 4, 3], pool);
    // finest: the 4×3 tap upsampled to 7×5
    const fine = concatRef.concat([pa, resizeRef.bilinear(pb, [2, 4, 4, 3], 7, 5, false)], [[2, 3, 7, 5], [2, 4, 7, 5]], 1);
    expectClose(await patchEmbedding(xs(), 'finest').read(), fine, { atol: 1e-6, rtol: 1e-5 }, 'finest grid');
    // coarsest (the default): the 7×5 tap brought down to 4×3
    const coarse = concatRef.concat([resizeRef.bilinear(pa, [2, 3, 7, 5], 4, 3, false), pb], [[2, 3, 4, 3], [2, 4, 4, 3]], 1);
    const got = patchEmbedding(xs());
    expect(got.shape).toEqual([2, 7, 12]);
    expectClose(await got.read(), coarse, { atol: 1e-6, rtol: 1e-5 }, 'coarsest grid');
  });
});

describe('buildMemoryBank', () => {
  it('keeps min(count, points) distinct patches, each one of the embeddings, in both batches', async () => {
    const batches = [randn(3 * 6 * 10, 7), randn(2 * 6 * 10, 8)];
    const shapes = [[3, 6, 10], [2, 6, 10]];
    const embed = (k: number) => tensor(batches[k], shapes[k]);
    const columns = new Set<string>();
    batches.forEach((v, k) => {
      const [n, d, p] = shapes[k];
      for (let i = 0; i < n; i++) for (let q = 0; q < p; q++) columns.add(Array.from({ length: d }, (_, f) => v[(i * d + f) * p + q]).join(','));
    });
    for (const count of [1, 13, 50, 80]) {
      const bank = await buildMemoryBank(2, embed, count, 4);
      expect(bank.shape).toEqual([Math.min(count, 50), 6]);
      const rows = await bank.read();
      const keys = Array.from({ length: bank.shape[0] }, (_, r) => Array.from(rows.subarray(r * 6, r * 6 + 6)).join(','));
      expect(keys.every((k) => columns.has(k))).toBe(true);
      expect(new Set(keys).size).toBe(keys.length);
      bank.dispose();
    }
  });
});

describe("normality 'knn' end to end", () => {
  const WEIGHTS = new Uint8Array(readFileSync(new URL('../../weights/mobilenet_v2_imagenet.safetensors', import.meta.url)));
  const ds = generateDataset({ category: 'fabric', trainCount: 12, testGoodCount: 2, testDefectCount: 3, size: 64, seed: 2 });

  it('trains, standardises and sums its terms, and round-trips through a checkpoint', async () => {
    const backbone = loadBackbone(WEIGHTS, 'mobilenet_v2_imagenet.safetensors');
    const backboneId = { architecture: 'mobilenet_v2', source: 'test', sha256: await sha256Hex(WEIGHTS) };
    const config = resolveConfig({ size: 64, epochs: 1, batchSize: 4, holdout: 0.2, normality: 'knn', knnBankSize: 40 });
    const r = await trainHlgfa({ backbone, backboneId, config, images: ds.train.map((s) => s.image), augment: (i) => i });
    const det = r.detector;
    expect(det.memoryBank!.shape).toEqual([40, 32 + 96]); // features.6 + features.13 channels
    const norm = det.termNorm!;
    expect(norm.alignment.std).toBeGreaterThan(0);
    expect(norm.normality.std).toBeGreaterThan(0);
    const test = ds.test.map((s) => s.image);
    const scored = await det.score(test);
    // The map is (alignment − μ)/σ + (knn − μ)/σ of the terms.
    const [combined, alignment, normality] = await Promise.all(
      scope(() => {
        const { fh, fl } = dualFeatures(backbone, viewTensor(backbone, test, 64), config.taps);
        const t = det.termMaps(fh, fl);
        return [det.mapsFromFeatures(fh, fl), t.alignment!, t.normality];
      }).map((t) => t.read()),
    );
    const want = Float32Array.from(alignment, (v, i) => (v - norm.alignment.mean) / norm.alignment.std + (normality[i] - norm.normality.mean) / norm.normality.std);
    expectClose(combined, want, { atol: 1e-4, rtol: 1e-4 }, 'combined map');
    expectClose(scored[0].map, combined.subarray(0, 64 * 64), { atol: 1e-5, rtol: 1e-5 }, 'score() map');
    const restored = detectorFromCheckpoint(parseCheckpoint(await det.toCheckpoint(), 'knn.safetensors'), backbone, backboneId.sha256);
    expect((await restored.score(test)).map((s) => s.score)).toEqual(scored.map((s) => s.score));
    det.dispose();
    restored.dispose();
    backbone.dispose();
  });

  it('alignmentTerm false: the map is the standardised memory-bank term alone, and nothing is trained', async () => {
    const backbone = loadBackbone(WEIGHTS, 'mobilenet_v2_imagenet.safetensors');
    const backboneId = { architecture: 'mobilenet_v2', source: 'test', sha256: await sha256Hex(WEIGHTS) };
    const config = resolveConfig({ size: 64, epochs: 3, batchSize: 4, holdout: 0.2, normality: 'knn', knnBankSize: 40, alignmentTerm: false });
    const r = await trainHlgfa({ backbone, backboneId, config, images: ds.train.map((s) => s.image), augment: (i) => i });
    expect(r.losses).toEqual([]);
    const test = ds.test.map((s) => s.image);
    const [combined, normality] = await Promise.all(
      scope(() => {
        const { fh, fl } = dualFeatures(backbone, viewTensor(backbone, test, 64), config.taps);
        const t = r.detector.termMaps(fh, fl);
        expect(t.alignment).toBeNull();
        return [r.detector.mapsFromFeatures(fh, fl), t.normality];
      }).map((t) => t.read()),
    );
    const n = r.detector.termNorm!.normality;
    expectClose(combined, Float32Array.from(normality, (v) => (v - n.mean) / n.std), { atol: 1e-4, rtol: 1e-4 }, 'knn-only map');
    expect(() => resolveConfig({ alignmentTerm: false })).toThrow(/alignmentTerm false needs normality 'knn'/);
    expect(() => resolveConfig({ normality: 'knn', knnTaps: ['features.7'] })).toThrow(/knnTaps must be among taps \(features\.3, features\.6, features\.13\), got features\.7/);
    r.detector.dispose();
    backbone.dispose();
  });
});
