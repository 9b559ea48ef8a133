// Child process of the shader-cache measurement (src/tune/e2e-cache.ts), run as
//   node dist/src/tune/e2e-child.js '<E2EChildOptions as JSON>'
// A fresh runtime (timed: dawn.node import, adapter, device), the backbone (timed: read, parse,
// upload), a freshly initialised detector, its pipelines created together when asked (timed), then
// HLGFA inference (src/tune/e2e.ts measureInference: first call and warm calls). Prints one E2EChildResult as a JSON line on stdout; exit status 1 and
// the error on stderr when anything fails.
import { adapterLabel } from '../gpu/device.js';
import { destroyRuntime, initRuntime } from '../gpu/runtime.js';
import { resolveConfig } from '../models/hlgfa-config.js';
import { applyTuning } from '../ops/tuning.js';
import type { E2EChildOptions } from './e2e-cache.js';
import { freshDetector } from '../models/fresh-detector.js';
import { measureInference, readBackbone } from './e2e.js';
import { e2eImages } from './workload.js';
import type { E2EChildResult } from './schema.js';

async function main(opts: E2EChildOptions): Promise<E2EChildResult> {
  const images = e2eImages(opts.size, opts.batch, 'test');
  let t = performance.now();
  const rt = await initRuntime();
  const initMs = performance.now() - t;
  applyTuning(opts.tuning);
  t = performance.now();
  const bb = await readBackbone(opts.backbonePath);
  await rt.sync();
  const loadMs = performance.now() - t;
  const det = freshDetector(bb, resolveConfig({ size: opts.size }), e2eImages(opts.size, opts.batch, 'train'));
  try {
    let prepared = {};
    if (opts.prepare) {
      t = performance.now();
      const preparedPipelines = await det.preparePipelines(opts.batch);
      prepared = { prepareMs: performance.now() - t, preparedPipelines };
    }
    const inference = await measureInference(rt, det, images, opts.batch, { warmReps: opts.warmReps });
    return { adapter: adapterLabel(rt.gpu.info), initMs, loadMs, ...prepared, inference };
  } finally {
    det.dispose();
    bb.backbone.dispose();
  }
}

try {
  const result = await main(JSON.parse(process.argv[2] ?? '') as E2EChildOptions);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (e) {
  process.stderr.write(`e2e-child: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
} finally {
  destroyRuntime();
}
