// `hlgfa demo`: the whole job on a built-in dataset — generate procedural textures with defects,
// train, evaluate, detect, and write a small report. No downloads. The report and metrics.json
// name files relative to DIR, so the folder can be moved or shared as a whole.
import { readFileSync, mkdirSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { intOption, parseArgs, UsageError } from '../args.js';
import { cliRuntime } from '../gpu-setup.js';
import { writeFileAtomic } from '../../io/node-fs.js';
import { generateDataset, SYNTHETIC_CATEGORIES, type SyntheticCategory } from '../../data/synthetic.js';
import { writeSyntheticDataset } from '../../data/synthetic-node.js';
import * as train from './train.js';
import * as evaluate from './eval.js';
import * as detect from './detect.js';
import { MIN_CALIBRATION_IMAGES } from '../../eval/calibration.js';
import { DEFAULT_CONFIG } from '../../models/hlgfa-config.js';

export const help = `Usage: hlgfa demo [--out DIR] [--category ${SYNTHETIC_CATEGORIES.join('|')}] [--epochs N] [--seed K]

Generates a deterministic procedural dataset of industrial textures with realistic defects and
exact masks (MVTec layout, no downloads), trains HLGFA on its normal images, evaluates it, runs
detection on a few test images, and writes a report (metrics + heatmap overlays) to DIR
(default ./hlgfa-demo).`;

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['out', 'category', 'epochs', 'seed'] });
  const out = resolve(args.values.out ?? 'hlgfa-demo');
  const category = (args.values.category ?? 'metal') as SyntheticCategory;
  if (!SYNTHETIC_CATEGORIES.includes(category)) throw new UsageError(`--category must be one of ${SYNTHETIC_CATEGORIES.join(', ')}`);
  const epochs = intOption(args, 'epochs', 10, 1);
  const seed = intOption(args, 'seed', 0, 0);
  const t0 = performance.now();
  await cliRuntime();

  console.log(`== 1/4 generating the "${category}" dataset`);
  const data = join(out, 'data', category);
  const ds = generateDataset({ category, seed });
  writeSyntheticDataset(data, ds);
  console.log(`${ds.train.length} normal training images, ${ds.test.length} test images (${ds.defects.join(', ')}) in ${data}`);

  console.log('== 2/4 training');
  const model = join(out, 'model.safetensors');
  const common = ['--seed', String(seed)];
  // Enough held-out normals for a threshold whose false-positive rate means something (train would
  // warn below MIN_CALIBRATION_IMAGES); the generated set is small, so the default 10 % is not.
  const holdout = Math.max(DEFAULT_CONFIG.holdout, MIN_CALIBRATION_IMAGES / ds.train.length);
  const config = JSON.stringify({ holdout });
  if ((await train.run(['--data', data, '--out', model, '--epochs', String(epochs), '--config', config, ...common])) !== 0) return 1;

  console.log('== 3/4 evaluating');
  const metrics = join(out, 'metrics.json');
  if ((await evaluate.run(['--data', data, '--model', model, '--json', metrics])) !== 0) return 1;

  console.log('== 4/4 detecting');
  const picks = [ds.test.find((s) => s.label === 0), ...ds.defects.map((d) => ds.test.find((s) => s.defect === d))].filter((s) => s !== undefined);
  const images = picks.map((s) => join(data, 'test', s.defect, `${s.name}.png`));
  const overlays = join(out, 'overlays');
  mkdirSync(overlays, { recursive: true });
  if ((await detect.run(['--model', model, '--out', overlays, '--layout', 'side-by-side', ...images])) !== 0) return 1;

  const m = JSON.parse(readFileSync(metrics, 'utf8'));
  const rel = (p: string) => relative(out, p).split(sep).join('/');
  const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : '–');
  const report = [
    `# HLGFA demo — synthetic "${category}"`,
    '',
    `Dataset: ${ds.train.length} normal training images, ${ds.test.length} test images (${ds.defects.join(', ')}), ${ds.size}×${ds.size}, seed ${seed}.`,
    `Model: ${rel(model)} (${epochs} epochs). Total time ${((performance.now() - t0) / 1000).toFixed(0)} s.`,
    '',
    '| set | images | image AUROC | pixel AUROC | AUPRO |',
    '|---|---|---|---|---|',
    `| all | ${m.images} | ${pct(m.imageAUROC)} | ${pct(m.pixelAUROC)} | ${pct(m.aupro)} |`,
    ...Object.entries(m.perDefect as Record<string, { images: number; imageAUROC: number; pixelAUROC: number; aupro: number }>).map(
      ([k, v]) => `| ${k} | ${v.images} | ${pct(v.imageAUROC)} | ${pct(v.pixelAUROC)} | ${pct(v.aupro)} |`,
    ),
    '',
    `Inference: ${m.msPerImage.toFixed(1)} ms/image. Threshold: ${m.threshold.toFixed(5)}.`,
    '',
    '## Overlays',
    '',
    'Each picture: the image | the anomaly heatmap | the heatmap over the image; below, the score, the verdict and the colour scale (half the threshold to twice it).',
    '',
    ...detect.outputStems(images).map((stem, i) => `![${picks[i].defect} ${picks[i].name}](${rel(join(overlays, `${stem}_overlay.png`))})  \n${rel(images[i])}`),
    '',
  ].join('\n');
  writeFileAtomic(join(out, 'report.md'), report);
  console.log(`report: ${join(out, 'report.md')}  (${((performance.now() - t0) / 1000).toFixed(0)} s in all)`);
  return 0;
}
