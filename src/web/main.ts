// The browser page: the same engine as the CLI (WebGPU runtime, backbone, HLGFA training and
// detection), driven from the DOM. Bundled by tools/build-web.mjs into dist/web/app.js.
import { initRuntime } from '../gpu/runtime.js';
import { NoAdapterError, type AdapterSummary } from '../gpu/device.js';
import { loadBackbone, type Backbone } from '../models/backbone.js';
import { resolveConfig } from '../models/hlgfa-config.js';
import { sha256Hex, type BackboneIdentity, type Detector } from '../models/detector.js';
import { detectorFromCheckpoint, parseCheckpoint } from '../models/checkpoint.js';
import { trainHlgfa, type TrainProgress } from '../models/hlgfa-train.js';
import { heatmapOverlay } from '../io/heatmap.js';
import type { RgbaImage } from '../io/image.js';
import { noiseAugmenter } from '../data/augment.js';
import { clock, decodeImage, download, fileSource, imageCanvas, NotAnImageError } from './decode.js';
import { installTestHook } from './test-hook.js';
import { installTuneHook, useStoredTuning } from './tune-hook.js';

const BACKBONE_URL = 'weights/mobilenet_v2_imagenet.safetensors';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const el = {
  adapter: $('adapter'),
  messages: $('messages'),
  backboneStatus: $('backbone-status'),
  backboneFile: $<HTMLInputElement>('backbone-file'),
  trainDrop: $('train-drop'),
  trainFiles: $<HTMLInputElement>('train-files'),
  trainList: $('train-list'),
  size: $<HTMLSelectElement>('cfg-size'),
  epochs: $<HTMLInputElement>('cfg-epochs'),
  batch: $<HTMLInputElement>('cfg-batch'),
  seed: $<HTMLInputElement>('cfg-seed'),
  trainBtn: $<HTMLButtonElement>('train-btn'),
  cancelBtn: $<HTMLButtonElement>('cancel-btn'),
  progress: $('progress'),
  modelStatus: $('model-status'),
  ckptFile: $<HTMLInputElement>('ckpt-file'),
  downloadBtn: $<HTMLButtonElement>('download-btn'),
  detectDrop: $('detect-drop'),
  detectFiles: $<HTMLInputElement>('detect-files'),
  detectStatus: $('detect-status'),
  results: $('results'),
};

interface LoadedBackbone {
  backbone: Backbone;
  id: BackboneIdentity;
  bytes: Uint8Array;
}

const state = {
  gpu: null as AdapterSummary | null,
  backbone: null as LoadedBackbone | null,
  trainImages: [] as { name: string; img: RgbaImage }[],
  testImages: [] as { name: string; img: RgbaImage }[],
  detector: null as Detector | null,
  modelName: 'hlgfa-model.safetensors',
  training: null as AbortController | null,
};

function setStatus(node: HTMLElement, text: string, st = 'ok'): void {
  node.textContent = text;
  node.dataset.state = st;
}

