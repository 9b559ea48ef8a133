// `hlgfa train`: trains HLGFA on the normal images of an MVTec-layout folder. Every argument, the
// output path and the resume state are checked before any image is decoded or the GPU started.
import { existsSync } from 'node:fs';
import { intOption, numberOption, parseArgs, UsageError, type ParsedArgs } from '../args.js';
import { cliRuntime } from '../gpu-setup.js';
import { openBackbone, readFileOrThrow } from '../model-files.js';
import { ProgressBar, clock } from '../progress.js';
import { DEFAULT_BACKBONE } from '../paths.js';
import { checkOutput, checkWritable, datasetInputs } from '../output-guard.js';
import { writeFileAtomic } from '../../io/node-fs.js';
import { DEFAULT_MAX_PIXELS } from '../../io/image-node.js';
import { loadImage, scanMvtec } from '../../data/mvtec.js';
import { noiseAugmenter } from '../../data/augment.js';
import { CONFIG_KEYS, ConfigError, resolveConfig, DEFAULT_CONFIG, type HlgfaConfig } from '../../models/hlgfa-config.js';
import { detectorFromCheckpoint, parseCheckpoint, type ParsedCheckpoint } from '../../models/checkpoint.js';
import { resumeState, trainHlgfa, trainingState, type ResumeState } from '../../models/hlgfa-train.js';

export const help = `Usage: hlgfa train --data DIR --out MODEL.safetensors [options]

Trains the HLGFA module on DIR/train/good (MVTec AD layout) with the frozen backbone, then
calibrates the normal-image map statistics and the decision threshold on held-out normal images.
A checkpoint is written (atomically) after every epoch, so an interrupted run can be resumed.

  --data DIR         dataset category folder (DIR/train/good/*.png|jpg|bmp)
  --out FILE         checkpoint to write (safetensors); never one of the inputs
  --epochs N         training epochs (default ${DEFAULT_CONFIG.epochs})
  --size S           HR input size, a multiple of 32 (default ${DEFAULT_CONFIG.size}; LR is S/2)
  --batch B          batch size (default ${DEFAULT_CONFIG.batchSize})
  --lr X             Adam learning rate (default ${DEFAULT_CONFIG.lr})
  --seed K           seed for initialisation, order and augmentation (default ${DEFAULT_CONFIG.seed})
  --fpr X            target false-positive rate of the decision threshold on normal images
                     (default ${DEFAULT_CONFIG.thresholdFpr}): the threshold is that quantile of a
                     Gumbel fit to the held-out normal images' scores
  --backbone FILE    backbone safetensors (default: the shipped ImageNet MobileNetV2)
  --config JSON      other HLGFA options as JSON, e.g. '{"noise":"off","gate":false}'
                     (all options: src/models/hlgfa-config.ts)
  --max-pixels N     refuse images with more pixels than N (default ${DEFAULT_MAX_PIXELS})
  --resume           continue the run saved in --out (its options stay; only --epochs may rise)
  --force            replace an existing --out file even if it is not an HLGFA checkpoint`;

/** Options given as flags, by config key: what a resumed run may not change silently. */
function flagOptions(args: ParsedArgs): Partial<HlgfaConfig> {
  const partial: Partial<HlgfaConfig> = {};
  if (args.values.epochs !== undefined) partial.epochs = intOption(args, 'epochs', 0, 0, 100_000);
  if (args.values.size !== undefined) partial.size = intOption(args, 'size', 256, 32, 8192);
  if (args.values.batch !== undefined) partial.batchSize = intOption(args, 'batch', 8, 1, 4096);
  if (args.values.seed !== undefined) partial.seed = intOption(args, 'seed', 0, 0, 2 ** 32 - 1);
  if (args.values.lr !== undefined) partial.lr = numberOption(args, 'lr', 0, { min: 0, exclusiveMin: true, max: 10 });
  if (args.values.fpr !== undefined) partial.thresholdFpr = numberOption(args, 'fpr', 0, { min: 0, exclusiveMin: true, max: 0.5 });
  return partial;
}

/** `--config` JSON merged under the flags (flags win); config errors are usage errors. */
export function parseConfigArgs(args: ParsedArgs): Partial<HlgfaConfig> {
  let fromJson: Record<string, unknown> = {};
  if (args.values.config !== undefined) {
    try {
      fromJson = JSON.parse(args.values.config);
    } catch (e) {
      throw new UsageError(`--config is not valid JSON (${(e as Error).message})`);
    }
    if (!fromJson || typeof fromJson !== 'object' || Array.isArray(fromJson)) throw new UsageError(`--config must be a JSON object, got ${args.values.config}`);
  }
  const partial = { ...fromJson, ...flagOptions(args) } as Partial<HlgfaConfig>;
  resolveConfig(partial); // every key and range checked now, before any work
  return partial;
}

