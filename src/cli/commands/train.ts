// `hlgfa train`: trains HLGFA on the normal images of an MVTec-layout folder (or anomalib's folder
// layout). Every argument, the output path and the resume state are checked before any image is
// decoded or the GPU started. The dataset options are shared with `hlgfa eval` (datasetSpec).
import { existsSync } from 'node:fs';
import { intOption, numberOption, parseArgs, UsageError, type ParsedArgs } from '../args.js';
import { cliRuntime } from '../gpu-setup.js';
import { openBackbone, readFileOrThrow } from '../model-files.js';
import { ProgressBar, clock } from '../progress.js';
import { DEFAULT_BACKBONE } from '../paths.js';
import { checkOutput, checkWritable, datasetInputs, type Inputs } from '../output-guard.js';
import { writeFileAtomic } from '../../io/node-fs.js';
import { DEFAULT_MAX_PIXELS } from '../../io/image-node.js';
import { loadImage, scanMvtec, type MvtecIndex } from '../../data/mvtec.js';
import { DEFAULT_NORMAL_TEST_SPLIT, scanFolderLayout, type FolderIndex, type FolderLayout } from '../../data/folder.js';
import { noiseAugmenter } from '../../data/augment.js';
import { CONFIG_KEYS, ConfigError, resolveConfig, DEFAULT_CONFIG, type HlgfaConfig } from '../../models/hlgfa-config.js';
import { detectorFromCheckpoint, parseCheckpoint, type ParsedCheckpoint } from '../../models/checkpoint.js';
import { EXPOSURE_VARIATION_LIMIT, resumeState, trainHlgfa, trainingState, type ResumeState } from '../../models/hlgfa-train.js';

/** The dataset options' help, shared with `hlgfa eval`. */
export const DATASET_HELP = `  --data DIR         dataset category folder in the MVTec AD layout (DIR/train/good/*.png|jpg|bmp,
                     DIR/test/<defect>/, DIR/ground_truth/<defect>/<stem>_mask.png)
  --normal-dir DIR   instead of --data, anomalib's folder layout: the normal images (all folders
                     below DIR are searched), with optionally
    --abnormal-dir DIR     anomalous test images (defect type: the folder's name)
    --mask-dir DIR         their masks, by name: <stem>.png or <stem>_mask.png (.jpg, .bmp too)
    --normal-test-dir DIR  normal test images, or else
    --normal-test-split F  the share of the normal images held out for testing (default ${DEFAULT_NORMAL_TEST_SPLIT}),
                           chosen by file name: train and eval given the same folders and F
                           hold out the same images (train ignores the abnormal images)`;

