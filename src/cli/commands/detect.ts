// `hlgfa detect`: scores images with a trained model, writes labelled overlays and raw maps.
// Arguments may be images or folders (searched recursively, optionally filtered by --glob). Every
// image header, output name and output path is checked before the GPU starts; images are scored in
// batches of the model's batch size, and a score that is not a finite number stops the command
// (exit 1) instead of becoming a verdict.
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { statSync } from 'node:fs';
import { intOption, numberOption, parseArgs, UsageError } from '../args.js';
import { openDetectorForCommand } from '../model-files.js';
import { DEFAULT_BACKBONE } from '../paths.js';
import { ANOMALY_MAP_FORMAT, checkOutput, checkWritable } from '../output-guard.js';
import { writeFileAtomic } from '../../io/node-fs.js';
import { writePng } from '../../io/png-node.js';
import { checkPixelLimit, DEFAULT_MAX_PIXELS, readImage, readImageHeader } from '../../io/image-node.js';
import { resizeRgba, type RgbaImage } from '../../io/image.js';
import { serializeSafetensors } from '../../io/safetensors.js';
import { OVERLAY_LAYOUTS, renderDetection, type OverlayLayout } from '../../io/heatmap.js';
import { findImages, globMatcher } from '../../data/folder.js';
import { didYouMean } from '../../util/suggest.js';

const DEFAULT_OVERLAY_SIZE = 1024;
const IMAGE_NAME = /\.(png|jpe?g|bmp)\/*$/i;

export const help = `Usage: hlgfa detect --model MODEL.safetensors --out DIR IMAGE|FOLDER… [options]

For each image (PNG, JPEG or BMP) prints its anomaly score and the verdict against the decision
threshold, and writes DIR/<name>_overlay.png (the heatmap over the image, or image | heatmap |
overlay with --layout side-by-side; below it the score, the verdict and the colour scale from half
the threshold to twice it) and DIR/<name>_map.safetensors (the raw anomaly map, tensor "map"
[S, S] float32, metadata: score, threshold, verdict, image).
A FOLDER is searched recursively for .png, .jpg, .jpeg and .bmp files (any case; hidden entries
skipped). <name> is the image's file name — for images found in a FOLDER, its path relative to
that folder ("sub/x.png" → sub_x) — prefixed with its folders when names would collide.

  --glob PATTERN     only the images in FOLDERs whose path relative to the folder matches, e.g.
                     "**/*.png", "good/*", "{crack,cut}/**", "[0-4]*.jpg" (* and ? stay within
                     one folder, ** spans folders)
  --layout L         overlay (default) or side-by-side
  --threshold X      judge at X instead of the checkpoint's calibrated threshold
  --json             print one JSON object per image (JSON Lines: path, score, verdict,
                     threshold, overlay, map) instead of the text lines
  --overlay-size N   longest side of the image in the overlay pictures, in pixels (default
                     ${DEFAULT_OVERLAY_SIZE}; 0 = the image's own size)
  --max-pixels N     refuse images with more pixels than N (default ${DEFAULT_MAX_PIXELS})
  --backbone FILE    the backbone the model was trained with (default: the shipped MobileNetV2)
  --force            replace existing output files even if they are not hlgfa outputs`;

/**
 * Output file stems, unique even on a case-insensitive file system: the image's name, or
 * `preferred[i]` where given (a '/'-separated path, e.g. relative to a folder searched, separators
 * becoming "_"); where names collide, its path relative to the inputs' common folder; where those
 * still collide (x.png beside x.PNG or x.jpg), the extension too; and a "-2", "-3"… as the last resort.
 */