function message(text: string, kind: 'error' | 'info' = 'error'): void {
  const p = document.createElement('p');
  p.className = kind;
  p.textContent = text;
  el.messages.prepend(p);
  while (el.messages.children.length > 6) el.messages.lastElementChild?.remove();
  if (kind === 'error') console.error(text);
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Runs GPU tasks one after another, never interleaved (each may await many readbacks). */
let queue: Promise<unknown> = Promise.resolve();
function exclusive<T>(task: () => Promise<T>): Promise<T> {
  const next = queue.then(task);
  queue = next.catch(() => undefined);
  return next;
}

function refreshButtons(): void {
  const ready = state.gpu !== null && state.backbone !== null;
  el.trainBtn.disabled = !ready || state.training !== null || state.trainImages.length === 0;
  el.cancelBtn.disabled = state.training === null;
  el.downloadBtn.disabled = state.detector === null || state.training !== null;
}

// ---- WebGPU and backbone ---------------------------------------------------------------------

async function startGpu(): Promise<void> {
  try {
    const rt = await initRuntime();
    const i = rt.gpu.info;
    state.gpu = i;
    const name = [i.vendor, i.architecture, i.description || i.device].filter(Boolean).join(' · ') || 'unnamed adapter';
    setStatus(el.adapter, `WebGPU adapter: ${name}${i.isFallbackAdapter ? ' (software/fallback)' : ''}`);
    el.adapter.dataset.vendor = i.vendor;
    el.adapter.dataset.architecture = i.architecture;
  } catch (e) {
    const missing = !(navigator as { gpu?: unknown }).gpu;
    setStatus(
      el.adapter,
      missing
        ? 'WebGPU is not available in this browser. Use Chrome or Edge 113+ (or Chromium with --enable-unsafe-webgpu) to train and detect here.'
        : e instanceof NoAdapterError
          ? 'WebGPU is enabled but this browser offers no GPU adapter (blocklisted or disabled GPU; in Chromium try --enable-unsafe-webgpu).'
          : `WebGPU could not start: ${errorText(e)}`,
      'error',
    );
    setStatus(el.backboneStatus, 'Needs WebGPU.', 'error');
    throw e;
  }
}

async function useBackbone(bytes: Uint8Array, source: string): Promise<void> {
  const backbone = loadBackbone(bytes, source);
  const id: BackboneIdentity = {
    architecture: backbone.architecture,
    source: backbone.metadata.source ?? source.split('/').pop() ?? source,
    sha256: await sha256Hex(bytes),
  };
  if (state.detector) {
    // A detector is tied to the backbone it was trained with.
    state.detector.dispose();
    state.detector = null;
    setStatus(el.modelStatus, 'The backbone changed: train a model again or load a checkpoint made with this backbone.', 'none');
  }
  state.backbone?.backbone.dispose();
  state.backbone = { backbone, id, bytes };
  setStatus(el.backboneStatus, `Backbone: ${id.architecture} from ${source} (${(bytes.length / 1e6).toFixed(1)} MB, sha256 ${id.sha256.slice(0, 12)}…)`);
  refreshButtons();
}

async function fetchBackbone(): Promise<void> {
  setStatus(el.backboneStatus, `Loading ${BACKBONE_URL}…`, 'pending');
  let res: Response;
  try {
    res = await fetch(BACKBONE_URL);
  } catch (e) {
    throw new Error(`could not fetch ${BACKBONE_URL} (${errorText(e)}); serve this page with \`npx hlgfa serve\` or choose a backbone file`);
  }
  if (!res.ok) throw new Error(`could not fetch ${BACKBONE_URL} (HTTP ${res.status}); serve this page with \`npx hlgfa serve\` or choose a backbone file`);
  await useBackbone(new Uint8Array(await res.arrayBuffer()), BACKBONE_URL);
}

// ---- images ----------------------------------------------------------------------------------

async function decodeAll(files: File[]): Promise<{ name: string; img: RgbaImage }[]> {
  const out: { name: string; img: RgbaImage }[] = [];
  for (const f of files) {
    try {
      out.push({ name: f.name, img: await decodeImage(f) });
    } catch (e) {
      message(e instanceof NotAnImageError ? e.message : `${f.name}: ${errorText(e)}`);
    }
  }
  return out;
}

async function addTrainImages(files: File[]): Promise<void> {
  const imgs = await decodeAll(files);
  state.trainImages.push(...imgs);
  const n = state.trainImages.length;
  el.trainList.textContent = n
    ? `${n} training image${n === 1 ? '' : 's'}: ${state.trainImages.map((t) => t.name).slice(0, 8).join(', ')}${n > 8 ? ', …' : ''}`
    : 'No training images yet.';
  el.trainList.dataset.count = String(n);
  refreshButtons();
}

// ---- training --------------------------------------------------------------------------------

function progressText(p: TrainProgress): string {
  if (p.phase === 'features') return `caching backbone features ${p.step}/${p.steps}`;
  if (p.phase === 'calibrate') return `calibrating map statistics and threshold ${p.step}/${p.steps}`;
  return `epoch ${p.epoch}/${p.epochs} · step ${p.step}/${p.steps} · loss ${p.loss.toFixed(4)} · ${p.imagesPerSecond.toFixed(1)} img/s · ETA ${clock(p.etaSeconds)}`;
}

async function train(): Promise<void> {
  const bb = state.backbone;
  if (!bb || state.trainImages.length === 0) return;
  const int = (i: HTMLInputElement | HTMLSelectElement, name: string) => {
    const v = /^\s*\d+\s*$/.test(i.value) ? Number(i.value) : NaN;
    if (!Number.isInteger(v)) throw new Error(`${name} must be a whole number, got "${i.value}"`);
    return v;
  };
  const controller = new AbortController();
  state.training = controller;
  refreshButtons();
  let r: Awaited<ReturnType<typeof trainHlgfa>>;
  let batch: number;
  try {
    const config = resolveConfig({ size: int(el.size, 'size'), epochs: int(el.epochs, 'epochs'), batchSize: int(el.batch, 'batch'), seed: int(el.seed, 'seed') });
    batch = config.batchSize;
    setStatus(el.progress, `training on ${state.trainImages.length} images (S=${config.size}, ${config.epochs} epochs, batch ${config.batchSize})…`, 'running');
    r = await exclusive(() =>
      trainHlgfa({
        backbone: bb.backbone,
        backboneId: bb.id,
        config,
        images: state.trainImages.map((t) => t.img),
        augment: noiseAugmenter(),
        signal: controller.signal,
        onProgress: (p) => setStatus(el.progress, progressText(p), 'running'),
      }),
    );
  } catch (e) {
    if ((e as Error).name === 'AbortError') setStatus(el.progress, 'Training cancelled; the previous model (if any) is kept.', 'cancelled');
    else {
      setStatus(el.progress, `Training failed: ${errorText(e)}`, 'error');
      message(`Training failed: ${errorText(e)}`);
    }
    return;
  } finally {
    state.training = null;
    refreshButtons();
  }
  // As the CLI reports it: the mean loss of the last epoch.
  const last = r.losses.slice(-Math.max(1, Math.ceil(state.trainImages.length / batch)));
  const loss = last.reduce((a, b) => a + b, 0) / last.length;
  const warnings = r.warnings.length ? ` — warning: ${r.warnings.join('; ')}` : '';
  setStatus(el.progress, `trained in ${r.seconds.toFixed(1)} s; final loss ${loss.toFixed(4)}; threshold ${r.detector.threshold.toFixed(5)}${warnings}`, 'done');
  el.progress.dataset.losses = JSON.stringify(r.losses);
  await setDetector(r.detector, `trained here on ${state.trainImages.length} images`, 'hlgfa-browser-model.safetensors', r.seconds);
}

// ---- model -----------------------------------------------------------------------------------

let trainSeconds: number | undefined;
let generation = 0;

async function setDetector(det: Detector, origin: string, fileName: string, seconds?: number): Promise<void> {
  await exclusive(async () => state.detector?.dispose());
  state.detector = det;
  state.modelName = fileName;
  el.modelStatus.dataset.generation = String(++generation);
  trainSeconds = seconds;
  const c = det.config;
  setStatus(el.modelStatus, `Model ${origin}: S=${c.size}, ${det.levels.length} levels (${c.taps.join(', ')}), threshold ${det.threshold.toFixed(5)}`);
  el.modelStatus.dataset.threshold = String(det.threshold);
  refreshButtons();
  await detectAll();
}

async function loadCheckpoint(file: File): Promise<void> {
  const bb = state.backbone;
  if (!bb) return message(`${file.name}: load the backbone first`);
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const ck = parseCheckpoint(bytes, file.name);
    const det = await exclusive(async () => detectorFromCheckpoint(ck, bb.backbone, bb.id.sha256));
    await setDetector(det, `from ${file.name}`, file.name);
  } catch (e) {
    message(`Could not load the checkpoint: ${errorText(e)}`);
  }
}

