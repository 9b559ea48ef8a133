// Per-image exposure normalisation (src/io/image.ts) and the training-time decision when to apply
// it (inputNorm 'auto', src/models/hlgfa-train.ts), against values computed by hand.
import { describe, expect, it } from 'vitest';
import { checkImage, luminanceStats, standardizeExposure, type RgbaImage } from '../../src/io/image.js';
import { EXPOSURE_VARIATION_LIMIT, exposureOf } from '../../src/models/hlgfa-train.js';

const grey = (values: number[], alpha = 255): RgbaImage => ({ width: values.length, height: 1, data: Uint8Array.from(values.flatMap((v) => [v, v, v, alpha])) });

describe('luminanceStats / standardizeExposure', () => {
  it('mean and population standard deviation of (R + G + B) / 3', () => {
    const img: RgbaImage = { width: 2, height: 1, data: Uint8Array.from([30, 60, 90, 255, 0, 0, 0, 7]) };
    const s = luminanceStats(img);
    expect(s.mean).toBeCloseTo(30, 12); // (60 + 0) / 2
    expect(s.std).toBeCloseTo(30, 12);
  });

  it('one gain and offset for R, G and B, rounded and clamped; alpha kept; a flat image only shifts', () => {
    const img: RgbaImage = { width: 2, height: 1, data: Uint8Array.from([10, 20, 30, 200, 30, 40, 50, 100]) };
    // Luminance 20 and 40: mean 30, std 10 → target mean 100, std 40: gain 4, offset 100 − 4·30.
    const out = standardizeExposure(img, { mean: 100, std: 40 });
    expect(Array.from(out.data)).toEqual([20, 60, 100, 200, 100, 140, 180, 100]);
    checkImage(out);
    const clamped = standardizeExposure(grey([0, 255]), { mean: 128, std: 200 });
    expect(Array.from(clamped.data)).toEqual([0, 0, 0, 255, 255, 255, 255, 255]);
    const flat = standardizeExposure(grey([50, 50, 50]), { mean: 80, std: 30 });
    expect(Array.from(flat.data.filter((_, i) => i % 4 === 0))).toEqual([80, 80, 80]);
  });

  it('brings a dark and a bright capture of the same pattern to the same pixels', () => {
    const pattern = [0, 1, 2, 3, 2, 1, 0, 1];
    const dark = grey(pattern.map((v) => 20 + 10 * v));
    const bright = grey(pattern.map((v) => 120 + 40 * v));
    const target = { mean: 100, std: 30 };
    expect(Array.from(standardizeExposure(dark, target).data)).toEqual(Array.from(standardizeExposure(bright, target).data));
  });
});

describe('exposureOf (inputNorm auto)', () => {
  it('targets are the average mean and contrast; the variation is the CV of the means', () => {
    const { target, variation } = exposureOf([grey([40, 60]), grey([90, 110]), grey([140, 160])]);
    expect(target.mean).toBeCloseTo(100, 4);
    expect(target.std).toBeCloseTo(10, 4);
    // Means 50, 100, 150: population std 40.82 over mean 100.
    expect(variation).toBeCloseTo(Math.sqrt(5000 / 3) / 100, 6);
    expect(variation).toBeGreaterThan(EXPOSURE_VARIATION_LIMIT);
    expect(exposureOf([grey([98, 102]), grey([99, 103])]).variation).toBeLessThan(EXPOSURE_VARIATION_LIMIT);
  });
});
