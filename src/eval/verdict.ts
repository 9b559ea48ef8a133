// Verdict metrics: how the anomalous/normal decisions at a threshold compare with the labels, and
// the threshold that would have maximised F1 on the same scores. Portable.

export interface VerdictMetrics {
  threshold: number;
  /** Counts with "anomalous" (score > threshold) as the positive class. */
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  accuracy: number;
  /** NaN when no image was called anomalous. */
  precision: number;
  /** NaN without defective images. */
  recall: number;
  /** NaN when precision or recall is. */
  f1: number;
  /** False-positive rate: normal images called anomalous; NaN without normal images. */
  fpr: number;
}

export function verdictMetrics(scores: readonly number[], labels: readonly (0 | 1)[], threshold: number): VerdictMetrics {
  if (!Number.isFinite(threshold)) throw new Error(`verdictMetrics: threshold ${threshold} is not a finite number`);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  scores.forEach((s, i) => {
    if (!Number.isFinite(s)) throw new Error(`verdictMetrics: score ${i} is ${s}, not a finite number`);
    const anomalous = s > threshold;
    if (labels[i] === 1) anomalous ? tp++ : fn++;
    else anomalous ? fp++ : tn++;
  });
  const precision = tp + fp > 0 ? tp / (tp + fp) : NaN;
  const recall = tp + fn > 0 ? tp / (tp + fn) : NaN;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : Number.isNaN(precision + recall) ? NaN : 0;
  return { threshold, tp, fp, tn, fn, accuracy: (tp + tn) / Math.max(1, scores.length), precision, recall, f1, fpr: fp + tn > 0 ? fp / (fp + tn) : NaN };
}

/**
 * The threshold with the highest F1 on these scores (an oracle: it looks at the labels, so it
 * shows what the scores could give, not what a deployed threshold gives). Candidates lie halfway
 * between consecutive distinct scores, plus one below the lowest (everything anomalous). Ties in F1
 * go to the higher threshold (fewer alarms).
 */
export function bestF1Threshold(scores: readonly number[], labels: readonly (0 | 1)[]): VerdictMetrics {
  const order = scores.map((s, i) => [s, labels[i]] as const).sort((a, b) => b[0] - a[0]);
  const positives = labels.filter((l) => l === 1).length;
  let best = { f1: -1, threshold: NaN };
  let tp = 0;
  let fp = 0;
  // Walking from the highest score down: after taking i items, everything above the cut is anomalous.
  for (let i = 0; i < order.length; i++) {
    if (order[i][1] === 1) tp++;
    else fp++;
    if (i + 1 < order.length && order[i + 1][0] === order[i][0]) continue;
    const f1 = positives > 0 ? (2 * tp) / (tp + fp + positives) : 0;
    const next = i + 1 < order.length ? order[i + 1][0] : order[i][0] - Math.max(1e-6, Math.abs(order[i][0]) * 1e-6);
    if (f1 > best.f1) best = { f1, threshold: (order[i][0] + next) / 2 };
  }
  return verdictMetrics(scores, labels, Number.isFinite(best.threshold) ? best.threshold : 0);
}
