// The browser page: the same engine as the CLI (WebGPU runtime, backbone, HLGFA training and
// detection), driven from the DOM. Bundled by tools/build-web.mjs into dist/web/app.js. This file
// holds the shared state (adapter, backbone, model) and wires the sections: training in
// ui/train-panel.ts, detection in ui/detect-panel.ts, per-section messages in ui/notices.ts, the
// kernels compiled while the user picks files in ui/warm-up.ts.
import { initRuntime, runtime } from '../gpu/runtime.js';
import { chromeTrace, formatProfile, profileInference } from '../tune/profile.js';
import { e2eImages } from '../tune/workload.js';
import { NoAdapterError, type AdapterSummary } from '../gpu/device.js';
import { loadBackbone, type Backbone } from '../models/backbone.js';
import { sha256Hex, type BackboneIdentity, type Detector } from '../models/detector.js';
import { detectorFromCheckpoint, parseCheckpoint } from '../models/checkpoint.js';
import { download, fileSource } from './decode.js';
import { byId, errorText, setStatus } from './ui/dom.js';
import { notify } from './ui/notices.js';
import { trainPanel } from './ui/train-panel.js';
import { detectPanel } from './ui/detect-panel.js';
import { warmUp } from './ui/warm-up.js';
import { gpuQueue } from './ui/gpu-queue.js';
import { installTestHook } from './test-hook.js';
import { installTuneHook, useStoredTuning } from './tune-hook.js';

const BACKBONE_URL = 'weights/mobilenet_v2_imagenet.safetensors';

const el = {
  adapter: byId('adapter'),
  backboneNotices: byId('backbone-notices'),
  backboneStatus: byId('backbone-status'),
  backboneFile: byId<HTMLInputElement>('backbone-file'),
  trainDrop: byId('train-drop'),
  trainFiles: byId<HTMLInputElement>('train-files'),
  modelNotices: byId('model-notices'),
  modelStatus: byId('model-status'),
  ckptFile: byId<HTMLInputElement>('ckpt-file'),
  downloadBtn: byId<HTMLButtonElement>('download-btn'),
  profileBtn: byId<HTMLButtonElement>('profile-btn'),
  profileOut: byId('profile-out'),
  detectDrop: byId('detect-drop'),
  detectFiles: byId<HTMLInputElement>('detect-files'),
  detectNotices: byId('detect-notices'),
};

interface LoadedBackbone {
  backbone: Backbone;
  id: BackboneIdentity;
  bytes: Uint8Array;
}

const state = {
  gpu: null as AdapterSummary | null,
  backbone: null as LoadedBackbone | null,
  detector: null as Detector | null,
  generation: 0,
  modelName: 'hlgfa-model.safetensors',
  trainSeconds: undefined as number | undefined,
};

const { exclusive, idle } = gpuQueue();

const training = trainPanel({
  exclusive,
  backbone: () => (state.gpu ? state.backbone : null),
  trained: (det, origin, seconds) => setDetector(det, origin, 'hlgfa-browser-model.safetensors', seconds),
  busyChanged: () => refreshButtons(),
});
const detection = detectPanel({
  exclusive,
  model: () => (state.detector ? { detector: state.detector, generation: state.generation } : null),
});

