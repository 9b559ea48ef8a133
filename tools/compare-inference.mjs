#!/usr/bin/env node
// Side-by-side inference timing of built checkouts (each with `npm run build` done): for each round,
// each checkout in turn runs Detector.scoreMaps on a fresh module at S = 256 in a process of its own
// (its e2e child: a first call, a warm-up, then `reps` timed), so a noisy machine hits both alike;
// prints the medians and the ratio of the first checkout's median to each other's.
//   node tools/compare-inference.mjs [--batches 1,8] [--reps 9] [--rounds 3] BEFORE_DIR AFTER_DIR …
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

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

// Each checkout's own e2e child (the process `hlgfa bench --e2e` uses for its shader-cache runs):
// a fresh runtime, a fresh module, Detector.scoreMaps timed over `reps` warm calls.
function childScript(root) {
  for (const rel of ['dist/src/tune/e2e-child.js', 'dist/bench/e2e-child.js']) if (existsSync(join(root, rel))) return join(root, rel);
  console.error(`${root}: no compiled e2e child (dist/src/tune/e2e-child.js); run npm run build there`);
  process.exit(1);
}
const scripts = roots.map(childScript);

const medians = new Map(); // `${index} ${batch}` → medians of each round
for (let round = 0; round < rounds; round++) {
  for (const batch of batches) {
    for (const [index, root] of roots.entries()) {
      const opts = { size: 256, batch, warmReps: reps, backbonePath: join(root, 'weights', 'mobilenet_v2_imagenet.safetensors'), tuning: {} };
      const r = spawnSync(process.execPath, [scripts[index], JSON.stringify(opts)], { encoding: 'utf8' });
      const line = r.stdout?.trim().split('\n').reverse().find((l) => l.startsWith('{'));
      if (r.status !== 0 || !line) {
        console.error(`${root}: the timing run failed (exit ${r.status})\n${r.stderr}`);
        process.exit(1);
      }
      const key = `${index} ${batch}`;
      medians.set(key, [...(medians.get(key) ?? []), JSON.parse(line).inference.time.median]);
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
