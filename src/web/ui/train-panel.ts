// Section 2 of the page: the training images (add, remove, clear), the configuration with the S
// proposed for this adapter, the training-time estimate before a run, and the run itself with a
// progress bar and ETA for every phase, cancellation and its feedback.
import { isSoftwareAdapter, type AdapterSummary } from '../../gpu/device.js';
import type { Backbone } from '../../models/backbone.js';
import type { BackboneIdentity, Detector } from '../../models/detector.js';
import { resolveConfig, type HlgfaConfig } from '../../models/hlgfa-config.js';
import { trainHlgfa } from '../../models/hlgfa-train.js';
import { noiseAugmenter } from '../../data/augment.js';
import { decodeFiles, type NamedImage } from '../decode.js';
import { byId, errorText, plural, removeButton, setStatus } from './dom.js';
import { estimateTraining, measureCosts, measuredBatch, proposedSize, type StepCosts, type TrainingEstimate } from './estimate.js';
import { notify } from './notices.js';
import { RunClock, clock } from './run-clock.js';
import { e2eImages } from '../../tune/workload.js';

export interface TrainPanelDeps {
  exclusive: <T>(task: () => Promise<T>) => Promise<T>;
  /** The loaded backbone, or null while there is none (or no WebGPU). */
  backbone: () => { backbone: Backbone; id: BackboneIdentity } | null;
  /** A run finished: the page takes over the detector. */
  trained: (det: Detector, origin: string, seconds: number) => Promise<void>;
  /** The run started or ended (other sections enable or disable their buttons). */
  busyChanged: () => void;
}

/** Above this estimate the page suggests a smaller S. */
const LONG_RUN_SECONDS = 600;

