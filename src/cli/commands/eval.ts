// `hlgfa eval`: image AUROC, pixel AUROC and AUPRO of a trained model on DIR/test (MVTec layout)
// or the folder layout's test images, and how its verdicts at the decision threshold compare with
// the labels. The --json file names the dataset and model relative to its own folder, so the
// report stays valid when the folder holding it, the data and the model is moved or shared.
import { dirname, relative, resolve, sep } from 'node:path';
import { intOption, numberOption, parseArgs, UsageError } from '../args.js';
import { openDetectorForCommand } from '../model-files.js';
import { ProgressBar } from '../progress.js';
import { DEFAULT_BACKBONE } from '../paths.js';
import { checkOutput, checkWritable } from '../output-guard.js';
import { writeFileAtomic } from '../../io/node-fs.js';
import { DEFAULT_MAX_PIXELS, type ImageReadOptions } from '../../io/image-node.js';
import { loadSample, type MvtecSample } from '../../data/mvtec.js';
import { DEFAULT_NORMAL_TEST_SPLIT } from '../../data/folder.js';
import { DATASET_HELP, DATASET_OPTIONS, datasetReadInputs, datasetSpec, scanDataset, type DatasetSpec } from './train.js';
import { evaluateDetections, type Detection, type EvalReport } from '../../eval/report.js';
import type { VerdictMetrics } from '../../eval/verdict.js';
import type { Detector } from '../../models/detector.js';

export const help = `Usage: hlgfa eval --data DIR --model MODEL.safetensors [--json FILE] [options]
       hlgfa eval --normal-dir DIR --abnormal-dir DIR [--mask-dir DIR] --model MODEL.safetensors …

Scores every image of DIR/test (or the folder layout's test images: the normal images train held
out, or --normal-test-dir, and --abnormal-dir) and prints image AUROC, pixel AUROC and AUPRO
(FPR <= 0.3, normalised), overall and per defect type, and the verdicts at the model's decision
threshold: accuracy, precision, recall, F1 and false-positive rate, beside the threshold that would
have maximised F1 on this test set. Ground-truth masks are resized to the map size and binarised
at 0.5; without masks the pixel figures are undefined (–). For the folder layout give the same
--normal-dir and --normal-test-split as to train, or the test set includes training images.

${DATASET_HELP}
  --json FILE      also write the figures as JSON (imageAUROC, pixelAUROC, aupro, perDefect,
                   verdict, bestF1, …; the dataset and model paths relative to FILE's folder);
                   never one of the inputs
  --threshold X    judge at X instead of the checkpoint's threshold
  --backbone FILE  the backbone the model was trained with (default: the shipped MobileNetV2)
  --max-pixels N   refuse images with more pixels than N (default ${DEFAULT_MAX_PIXELS})
  --verbose        also print image AUROC under other image-score rules (max, top 0.1/1/5 %)
  --force          replace an existing --json file even if it is not JSON`;

/** Scores samples in batches; masks resized to the map size. */
export async function detectAll(
  det: Detector,
  samples: readonly MvtecSample[],
  onStep?: (done: number) => void,
  read: ImageReadOptions = {},
): Promise<{ detections: Detection[]; seconds: number }> {
  const B = det.config.batchSize;
  const detections: Detection[] = [];
  let seconds = 0;
  for (let s = 0; s < samples.length; s += B) {
    const batch = await Promise.all(samples.slice(s, s + B).map(async (x) => ({ sample: x, ...(await loadSample(x, read)) })));
    const t0 = performance.now();
    const results = await det.scoreMaps(batch.map((b) => b.image));
    seconds += (performance.now() - t0) / 1000;
    results.forEach((r, i) => {
      const b = batch[i];
      detections.push({ defect: b.sample.defect, label: b.sample.label, score: r.score, map: r.map, size: r.size, mask: b.mask, maskWidth: b.image.width, maskHeight: b.image.height });
    });
    onStep?.(Math.min(samples.length, s + B));
  }
  return { detections, seconds };
}

const pct = (v: number) => (Number.isFinite(v) ? (100 * v).toFixed(1) : '–');

function verdictLine(label: string, v: VerdictMetrics): string {
  return (
    `${label} ${v.threshold.toPrecision(5)}: accuracy ${pct(v.accuracy)} %, precision ${pct(v.precision)} %, recall ${pct(v.recall)} %, ` +
    `F1 ${pct(v.f1)} %, false positives ${pct(v.fpr)} % of normal images (TP ${v.tp}, FP ${v.fp}, TN ${v.tn}, FN ${v.fn})`
  );
}

