// 'hlgfa-webgpu/metrics': what `hlgfa eval` reports, for apps that evaluate their own test sets —
// image AUROC, pixel AUROC and AUPRO with the MVTec AD conventions, verdict metrics at a threshold,
// the F1-optimal threshold, and the false-positive-rate threshold calibration. Portable (no I/O);
// a separate entry so that a page that only scores images does not carry it.
export {
  auroc, pixelAuroc, aupro, proCurve, pixelMetrics, connectedComponents, resizeMask,
  type Grid, type MapLike, type AuproOptions, type ProCurve, type Components,
} from './eval/metrics.js';
export { verdictMetrics, bestF1Threshold, type VerdictMetrics } from './eval/verdict.js';
export { evaluateDetections, SCORE_RULES, type Detection, type EvalReport, type SetFigures } from './eval/report.js';
export {
  calibrateThreshold, calibrationWarning, fitGumbel, gumbelQuantile, empiricalQuantile, MIN_CALIBRATION_IMAGES,
  type Calibration,
} from './eval/calibration.js';
