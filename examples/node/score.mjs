// @ts-check
// hlgfa-webgpu in a Node app.
//
//   node score.mjs MODEL.safetensors IMAGE...   score images with a checkpoint from `npx hlgfa train`
//   node score.mjs --demo [DIR]                  train a tiny detector on procedural textures, save it
//                                                and a few test images to DIR (default ./out), then
//                                                score those files like the line above
//
// Prints one line per image (file, score, verdict) and writes DIR/<name>_overlay.png heatmaps.
import { mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  destroyRuntime, heatmapOverlay, initRuntime, loadBackbone, loadDetector, noiseAugmenter, resolveConfig, sha256Hex, trainHlgfa,
} from 'hlgfa-webgpu';
import { DEFAULT_BACKBONE_PATH, readImage, writeFileAtomic, writePng } from 'hlgfa-webgpu/node';
import { generateDataset } from 'hlgfa-webgpu/synthetic';
import { auroc } from 'hlgfa-webgpu/metrics';

/** The backbone shipped in the package (ImageNet MobileNetV2); a model must be used with the one it was trained on. */
const backboneBytes = new Uint8Array(readFileSync(DEFAULT_BACKBONE_PATH));

/**
 * Scores image files with a checkpoint, as an app would: bytes in, results out.
 * @param {string} modelPath
 * @param {string[]} imagePaths
 * @param {string} outDir where the overlays go
 */
async function scoreFiles(modelPath, imagePaths, outDir) {
  const detector = await loadDetector(new Uint8Array(readFileSync(modelPath)), backboneBytes, { checkpoint: modelPath });
  const images = await Promise.all(imagePaths.map((p) => readImage(p)));
  const results = await detector.score(images);
  const t = detector.threshold;
  results.forEach((r, i) => {
    console.log(`${basename(imagePaths[i])}\t${r.score.toFixed(4)}\t${r.anomalous ? 'anomalous' : 'normal'}`);
    writePng(join(outDir, basename(imagePaths[i]).replace(/\.\w+$/, '_overlay.png')), heatmapOverlay(images[i], r.map, r.size, 0.5 * t, 2 * t));
  });
  console.log(`threshold\t${t.toFixed(4)}`);
  detector.backbone.dispose();
  detector.dispose();
  return results;
}

/**
 * Trains a small detector on procedural fabric (64 px, one epoch: seconds, not a good model) and
 * writes it and the test images as files.
 * @param {string} dir
 */
async function demo(dir) {
  mkdirSync(dir, { recursive: true });
  await initRuntime(); // dawn.node in Node; loadDetector does this itself
  const ds = generateDataset({ category: 'fabric', trainCount: 10, testGoodCount: 2, testDefectCount: 2, size: 64, seed: 1 });
  const backbone = loadBackbone(backboneBytes, DEFAULT_BACKBONE_PATH);
  const backboneId = { architecture: backbone.architecture, source: basename(DEFAULT_BACKBONE_PATH), sha256: await sha256Hex(backboneBytes) };
  const config = resolveConfig({ size: 64, epochs: 1, batchSize: 4, holdout: 0.2 });
  const trained = await trainHlgfa({ backbone, backboneId, config, images: ds.train.map((s) => s.image), augment: noiseAugmenter() });
  const model = join(dir, 'model.safetensors');
  writeFileAtomic(model, await trained.detector.toCheckpoint());
  trained.detector.dispose();
  backbone.dispose();
  console.log(`trained\t${trained.epochs} epoch(s)\t${trained.seconds.toFixed(1)} s\t${model}`);
  const files = ds.test.map((s) => join(dir, `${s.defect}_${s.name}.png`));
  ds.test.forEach((s, i) => writePng(files[i], s.image));
  const results = await scoreFiles(model, files, dir);
  console.log(`image AUROC\t${auroc(results.map((r) => r.score), ds.test.map((s) => s.label)).toFixed(3)}`);
}

const args = process.argv.slice(2);
try {
  if (args[0] === '--demo') await demo(args[1] ?? 'out');
  else if (args.length >= 2) await scoreFiles(args[0], args.slice(1), dirname(args[1]));
  else {
    console.error('usage: node score.mjs MODEL.safetensors IMAGE... | node score.mjs --demo [DIR]');
    process.exitCode = 2;
  }
} finally {
  destroyRuntime(); // releases dawn.node's device so the process can exit
}
