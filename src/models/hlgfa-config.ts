// HLGFA options. Every choice the paper leaves open is a named option; the default and why is
// stated beside each (see docs/METHOD.md for what the paper fixes).
import { didYouMean } from '../util/suggest.js';

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
  /**
   * Per-image exposure normalisation: 'image' brings every image's luminance to the normal
   * images' average mean and contrast before the backbone (one gain and offset for R, G and B), so
   * a darker or brighter capture is not judged by its exposure; 'none' leaves pixels as they are;
   * 'auto' (resolved when training, stored resolved) picks 'image' when the normal images'
   * exposure is uncontrolled — the standard deviation of their mean luminance above 10 % of its
   * mean (magnetic-tile 30 %; glass 0.1 %, the procedural sets 4-5 %) — and 'none' otherwise,
   * where a global brightness change could itself be the defect. `hlgfa train` reports the
   * variation and suggests 'auto' when it is above the limit.
   */
  inputNorm: 'auto' | 'image' | 'none';
  /**
   * Absolute-normality term. 'knn' adds, to the cross-resolution alignment map, the distance of
   * each patch to the nearest of a coreset of normal training patches (a memory bank in frozen
   * backbone features, as PatchCore), each term standardised by its statistics on normal images;
   * the alignment map cannot see a defect that both resolutions see alike. See `normality` in the
   * defaults below for the measured figures.
   */
  normality: 'none' | 'knn';
  /** Taps the memory bank's patch features come from: a subset of `taps`. */
  knnTaps: string[];
  /**
   * The grid patches are compared on: the coarsest of the kNN taps' grids (S/16 for the default
   * taps) or the finest (S/8). Magnetic-tile, memory bank alone, 5000 rows: coarsest 0.902 /
   * 0.786 / 0.729 (image / pixel AUROC / AUPRO), finest 0.900 / 0.772 / 0.734, at four times
   * the distance computations: 'coarsest'.
   */
  knnGrid: 'coarsest' | 'finest';
  /** Rows of the memory bank (a greedy k-center coreset of the normal patches). */
  knnBankSize: number;
  /** Ablation: false leaves only the memory-bank term in the map (needs normality 'knn'). */
  alignmentTerm: boolean;
  /** Optimisation. */
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Fraction of train/good held out to calibrate the threshold and map statistics. */
  holdout: number;
  /**
   * Target false-positive rate of the decision threshold on normal images. The threshold is the
   * (1 − fpr) quantile of a Gumbel distribution fitted to the held-out normal images' scores (see
   * src/eval/calibration.ts): image scores are maxima (or top-k means) of a map, whose distribution
   * extreme-value theory says is Gumbel-like, and a fitted tail extrapolates past the few dozen
   * held-out images a dataset usually has, where the largest held-out score alone would put the
   * FPR anywhere between 0 and 1/n.
   */
  thresholdFpr: number;
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
  // Opt-in, by the same rule as normality below. On magnetic-tile, the one measured set whose
  // exposure varies past the limit (30 %; the others resolve 'auto' to 'none'), 'auto' gave 0.796 /
  // 0.631 / 0.677 against 0.789 / 0.633 / 0.691 with pixels as they are: no clear gain, a small
  // AUPRO loss.
  inputNorm: 'none',
  // Opt-in. Measured with `hlgfa train` + `hlgfa eval` at otherwise default settings (image AUROC /
  // pixel AUROC / AUPRO): magnetic-tile 0.789 / 0.633 / 0.691 → 0.869 / 0.720 / 0.702 (every defect
  // type up, "uneven" 0.635 → 0.793), glass 1.000 / 0.894 / 0.863 → 1.000 / 0.891 / 0.862, the
  // procedural metal and wood unchanged within ±0.005, but procedural fabric (a woven texture whose
  // normal patches vary more than its "spot" and "scratch" defects) 0.817 / 0.931 / 0.798 → 0.772 /
  // 0.865 / 0.673. The rule for a default is that no measured category may lose, so 'knn' stays a
  // choice for surfaces like magnetic-tile rather than the default; memory bank alone
  // (alignmentTerm false): magnetic-tile 0.871 / 0.778 / 0.710, glass 1.000 / 0.871 / 0.825.
  normality: 'none',
  knnTaps: ['features.6', 'features.13'],
  knnGrid: 'coarsest',
  knnBankSize: 5000,
  alignmentTerm: true,
  epochs: 10,
  batchSize: 8,
  lr: 1e-3,
  seed: 0,
  holdout: 0.1,
  thresholdFpr: 0.01,
};