function refreshButtons(): void {
  training.refresh();
  el.downloadBtn.disabled = state.detector === null || training.busy();
  el.profileBtn.disabled = state.detector === null || training.busy();
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
    training.proposeFor(i);
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
  training.backboneChanged();
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

// ---- model -----------------------------------------------------------------------------------

async function setDetector(det: Detector, origin: string, fileName: string, seconds?: number): Promise<void> {
  await exclusive(async () => state.detector?.dispose());
  state.detector = det;
  state.modelName = fileName;
  el.modelStatus.dataset.generation = String(++state.generation);
  state.trainSeconds = seconds;
  const c = det.config;
  setStatus(el.modelStatus, `Model ${origin}: S=${c.size}, ${det.levels.length} levels (${c.taps.join(', ')}), threshold ${det.threshold.toFixed(5)}`);
  el.modelStatus.dataset.threshold = String(det.threshold);
  refreshButtons();
  await exclusive(() => det.preparePipelines()); // in parallel, before the first test image needs them
  await detection.modelChanged();
}

async function loadCheckpoint(file: File): Promise<void> {
  const bb = state.backbone;
  if (!bb) return void notify(el.modelNotices, `${file.name}: load the backbone first`);
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const ck = parseCheckpoint(bytes, file.name);
    const det = await exclusive(async () => detectorFromCheckpoint(ck, bb.backbone, bb.id.sha256));
    await setDetector(det, `from ${file.name}`, file.name);
  } catch (e) {
    notify(el.modelNotices, `Could not load the checkpoint: ${errorText(e)}`);
  }
}

async function downloadCheckpoint(): Promise<void> {
  const det = state.detector;
  if (!det) return;
  const meta: Record<string, string> = { made_by: 'hlgfa web page' };
  if (state.trainSeconds !== undefined) meta.train_seconds = state.trainSeconds.toFixed(1);
  const bytes = await exclusive(() => det.toCheckpoint({ metadata: meta }));
  download(bytes, state.modelName);
}

/** One inference with every dispatch timed (as `hlgfa profile`): the tables on the page, the trace as a download. */
async function profileModel(): Promise<void> {
  const det = state.detector;
  if (!det) return;
  const rt = runtime();
  if (!rt.device.features.has('timestamp-query')) {
    throw new Error("this browser's WebGPU adapter does not offer 'timestamp-query', so dispatches cannot be timed");
  }
  el.profileBtn.disabled = true;
  try {
    const p = await exclusive(() => profileInference(rt, det, e2eImages(det.config.size, 1, 'test')));
    el.profileOut.textContent = formatProfile(p, 8, 'the downloaded trace has every dispatch');
    el.profileOut.hidden = false;
    download(new TextEncoder().encode(JSON.stringify(chromeTrace(p))), 'hlgfa-profile.trace.json', 'application/json');
  } finally {
    refreshButtons();
  }
}

// ---- wiring ----------------------------------------------------------------------------------

/** Runs `fn`, reporting a failure in the section box `box`. */
const reporting = (box: HTMLElement, what: string, fn: () => Promise<void>) => () =>
  void fn().catch((e) => notify(box, `${what}: ${errorText(e)}`));

fileSource(el.trainDrop, el.trainFiles, (f) => reporting(byId('train-notices'), 'Training images', () => training.add(f))());
fileSource(el.detectDrop, el.detectFiles, (f) => reporting(el.detectNotices, 'Test images', () => detection.add(f))());
fileSource(null, el.ckptFile, (f) => void loadCheckpoint(f[0]));
fileSource(null, el.backboneFile, (f) =>
  reporting(el.backboneNotices, 'Backbone', async () => {
    const bytes = new Uint8Array(await f[0].arrayBuffer());
    await exclusive(() => useBackbone(bytes, f[0].name));
    await detection.modelChanged();
  })(),
);
el.downloadBtn.addEventListener('click', reporting(el.modelNotices, 'Download', downloadCheckpoint));
el.profileBtn.addEventListener('click', reporting(el.modelNotices, 'Profile', profileModel));
// A file dropped outside a drop zone would otherwise replace the page (and lose its state).
document.body.addEventListener('dragover', (e) => e.preventDefault());
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
if (new URLSearchParams(location.search).get('warm') !== '0') {
  void ready.then(() =>
    warmUp({ exclusive, idle, backbone: () => state.backbone, config: training.config, measure: training.measure }, byId('warm-status')),
  );
}
gpuReady.catch(() => undefined);
installTestHook({ ready, exclusive, backbone: () => state.backbone, images: () => ({ train: training.images, test: detection.images }) });
installTuneHook({ gpuReady, exclusive });
