// HLGFA options. Every choice the paper leaves open is a named option; the default and why is
// stated beside each (see ../shared/HLGFA.md for what the paper fixes).

export interface HlgfaConfig {
  /** HR view size S (LR is S/2). 256 as in the method description. */
  size: number;
  /** Backbone taps, one per level, at strides 4, 8, 16 for MobileNetV2 (block outputs). */
  taps: string[];
  /** Detail-prior channel reduction r (C → C/r); ≥ 4 so the module cannot copy HR features. */
  detailReduction: number;
  /** σ of the feature blur whose residual (Fh − Blur(Fh)) feeds the detail prior. */
  detailBlurSigma: number;
  /**
   * Raw cross-resolution baseline: no learned module, F̂ = Up(Fl) (the reference HLGFA must beat).
   * Map statistics and threshold are still calibrated on normal images.
   */
  baseline: boolean;
  /**
   * Ablation switches (all on in HLGFA). Measured on ../shared/data/glass (pixel AUROC / AUPRO,
   * defaults otherwise): full 0.894 / 0.863; without structure prior 0.482 / 0.115; without detail
   * prior 0.895 / 0.864; without gate 0.894 / 0.864. Magnetic-tile (100 train images, 4 epochs):
   * full 0.614 / 0.680; without structure prior 0.566 / 0.322; without detail prior 0.599 / 0.673;
   * without gate 0.618 / 0.678 (gate within noise on both: kept as the method specifies).
   */
  structurePrior: boolean;
  detailPrior: boolean;
  gate: boolean;
  /**
   * Noise-aware augmentation: where injected ('both' views, 'hr' only, 'off') and how often.
   * Glass: 'both' 0.894 / 0.863, 'hr' 0.884 / 0.849, 'off' 0.889 / 0.853 (pixel AUROC / AUPRO).
   */
  noise: 'both' | 'hr' | 'off';
  noiseProbability: number;
  /**
   * Structure-based reliability weight on the anomaly map. Off: on glass it lowered pixel AUROC
   * from 0.894 to 0.678 (AUPRO 0.863 → 0.468), and the method says it must raise it or stay off.
   */
  reliability: boolean;
  reliabilityStrength: number;
  /**
   * Anomaly-map normalisation by statistics of normal training images (subtract their mean map).
   * Glass: 'mean' 0.894 / 0.863 vs 'none' 0.892 / 0.863; the method notes put the gain for the raw
   * baseline on MVTec-class data at 0.75-0.80 → 0.89 pixel AUROC.
   */
  /**
   * 'zscore' also divides by the per-pixel standard deviation of those maps (floored at a tenth of
   * its image mean, so flat regions do not blow up): positions that vary a lot on normal images
   * (edges, texture seams) count less.
   */
  mapNorm: 'none' | 'mean' | 'zscore';
  /** Image score: max of the map, or mean of the top-k fraction of pixels. */
  score: 'max' | 'topk';
  topkFraction: number;
  /** σ of the final map blur (kernel 2⌊4σ+0.5⌋+1, reflect padding). */
  blurSigma: number;
  /** Optimisation. */
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Fraction of train/good held out to calibrate the threshold and map statistics. */
  holdout: number;
}

export const DEFAULT_CONFIG: HlgfaConfig = {
  size: 256,
  // MobileNetV2 block outputs at strides 4/8/16 (24, 32, 96 channels). Cheap to refine; the
  // expanded activations (144/192/576 channels) cost 6× more module compute.
  taps: ['features.3', 'features.6', 'features.13'],
  detailReduction: 4,
  detailBlurSigma: 1,
  baseline: false,
  structurePrior: true,
  detailPrior: true,
  gate: true,
  noise: 'both',
  noiseProbability: 0.5,
  reliability: false,
  reliabilityStrength: 1,
  mapNorm: 'mean',
  score: 'max',
  topkFraction: 0.01,
  blurSigma: 4,
  epochs: 10,
  batchSize: 8,
  lr: 1e-3,
  seed: 0,
  holdout: 0.1,
};

export function resolveConfig(partial: Partial<HlgfaConfig> = {}): HlgfaConfig {
  const c = { ...DEFAULT_CONFIG, ...partial };
  const bad = (m: string) => {
    throw new Error(`HLGFA config: ${m}`);
  };
  if (!Number.isInteger(c.size) || c.size < 32 || c.size % 32 !== 0) bad(`size must be a multiple of 32 >= 32, got ${c.size}`);
  if (c.taps.length < 1) bad('at least one backbone tap is needed');
  if (!(c.detailReduction >= 1)) bad(`detailReduction must be >= 1, got ${c.detailReduction}`);
  if (!(c.noiseProbability >= 0 && c.noiseProbability <= 1)) bad(`noiseProbability must be in [0, 1], got ${c.noiseProbability}`);
  if (!Number.isInteger(c.epochs) || c.epochs < 0) bad(`epochs must be an integer >= 0, got ${c.epochs}`);
  if (!Number.isInteger(c.batchSize) || c.batchSize < 1) bad(`batchSize must be an integer >= 1, got ${c.batchSize}`);
  if (!(c.lr > 0)) bad(`lr must be > 0, got ${c.lr}`);
  if (!(c.holdout >= 0 && c.holdout < 1)) bad(`holdout must be in [0, 1), got ${c.holdout}`);
  const oneOf = (name: keyof HlgfaConfig, allowed: readonly string[]) => {
    if (!allowed.includes(c[name] as string)) bad(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(c[name])}`);
  };
  oneOf('noise', ['both', 'hr', 'off']);
  oneOf('mapNorm', ['none', 'mean', 'zscore']);
  oneOf('score', ['max', 'topk']);
  return c;
}
