// HLGFA end to end at a small size: training reduces the loss, is deterministic for a seed, resumes
// exactly, and a checkpoint round trip scores images identically.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expectClose, numel, randn, useGpu } from '../helpers.js';
import { loadBackbone } from '../../src/models/backbone.js';
import { resolveConfig } from '../../src/models/hlgfa-config.js';
import { dualFeatures, sha256Hex, viewTensor } from '../../src/models/detector.js';
import { detectorFromCheckpoint, parseCheckpoint } from '../../src/models/checkpoint.js';
import { resizeRgba } from '../../src/io/image.js';
import { add, affine, cosineSimilarity, gaussianBlur, mul, resizeBilinear, sub } from '../../src/ops/index.js';
import { scope, tensor } from '../../src/tensor/tensor.js';
import { anomalyMap } from '../../src/models/hlgfa.js';
import { holdoutSplit, mapStatistics, resumeState, trainHlgfa, trainingState } from '../../src/models/hlgfa-train.js';
import { replaysTraining } from '../../src/models/hlgfa-step.js';
import type { AdapterSummary } from '../../src/gpu/device.js';
import { generateDataset } from '../../src/data/synthetic.js';
import { runtime } from '../../src/gpu/runtime.js';
import type { RgbaImage } from '../../src/io/image.js';
import type { Rng } from '../../src/util/random.js';

useGpu();

const WEIGHTS = new Uint8Array(readFileSync(new URL('../../weights/mobilenet_v2_imagenet.safetensors', import.meta.url)));
const ds = generateDataset({ category: 'metal', trainCount: 10, testGoodCount: 2, testDefectCount: 2, size: 64, seed: 3 });
const images = ds.train.map((s) => s.image);
// Deterministic stand-in for the noise augmentation: a few black points.
const augment = (img: RgbaImage, rng: Rng): RgbaImage => {
  const out = new Uint8Array(img.data);
  for (let k = 0; k < 20; k++) {
    const i = Math.floor(rng() * img.width * img.height);
    out[4 * i] = out[4 * i + 1] = out[4 * i + 2] = 0;
  }
  return { ...img, data: out };
};

async function setup() {
  const backbone = loadBackbone(WEIGHTS, 'mobilenet_v2_imagenet.safetensors');
  const backboneId = { architecture: 'mobilenet_v2', source: 'test', sha256: await sha256Hex(WEIGHTS) };
  return { backbone, backboneId };
}

describe('anomalyMap', () => {
  it('equals the mean over levels of Up(1 − cos), weighted, blurred: the affine folded into the blur changes nothing', async () => {
    const shapes = [[2, 8, 16, 16], [2, 12, 8, 8], [2, 16, 4, 4]];
    const fhats = shapes.map((s, i) => tensor(randn(numel(s), 10 + i), s));
    const fhs = shapes.map((s, i) => tensor(randn(numel(s), 20 + i), s));
    const weight = tensor(randn(2 * 32 * 32, 30).map((v) => 1 + 0.3 * v), [2, 1, 32, 32]);
    const plain = (w: typeof weight | null, sigma: number) => {
      const ups = fhats.map((f, l) => resizeBilinear(affine(cosineSimilarity(f, fhs[l]), -1, 1), [32, 32], { alignCorners: false }));
      let map = affine(ups.reduce((a, b) => add(a, b)), 1 / 3, 0);
      if (w) map = mul(map, w);
      return sigma > 0 ? gaussianBlur(map, sigma) : map;
    };
    for (const [w, sigma] of [[null, 4], [null, 0], [weight, 4], [weight, 0]] as const) {
      const [got, want] = scope(() => [anomalyMap(fhats, fhs, 32, sigma, w), plain(w, sigma)]);
      expectClose(await got.read(), await want.read(), { atol: 2e-6, rtol: 1e-5 }, `weight ${w ? 'on' : 'off'}, sigma ${sigma}`);
      got.dispose();
      want.dispose();
    }
    for (const t of [...fhats, ...fhs, weight]) t.dispose();
  });
});

