// `hlgfa detect`: scores images with a trained model, writes overlays and raw maps. Every image
// header, output name and output path is checked before the GPU starts; a score that is not a
// finite number stops the command (exit 1) instead of becoming a verdict.
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { intOption, numberOption, parseArgs, UsageError } from '../args.js';
import { cliRuntime } from '../gpu-setup.js';
import { openDetector, readCheckpoint } from '../model-files.js';
import { DEFAULT_BACKBONE } from '../paths.js';
import { ANOMALY_MAP_FORMAT, checkOutput, checkWritable } from '../output-guard.js';
import { writeFileAtomic } from '../../io/node-fs.js';
import { writePng } from '../../io/png-node.js';
import { checkPixelLimit, DEFAULT_MAX_PIXELS, readImage, readImageHeader } from '../../io/image-node.js';
import { resizeRgba, type RgbaImage } from '../../io/image.js';
import { serializeSafetensors } from '../../io/safetensors.js';
import { heatmapOverlay } from '../../io/heatmap.js';
import { calibrationWarning } from '../../eval/calibration.js';

const DEFAULT_OVERLAY_SIZE = 1024;

export const help = `Usage: hlgfa detect --model MODEL.safetensors --out DIR IMAGE… [options]

For each image (PNG, JPEG or BMP) prints its anomaly score and the verdict against the decision
threshold, and writes DIR/<name>_overlay.png (heatmap over the image) and DIR/<name>_map.safetensors
(the raw anomaly map, tensor "map" [S, S] float32, metadata: score, threshold, verdict, image).
<name> is the image's file name, prefixed with its folders when names would collide.

  --threshold X      judge at X instead of the checkpoint's calibrated threshold
  --json             print one JSON object per image (JSON Lines: path, score, verdict,
                     threshold, overlay, map) instead of the text lines
  --overlay-size N   longest side of the overlay images in pixels (default ${DEFAULT_OVERLAY_SIZE};
                     0 = the image's own size)
  --max-pixels N     refuse images with more pixels than N (default ${DEFAULT_MAX_PIXELS})
  --backbone FILE    the backbone the model was trained with (default: the shipped MobileNetV2)
  --force            replace existing output files even if they are not hlgfa outputs`;

/**
 * Output file stems, unique even on a case-insensitive file system: the image's name; where names
 * collide, its path relative to the inputs' common folder (separators as "_"); where those still
 * collide (x.png beside x.PNG or x.jpg), the extension too; and a "-2", "-3"… as the last resort.
 */
export function outputStems(paths: readonly string[]): string[] {
  const abs = paths.map((p) => resolve(p));
  const common = abs.reduce((acc, p) => {
    let d = acc;
    while (!(p + sep).startsWith(d.endsWith(sep) ? d : d + sep)) d = dirname(d);
    return d;
  }, dirname(abs[0] ?? '.'));
  const clashing = (names: string[]) => {
    const counts = new Map<string, number>();
    for (const n of names) counts.set(n.toLowerCase(), (counts.get(n.toLowerCase()) ?? 0) + 1);
    return (n: string) => (counts.get(n.toLowerCase()) ?? 0) > 1;
  };
  let stems = abs.map((p) => basename(p, extname(p)));
  let clash = clashing(stems);
  stems = stems.map((s, i) => (clash(s) ? relative(common, abs[i]).slice(0, -extname(abs[i]).length || undefined).split(sep).join('_') : s));
  clash = clashing(stems);
  stems = stems.map((s, i) => (clash(s) ? `${s}_${extname(abs[i]).slice(1)}` : s));
  const taken = new Set<string>();
  return stems.map((s) => {
    let name = s;
    for (let k = 2; taken.has(name.toLowerCase()); k++) name = `${s}-${k}`;
    taken.add(name.toLowerCase());
    return name;
  });
}

