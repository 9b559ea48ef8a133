// `hlgfa classify`: ImageNet top-k with a backbone's classifier head — a check that converted
// weights and the forward pass are right.
import { readFileSync } from 'node:fs';
import { intOption, parseArgs, UsageError } from '../args.js';
import { cliRuntime } from '../gpu-setup.js';
import { DEFAULT_BACKBONE, IMAGENET_LABELS } from '../paths.js';
import { DEFAULT_MAX_PIXELS, readImage } from '../../io/image-node.js';
import { imageToTensor, loadBackbone } from '../../models/backbone.js';

export const help = `Usage: hlgfa classify IMAGE [IMAGE …] [--top K] [--backbone FILE] [--max-pixels N]

Prints the top-K labels with probabilities for each image (PNG, JPEG or BMP), using the classifier
head of the backbone (default: the shipped MobileNetV2, ${DEFAULT_BACKBONE}). Class names come
from the file's metadata "labels" when it has them, else the ImageNet list.

  --top K           how many labels to print (default 5)
  --backbone FILE   a backbone safetensors file with a classifier head
  --max-pixels N    refuse images with more pixels than N (default ${DEFAULT_MAX_PIXELS})`;

export function softmax(logits: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) m = Math.max(m, logits[i]);
  const e = Float64Array.from(logits, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Class names stored in the file (metadata "labels" as a JSON array), if any. */
function fileLabels(meta: Record<string, string>): string[] | null {
  try {
    const v = JSON.parse(meta.labels ?? 'null') as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : null;
  } catch {
    return null;
  }
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['top', 'backbone', 'max-pixels'], positionals: { min: 0, name: 'image' } });
  if (args.positionals.length === 0) throw new UsageError('no image given');
  const top = intOption(args, 'top', 5);
  const maxPixels = intOption(args, 'max-pixels', DEFAULT_MAX_PIXELS, 1);
  const file = args.values.backbone ?? DEFAULT_BACKBONE;
  // Decoded one at a time: each is bounded in memory, and a bad file fails before the GPU starts.
  const images = [];
  for (const p of args.positionals) images.push({ path: p, img: await readImage(p, { maxPixels }) });
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read backbone (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  await cliRuntime();
  const backbone = loadBackbone(bytes, file);
  const labels = fileLabels(backbone.metadata) ?? readFileSync(IMAGENET_LABELS, 'utf8').split('\n').map((l) => l.trim());
  if (!backbone.taps.includes('logits')) throw new Error(`${file}: this backbone has no classifier head`);
  for (const { path, img } of images) {
    const x = imageToTensor(img, backbone.preprocessing);
    const { logits } = backbone.features(x, ['logits']);
    const probs = softmax(await logits.read());
    x.dispose();
    logits.dispose();
    const order = [...probs.keys()].sort((a, b) => probs[b] - probs[a]).slice(0, top);
    console.log(path);
    for (const i of order) console.log(`  ${(probs[i] * 100).toFixed(2).padStart(6)} %  ${labels[i] ?? `class ${i}`}`);
  }
  backbone.dispose();
  return 0;
}
