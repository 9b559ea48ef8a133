// `hlgfa detect`: scores images with a trained model, writes overlays and raw maps.
import { basename, dirname, extname, join } from 'node:path';
import { parseArgs, UsageError } from '../args.js';
import { cliRuntime } from '../gpu-setup.js';
import { openDetector } from '../model-files.js';
import { writeFileAtomic } from '../../io/node-fs.js';
import { readPng, writePng } from '../../io/png-node.js';
import { serializeSafetensors } from '../../io/safetensors.js';
import { heatmapOverlay } from '../../io/heatmap.js';

export const help = `Usage: hlgfa detect --model MODEL.safetensors IMAGE.png [IMAGE.png …] --out DIR [--backbone FILE]

For each image prints its anomaly score and the verdict against the checkpoint's threshold, and
writes DIR/<name>_overlay.png (heatmap over the image) and DIR/<name>_map.safetensors (the raw
anomaly map, tensor "map" [S, S] float32, metadata: score, threshold, verdict).`;

/** Output file stems: the image's name, prefixed with its folder when two inputs share a name. */
export function outputStems(paths: readonly string[]): string[] {
  const stems = paths.map((p) => basename(p, extname(p)));
  const clash = new Set(stems.filter((s, i) => stems.indexOf(s) !== i));
  return paths.map((p, i) => (clash.has(stems[i]) ? `${basename(dirname(p))}_${stems[i]}` : stems[i]));
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['model', 'out', 'backbone'] });
  if (!args.values.model) throw new UsageError('--model FILE is required');
  if (!args.values.out) throw new UsageError('--out DIR is required');
  if (args.positionals.length === 0) throw new UsageError('no image given');
  const images = args.positionals.map((p) => ({ path: p, img: readPng(p) }));
  await cliRuntime();
  const { detector, backbone } = await openDetector(args.values.model, args.values.backbone);
  let anomalies = 0;
  const stems = outputStems(images.map((i) => i.path));
  for (const [k, { path, img }] of images.entries()) {
    const [r] = await detector.score([img]);
    const stem = stems[k];
    // Colour scale: transparent below half the threshold, saturated at twice the threshold.
    const t = detector.threshold;
    writePng(join(args.values.out, `${stem}_overlay.png`), heatmapOverlay(img, r.map, r.size, 0.5 * t, 2 * t));
    const verdict = r.anomalous ? 'ANOMALOUS' : 'normal';
    writeFileAtomic(
      join(args.values.out, `${stem}_map.safetensors`),
      serializeSafetensors({ map: { dtype: 'F32', shape: [r.size, r.size], data: r.map } }, { score: String(r.score), threshold: String(t), verdict, image: path }),
    );
    if (r.anomalous) anomalies++;
    console.log(`${path}\tscore ${r.score.toFixed(5)}\t${verdict}`);
  }
  console.log(`${anomalies}/${images.length} anomalous (threshold ${detector.threshold.toFixed(5)}); outputs in ${args.values.out}`);
  detector.dispose();
  backbone.backbone.dispose();
  return 0;
}
