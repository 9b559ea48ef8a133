// `hlgfa train`: trains HLGFA on the normal images of an MVTec-layout folder.
import { existsSync } from 'node:fs';
import { intOption, parseArgs, UsageError } from '../args.js';
import { cliRuntime } from '../gpu-setup.js';
import { openBackbone, readFileOrThrow } from '../model-files.js';
import { ProgressBar, clock } from '../progress.js';
import { DEFAULT_BACKBONE } from '../paths.js';
import { writeFileAtomic } from '../../io/node-fs.js';
import { loadImage, scanMvtec } from '../../data/mvtec.js';
import { noiseAugmenter } from '../../data/augment.js';
import { resolveConfig, DEFAULT_CONFIG, type HlgfaConfig } from '../../models/hlgfa-config.js';
import { detectorFromCheckpoint, parseCheckpoint } from '../../models/detector.js';
import { resumeState, trainHlgfa, trainingState, type ResumeState } from '../../models/hlgfa-train.js';

export const help = `Usage: hlgfa train --data DIR --out MODEL.safetensors [options]

Trains the HLGFA module on DIR/train/good (MVTec AD layout) with the frozen backbone, then
calibrates the normal-image map statistics and the decision threshold on held-out normal images.
A checkpoint is written (atomically) after every epoch, so an interrupted run can be resumed.

  --data DIR         dataset category folder (DIR/train/good/*.png)
  --out FILE         checkpoint to write (safetensors)
  --epochs N         training epochs (default ${DEFAULT_CONFIG.epochs})
  --size S           HR input size, a multiple of 32 (default ${DEFAULT_CONFIG.size}; LR is S/2)
  --batch B          batch size (default ${DEFAULT_CONFIG.batchSize})
  --lr X             Adam learning rate (default ${DEFAULT_CONFIG.lr})
  --seed K           seed for initialisation, order and augmentation (default ${DEFAULT_CONFIG.seed})
  --backbone FILE    backbone safetensors (default: the shipped ImageNet MobileNetV2)
  --config JSON      other HLGFA options as JSON, e.g. '{"noise":"off","gate":false}'
  --resume           continue the run saved in --out`;

export function parseConfigArgs(args: ReturnType<typeof parseArgs>): Partial<HlgfaConfig> {
  const partial: Partial<HlgfaConfig> = {};
  if (args.values.config) {
    try {
      Object.assign(partial, JSON.parse(args.values.config));
    } catch (e) {
      throw new UsageError(`--config is not valid JSON (${(e as Error).message})`);
    }
  }
  if (args.values.epochs !== undefined) partial.epochs = intOption(args, 'epochs', 0, 0);
  if (args.values.size !== undefined) partial.size = intOption(args, 'size', 256, 32);
  if (args.values.batch !== undefined) partial.batchSize = intOption(args, 'batch', 8, 1);
  if (args.values.seed !== undefined) partial.seed = intOption(args, 'seed', 0, 0);
  if (args.values.lr !== undefined) {
    const lr = Number(args.values.lr);
    if (!(lr > 0)) throw new UsageError(`--lr must be a positive number, got "${args.values.lr}"`);
    partial.lr = lr;
  }
  return partial;
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['data', 'out', 'epochs', 'size', 'batch', 'lr', 'seed', 'backbone', 'config'], flags: ['resume'] });
  if (!args.values.data) throw new UsageError('--data DIR is required');
  if (!args.values.out) throw new UsageError('--out FILE is required');
  const out = args.values.out;
  const index = scanMvtec(args.values.data);
  const images = index.train.map((s) => loadImage(s.path));
  await cliRuntime();
  const bb = await openBackbone(args.values.backbone ?? DEFAULT_BACKBONE);
  let config = resolveConfig(parseConfigArgs(args));
  let resume: ResumeState | undefined;
  if (args.flags.has('resume')) {
    if (!existsSync(out)) throw new Error(`${out}: --resume given but the checkpoint does not exist`);
    const ck = parseCheckpoint(readFileOrThrow(out, 'checkpoint'), out);
    // The saved run's options win, except the epoch count, which may be raised to train longer.
    config = resolveConfig({ ...ck.config, epochs: args.values.epochs !== undefined ? config.epochs : ck.config.epochs });
    resume = resumeState(ck, detectorFromCheckpoint(ck, bb.backbone, bb.id.sha256));
    console.error(`resuming ${out} after epoch ${resume.epoch} of ${config.epochs}`);
  }
  console.error(`training on ${images.length} images from ${index.train[0] ? index.root : args.values.data} (S=${config.size}, ${config.epochs} epochs, batch ${config.batchSize}, seed ${config.seed})`);
  const bar = new ProgressBar();
  let lastState: Awaited<ReturnType<typeof trainingState>> | undefined;
  const result = await trainHlgfa({
    backbone: bb.backbone,
    backboneId: bb.id,
    config,
    images,
    augment: noiseAugmenter(),
    resume,
    onProgress: (p) => {
      if (p.phase === 'features') bar.update(p.step / p.steps, `caching features ${p.step}/${p.steps}`);
      else if (p.phase === 'calibrate') bar.update(p.step / p.steps, `calibrating ${p.step}/${p.steps}`);
      else {
        const f = (p.epoch - 1 + p.step / p.steps) / p.epochs;
        bar.update(f, `epoch ${p.epoch}/${p.epochs} loss ${p.loss.toFixed(4)} ${p.imagesPerSecond.toFixed(1)} img/s ETA ${clock(p.etaSeconds)}`);
      }
    },
    onEpochEnd: async (det, epoch, adam) => {
      lastState = await trainingState(det, adam, epoch);
      writeFileAtomic(out, await det.toCheckpoint(lastState));
    },
  });
  bar.done();
  const det = result.detector;
  // The final checkpoint keeps the optimiser state too, so `--resume --epochs N` can train longer.
  const final = await det.toCheckpoint({
    tensors: lastState?.tensors,
    metadata: { ...lastState?.metadata, epoch: String(config.epochs), train_seconds: result.seconds.toFixed(1) },
  });
  writeFileAtomic(out, final);
  const last = result.losses.slice(-Math.max(1, Math.ceil(images.length / config.batchSize)));
  console.log(`trained in ${result.seconds.toFixed(1)} s; final loss ${(last.reduce((a, b) => a + b, 0) / last.length).toFixed(4)}; threshold ${det.threshold.toFixed(5)}`);
  console.log(`wrote ${out}`);
  det.dispose();
  bb.backbone.dispose();
  return 0;
}