async function downloadCheckpoint(): Promise<void> {
  const det = state.detector;
  if (!det) return;
  const meta: Record<string, string> = { made_by: 'hlgfa web page' };
  if (trainSeconds !== undefined) meta.train_seconds = trainSeconds.toFixed(1);
  const bytes = await exclusive(() => det.toCheckpoint({ metadata: meta }));
  download(bytes, state.modelName);
}

// ---- detection -------------------------------------------------------------------------------

async function detectAll(): Promise<void> {
  el.results.replaceChildren();
  const det = state.detector;
  if (state.testImages.length === 0) return setStatus(el.detectStatus, '', 'idle');
  if (!det) return setStatus(el.detectStatus, `${state.testImages.length} image(s) waiting for a model.`, 'waiting');
  setStatus(el.detectStatus, `scoring ${state.testImages.length} image(s)…`, 'running');
  let anomalous = 0;
  try {
    for (const { name, img } of state.testImages) {
      const [r] = await exclusive(() => det.score([img]));
      if (state.detector !== det) return; // replaced meanwhile; the new model re-runs everything
      const t = det.threshold;
      const overlay = heatmapOverlay(img, r.map, r.size, 0.5 * t, 2 * t);
      const verdict = r.anomalous ? 'ANOMALOUS' : 'normal';
      if (r.anomalous) anomalous++;
      const card = document.createElement('figure');
      card.className = 'card';
      card.dataset.name = name;
      card.dataset.model = String(generation);
      card.dataset.score = String(r.score);
      card.dataset.verdict = verdict;
      const cap = document.createElement('figcaption');
      cap.innerHTML = '<div class="name"></div><div>score <span class="score"></span> · <span class="verdict"></span></div>';
      (cap.querySelector('.name') as HTMLElement).textContent = name;
      (cap.querySelector('.score') as HTMLElement).textContent = r.score.toFixed(5);
      (cap.querySelector('.verdict') as HTMLElement).textContent = verdict;
      const pair = document.createElement('div');
      pair.className = 'pair';
      const original = imageCanvas(img);
      original.title = 'image';
      const heat = imageCanvas(overlay);
      heat.title = 'anomaly heatmap (transparent blue below half the threshold, red at twice the threshold)';
      pair.append(original, heat);
      card.append(pair, cap);
      el.results.append(card);
    }
    setStatus(el.detectStatus, `${anomalous}/${state.testImages.length} anomalous (threshold ${det.threshold.toFixed(5)})`, 'done');
  } catch (e) {
    setStatus(el.detectStatus, `Detection failed: ${errorText(e)}`, 'error');
  }
}