export const help = `Usage: hlgfa train --data DIR --out MODEL.safetensors [options]
       hlgfa train --normal-dir DIR [--normal-test-split F] --out MODEL.safetensors [options]

Trains the HLGFA module on DIR/train/good (MVTec AD layout) or the normal images of the folder
layout with the frozen backbone, then calibrates the normal-image map statistics and the decision
threshold on held-out normal images. A checkpoint is written (atomically) after every epoch, so an
interrupted run can be resumed.

${DATASET_HELP}
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

/** Options naming the dataset (see DATASET_HELP); the folder-layout ones need --normal-dir. */
export const DATASET_OPTIONS = ['data', 'normal-dir', 'abnormal-dir', 'mask-dir', 'normal-test-dir', 'normal-test-split'] as const;

export type DatasetSpec = { layout: 'mvtec'; dir: string } | ({ layout: 'folder' } & FolderLayout);

/** The dataset the options name; contradictory or incomplete options are usage errors. */
export function datasetSpec(args: ParsedArgs): DatasetSpec {
  const v = args.values;
  const folderOnly = DATASET_OPTIONS.slice(2).filter((o) => v[o] !== undefined);
  if (v.data !== undefined && v['normal-dir'] !== undefined) {
    throw new UsageError('give the dataset either as --data DIR (MVTec AD layout) or as --normal-dir DIR … (folder layout), not both');
  }
  if (v['normal-dir'] === undefined) {
    if (!v.data) throw new UsageError('--data DIR is required (an MVTec AD category folder; or give the folder layout as --normal-dir DIR [--abnormal-dir DIR] [--mask-dir DIR])');
    if (folderOnly.length) throw new UsageError(`--${folderOnly[0]} belongs to the folder layout, which --normal-dir DIR names; --data takes an MVTec AD category folder`);
    return { layout: 'mvtec', dir: v.data };
  }
  for (const o of DATASET_OPTIONS.slice(1, 5)) if (v[o] === '') throw new UsageError(`--${o} needs a folder, got ""`);
  if (v['mask-dir'] !== undefined && v['abnormal-dir'] === undefined) throw new UsageError('--mask-dir needs --abnormal-dir (the masks belong to the abnormal images)');
  if (v['normal-test-dir'] !== undefined && v['normal-test-split'] !== undefined) {
    throw new UsageError('give either --normal-test-dir DIR or --normal-test-split F, not both (the split only applies without a normal test folder)');
  }
  let normalTestSplit: number | undefined;
  if (v['normal-test-split'] !== undefined) {
    normalTestSplit = numberOption(args, 'normal-test-split', DEFAULT_NORMAL_TEST_SPLIT, { min: 0, max: 1 });
    if (normalTestSplit === 1) throw new UsageError(`--normal-test-split must be >= 0 and < 1 (a share of the normal images), got "${v['normal-test-split']}"`);
  }
  return { layout: 'folder', normalDir: v['normal-dir'], abnormalDir: v['abnormal-dir'], maskDir: v['mask-dir'], normalTestDir: v['normal-test-dir'], normalTestSplit };
}

/** Lists the dataset (headers, masks, pixel limits checked); errors name the folder or file. */
export function scanDataset(spec: DatasetSpec, maxPixels: number): MvtecIndex | FolderIndex {
  return spec.layout === 'mvtec' ? scanMvtec(spec.dir, { maxPixels }) : scanFolderLayout(spec, { maxPixels });
}

/** What a command reading the dataset must not overwrite: its images, masks and folders, and `files`. */
export function datasetReadInputs(index: MvtecIndex | FolderIndex, files: readonly string[]): Inputs {
  const inputs = datasetInputs(index, files);
  return 'folders' in index ? { ...inputs, folders: index.folders } : inputs;
}

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
    values: [...DATASET_OPTIONS, 'out', 'epochs', 'size', 'batch', 'lr', 'seed', 'fpr', 'backbone', 'config', 'max-pixels'],
    flags: ['resume', 'force'],
  });
  const dataset = datasetSpec(args);
  if (!args.values.out) throw new UsageError('--out FILE is required');
  const out = args.values.out;
  const backbonePath = args.values.backbone ?? DEFAULT_BACKBONE;
  const maxPixels = intOption(args, 'max-pixels', DEFAULT_MAX_PIXELS, 1);
  const given = parseConfigArgs(args);
  let config = resolveConfig(given);

  const index = scanDataset(dataset, maxPixels);
  checkOutput(out, 'checkpoint', datasetReadInputs(index, [backbonePath]), { option: '--out', force: args.flags.has('force') });
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
  const uneven = result.exposureVariation > EXPOSURE_VARIATION_LIMIT && config.inputNorm === 'none';
  console.error(
    det.config.inputNorm === 'image'
      ? `exposure varies ${variation} across the normal images: each image's exposure is normalised (inputNorm image)`
      : `exposure varies ${variation} across the normal images: pixels are used as they are (inputNorm none)${uneven ? `; above ${100 * EXPOSURE_VARIATION_LIMIT} %, so --config '{"inputNorm":"auto"}' would normalise it` : ''}`,
  );
  const last = result.losses.slice(-Math.max(1, Math.ceil(images.length / config.batchSize)));
  const loss = last.length ? (last.reduce((a, b) => a + b, 0) / last.length).toFixed(4) : 'n/a (no epoch run)';
  const c = det.calibration!;
  console.log(`trained in ${result.seconds.toFixed(1)} s; final loss ${loss}; threshold ${det.threshold.toFixed(5)} (false-positive target ${c.fpr} on ${c.n} ${c.source} normal images)`);
  console.log(`wrote ${out}`);
  det.dispose();
  bb.backbone.dispose();
  return 0;
}
