// hlgfa-webgpu in a browser page built by Vite. The backbone ships in the package and is imported
// as an asset URL (`?url`): Vite copies it into the build and the page fetches it. With `?demo` in
// the address the page trains a tiny model on procedural textures and scores their test images by
// itself (what CI runs); otherwise it waits for a checkpoint or the demo button.
import {
  heatmapOverlay, initRuntime, loadBackbone, loadDetector, noiseAugmenter, resolveConfig, sha256Hex, trainHlgfa,
  type Detector, type RgbaImage,
} from 'hlgfa-webgpu';
import { generateDataset } from 'hlgfa-webgpu/synthetic';
import backboneUrl from 'hlgfa-webgpu/weights/mobilenet_v2_imagenet.safetensors?url';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLPreElement>('status');
const results = $<HTMLDivElement>('results');
const imagesInput = $<HTMLInputElement>('images');
const say = (line: string) => (status.textContent += `\n${line}`);

let detector: Detector | null = null;

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

function use(d: Detector, what: string): void {
  detector?.backbone.dispose();
  detector?.dispose();
  detector = d;
  imagesInput.disabled = false;
  say(`model: ${what}, threshold ${d.threshold.toFixed(4)}`);
}

/** Scores images and shows each with its heatmap, score and verdict. */
async function score(images: RgbaImage[], names: string[]): Promise<void> {
  if (!detector) throw new Error('load a model first');
  const t = detector.threshold;
  const scored = await detector.score(images);
  scored.forEach((r, i) => {
    say(`${names[i]}\t${r.score.toFixed(4)}\t${r.anomalous ? 'anomalous' : 'normal'}`);
    const o = heatmapOverlay(images[i], r.map, r.size, 0.5 * t, 2 * t);
    const canvas = document.createElement('canvas');
    [canvas.width, canvas.height, canvas.title] = [o.width, o.height, names[i]];
    canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(o.data), o.width, o.height), 0, 0);
    results.append(canvas);
  });
}

async function decode(file: File): Promise<RgbaImage> {
  const bitmap = await createImageBitmap(file);
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0);
  return ctx.getImageData(0, 0, bitmap.width, bitmap.height);
}

/** A tiny model on procedural fabric (64 px, one epoch): seconds on a GPU, not a good model. */
async function demo(backboneBytes: Uint8Array): Promise<void> {
  const ds = generateDataset({ category: 'fabric', trainCount: 10, testGoodCount: 2, testDefectCount: 2, size: 64, seed: 1 });
  const backbone = loadBackbone(backboneBytes, 'mobilenet_v2_imagenet.safetensors');
  const backboneId = { architecture: backbone.architecture, source: 'mobilenet_v2_imagenet.safetensors', sha256: await sha256Hex(backboneBytes) };
  const config = resolveConfig({ size: 64, epochs: 1, batchSize: 4, holdout: 0.2 });
  const trained = await trainHlgfa({ backbone, backboneId, config, images: ds.train.map((s) => s.image), augment: noiseAugmenter() });
  use(trained.detector, `demo, trained in ${trained.seconds.toFixed(1)} s`);
  await score(ds.test.map((s) => s.image), ds.test.map((s) => `${s.defect}_${s.name}`));
}

async function main(): Promise<void> {
  const rt = await initRuntime(); // navigator.gpu; throws NoAdapterError with what to do when absent
  status.textContent = `WebGPU: ${rt.gpu.info.description || rt.gpu.info.vendor || 'adapter found'}`;
  const backboneBytes = await fetchBytes(backboneUrl);
  say(`backbone: ${(backboneBytes.length / 2 ** 20).toFixed(1)} MiB`);
  const guard = (fn: () => Promise<void>) => () => fn().catch((e: unknown) => say(`error: ${e instanceof Error ? e.message : e}`));
  $<HTMLInputElement>('model').addEventListener('change', guard(async () => {
    const file = $<HTMLInputElement>('model').files?.[0];
    if (file) use(await loadDetector(new Uint8Array(await file.arrayBuffer()), backboneBytes, { checkpoint: file.name }), file.name);
  }));
  $<HTMLButtonElement>('demo').addEventListener('click', guard(() => demo(backboneBytes)));
  imagesInput.addEventListener('change', guard(async () => {
    const files = [...(imagesInput.files ?? [])];
    await score(await Promise.all(files.map(decode)), files.map((f) => f.name));
  }));
  if (new URLSearchParams(location.search).has('demo')) await demo(backboneBytes);
  document.body.dataset.state = 'done';
}

main().catch((e: unknown) => {
  say(`error: ${e instanceof Error ? e.message : e}`);
  document.body.dataset.state = 'error';
});
