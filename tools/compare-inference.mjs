#!/usr/bin/env node
// Side-by-side inference timing of built checkouts (each with `npm run build` done): for each round,
// each checkout in turn runs Detector.scoreMaps on a fresh module at S = 256 in a process of its own
// (two warm-up calls, then `reps` timed), so a noisy machine hits both alike; prints the medians and
// the ratio of the first checkout's median to each other's.
//   node tools/compare-inference.mjs [--batches 1,8] [--reps 9] [--rounds 3] BEFORE_DIR AFTER_DIR …
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const [v] = args.splice(i, 2).slice(1);
  return v;
};
const batches = option('batches', '1,8').split(',').map(Number);
const reps = Number(option('reps', '9'));
const rounds = Number(option('rounds', '3'));
const roots = args.map((r) => resolve(r));
if (roots.length < 2 || ![...batches, reps, rounds].every((n) => Number.isInteger(n) && n > 0)) {
  console.error('usage: node tools/compare-inference.mjs [--batches 1,8] [--reps 9] [--rounds 3] BEFORE_DIR AFTER_DIR …');
  process.exit(2);
}

// Runs in the child: times one checkout's scoreMaps.
const CHILD = `
const [root, batch, reps] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
await import(root + '/dist/src/ops/index.js');
const { initRuntime } = await import(root + '/dist/src/gpu/runtime.js');
const { e2eImages, freshDetector, readBackbone } = await import(root + '/dist/src/tune/e2e.js');
const { resolveConfig } = await import(root + '/dist/src/models/hlgfa-config.js');
await initRuntime();
const det = freshDetector(await readBackbone(root + '/weights/mobilenet_v2_imagenet.safetensors'), resolveConfig({}), e2eImages(256, 8, 'train'));
const images = e2eImages(256, batch, 'test');
for (let i = 0; i < 2; i++) await det.scoreMaps(images);
const t = [];
for (let i = 0; i < reps; i++) { const t0 = performance.now(); await det.scoreMaps(images); t.push(performance.now() - t0); }
t.sort((a, b) => a - b);
console.log(JSON.stringify(t[Math.floor(t.length / 2)]));
process.exit(0);
`;

const medians = new Map(); // `${index} ${batch}` → medians of each round
for (let round = 0; round < rounds; round++) {
  for (const batch of batches) {
    for (const [index, root] of roots.entries()) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, root, String(batch), String(reps)], { encoding: 'utf8' });
      if (r.status !== 0) {
        console.error(`${root}: the timing run failed (exit ${r.status})\n${r.stderr}`);
        process.exit(1);
      }
      const key = `${index} ${batch}`;
      medians.set(key, [...(medians.get(key) ?? []), Number(r.stdout.trim().split('\n').pop())]);
    }
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const batch of batches) {
  const base = median(medians.get(`0 ${batch}`));
  for (const [index, root] of roots.entries()) {
    const ms = medians.get(`${index} ${batch}`);
    const m = median(ms);
    console.log(`batch ${batch}  ${root}  ${ms.map((v) => v.toFixed(0)).join(' / ')} ms  median ${m.toFixed(1)} ms (${(m / batch).toFixed(1)} ms/image)  ×${(base / m).toFixed(2)}`);
  }
}
