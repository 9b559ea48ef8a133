// HLGFA end to end at a small size: training reduces the loss, is deterministic for a seed, resumes
// exactly, and a checkpoint round trip scores images identically.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useGpu } from '../helpers.js';
import { loadBackbone } from '../../src/models/backbone.js';
import { resolveConfig } from '../../src/models/hlgfa-config.js';
import { detectorFromCheckpoint, parseCheckpoint, sha256Hex } from '../../src/models/detector.js';
import { resumeState, trainHlgfa, trainingState } from '../../src/models/hlgfa-train.js';
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
      resume: resumeState(ck, detectorFromCheckpoint(ck, backbone, backboneId.sha256)),
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
});
