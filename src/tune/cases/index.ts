// Every bench case, and the selection by id filter / --quick. Node-free (no node: imports), so the
// tuner (src/tune/tuner.ts) can run inside the browser page on the same cases as `hlgfa bench`.
import type { BenchCase } from '../harness.js';
import { conv2dCases } from './conv2d.js';
import { depthwiseCases } from './depthwise.js';
import { hlgfaCases } from './hlgfa.js';
import { imageCases } from './image.js';
import { knnCases } from './knn.js';
import { matmulCases } from './matmul.js';

export function allCases(): BenchCase[] {
  return [...matmulCases(), ...conv2dCases(), ...depthwiseCases(), ...hlgfaCases(), ...imageCases(), ...knnCases()];
}

export function selectCases(cases: readonly BenchCase[], filter: readonly string[] | undefined, quick: boolean): BenchCase[] {
  const f = (filter ?? []).map((s) => s.toLowerCase()).filter(Boolean);
  if (f.length) return cases.filter((c) => f.some((s) => c.id.toLowerCase().includes(s)));
  return quick ? cases.filter((c) => c.quick) : [...cases];
}
