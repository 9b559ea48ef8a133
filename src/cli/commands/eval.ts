// `hlgfa eval`: image AUROC, pixel AUROC and AUPRO of a trained model on DIR/test (MVTec layout).
import { parseArgs, UsageError } from '../args.js';
import { cliRuntime } from '../gpu-setup.js';
import { openDetector } from '../model-files.js';
import { ProgressBar } from '../progress.js';
import { writeFileAtomic } from '../../io/node-fs.js';
import { loadSample, scanMvtec, type MvtecSample } from '../../data/mvtec.js';
import { evaluateDetections, type Detection, type EvalReport } from '../../eval/report.js';
import type { Detector } from '../../models/detector.js';

export const help = `Usage: hlgfa eval --data DIR --model MODEL.safetensors [--json FILE] [--backbone FILE]

Scores every image of DIR/test and prints image AUROC, pixel AUROC and AUPRO (FPR <= 0.3,
normalised), overall and per defect type. Ground-truth masks are resized to the map size and
binarised at 0.5.

  --json FILE      also write the figures as JSON (keys imageAUROC, pixelAUROC, aupro, perDefect, …)
  --backbone FILE  the backbone the model was trained with (default: the shipped MobileNetV2)`;

/** Scores samples in batches; masks resized to the map size. */
export async function detectAll(det: Detector, samples: readonly MvtecSample[], onStep?: (done: number) => void): Promise<{ detections: Detection[]; seconds: number }> {
  const B = det.config.batchSize;
  const detections: Detection[] = [];
  let seconds = 0;
  for (let s = 0; s < samples.length; s += B) {
    const batch = samples.slice(s, s + B).map((x) => ({ sample: x, ...loadSample(x) }));
    const t0 = performance.now();
    const results = await det.score(batch.map((b) => b.image));
    seconds += (performance.now() - t0) / 1000;
    results.forEach((r, i) => {
      const b = batch[i];
      detections.push({ defect: b.sample.defect, label: b.sample.label, score: r.score, map: r.map, size: r.size, mask: b.mask, maskWidth: b.image.width, maskHeight: b.image.height });
    });
    onStep?.(Math.min(samples.length, s + B));
  }
  return { detections, seconds };
}

export function formatReport(r: EvalReport): string {
  const pct = (v: number) => (Number.isFinite(v) ? (100 * v).toFixed(1).padStart(6) : '     –');
  const lines = [`${'set'.padEnd(14)} ${'images'.padStart(6)} ${'img AUROC'.padStart(9)} ${'px AUROC'.padStart(9)} ${'AUPRO'.padStart(7)}`];
  lines.push(`${'all'.padEnd(14)} ${String(r.images).padStart(6)} ${pct(r.imageAUROC).padStart(9)} ${pct(r.pixelAUROC).padStart(9)} ${pct(r.aupro).padStart(7)}`);
  for (const [name, d] of Object.entries(r.perDefect)) {
    lines.push(`${name.padEnd(14)} ${String(d.images).padStart(6)} ${pct(d.imageAUROC).padStart(9)} ${pct(d.pixelAUROC).padStart(9)} ${pct(d.aupro).padStart(7)}`);
  }
  const alternatives = Object.entries(r.imageAUROCByScore).map(([rule, v]) => `${rule} ${pct(v).trim()}`);
  if (alternatives.length) lines.push(`image AUROC by score rule: ${alternatives.join(', ')}`);
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['data', 'model', 'json', 'backbone'] });
  if (!args.values.data) throw new UsageError('--data DIR is required');
  if (!args.values.model) throw new UsageError('--model FILE is required');
  const index = scanMvtec(args.values.data);
  if (index.test.length === 0) throw new Error(`${index.root}/test: no test images`);
  await cliRuntime();
  const { detector, backbone } = await openDetector(args.values.model, args.values.backbone);
  const bar = new ProgressBar();
  const { detections, seconds } = await detectAll(detector, index.test, (n) => bar.update(n / index.test.length, `scoring ${n}/${index.test.length}`));
  bar.done();
  const report = evaluateDetections(detections, { threshold: detector.threshold, msPerImage: (1000 * seconds) / detections.length });
  console.log(formatReport(report));
  console.log(`inference ${report.msPerImage.toFixed(1)} ms/image (batch ${detector.config.batchSize}, S=${detector.config.size}); threshold ${detector.threshold.toFixed(5)}`);
  if (args.values.json) {
    writeFileAtomic(args.values.json, JSON.stringify({ dataset: index.root, model: args.values.model, ...report }, null, 2) + '\n');
    console.log(`wrote ${args.values.json}`);
  }
  detector.dispose();
  backbone.backbone.dispose();
  return 0;
}
