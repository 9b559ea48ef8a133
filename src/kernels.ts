// 'hlgfa-webgpu/kernels': the whole op library as the engine itself sees it — every launcher,
// the backward helpers, the float64 CPU references (`…Ref`) the tests check kernels against, the
// kernel-variant knobs and tuning records (`setMatmulVariant`, `applyTuning`, `conv2dTuning`…) and
// the launch-geometry planners. For checking results, tuning and benchmarking; these names follow
// the kernels and carry no stability promise. Apps use the ops exported by 'hlgfa-webgpu'.
// `export *` here on purpose: an op added to src/ops/ is reachable at once, while the main entry
// chooses its names one by one.
/// <reference types="@webgpu/types" preserve="true" />

export * from './ops/index.js';
export { conv2dRef } from './ops/conv2d.ref.js';
export { adamRef, adamTuning } from './nn/adam.js';
export { addRuntimeInitHook, grid1d, type RuntimeInitHook } from './gpu/runtime.js';