export function trainPanel(d: TrainPanelDeps) {
  const el = {
    notices: byId('train-notices'),
    drop: byId('train-drop'),
    count: byId('train-count'),
    clear: byId<HTMLButtonElement>('train-clear'),
    list: byId('train-list'),
    size: byId<HTMLSelectElement>('cfg-size'),
    epochs: byId<HTMLInputElement>('cfg-epochs'),
    batch: byId<HTMLInputElement>('cfg-batch'),
    seed: byId<HTMLInputElement>('cfg-seed'),
    sizeHint: byId('size-hint'),
    estimate: byId('estimate'),
    train: byId<HTMLButtonElement>('train-btn'),
    cancel: byId<HTMLButtonElement>('cancel-btn'),
    bar: byId<HTMLProgressElement>('train-bar'),
    progress: byId('progress'),
  };
  const images: NamedImage[] = [];
  let running: { controller: AbortController; cancelAt: number | null } | null = null;
  let sizeTouched = false;
  /** Measured costs per S and measured batch, for the current backbone (promises: one measurement each). */
  let costs = new Map<string, Promise<StepCosts>>();
  const costKey = (cfg: HlgfaConfig) => `${cfg.size}/${measuredBatch(cfg.batchSize)}`;

  const refresh = () => {
    el.train.disabled = d.backbone() === null || running !== null || images.length === 0;
    el.cancel.disabled = running === null || running.cancelAt !== null;
    el.clear.disabled = images.length === 0;
  };

  function readConfig(): HlgfaConfig {
    const int = (i: HTMLInputElement | HTMLSelectElement, name: string) => {
      const v = /^\s*\d+\s*$/.test(i.value) ? Number(i.value) : NaN;
      if (!Number.isInteger(v)) throw new Error(`${name} must be a whole number, got "${i.value}"`);
      return v;
    };
    return resolveConfig({ size: int(el.size, 'size'), epochs: int(el.epochs, 'epochs'), batchSize: int(el.batch, 'batch'), seed: int(el.seed, 'seed') });
  }

  // ---- images ------------------------------------------------------------------------------

  function renderImages(): void {
    const n = images.length;
    el.count.textContent = n ? `${plural(n, 'training image')}:` : 'No training images yet.';
    el.count.dataset.count = String(n);
    el.list.replaceChildren(
      ...images.map((t) => {
        const li = document.createElement('li');
        li.dataset.name = t.name;
        const name = document.createElement('span');
        name.textContent = t.name;
        li.append(name, removeButton(`Remove ${t.name}`, () => remove(t)));
        return li;
      }),
    );
    refresh();
    scheduleEstimate();
  }

  function remove(t: NamedImage): void {
    // A run trains on a copy of the list: removing or adding images affects the next run only.
    const i = images.indexOf(t);
    if (i < 0) return;
    images.splice(i, 1);
    renderImages();
    // Focus moves to the neighbour's button, so that removing several with the keyboard is quick.
    const next = el.list.children[Math.min(i, images.length - 1)]?.querySelector<HTMLButtonElement>('button');
    (next ?? byId<HTMLInputElement>('train-files')).focus();
  }

  async function add(files: File[]): Promise<void> {
    images.push(...(await decodeFiles(files, (text) => notify(el.notices, text))));
    renderImages();
  }

  function clear(): void {
    images.length = 0;
    renderImages();
    byId<HTMLInputElement>('train-files').focus();
  }

  // ---- estimate ----------------------------------------------------------------------------

  function costsFor(cfg: HlgfaConfig): Promise<StepCosts> {
    const bb = d.backbone();
    if (!bb) return Promise.reject(new Error('no backbone loaded'));
    const key = costKey(cfg);
    let c = costs.get(key);
    if (!c) {
      // Any image: the work does not depend on the pixels (the warm-up measures before there are any).
      const sample = images[0]?.img ?? e2eImages(cfg.size, 1, 'train')[0];
      c = d.exclusive(() => measureCosts(bb.backbone, cfg, sample));
      const mine = c;
      costs.set(key, c);
      c.catch(() => costs.get(key) === mine && costs.delete(key));
    }
    return c;
  }

  function describe(e: TrainingEstimate, c: StepCosts, cfg: HlgfaConfig): string {
    const ms = (s: number) => `${Math.round(s * 1000)} ms`;
    const parts = `caching features ${clock(e.features)}, training ${clock(e.train)}, calibrating ${clock(e.calibrate)}`;
    const basis = `measured here at S=${cfg.size}: backbone ${ms(c.features.fixed + c.features.perImage)} and a training step ${ms(c.step.fixed + c.step.perImage)} per image`;
    const long = e.total > LONG_RUN_SECONDS && cfg.size > 64 ? ' — a smaller S or fewer epochs would be much quicker' : '';
    return `Estimated training time ≈ ${clock(e.total)} (${parts}; ${basis})${long}`;
  }

  let estimateToken = 0;
  let estimateTimer: ReturnType<typeof setTimeout> | undefined;
  /** Re-estimates shortly after the images or the configuration change (once for a burst of changes). */
  function scheduleEstimate(): void {
    clearTimeout(estimateTimer);
    estimateTimer = setTimeout(() => void updateEstimate(), 150);
  }

  async function updateEstimate(): Promise<TrainingEstimate | null> {
    const token = ++estimateToken;
    delete el.estimate.dataset.seconds;
    delete el.estimate.dataset.for;
    if (images.length === 0) return setStatus(el.estimate, 'Add training images for an estimate of the training time.', 'none'), null;
    if (!d.backbone()) return setStatus(el.estimate, 'The estimate needs WebGPU and the backbone.', 'none'), null;
    let cfg: HlgfaConfig;
    try {
      cfg = readConfig();
    } catch (e) {
      return setStatus(el.estimate, `No estimate: ${errorText(e)}`, 'error'), null;
    }
    const pending = !costs.has(costKey(cfg));
    if (pending) setStatus(el.estimate, `Measuring this adapter at S=${cfg.size} for an estimate…`, 'measuring');
    try {
      const c = await costsFor(cfg);
      const e = estimateTraining(c, images.length, cfg);
      if (token === estimateToken) {
        setStatus(el.estimate, describe(e, c, cfg), 'ok');
        el.estimate.dataset.seconds = e.total.toFixed(2);
        el.estimate.dataset.for = `S=${cfg.size} epochs=${cfg.epochs} batch=${cfg.batchSize} images=${images.length}`;
      }
      return e;
    } catch (e) {
      if (token === estimateToken) setStatus(el.estimate, `No estimate: the measurement failed (${errorText(e)})`, 'error');
      return null;
    }
  }

  // ---- the run -----------------------------------------------------------------------------

  async function train(): Promise<void> {
    const bb = d.backbone();
    if (!bb || images.length === 0 || running) return;
    let cfg: HlgfaConfig;
    try {
      cfg = readConfig();
    } catch (e) {
      notify(el.notices, `Cannot train: ${errorText(e)}`);
      return;
    }
    const run = { controller: new AbortController(), cancelAt: null as number | null };
    running = run;
    refresh();
    d.busyChanged();
    const snapshot = images.slice();
    let runClock: RunClock | null = null;
    let result: Awaited<ReturnType<typeof trainHlgfa>> | null = null;
    const render = () => {
      const now = performance.now();
      if (run.cancelAt !== null) {
        setStatus(el.progress, `cancelling… waiting for the current step to finish (${clock((now - run.cancelAt) / 1000)})`, 'cancelling');
      } else if (runClock) {
        const v = runClock.view(now);
        setStatus(el.progress, v.text, 'running');
        el.progress.dataset.stage = v.stage;
        el.bar.value = v.fraction;
        el.bar.setAttribute('aria-valuetext', v.text);
      }
    };
    // Every second: the elapsed time and ETA move even while one long step runs.
    const tick = setInterval(render, 1000);
    el.progress.dataset.stage = 'measuring';
    setStatus(el.progress, `measuring this adapter at S=${cfg.size}…`, 'running');
    el.bar.hidden = false;
    el.bar.removeAttribute('value'); // indeterminate until the run starts
    delete el.progress.dataset.losses;
    try {
      void updateEstimate(); // the same measurement (costsFor keeps one per S), shown above
      const estimate = estimateTraining(await costsFor(cfg), snapshot.length, cfg);
      if (run.controller.signal.aborted) throw new DOMException('training was cancelled', 'AbortError');
      setStatus(el.progress, 'waiting for the GPU…', 'running');
      const r = await d.exclusive(() => {
        runClock = new RunClock(estimate, performance.now());
        render();
        return trainHlgfa({
          backbone: bb.backbone,
          backboneId: bb.id,
          config: cfg,
          images: snapshot.map((t) => t.img),
          augment: noiseAugmenter(),
          signal: run.controller.signal,
          onProgress: (p) => {
            runClock?.report(p, performance.now());
            render();
          },
        });
      });
      clearInterval(tick);
      // As the CLI reports it: the mean loss of the last epoch.
      const last = r.losses.slice(-Math.max(1, Math.ceil(snapshot.length / cfg.batchSize)));
      const loss = last.length ? last.reduce((a, b) => a + b, 0) / last.length : NaN;
      const warnings = r.warnings.length ? ` — warning: ${r.warnings.join('; ')}` : '';
      el.bar.value = 1;
      setStatus(el.progress, `trained in ${r.seconds.toFixed(1)} s (estimated ${clock(estimate.total)}); final loss ${loss.toFixed(4)}; threshold ${r.detector.threshold.toFixed(5)}${warnings}`, 'done');
      el.progress.dataset.stage = 'done';
      el.progress.dataset.losses = JSON.stringify(r.losses);
      el.progress.dataset.seconds = r.seconds.toFixed(2);
      el.progress.dataset.estimate = estimate.total.toFixed(2);
      result = r;
    } catch (e) {
      clearInterval(tick);
      el.bar.hidden = true;
      if ((e as Error).name === 'AbortError') {
        const after = run.cancelAt === null ? '' : ` ${((performance.now() - run.cancelAt) / 1000).toFixed(1)} s after the request`;
        setStatus(el.progress, `Training cancelled${after}; the previous model (if any) is kept.`, 'cancelled');
      } else {
        setStatus(el.progress, `Training failed: ${errorText(e)}`, 'error');
        notify(el.notices, `Training failed: ${errorText(e)}`);
      }
      delete el.progress.dataset.stage;
    } finally {
      running = null;
      el.cancel.textContent = 'Cancel';
      refresh();
      d.busyChanged();
    }
    // After the run is over: handing the model over re-scores the test images, which can take a
    // while, and a next run may start meanwhile.
    if (result) await d.trained(result.detector, `trained here on ${plural(snapshot.length, 'image')}`, result.seconds);
  }

  function cancel(): void {
    if (!running || running.cancelAt !== null) return;
    running.cancelAt = performance.now();
    running.controller.abort();
    el.cancel.textContent = 'Cancelling…';
    refresh();
    setStatus(el.progress, 'cancelling… waiting for the current step to finish (0:00)', 'cancelling');
  }

  /** Selects the S proposed for `adapter`, unless the user chose one already. */
  function proposeFor(adapter: AdapterSummary): void {
    const S = proposedSize(adapter);
    for (const o of Array.from(el.size.options)) o.textContent = o.value + (Number(o.value) === S ? ' (proposed)' : '');
    if (!sizeTouched) el.size.value = String(S);
    el.sizeHint.textContent = isSoftwareAdapter(adapter)
      ? `This is a software (CPU) adapter: S=${S} proposed. S=256, the method's size, costs about 4× as much per image here; S=64 a quarter.`
      : `S=${S} (the method's size) proposed for this GPU.`;
    scheduleEstimate();
  }

  el.size.addEventListener('change', () => {
    sizeTouched = true;
    scheduleEstimate();
  });
  for (const i of [el.epochs, el.batch, el.seed]) i.addEventListener('input', scheduleEstimate);
  el.train.addEventListener('click', () => void train());
  el.cancel.addEventListener('click', cancel);
  el.clear.addEventListener('click', clear);

  return {
    images,
    add,
    refresh,
    proposeFor,
    busy: () => running !== null,
    /** The configuration in the form, or null while it is not valid. */
    config(): HlgfaConfig | null {
      try {
        return readConfig();
      } catch {
        return null;
      }
    },
    /**
     * Measures this adapter for the configuration in the form now (the page's warm-up), so the
     * estimate is shown at once when images are added; the measurement also compiles the backbone's
     * and the module's forward and backward pipelines.
     */
    measure: (cfg: HlgfaConfig): Promise<StepCosts> => costsFor(cfg),
    /** The backbone changed: measurements made with the old one no longer apply. */
    backboneChanged(): void {
      costs = new Map();
      refresh();
      scheduleEstimate();
    },
  };
}
