// `hlgfa profile`: where one HLGFA inference spends its time, per op, layer and kernel, on the GPU
// (timestamp queries around every dispatch) and on the CPU recording it; optionally a Chrome trace.
import { writeFileAtomic } from '../../io/node-fs.js';
import { resolveConfig } from '../../models/hlgfa-config.js';
import { chromeTrace, formatProfile, profileInference, profileTraining, type Profile } from '../../tune/profile.js';
import { calibrate } from '../../tune/calibrate.js';
import { freshDetector } from '../../models/fresh-detector.js';
import { e2eImages } from '../../tune/workload.js';
import { intOption, parseArgs, UsageError } from '../args.js';
import { cliRuntime } from '../gpu-setup.js';
import { openBackbone, openDetector, readCheckpoint } from '../model-files.js';
import { checkOutput, checkWritable } from '../output-guard.js';
import { DEFAULT_BACKBONE } from '../paths.js';
import { parseConfigArgs } from './train.js';

export const help = `Usage: hlgfa profile [--train] [--first] [--model MODEL.safetensors | --size S --config JSON] [--batch N] [--trace FILE] [--json FILE] [--top N]

Runs Detector.scoreMaps on N synthetic images three times (pipelines compile on the first, the
second is timed plain, the third profiled) and prints, per op, per layer (backbone views and their
blocks, each HLGFA level, the anomaly map, the memory bank) and per kernel: dispatch count, GPU time
from timestamp queries, its share, GFLOP/s (where the op declares its work: matmul, convolutions),
GB/s (the bytes of the bound tensors, a lower bound on traffic), % of the adapter's roofline
(measured first, ~3 s), the CPU time spent recording those dispatches, and the workgroups
launched with the GPU µs per workgroup (a few µs: launching, not working, may be the cost).
With --train, the same for one training step (the second of a three-step run; layers: the noisy
views' backbone passes, each level, loss, backward, adam). Each dispatch runs in a pass of its own
while profiled, so the GPU total is the sum of serialised kernels; the wall times of the profiled
and an unprofiled call or step are printed beside it. Needs 'timestamp-query'.

  --train          profile a training step instead of an inference (--batch: the training batch,
                   default the config's 8)
  --first          profile the first call (or training step) of the process instead of a warm one,
                   and list each pipeline's first dispatch beside its later ones: where a driver
                   compiles at first use (lavapipe), that is the cold-start cost per pipeline. With
                   Mesa's shader cache off it is the empty-cache cost:
                   MESA_SHADER_CACHE_DISABLE=true hlgfa profile --first
  --model FILE     a trained checkpoint (default: a freshly initialised module at the default
                   config, which runs the same kernels as a trained one)
  --backbone FILE  backbone weights (default: the shipped MobileNetV2)
  --size S         input size without --model (default 256)
  --config JSON    other HLGFA options without --model, e.g. '{"taps":["features.3","features.6"]}'
  --batch N        images per call (default 1; with --train, per step)
  --trace FILE     write a Chrome trace (JSON; open in ui.perfetto.dev or chrome://tracing)
  --json FILE      write the profile (every dispatch) as JSON
  --top N          rows per table (default 15)
  --force          replace an existing --trace/--json file that is not JSON`;

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['model', 'backbone', 'size', 'config', 'batch', 'trace', 'json', 'top'], flags: ['force', 'train', 'first'] });
  const firstCall = args.flags.has('first');
  const train = args.flags.has('train');
  const model = args.values.model;
  if (model !== undefined && (args.values.size !== undefined || args.values.config !== undefined)) {
    throw new UsageError('--size and --config describe a fresh module; a --model brings its own');
  }
  const batch = intOption(args, 'batch', train ? 8 : 1, 1, 64);
  const top = intOption(args, 'top', 15, 1, 10_000);
  const backbonePath = args.values.backbone ?? DEFAULT_BACKBONE;
  const partial = model === undefined ? parseConfigArgs(args) : {};
  const config = resolveConfig({ ...partial, batchSize: batch });
  if (model === undefined && config.normality === 'knn' && !train) {
    throw new UsageError("normality 'knn' needs a memory bank built from normal images: profile a trained model with --model");
  }
  const checkpoint = model === undefined ? null : readCheckpoint(model);
  const inputs = { files: [backbonePath, ...(model ? [model] : [])] };
  for (const option of ['trace', 'json'] as const) {
    const path = args.values[option];
    if (path === undefined) continue;
    checkOutput(path, 'json', inputs, { option: `--${option}`, force: args.flags.has('force') });
    checkWritable(path, `--${option}`);
  }

  const rt = await cliRuntime();
  if (!rt.device.features.has('timestamp-query')) {
    console.error("hlgfa profile: this adapter has no 'timestamp-query' feature, so dispatches cannot be timed on the GPU");
    return 1;
  }
  // The ceilings for % of roofline (a few seconds: the quick calibration `hlgfa bench --quick` uses).
  const { peakGflops, copyGBps } = await calibrate(rt, { quick: true, timestamps: true });
  const roofline = { peakGflops, copyGBps };
  let profile: Profile;
  if (train) {
    const bb = await openBackbone(backbonePath);
    try {
      profile = await profileTraining(rt, bb.backbone, bb.id, checkpoint ? { ...checkpoint.config, batchSize: batch } : config, roofline, { firstCall });
    } finally {
      bb.backbone.dispose();
    }
  } else {
    const detector = checkpoint ? (await openDetector(checkpoint, backbonePath)).detector : freshDetector(await openBackbone(backbonePath), config, e2eImages(config.size, 8, 'train'));
    try {
      profile = await profileInference(rt, detector, e2eImages(detector.config.size, batch, 'test'), roofline, { firstCall });
    } finally {
      detector.backbone.dispose();
      detector.dispose();
    }
  }
  console.log(formatProfile(profile, top));
  if (args.values.trace !== undefined) {
    writeFileAtomic(args.values.trace, JSON.stringify(chromeTrace(profile)));
    console.log(`wrote ${args.values.trace} (Chrome trace: ui.perfetto.dev or chrome://tracing)`);
  }
  if (args.values.json !== undefined) {
    writeFileAtomic(args.values.json, `${JSON.stringify(profile, null, 2)}\n`);
    console.log(`wrote ${args.values.json}`);
  }
  return 0;
}