/** A config value out of range, of the wrong type, or an unknown key: the user's input is wrong. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Check =
  | { kind: 'int'; min: number; max: number }
  | { kind: 'number'; min: number; max: number; exclusiveMin?: boolean }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'taps' };

const int = (min: number, max: number): Check => ({ kind: 'int', min, max });
const num = (min: number, max: number, exclusiveMin = false): Check => ({ kind: 'number', min, max, exclusiveMin });
const bool: Check = { kind: 'boolean' };
const oneOf = (...values: string[]): Check => ({ kind: 'enum', values });

/**
 * Every option's type and range, checked on every config that reaches the model: CLI flags,
 * `--config` JSON, checkpoints and the page. The bounds are the ranges where an option means
 * something (a blur wider than a quarter of the largest map, or a top-k fraction above 1, is a
 * mistake, not a setting) and that keep every kernel launch finite.
 */
const CHECKS: { [K in keyof HlgfaConfig]: Check } = {
  size: int(32, 8192),
  taps: { kind: 'taps' },
  detailReduction: int(1, 1024),
  detailBlurSigma: num(0, 8, true),
  baseline: bool,
  structurePrior: bool,
  detailPrior: bool,
  gate: bool,
  residualInput: oneOf('detail', 'concat'),
  norm: oneOf('instance', 'running'),
  noise: oneOf('both', 'hr', 'off'),
  noiseProbability: num(0, 1),
  reliability: bool,
  reliabilityStrength: num(0, 1000),
  mapNorm: oneOf('none', 'mean', 'zscore'),
  score: oneOf('max', 'topk'),
  topkFraction: num(0, 1, true),
  blurSigma: num(0, 64),
  inputNorm: oneOf('auto', 'image', 'none'),
  normality: oneOf('none', 'knn'),
  knnTaps: { kind: 'taps' },
  knnGrid: oneOf('coarsest', 'finest'),
  knnBankSize: int(1, 1_000_000),
  alignmentTerm: bool,
  epochs: int(0, 100_000),
  batchSize: int(1, 4096),
  lr: num(0, 10, true),
  seed: int(0, 2 ** 32 - 1),
  holdout: num(0, 0.9),
  thresholdFpr: num(0, 0.5, true),
};

export const CONFIG_KEYS = Object.keys(CHECKS) as Array<keyof HlgfaConfig>;

function checkField(key: keyof HlgfaConfig, v: unknown, check: Check): string | null {
  const got = JSON.stringify(v) ?? String(v);
  switch (check.kind) {
    case 'int':
      return typeof v === 'number' && Number.isInteger(v) && v >= check.min && v <= check.max
        ? null
        : `${key} must be an integer in [${check.min}, ${check.max}], got ${got}`;
    case 'number': {
      const lowOk = typeof v === 'number' && (check.exclusiveMin ? v > check.min : v >= check.min);
      return typeof v === 'number' && Number.isFinite(v) && lowOk && v <= check.max
        ? null
        : `${key} must be a number in ${check.exclusiveMin ? '(' : '['}${check.min}, ${check.max}], got ${got}`;
    }
    case 'boolean':
      return typeof v === 'boolean' ? null : `${key} must be true or false, got ${got}`;
    case 'enum':
      return typeof v === 'string' && check.values.includes(v) ? null : `${key} must be one of ${check.values.join(', ')}, got ${got}`;
    case 'taps':
      return Array.isArray(v) && v.length >= 1 && v.every((t) => typeof t === 'string' && t.length > 0) && new Set(v).size === v.length
        ? null
        : `${key} must be a non-empty list of distinct backbone tap names, got ${got}`;
  }
}

/**
 * The defaults with `partial` applied, every field checked. Unknown keys are refused (with the
 * nearest known key suggested), so a typo never silently falls back to a default.
 */
export function resolveConfig(partial: Partial<HlgfaConfig> | Record<string, unknown> = {}): HlgfaConfig {
  if (!partial || typeof partial !== 'object' || Array.isArray(partial)) {
    throw new ConfigError(`HLGFA config: must be a JSON object of options, got ${JSON.stringify(partial)}`);
  }
  for (const key of Object.keys(partial)) {
    if (!(key in CHECKS)) throw new ConfigError(`HLGFA config: unknown option "${key}"${didYouMean(key, CONFIG_KEYS, (k) => `"${k}"`)}`);
  }
  const c = { ...DEFAULT_CONFIG, ...partial } as HlgfaConfig;
  for (const key of CONFIG_KEYS) {
    const problem = checkField(key, c[key], CHECKS[key]);
    if (problem) throw new ConfigError(`HLGFA config: ${problem}`);
  }
  if (c.size % 32 !== 0) throw new ConfigError(`HLGFA config: size must be a multiple of 32, got ${c.size}`);
  if (c.normality === 'knn') {
    const outside = c.knnTaps.filter((t) => !c.taps.includes(t));
    if (outside.length) throw new ConfigError(`HLGFA config: knnTaps must be among taps (${c.taps.join(', ')}), got ${outside.join(', ')}`);
  }
  if (!c.alignmentTerm && c.normality !== 'knn') throw new ConfigError("HLGFA config: alignmentTerm false needs normality 'knn' (the map would have no term)");
  return { ...c, taps: [...c.taps], knnTaps: [...c.knnTaps] };
}