export function outputStems(paths: readonly string[], preferred: readonly (string | undefined)[] = []): string[] {
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
  const withoutExt = (p: string) => p.slice(0, -extname(p).length || undefined);
  let stems = abs.map((p, i) => (preferred[i] !== undefined ? withoutExt(preferred[i]!).split('/').join('_') : basename(p, extname(p))));
  let clash = clashing(stems);
  stems = stems.map((s, i) => (clash(s) ? withoutExt(relative(common, abs[i])).split(sep).join('_') : s));
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

export interface DetectInputs {
  /** Image paths in scoring order. */
  paths: string[];
  /** Per image: its path relative to the folder it was found in, or undefined for an image given as a file. */
  names: (string | undefined)[];
  /** The folders searched. */
  folders: string[];
}

/**
 * The images named by the arguments: files as given, folders searched recursively (filtered by
 * `glob`). A folder yielding no image is an error naming it and the pattern; a glob with no folder
 * to apply to is a usage error, so that it never silently does nothing.
 */
export function expandInputs(args: readonly string[], glob: string | undefined): DetectInputs {
  let match: ((rel: string) => boolean) | undefined;
  if (glob !== undefined) {
    try {
      match = globMatcher(glob);
    } catch (e) {
      throw new UsageError(`--${(e as Error).message}`);
    }
  }
  const out: DetectInputs = { paths: [], names: [], folders: [] };
  for (const arg of args) {
    let isDir = false;
    try {
      // A folder named like an image ("x.png/") is taken for a mistyped image path and refused
      // as one when its header is read, as the dataset scan does.
      isDir = statSync(arg).isDirectory() && !IMAGE_NAME.test(arg);
    } catch {
      // Not there or unreadable: read as an image below, whose error names the file and the reason.
    }
    if (!isDir) {
      out.paths.push(arg);
      out.names.push(undefined);
      continue;
    }
    const found = findImages(arg, match);
    if (found.length === 0) {
      let why = `${arg}: no .png, .jpg, .jpeg or .bmp images${glob === undefined ? '' : ` matching --glob "${glob}"`} in the folder (searched recursively)`;
      // "*.png" only matches at the top: say so when it would match deeper down.
      if (glob !== undefined && !glob.includes('/') && findImages(arg, globMatcher(`**/${glob}`)).length > 0) {
        why += `; the pattern is matched against paths relative to the folder (e.g. "sub/x.png"): write "**/${glob}" to match at any depth`;
      }
      throw new Error(why);
    }
    out.folders.push(arg);
    for (const f of found) {
      out.paths.push(f.path);
      out.names.push(f.rel);
    }
  }
  if (glob !== undefined && out.folders.length === 0) throw new UsageError(`--glob filters the images found in folders, but no folder was given (only files: ${args.join(', ')})`);
  return out;
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    values: ['model', 'out', 'backbone', 'threshold', 'max-pixels', 'overlay-size', 'glob', 'layout'],
    flags: ['json', 'force'],
    positionals: { min: 0, name: 'IMAGE' },
  });
  if (!args.values.model) throw new UsageError('--model FILE is required');
  if (!args.values.out) throw new UsageError('--out DIR is required');
  if (args.positionals.length === 0) throw new UsageError('no image or folder given');
  const maxPixels = intOption(args, 'max-pixels', DEFAULT_MAX_PIXELS, 1);
  const overlaySize = intOption(args, 'overlay-size', DEFAULT_OVERLAY_SIZE, 0, 65536);
  const threshold = args.values.threshold === undefined ? undefined : numberOption(args, 'threshold', 0, { min: -1e30, max: 1e30 });
  const layout = (args.values.layout ?? 'overlay') as OverlayLayout;
  if (!OVERLAY_LAYOUTS.includes(layout)) {
    throw new UsageError(`--layout must be ${OVERLAY_LAYOUTS.join(' or ')}, got "${args.values.layout}"${didYouMean(layout, OVERLAY_LAYOUTS)}`);
  }
  const out = args.values.out;
  const { paths, names, folders } = expandInputs(args.positionals, args.values.glob);
  for (const p of paths) checkPixelLimit(readImageHeader(p), p, maxPixels);

  const stems = outputStems(paths, names);
  const outputs = stems.map((stem) => ({ overlay: join(out, `${stem}_overlay.png`), map: join(out, `${stem}_map.safetensors`) }));
  // The folders searched are inputs too: outputs inside one would be picked up by the next run.
  const inputs = { files: [args.values.model, args.values.backbone ?? DEFAULT_BACKBONE, ...paths], folders };
  const force = args.flags.has('force');
  for (const o of outputs) {
    checkOutput(o.overlay, 'png', inputs, { option: '--out', force });
    checkOutput(o.map, 'anomaly-map', inputs, { option: '--out', force });
  }
  checkWritable(outputs[0].map, '--out');

  const { detector, backbone } = await openDetectorForCommand(args.values.model, args.values.backbone, threshold);
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
      writePng(outputs[k].overlay, renderDetection(fitWithin(images[i], overlaySize), r.map, r.size, { score: r.score, anomalous: r.anomalous, threshold: t }, layout));
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
