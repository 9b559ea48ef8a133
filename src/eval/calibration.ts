// The decision threshold, from scores of normal images the model never trained on. Users state the
// false-positive rate they accept (`thresholdFpr`, e.g. 1 %); the threshold is that quantile of a
// Gumbel distribution fitted to the held-out scores. Why Gumbel: an image score is the maximum (or
// the mean of the top 1 %) of an anomaly map over many weakly dependent positions, and such maxima
// follow the Gumbel law (Fisher–Tippett–Gnedenko, the light-tailed case). A fitted tail lets a
// 1 % target be met with the 2–30 held-out images a dataset usually has, where "the largest
// held-out score" alone would put the false-positive rate anywhere between 0 and 1/n.
// Portable (no I/O).

/** Euler–Mascheroni constant: the mean of the standard Gumbel distribution. */
const EULER_GAMMA = 0.5772156649015329;

/** Fewer held-out normal images than this give a threshold a user should not rely on. */
export const MIN_CALIBRATION_IMAGES = 10;

export interface Calibration {
  rule: 'gumbel-fpr';
  /** Target false-positive rate on normal images. */
  fpr: number;
  /** How many normal scores the fit used, and where they came from. */
  n: number;
  source: 'held-out' | 'training';
  /** Gumbel location μ and scale β (method of moments). */
  location: number;
  scale: number;
  /** Largest calibration score: the threshold is never below the empirical (1 − fpr) quantile. */
  maxScore: number;
  threshold: number;
}

/** Gumbel (maximum) parameters by the method of moments: β = s·√6/π, μ = mean − γ·β. */
export function fitGumbel(scores: readonly number[]): { location: number; scale: number } {
  const n = scores.length;
  if (n === 0) throw new Error('fitGumbel: no scores');
  const mean = scores.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? scores.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  const scale = (Math.sqrt(variance) * Math.sqrt(6)) / Math.PI;
  return { location: mean - EULER_GAMMA * scale, scale };
}

/** The p-quantile of a Gumbel distribution: μ − β·ln(−ln p). */
export function gumbelQuantile(location: number, scale: number, p: number): number {
  return location - scale * Math.log(-Math.log(p));
}

/** Empirical p-quantile with linear interpolation between order statistics (numpy's default). */
export function empiricalQuantile(scores: readonly number[], p: number): number {
  const s = [...scores].sort((a, b) => a - b);
  const at = (s.length - 1) * p;
  const lo = Math.floor(at);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo] + (s[hi] - s[lo]) * (at - lo);
}

/**
 * The threshold for a target false-positive rate from normal scores: the Gumbel (1 − fpr)
 * quantile, but never below the empirical (1 − fpr) quantile (when the fit undershoots the data,
 * the data wins). Throws on a non-finite score: a threshold is never made from one.
 */
export function calibrateThreshold(scores: readonly number[], fpr: number, source: Calibration['source']): Calibration {
  if (scores.length === 0) throw new Error('calibrateThreshold: no normal-image scores to calibrate on');
  if (!(fpr > 0 && fpr < 1)) throw new Error(`calibrateThreshold: fpr must be in (0, 1), got ${fpr}`);
  const bad = scores.findIndex((s) => !Number.isFinite(s));
  if (bad >= 0) throw new Error(`calibrateThreshold: score ${bad} of the calibration images is ${scores[bad]}, not a finite number`);
  const { location, scale } = fitGumbel(scores);
  const threshold = Math.max(gumbelQuantile(location, scale, 1 - fpr), empiricalQuantile(scores, 1 - fpr));
  return { rule: 'gumbel-fpr', fpr, n: scores.length, source, location, scale, maxScore: Math.max(...scores), threshold };
}

/** A warning for thresholds backed by too few normal images, or null. */
export function calibrationWarning(c: Pick<Calibration, 'n' | 'source'>): string | null {
  if (c.source === 'training') {
    return `the threshold was calibrated on ${c.n} training image(s) (too few images to hold any out), whose scores are biased low: expect more false alarms than the target rate; train on at least ${2 * MIN_CALIBRATION_IMAGES} images`;
  }
  if (c.n < MIN_CALIBRATION_IMAGES) {
    return `the threshold rests on only ${c.n} held-out normal image(s) (fewer than ${MIN_CALIBRATION_IMAGES}): its false-positive rate is uncertain; add normal images or raise the holdout fraction`;
  }
  return null;
}
