// The synthetic workload the end-to-end bench and the profiler run (no Node APIs: the page uses it
// too): deterministic fabric images at any size, and how many make a given fit split.
import { generateSample, SYNTHETIC_DEFECTS, type SyntheticCategory } from '../data/synthetic.js';
import type { RgbaImage } from '../io/image.js';
import type { HlgfaConfig } from '../models/hlgfa-config.js';
import { holdoutSplit } from '../models/hlgfa-train.js';

export const E2E_CATEGORY: SyntheticCategory = 'fabric';
export const E2E_SEED = 0;

/** `count` deterministic S×S images: test split, alternately good and defective (train: all good). */
export function e2eImages(size: number, count: number, split: 'train' | 'test'): RgbaImage[] {
  return Array.from({ length: count }, (_, i) => {
    const defect = split === 'train' || i % 2 === 0 ? 'good' : SYNTHETIC_DEFECTS[(i >> 1) % SYNTHETIC_DEFECTS.length];
    return generateSample({ category: E2E_CATEGORY, size, seed: E2E_SEED, split, defect, index: i }).image;
  });
}

/** The smallest image count whose fit split (after the holdout) is exactly `fit` images. */
export function trainImageCount(fit: number, cfg: HlgfaConfig): number {
  for (let n = fit; n < 2 * fit + 10; n++) if (holdoutSplit(n, cfg).fit.length === fit) return n;
  throw new Error(`e2e: no image count gives a fit split of ${fit} with holdout ${cfg.holdout}`);
}
