// `hlgfa warm`: compiles the pipelines a deployment will use, once, so that later processes find
// them in the driver's on-disk shader cache instead of compiling at their first inference.
import type { Runtime } from '../../gpu/runtime.js';
import { resolveConfig } from '../../models/hlgfa-config.js';
import { freshDetector } from '../../models/fresh-detector.js';
import { warmRuns } from '../../tune/warm.js';
import { e2eImages } from '../../tune/workload.js';
import { intOption, parseArgs, UsageError } from '../args.js';
import { cliRuntime } from '../gpu-setup.js';
import { openBackbone, openDetector, readCheckpoint } from '../model-files.js';
import { DEFAULT_BACKBONE } from '../paths.js';
import { parseConfigArgs } from './train.js';

export const help = `Usage: hlgfa warm [--model MODEL.safetensors | --size S --config JSON] [--batches N[,N…]] [--train [--batch B]]

Creates an inference's pipelines together (in parallel where the driver compiles at creation), then
runs one inference per batch size (and with --train one training step) on synthetic images, so every
pipeline they use is compiled now. Drivers that keep compiled shaders on disk (Mesa: lavapipe, RADV,
ANV in ~/.cache/mesa_shader_cache or MESA_SHADER_CACHE_DIR; NVIDIA's) then hand them to later
processes: on lavapipe a process's first inference at S=256 takes ~3.5 s with an empty cache and
~0.5 s with a warm one. Run it after installing or upgrading hlgfa or the driver, e.g. in the build
step of a container image, with the model, size and batch sizes the service will use. Prints each
run's time and how many pipelines it compiled.

  --model FILE     a trained checkpoint (default: a fresh module at the default config, which runs
                   the same kernels as a trained one)
  --backbone FILE  backbone weights (default: the shipped MobileNetV2)
  --size S         input size without --model (default 256)
  --config JSON    other HLGFA options without --model
  --batches N,…    inference batch sizes to run (default 1)
  --train          also run a training step
  --batch B        its batch size (default the config's 8)`;

function batchList(raw: string | undefined): number[] {
  if (raw === undefined) return [1];
  const parts = raw.split(',');
  if (!parts.every((p) => /^\d+$/.test(p) && Number(p) >= 1 && Number(p) <= 64)) {
    throw new UsageError(`--batches must be a comma-separated list of integers from 1 to 64, got "${raw}"`);
  }
  return [...new Set(parts.map(Number))];
}

/** Times `fn` and counts the pipelines it created. */
async function timed(rt: Runtime, what: string, fn: () => Promise<void>): Promise<void> {
  const before = rt.stats().pipelines;
  const t = performance.now();
  await fn();
  await rt.sync();
  console.log(`${what}: ${(performance.now() - t).toFixed(0)} ms, ${rt.stats().pipelines - before} new pipelines`);
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['model', 'backbone', 'size', 'config', 'batch', 'batches'], flags: ['train'] });
  const model = args.values.model;
  if (model !== undefined && (args.values.size !== undefined || args.values.config !== undefined)) {
    throw new UsageError('--size and --config describe a fresh module; a --model brings its own');
  }
  const batches = batchList(args.values.batches);
  const backbonePath = args.values.backbone ?? DEFAULT_BACKBONE;
  const checkpoint = model === undefined ? null : readCheckpoint(model);
  const config = checkpoint ? { ...checkpoint.config, batchSize: intOption(args, 'batch', checkpoint.config.batchSize, 1, 4096) } : resolveConfig(parseConfigArgs(args));
  if (!checkpoint && config.normality === 'knn') {
    throw new UsageError("normality 'knn' needs a memory bank built from normal images: warm a trained model with --model");
  }

  const rt = await cliRuntime();
  const t0 = performance.now();
  const bb = await openBackbone(backbonePath);
  try {
    const detector = checkpoint ? (await openDetector(checkpoint, backbonePath)).detector : freshDetector(bb, config, e2eImages(config.size, 8, 'train'));
    try {
      // Where the driver compiles at creation, this compiles an inference's pipelines in parallel.
      await timed(rt, 'inference pipelines created together (createComputePipelineAsync)', async () => void (await detector.preparePipelines(batches[0])));
      for (const w of warmRuns(bb, detector, { batches, trainBatch: args.flags.has('train') ? config.batchSize : undefined })) await timed(rt, w.what, w.run);
    } finally {
      if (checkpoint) detector.backbone.dispose();
      detector.dispose();
    }
  } finally {
    bb.backbone.dispose();
  }
  console.log(`warm: ${rt.stats().pipelines} pipelines compiled in ${((performance.now() - t0) / 1e3).toFixed(1)} s; later processes read them from the driver's shader cache`);
  return 0;
}
