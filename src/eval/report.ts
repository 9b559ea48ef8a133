// Evaluation of a detector's outputs on an MVTec-style test set: image AUROC, pixel AUROC and
// AUPRO, overall and per defect type (each defect type against the good images). Portable.
import { auroc, pixelMetrics, resizeMask, topkMean } from './metrics.js';
import { bestF1Threshold, verdictMetrics, type VerdictMetrics } from './verdict.js';

export interface Detection {
  defect: string;
  label: 0 | 1;
  score: number;
  /** Anomaly map, size×size. */
  map: Float32Array;
  size: number;
  /** Ground truth 0/1 at the image's own resolution. */
  mask: Uint8Array;
  maskWidth: number;
  maskHeight: number;
}

export interface SetFigures {
  images: number;
  imageAUROC: number;
  pixelAUROC: number;
  aupro: number;
}

export interface EvalReport extends SetFigures {
  perDefect: Record<string, SetFigures>;
  threshold: number;
  /** Share of test images whose verdict (score > threshold) matches the label. */
  accuracy: number;
  /** The verdicts at `threshold` against the labels: counts, accuracy, precision, recall, F1, FPR. */
  verdict: VerdictMetrics;
  /** The threshold that would have maximised F1 on these scores (an oracle, for comparison). */
  bestF1: VerdictMetrics;
  msPerImage: number;
  /**
   * Image AUROC of the same maps under other image-score rules (max, mean of the top 0.1 %, 1 %,
   * 5 % of pixels), so the score rule can be chosen by measurement without re-running inference.
   */
  imageAUROCByScore: Record<string, number>;
}

/** The score rules compared in `imageAUROCByScore`: name → top-k fraction (0 = max). */
export const SCORE_RULES: Record<string, number> = { max: 0, 'top0.1%': 0.001, 'top1%': 0.01, 'top5%': 0.05 };

function figures(ds: readonly Detection[], masks: readonly Uint8Array[]): SetFigures {
  const { pixelAuroc, aupro } = pixelMetrics(
    ds.map((d) => ({ width: d.size, height: d.size, data: d.map })),
    masks.map((m, i) => ({ width: ds[i].size, height: ds[i].size, data: m })),
  );
  // Image AUROC is undefined without both classes (e.g. a test set with no good images): NaN.
  const both = ds.some((d) => d.label === 0) && ds.some((d) => d.label === 1);
  const imageAUROC = both ? auroc(ds.map((d) => d.score), ds.map((d) => d.label)) : NaN;
  return { images: ds.length, imageAUROC, pixelAUROC: pixelAuroc, aupro };
}

export function evaluateDetections(ds: readonly Detection[], opts: { threshold: number; msPerImage: number }): EvalReport {
  // Masks are brought to the map's size and binarised at 0.5 (MVTec convention).
  const masks = ds.map((d) => resizeMask(d.mask, d.maskWidth, d.maskHeight, d.size, d.size));
  const perDefect: Record<string, SetFigures> = {};
  const good = ds.map((d, i) => i).filter((i) => ds[i].label === 0);
  for (const defect of [...new Set(ds.filter((d) => d.label === 1).map((d) => d.defect))].sort()) {
    const idx = [...good, ...ds.map((d, i) => i).filter((i) => ds[i].defect === defect)];
    const f = figures(idx.map((i) => ds[i]), idx.map((i) => masks[i]));
    perDefect[defect] = { ...f, images: idx.length - good.length };
  }
  const labels = ds.map((d) => d.label);
  const scores = ds.map((d) => d.score);
  const verdict = verdictMetrics(scores, labels, opts.threshold);
  const both = labels.includes(0) && labels.includes(1);
  const imageAUROCByScore: Record<string, number> = {};
  for (const [rule, fraction] of Object.entries(SCORE_RULES)) {
    imageAUROCByScore[rule] = both ? auroc(ds.map((d) => topkMean(d.map, fraction)), labels) : NaN;
  }
  return {
    ...figures(ds, masks),
    perDefect,
    threshold: opts.threshold,
    accuracy: verdict.accuracy,
    verdict,
    bestF1: bestF1Threshold(scores, labels),
    msPerImage: opts.msPerImage,
    imageAUROCByScore,
  };
}