async function addTestImages(files: File[]): Promise<void> {
  state.testImages.push(...(await decodeAll(files)));
  await detectAll();
}

// ---- wiring ----------------------------------------------------------------------------------

const failing = (what: string, fn: () => Promise<void>) => () =>
  fn().catch((e) => message(`${what}: ${errorText(e)}`));

fileSource(el.trainDrop, el.trainFiles, (f) => void failing('Training images', () => addTrainImages(f))());
fileSource(el.detectDrop, el.detectFiles, (f) => void failing('Test images', () => addTestImages(f))());
fileSource(null, el.ckptFile, (f) => void loadCheckpoint(f[0]));
fileSource(null, el.backboneFile, (f) =>
  void failing('Backbone', async () => {
    const bytes = new Uint8Array(await f[0].arrayBuffer());
    await exclusive(() => useBackbone(bytes, f[0].name));
    await detectAll();
  })(),
);
el.trainBtn.addEventListener('click', () => void train());
el.cancelBtn.addEventListener('click', () => state.training?.abort());
el.downloadBtn.addEventListener('click', failing('Download', downloadCheckpoint));
for (const zone of [document.body]) zone.addEventListener('dragover', (e) => e.preventDefault());
document.body.addEventListener('drop', (e) => e.preventDefault());

useStoredTuning(); // this adapter's kernel tuning from localStorage (window.hlgfaTune), if any
const gpuReady = startGpu();
const ready = (async () => {
  await gpuReady;
  try {
    await exclusive(fetchBackbone);
  } catch (e) {
    setStatus(el.backboneStatus, `No backbone: ${errorText(e)}`, 'error');
    throw e;
  }
})();
ready.catch(() => undefined);
gpuReady.catch(() => undefined);
installTestHook({ ready, exclusive, backbone: () => state.backbone, images: () => ({ train: state.trainImages, test: state.testImages }) });
installTuneHook({ gpuReady, exclusive });
