// HLGFA options. Every choice the paper leaves open is a named option; the default and why is
// stated beside each (see ../shared/HLGFA.md for what the paper fixes).

export interface HlgfaConfig {
  /** HR view size S (LR is S/2). 256 as in the method description. */
  size: number;
  /**
   * Backbone taps, one per level, at strides 4, 8, 16 for MobileNetV2: block outputs (24/32/96
   * channels). The expanded activations `features.{4,7,14}.expand` (144/192/576 channels) score
   * better on both sets (magnetic-tile image/pixel AUROC/AUPRO 0.797/0.676/0.723 vs 0.780/0.633/
   * 0.691; glass pixel 0.916/0.890 vs 0.894/0.863) but train 8× slower on lavapipe (2 glass epochs
   * 150 s vs 19 s), which would put default magnetic-tile training far past 20 minutes on a 2-core
   * machine: block outputs stay the default, the expanded taps are the option for a real GPU.
   */
  taps: string[];
  /**
   * Detail-prior channel reduction r (C → C/r); ≥ 4 so the module cannot copy HR features. Glass:
   * r 4 0.894 / 0.863, r 8 0.894 / 0.864 (pixel AUROC / AUPRO): the method's minimum stays.
   */
  detailReduction: number;
  /**
   * σ of the feature blur whose residual (Fh − Blur(Fh)) feeds the detail prior. Magnetic-tile:
   * σ 1 0.780/0.633/0.691, σ 2 0.772/0.632/0.689 (image/pixel AUROC/AUPRO, max score).
   */
  detailBlurSigma: number;
  /**
   * Raw cross-resolution baseline: no learned module, F̂ = Up(Fl) (the reference HLGFA must beat).
   * Map statistics and threshold are still calibrated on normal images.
   */
  baseline: boolean;
  /**
   * Ablation switches (all on in HLGFA). Full protocol, defaults otherwise (pixel AUROC / AUPRO):
   * glass full 0.894 / 0.863, without structure prior 0.482 / 0.115, without detail prior
   * 0.895 / 0.864, without gate 0.894 / 0.864; magnetic-tile full 0.633 / 0.691, without structure
   * prior 0.624 / 0.561, without detail prior 0.623 / 0.690, without gate 0.634 / 0.692 (the gate
   * is within noise on both: kept as the method specifies; the detail prior helps on magnetic-tile).
   */
  structurePrior: boolean;
  detailPrior: boolean;
  gate: boolean;
  /**
   * What the residual convolution R = Conv3x3(·) reads: the detail features D ('detail', the
   * method's first reading) or the concatenation [Z, D] ('concat', its alternative). Glass: detail
   * 0.894 / 0.863, concat 0.888 / 0.858; magnetic-tile (100 train images, 4 epochs) detail
   * 0.614 / 0.680, concat 0.622 / 0.681 (pixel AUROC / AUPRO): mixed, so the cheaper 'detail'.
   */
  residualInput: 'detail' | 'concat';
  /**
   * Norm(U) in the modulation: per-image, per-channel statistics ('instance') or fixed per-channel
   * statistics of U over the normal training images, computed once before training ('running',
   * like batch norm in inference mode). Glass: instance 0.894 / 0.863, running 0.886 / 0.844;
   * magnetic-tile (100 train images, 4 epochs): instance 0.614 / 0.680 (image 0.775), running
   * 0.611 / 0.677 (image 0.768): 'instance' on both.
   */
  norm: 'instance' | 'running';
  /**
   * Noise-aware augmentation: where injected ('both' views, 'hr' only, 'off') and how often.
   * Glass: 'both' 0.894 / 0.863, 'hr' 0.884 / 0.849, 'off' 0.889 / 0.853 (pixel AUROC / AUPRO);
   * magnetic-tile 'both' 0.633 / 0.691 (image 0.780), 'off' 0.612 / 0.667 (image 0.754).
   */
  noise: 'both' | 'hr' | 'off';
  noiseProbability: number;
  /**
   * Structure-based reliability weight on the anomaly map. Off: it lowered pixel AUROC / AUPRO on
   * glass from 0.894 / 0.863 to 0.678 / 0.468 and on magnetic-tile from 0.633 / 0.691 to
   * 0.614 / 0.601, and the method says it must raise them or stay off.
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
   * (edges, texture seams) count less. It raised magnetic-tile image AUROC (0.780 → 0.806) but cost
   * glass pixel AUROC / AUPRO (0.894 / 0.863 → 0.872 / 0.777): 'mean' stays the default.
   */
  mapNorm: 'none' | 'mean' | 'zscore';
  /**
   * Image score: max of the map, or mean of its top-k fraction of pixels. Top 1 % was at least as
   * good as the max in every magnetic-tile run (17 variants; default model 0.789 vs 0.780, expanded
   * taps 0.812 vs 0.797) and equal on glass (1.000): it averages away single-pixel spikes.
   */
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
  residualInput: 'detail',
  norm: 'instance',
  noise: 'both',
  noiseProbability: 0.5,
  reliability: false,
  reliabilityStrength: 1,
  mapNorm: 'mean',
  score: 'topk',
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
  oneOf('residualInput', ['detail', 'concat']);
  oneOf('norm', ['instance', 'running']);
  oneOf('mapNorm', ['none', 'mean', 'zscore']);
  oneOf('score', ['max', 'topk']);
  return c;
}
