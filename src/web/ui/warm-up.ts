// The page's warm-up: while the user picks files, the pipelines a run will use are created (and
// compiled by the driver; see tune/warm.ts) for the configuration in the form, so that the
// estimate, the first training step and the first detection do not wait for them. Steps: the
// detection's and a training step's pipelines created together (in parallel where the driver
// compiles at creation), the estimate's measurement, one detection, a one-step training run. It yields to
// the user: a step starts only while no other GPU task is queued, and anything the user starts
// ends it (their task then compiles whatever it needs). `?warm=0` in the page's address turns it off.
import { runtime } from '../../gpu/runtime.js';
import type { Backbone } from '../../models/backbone.js';
import type { BackboneIdentity } from '../../models/detector.js';
import { freshDetector } from '../../models/fresh-detector.js';
import type { HlgfaConfig } from '../../models/hlgfa-config.js';
import { prepareTrainingPipelines } from '../../models/hlgfa-step.js';
import { warmRuns, type WarmRun } from '../../tune/warm.js';
import { e2eImages } from '../../tune/workload.js';
import { errorText, setStatus } from './dom.js';

export interface WarmUpDeps {
  exclusive: <T>(task: () => Promise<T>) => Promise<T>;
  /** True while no GPU task is queued or running. */
  idle: () => boolean;
  backbone: () => { backbone: Backbone; id: BackboneIdentity } | null;
  /** The configuration in the training form, or null while it is not valid. */
  config: () => HlgfaConfig | null;
  /** The training panel's measurement for its estimate (queued through `exclusive` itself). */
  measure: (cfg: HlgfaConfig) => Promise<unknown>;
}

export async function warmUp(d: WarmUpDeps, status: HTMLElement): Promise<void> {
  const bb = d.backbone();
  const cfg = d.config();
  if (!bb || !cfg || !d.idle()) return;
  const rt = runtime();
  const before = rt.stats().pipelines;
  const t0 = performance.now();
  const S = cfg.size;
  const detector = freshDetector(bb, cfg, e2eImages(S, 1, 'train'));
  const steps: WarmRun[] = [
    {
      what: 'creating the pipelines together',
      run: () =>
        d.exclusive(async () => {
          await detector.preparePipelines();
          await prepareTrainingPipelines(bb.backbone, cfg);
        }),
    },
    { what: 'timing a training step for the estimate', run: async () => void (await d.measure(cfg)) },
    ...warmRuns(bb, detector, { batches: [1], trainBatch: cfg.batchSize }).map((w) => ({ ...w, run: () => d.exclusive(w.run) })),
  ];
  let done = 0;
  const summary = () => `${rt.stats().pipelines - before} pipelines in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
  try {
    for (const step of steps) {
      if (!d.idle()) break;
      setStatus(status, `Preparing this adapter's kernels for S=${S} while you pick images (${done + 1}/${steps.length}: ${step.what})…`, 'pending');
      await step.run();
      done++;
    }
    const finished = done === steps.length;
    status.dataset.pipelines = String(rt.stats().pipelines - before);
    setStatus(
      status,
      finished
        ? `Kernels ready for S=${S} (${summary()}): the estimate, training and detection start without compiling.`
        : `Kernel preparation stopped after step ${done} of ${steps.length} (${summary()}) to run your task first; the rest compile when first used.`,
      finished ? 'ok' : 'stopped',
    );
  } catch (e) {
    setStatus(status, `Kernel preparation failed: ${errorText(e)}`, 'error');
  } finally {
    await d.exclusive(async () => detector.dispose());
  }
}