/** Refuses options that contradict the checkpoint being resumed (only the epoch count may change). */
function checkResumeConflicts(given: Partial<HlgfaConfig>, ck: ParsedCheckpoint, out: string): void {
  for (const key of CONFIG_KEYS) {
    if (key === 'epochs' || given[key] === undefined) continue;
    if (JSON.stringify(given[key]) !== JSON.stringify(ck.config[key])) {
      throw new ConfigError(
        `--resume: ${key} ${JSON.stringify(given[key])} conflicts with ${JSON.stringify(ck.config[key])} in ${out}; a resumed run keeps its options (only --epochs may change) — drop the option or train a new model`,
      );
    }
  }
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    values: ['data', 'out', 'epochs', 'size', 'batch', 'lr', 'seed', 'fpr', 'backbone', 'config', 'max-pixels'],
    flags: ['resume', 'force'],
  });
  if (!args.values.data) throw new UsageError('--data DIR is required');
  if (!args.values.out) throw new UsageError('--out FILE is required');
  const out = args.values.out;
  const backbonePath = args.values.backbone ?? DEFAULT_BACKBONE;
  const maxPixels = intOption(args, 'max-pixels', DEFAULT_MAX_PIXELS, 1);
  const given = parseConfigArgs(args);
  let config = resolveConfig(given);

  const index = scanMvtec(args.values.data, { maxPixels });
  checkOutput(out, 'checkpoint', datasetInputs(index, [backbonePath]), { option: '--out', force: args.flags.has('force') });
  checkWritable(out, '--out');
  let resumeFrom: ParsedCheckpoint | undefined;
  if (args.flags.has('resume')) {
    if (!existsSync(out)) throw new UsageError(`--resume: ${out} does not exist (nothing to resume)`);
    resumeFrom = parseCheckpoint(readFileOrThrow(out, 'checkpoint'), out);
    checkResumeConflicts(given, resumeFrom, out);
    const done = resumeFrom.epoch ?? 0;
    // The saved run's options win; --epochs may ask for more. Asking for fewer than were done
    // trains nothing more and recalibrates, keeping the optimiser state.
    const epochs = Math.max(done, given.epochs ?? resumeFrom.config.epochs);
    if (given.epochs !== undefined && given.epochs < done) console.error(`note: ${out} already has ${done} epochs; --epochs ${given.epochs} trains none and recalibrates`);
    config = resolveConfig({ ...resumeFrom.config, epochs });
  }

  const images = await Promise.all(index.train.map((s) => loadImage(s.path, { maxPixels })));
  await cliRuntime();
  const bb = await openBackbone(backbonePath);
  let resume: ResumeState | undefined;
  if (resumeFrom) {
    resume = resumeState(resumeFrom, detectorFromCheckpoint(resumeFrom, bb.backbone, bb.id.sha256, { requireThreshold: false }));
    console.error(`resuming ${out} after epoch ${resume.epoch} of ${config.epochs}`);
  }
  console.error(`training on ${images.length} images from ${index.root} (S=${config.size}, ${config.epochs} epochs, batch ${config.batchSize}, seed ${config.seed})`);
  const bar = new ProgressBar();
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
    // Epoch checkpoints carry no threshold: they resume, they never judge an image.
    onEpochEnd: async (det, epoch, adam) => writeFileAtomic(out, await det.toCheckpoint(await trainingState(det, adam, epoch))),
  }).finally(() => bar.done());
  const det = result.detector;
  const final = await det.toCheckpoint({
    tensors: result.resumable.tensors,
    metadata: { ...result.resumable.metadata, train_seconds: result.seconds.toFixed(1) },
  });
  writeFileAtomic(out, final);
  for (const w of result.warnings) console.error(`warning: ${w}`);
  const variation = `${(100 * result.exposureVariation).toFixed(1)} %`;
  console.error(det.config.inputNorm === 'image' ? `exposure varies ${variation} across the normal images: each image's exposure is normalised (inputNorm image)` : `exposure varies ${variation} across the normal images: pixels are used as they are (inputNorm none)`);
  const last = result.losses.slice(-Math.max(1, Math.ceil(images.length / config.batchSize)));
  const loss = last.length ? (last.reduce((a, b) => a + b, 0) / last.length).toFixed(4) : 'n/a (no epoch run)';
  const c = det.calibration!;
  console.log(`trained in ${result.seconds.toFixed(1)} s; final loss ${loss}; threshold ${det.threshold.toFixed(5)} (false-positive target ${c.fpr} on ${c.n} ${c.source} normal images)`);
  console.log(`wrote ${out}`);
  det.dispose();
  bb.backbone.dispose();
  return 0;
}