/** The image brought to at most `longest` pixels on its longest side (0: unchanged). */
function fitWithin(img: RgbaImage, longest: number): RgbaImage {
  const side = Math.max(img.width, img.height);
  if (longest === 0 || side <= longest) return img;
  const f = longest / side;
  return resizeRgba(img, Math.max(1, Math.round(img.width * f)), Math.max(1, Math.round(img.height * f)));
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    values: ['model', 'out', 'backbone', 'threshold', 'max-pixels', 'overlay-size'],
    flags: ['json', 'force'],
    positionals: { min: 0, name: 'IMAGE' },
  });
  if (!args.values.model) throw new UsageError('--model FILE is required');
  if (!args.values.out) throw new UsageError('--out DIR is required');
  if (args.positionals.length === 0) throw new UsageError('no image given');
  const maxPixels = intOption(args, 'max-pixels', DEFAULT_MAX_PIXELS, 1);
  const overlaySize = intOption(args, 'overlay-size', DEFAULT_OVERLAY_SIZE, 0, 65536);
  const threshold = args.values.threshold === undefined ? undefined : numberOption(args, 'threshold', 0, { min: -1e30, max: 1e30 });
  const out = args.values.out;
  const paths = args.positionals;
  for (const p of paths) checkPixelLimit(readImageHeader(p), p, maxPixels);

  const stems = outputStems(paths);
  const outputs = stems.map((stem) => ({ overlay: join(out, `${stem}_overlay.png`), map: join(out, `${stem}_map.safetensors`) }));
  const inputs = { files: [args.values.model, args.values.backbone ?? DEFAULT_BACKBONE, ...paths] };
  const force = args.flags.has('force');
  for (const o of outputs) {
    checkOutput(o.overlay, 'png', inputs, { option: '--out', force });
    checkOutput(o.map, 'anomaly-map', inputs, { option: '--out', force });
  }
  checkWritable(outputs[0].map, '--out');

  const checkpoint = readCheckpoint(args.values.model);
  await cliRuntime();
  const { detector, backbone } = await openDetector(checkpoint, args.values.backbone);
  if (threshold !== undefined) detector.setThreshold(threshold);
  const warning = checkpoint.calibration && threshold === undefined ? calibrationWarning(checkpoint.calibration) : null;
  if (warning) console.error(`warning: ${args.values.model}: ${warning}`);
  const t = detector.threshold;
  let anomalies = 0;
  const B = detector.config.batchSize;
  for (let start = 0; start < paths.length; start += B) {
    const chunk = paths.slice(start, start + B);
    const images = await Promise.all(chunk.map((p) => readImage(p, { maxPixels })));
    const results = await detector.score(images);
    results.forEach((r, i) => {
      const k = start + i;
      const path = paths[k];
      const verdict = r.anomalous ? 'ANOMALOUS' : 'normal';
      // Colour scale: transparent below half the threshold, saturated at twice the threshold.
      writePng(outputs[k].overlay, heatmapOverlay(fitWithin(images[i], overlaySize), r.map, r.size, 0.5 * t, 2 * t));
      writeFileAtomic(
        outputs[k].map,
        serializeSafetensors(
          { map: { dtype: 'F32', shape: [r.size, r.size], data: r.map } },
          { format: ANOMALY_MAP_FORMAT, score: String(r.score), threshold: String(t), verdict, image: path },
        ),
      );
      if (r.anomalous) anomalies++;
      if (args.flags.has('json')) {
        console.log(JSON.stringify({ path, score: r.score, verdict: r.anomalous ? 'anomalous' : 'normal', threshold: t, overlay: outputs[k].overlay, map: outputs[k].map }));
      } else {
        console.log(`${path}\tscore ${r.score.toFixed(5)}\t${verdict}`);
      }
    });
  }
  const summary = `${anomalies}/${paths.length} anomalous (threshold ${t.toFixed(5)}); outputs in ${out}`;
  if (args.flags.has('json')) console.error(summary);
  else console.log(summary);
  detector.dispose();
  backbone.backbone.dispose();
  return 0;
}