export function formatReport(r: EvalReport, opts: { verbose?: boolean } = {}): string {
  const cell = (v: number) => pct(v).padStart(9);
  const lines = [`${'set'.padEnd(14)} ${'images'.padStart(6)} ${'img AUROC'.padStart(9)} ${'px AUROC'.padStart(9)} ${'AUPRO'.padStart(9)}`];
  lines.push(`${'all'.padEnd(14)} ${String(r.images).padStart(6)} ${cell(r.imageAUROC)} ${cell(r.pixelAUROC)} ${cell(r.aupro)}`);
  for (const [name, d] of Object.entries(r.perDefect)) {
    lines.push(`${name.padEnd(14)} ${String(d.images).padStart(6)} ${cell(d.imageAUROC)} ${cell(d.pixelAUROC)} ${cell(d.aupro)}`);
  }
  lines.push(verdictLine('verdicts at threshold', r.verdict));
  lines.push(verdictLine('best F1 on this test set (oracle) at', r.bestF1));
  if (opts.verbose) {
    const alternatives = Object.entries(r.imageAUROCByScore).map(([rule, v]) => `${rule} ${pct(v)}`);
    if (alternatives.length) lines.push(`image AUROC by score rule: ${alternatives.join(', ')}`);
  }
  return lines.join('\n');
}

/**
 * `path` relative to the folder of the file `from` (resolved from the working directory), with '/'
 * separators whatever the platform; "." for that folder itself.
 */
export function relativeTo(from: string, path: string): string {
  return relative(dirname(resolve(from)), resolve(path)).split(sep).join('/') || '.';
}

/** The dataset's folders for the JSON report, relative to the report's folder. */
function datasetPaths(json: string, spec: DatasetSpec): Record<string, unknown> {
  if (spec.layout === 'mvtec') return { dataset: relativeTo(json, spec.dir) };
  const rel = (p: string | undefined) => (p === undefined ? null : relativeTo(json, p));
  return {
    dataset: rel(spec.normalDir),
    folders: { normal: rel(spec.normalDir), abnormal: rel(spec.abnormalDir), mask: rel(spec.maskDir), normalTest: rel(spec.normalTestDir), normalTestSplit: spec.normalTestDir === undefined ? (spec.normalTestSplit ?? DEFAULT_NORMAL_TEST_SPLIT) : null },
  };
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: [...DATASET_OPTIONS, 'model', 'json', 'backbone', 'threshold', 'max-pixels'], flags: ['verbose', 'force'] });
  const dataset = datasetSpec(args);
  if (!args.values.model) throw new UsageError('--model FILE is required');
  const maxPixels = intOption(args, 'max-pixels', DEFAULT_MAX_PIXELS, 1);
  const threshold = args.values.threshold === undefined ? undefined : numberOption(args, 'threshold', 0, { min: -1e30, max: 1e30 });
  const index = scanDataset(dataset, maxPixels);
  if (index.test.length === 0) {
    throw new Error(
      dataset.layout === 'mvtec'
        ? `${index.root}/test: no test images`
        : `${dataset.normalDir}: no test images (give --abnormal-dir DIR, --normal-test-dir DIR, or a --normal-test-split that holds out at least one normal image)`,
    );
  }
  if (dataset.layout === 'folder' && dataset.abnormalDir !== undefined && dataset.maskDir === undefined) {
    console.error('note: no --mask-dir: pixel AUROC and AUPRO are undefined (–); image-level figures only');
  }
  const json = args.values.json;
  if (json) {
    checkOutput(json, 'json', datasetReadInputs(index, [args.values.model, args.values.backbone ?? DEFAULT_BACKBONE]), { option: '--json', force: args.flags.has('force') });
    checkWritable(json, '--json');
  }
  const { detector, backbone, checkpoint } = await openDetectorForCommand(args.values.model, args.values.backbone, threshold);
  const bar = new ProgressBar();
  const { detections, seconds } = await detectAll(detector, index.test, (n) => bar.update(n / index.test.length, `scoring ${n}/${index.test.length}`), { maxPixels }).finally(() =>
    bar.done(),
  );
  const report = evaluateDetections(detections, { threshold: detector.threshold, msPerImage: (1000 * seconds) / detections.length });
  console.log(formatReport(report, { verbose: args.flags.has('verbose') }));
  const rule = threshold !== undefined ? 'given by --threshold' : checkpoint.calibration ? `calibrated for ${checkpoint.calibration.fpr} false positives` : 'from the checkpoint';
  console.log(`inference ${report.msPerImage.toFixed(1)} ms/image (batch ${detector.config.batchSize}, S=${detector.config.size}); threshold ${detector.threshold.toFixed(5)} (${rule})`);
  if (json) {
    const doc = { ...datasetPaths(json, dataset), model: relativeTo(json, args.values.model), calibration: threshold === undefined ? checkpoint.calibration : null, ...report };
    writeFileAtomic(json, JSON.stringify(doc, null, 2) + '\n'); // NaN (undefined metrics) becomes null
    console.log(`wrote ${json}`);
  }
  detector.dispose();
  backbone.backbone.dispose();
  return 0;
}