describe('HLGFA training', () => {
  const config = resolveConfig({ size: 64, epochs: 3, batchSize: 4, lr: 3e-3, seed: 5, holdout: 0.2 });

  it('lowers the loss, is deterministic, and round-trips through a checkpoint', async () => {
    const { backbone, backboneId } = await setup();
    const a = await trainHlgfa({ backbone, backboneId, config, images, augment });
    const b = await trainHlgfa({ backbone, backboneId, config, images, augment });
    expect(a.losses.length).toBe(3 * 2);
    expect(a.losses[a.losses.length - 1]).toBeLessThan(a.losses[0]);
    expect(b.losses).toEqual(a.losses);
    expect(Number.isFinite(a.detector.threshold)).toBe(true);

    const test = ds.test.map((s) => s.image);
    const before = await a.detector.score(test);
    const bytes = await a.detector.toCheckpoint();
    const restored = detectorFromCheckpoint(parseCheckpoint(bytes, 'ck.safetensors'), backbone, backboneId.sha256);
    const after = await restored.score(test);
    expect(after.map((r) => r.score)).toEqual(before.map((r) => r.score));
    expect(restored.threshold).toBe(a.detector.threshold);
    for (const d of [a.detector, b.detector, restored]) d.dispose();
    backbone.dispose();
  });

  it('replays recorded steps with the same losses, weights and optimiser state as running them, a smaller last batch included', async () => {
    const { backbone, backboneId } = await setup();
    // 8 fit images in batches of 3: two full steps and one of 2 per epoch; the small one runs
    // plainly and releases the recording's gradients, so each epoch records again.
    const cfg = resolveConfig({ ...config, batchSize: 3 });
    const replayed = await trainHlgfa({ backbone, backboneId, config: cfg, images, augment, replay: true });
    const plain = await trainHlgfa({ backbone, backboneId, config: cfg, images, augment, replay: false });
    expect(replayed.losses.length).toBe(9);
    expect(replayed.replayedSteps).toBe(2); // epoch 1: plain, recorded; later epochs: recorded, replayed
    expect(plain.replayedSteps).toBe(0);
    expect(replayed.losses).toEqual(plain.losses);
    expect(replayed.resumable.metadata).toEqual(plain.resumable.metadata); // Adam's step counts
    for (const [name, t] of Object.entries(plain.resumable.tensors)) expect(replayed.resumable.tensors[name].data, name).toEqual(t.data);
    const [a, b] = [replayed.detector.namedParameters(), plain.detector.namedParameters()];
    for (let i = 0; i < a.length; i++) expect(await a[i][1].read(), a[i][0]).toEqual(await b[i][1].read());
    expect(replayed.detector.threshold).toBe(plain.detector.threshold);

    // Full batches only (4 of 8): the first epoch records, the other two replay throughout.
    const full = await trainHlgfa({ backbone, backboneId, config, images, augment, replay: true });
    expect(full.replayedSteps).toBe(4);
    // One full batch and a smaller one an epoch (5 + 3): each epoch would record and never replay,
    // so nothing is recorded.
    const one = await trainHlgfa({ backbone, backboneId, config: resolveConfig({ ...config, batchSize: 5, epochs: 2 }), images, augment, replay: true });
    expect(one.losses.length).toBe(4);
    expect(one.replayedSteps).toBe(0);
    // By default, GPUs replay and CPU adapters (where it saves no time) do not.
    expect(replaysTraining({ vendor: 'nvidia', architecture: 'hopper', description: '', isFallbackAdapter: false } as AdapterSummary)).toBe(true);
    expect(replaysTraining({ vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15)', isFallbackAdapter: false } as AdapterSummary)).toBe(false);
    const byDefault = await trainHlgfa({ backbone, backboneId, config: resolveConfig({ ...config, epochs: 2 }), images, augment });
    expect(byDefault.replayedSteps).toBe(replaysTraining(runtime().gpu.info) ? 2 : 0);
    for (const d of [replayed.detector, plain.detector, full.detector, one.detector, byDefault.detector]) d.dispose();
    backbone.dispose();
  });

  it("mapNorm 'zscore' maps are (raw − mean) · invStd of the normal maps, and survive a checkpoint", async () => {
    const { backbone, backboneId } = await setup();
    const z = await trainHlgfa({ backbone, backboneId, config: resolveConfig({ ...config, epochs: 1, mapNorm: 'zscore' }), images, augment });
    const det = z.detector;
    expect(det.meanMap).not.toBeNull();
    expect(det.invStdMap).not.toBeNull();
    const test = ds.test.map((s) => s.image);
    const scored = await det.score(test);
    const meanMap = det.meanMap!;
    const invStd = det.invStdMap!;
    const [mean, inv] = [await meanMap.read(), await invStd.read()];
    // The same maps without normalisation, then normalised here.
    det.meanMap = null;
    const raw = await det.score(test);
    det.meanMap = meanMap;
    for (const [i, r] of raw.entries()) {
      const want = Float32Array.from(r.map, (v, j) => (v - mean[j]) * inv[j]);
      let err = 0;
      for (let j = 0; j < want.length; j++) err = Math.max(err, Math.abs(scored[i].map[j] - want[j]) / (1 + Math.abs(want[j])));
      expect(err).toBeLessThan(1e-5);
    }
    const restored = detectorFromCheckpoint(parseCheckpoint(await det.toCheckpoint(), 'z.safetensors'), backbone, backboneId.sha256);
    expect((await restored.score(test)).map((r) => r.score)).toEqual(scored.map((r) => r.score));
    det.dispose();
    restored.dispose();
    backbone.dispose();
  });

  it("residualInput 'concat' widens the residual convolution, trains and survives a checkpoint", async () => {
    const { backbone, backboneId } = await setup();
    const cfg = resolveConfig({ ...config, epochs: 1, residualInput: 'concat' });
    const a = await trainHlgfa({ backbone, backboneId, config: cfg, images, augment });
    const lvl = a.detector.levels[0];
    expect(lvl.residual.w.shape).toEqual([lvl.channels, lvl.channels + lvl.detailChannels, 3, 3]);
    expect(a.losses.every(Number.isFinite)).toBe(true);
    const test = ds.test.map((s) => s.image);
    const before = await a.detector.score(test);
    const restored = detectorFromCheckpoint(parseCheckpoint(await a.detector.toCheckpoint(), 'r.safetensors'), backbone, backboneId.sha256);
    expect((await restored.score(test)).map((r) => r.score)).toEqual(before.map((r) => r.score));
    a.detector.dispose();
    restored.dispose();
    backbone.dispose();
  });

  it("norm 'running' normalises Up(Fl) with fixed statistics of the fit images, kept in checkpoints", async () => {
    const { backbone, backboneId } = await setup();
    const cfg = resolveConfig({ ...config, epochs: 1, norm: 'running' });
    const a = await trainHlgfa({ backbone, backboneId, config: cfg, images, augment });
    const { fit } = holdoutSplit(images.length, cfg);
    for (const [l, lv] of a.detector.levels.entries()) {
      expect(lv.norm!.mean.shape).toEqual([1, lv.channels, 1, 1]);
      // Over the fit images, the normalised Up(Fl) has zero mean and unit variance per channel.
      const z = scope(() => {
        const hr = viewTensor(backbone, fit.map((i) => resizeRgba(images[i], 64, 64)), 64);
        const { fh, fl } = dualFeatures(backbone, hr, cfg.taps);
        const u = resizeBilinear(fl[l], [fh[l].shape[2], fh[l].shape[3]], { alignCorners: false });
        return mul(sub(u, lv.norm!.mean), lv.norm!.invStd);
      });
      const [n, c, h, w] = z.shape;
      const v = await z.read();
      z.dispose();
      for (let ch = 0; ch < c; ch += Math.max(1, Math.floor(c / 7))) {
        let s1 = 0;
        let s2 = 0;
        for (let i = 0; i < n; i++) for (let j = 0; j < h * w; j++) {
          const x = v[(i * c + ch) * h * w + j];
          s1 += x;
          s2 += x * x;
        }
        const m = s1 / (n * h * w);
        expect(Math.abs(m)).toBeLessThan(1e-3);
        const variance = s2 / (n * h * w) - m * m;
        if (variance > 1e-3) expect(variance).toBeCloseTo(1, 2); // channels that are all zero stay 0
      }
    }
    const test = ds.test.map((s) => s.image);
    const before = await a.detector.score(test);
    const restored = detectorFromCheckpoint(parseCheckpoint(await a.detector.toCheckpoint(), 'n.safetensors'), backbone, backboneId.sha256);
    expect((await restored.score(test)).map((r) => r.score)).toEqual(before.map((r) => r.score));
    a.detector.dispose();
    restored.dispose();
    backbone.dispose();
  });

  it('resolveConfig names the bad option and what it expected', () => {
    expect(() => resolveConfig({ mapNorm: 'std' as never })).toThrow(/mapNorm must be one of none, mean, zscore, got "std"/);
    expect(() => resolveConfig({ noise: 'on' as never })).toThrow(/noise must be one of both, hr, off/);
    expect(() => resolveConfig({ score: 'p99' as never })).toThrow(/score must be one of max, topk/);
    expect(() => resolveConfig({ residualInput: 'z' as never })).toThrow(/residualInput must be one of detail, concat/);
    expect(() => resolveConfig({ norm: 'batch' as never })).toThrow(/norm must be one of instance, running/);
    expect(() => resolveConfig({ size: 100 })).toThrow(/size must be a multiple of 32/);
  });

  it('mapStatistics: mean and floored inverse standard deviation', () => {
    // Three maps of 3 pixels: pixel 0 constant (std 0 → floored), pixel 1 {0, 3, 6}, pixel 2 {1, 2, 3}.
    const maps = [[2, 0, 1], [2, 3, 2], [2, 6, 3]];
    const sum = Float32Array.from([0, 1, 2], (j) => maps.reduce((s, m) => s + m[j], 0));
    const sq = Float32Array.from([0, 1, 2], (j) => maps.reduce((s, m) => s + m[j] ** 2, 0));
    const { mean, invStd } = mapStatistics(sum, sq, 3);
    expect(Array.from(mean)).toEqual([2, 3, 2]);
    const s1 = Math.sqrt(6);
    const s2 = Math.sqrt(2 / 3);
    const floor = 0.1 * (0 + s1 + s2) / 3;
    expect(invStd[0]).toBeCloseTo(1 / floor, 3);
    expect(invStd[1]).toBeCloseTo(1 / s1, 6);
    expect(invStd[2]).toBeCloseTo(1 / s2, 6);
  });

  it('resuming after epoch 1 gives the same model as training straight through', async () => {
    const { backbone, backboneId } = await setup();
    const cfg2 = { ...config, epochs: 2 };
    const straight = await trainHlgfa({ backbone, backboneId, config: cfg2, images, augment });
    let saved: Uint8Array | null = null;
    const first = await trainHlgfa({
      backbone, backboneId, config: { ...cfg2, epochs: 1 }, images, augment,
      onEpochEnd: async (det, epoch, adam) => {
        saved = await det.toCheckpoint(await trainingState(det, adam, epoch));
      },
    });
    const ck = parseCheckpoint(saved!, 'partial.safetensors');
    const resumed = await trainHlgfa({
      backbone, backboneId, config: cfg2, images, augment,
      resume: resumeState(ck, detectorFromCheckpoint(ck, backbone, backboneId.sha256, { requireThreshold: false })),
    });
    expect(resumed.losses).toEqual(straight.losses.slice(2));
    const w1 = await straight.detector.namedParameters()[0][1].read();
    const w2 = await resumed.detector.namedParameters()[0][1].read();
    expect(Array.from(w2)).toEqual(Array.from(w1));
    for (const d of [straight.detector, first.detector, resumed.detector]) d.dispose();
    backbone.dispose();
    await runtime().sync();
  });

  it('refuses a checkpoint made with another backbone', async () => {
    const { backbone, backboneId } = await setup();
    const r = await trainHlgfa({ backbone, backboneId, config: { ...config, epochs: 0 }, images, augment });
    const ck = parseCheckpoint(await r.detector.toCheckpoint(), 'ck.safetensors');
    expect(() => detectorFromCheckpoint(ck, backbone, 'f'.repeat(64))).toThrow(/ck\.safetensors: was trained with backbone test \(sha256 [0-9a-f]{12}…\) but the given backbone has sha256 ffffffffffff…/);
    expect(() => parseCheckpoint(WEIGHTS, 'w.safetensors')).toThrow(/w\.safetensors: not an HLGFA checkpoint/);
    r.detector.dispose();
    backbone.dispose();
  });

  it("inputNorm 'auto' normalises exposure when the normal images' varies, and keeps the targets in checkpoints", async () => {
    const { backbone, backboneId } = await setup();
    // The same textures captured at exposures from 40 % to 100 %: uncontrolled lighting.
    const scaled = (img: RgbaImage, f: number): RgbaImage => ({ ...img, data: Uint8Array.from(img.data, (v, i) => (i % 4 === 3 ? v : Math.round(v * f))) });
    const varied = images.map((img, i) => scaled(img, 0.4 + (0.6 * i) / (images.length - 1)));
    const r = await trainHlgfa({ backbone, backboneId, config: { ...config, epochs: 1, inputNorm: 'auto' }, images: varied, augment });
    expect(r.detector.config.inputNorm).toBe('image');
    expect(r.exposureVariation).toBeGreaterThan(0.1);
    const test = ds.test[0].image;
    // Exposure no longer moves the score much (only rounding and clipping differ).
    const [dim, full] = await r.detector.score([scaled(test, 0.5), test]);
    expect(Math.abs(dim.score - full.score)).toBeLessThan(0.1 * Math.abs(full.score) + 0.01);
    const restored = detectorFromCheckpoint(parseCheckpoint(await r.detector.toCheckpoint(), 'e.safetensors'), backbone, backboneId.sha256);
    expect(restored.exposure).toEqual(r.detector.exposure);
    expect((await restored.score([scaled(test, 0.5), test])).map((x) => x.score)).toEqual([dim.score, full.score]);
    // The untouched set: exposure already uniform, nothing is changed.
    const plain = await trainHlgfa({ backbone, backboneId, config: { ...config, epochs: 0, inputNorm: 'auto' }, images, augment });
    expect(plain.detector.config.inputNorm).toBe('none');
    for (const d of [r.detector, restored, plain.detector]) d.dispose();
    backbone.dispose();
  });
});
